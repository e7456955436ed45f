"""The training loop: data → vocabularies → model → epochs of token batches → checkpoints → evaluation.

A run folder holds everything: `config.yaml` (resolved), SentencePiece models, `checkpoints/`
(`last.pt`, the best k by validation BLEU, their average), `metrics.csv`, TensorBoard events in `tb/`,
`curves.png`, and `train.log`. Running the same command again resumes from `checkpoints/last.pt`; a
resumed run ends with the same weights as one never interrupted (the batch order depends only on
seed and epoch, and the RNG state travels in the checkpoint), and its metrics drop what was logged after the
checkpoint. `--fresh` starts over: the previous run's outputs move to `previous/` once the new run can start.
A run refuses, before it writes anything, a broken checkpoint to resume, another configuration, or a broken
corpus; it stops rather than save weights that are no longer finite.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any, TextIO

import torch
from tqdm import tqdm

from seq2seq.atomic import remove_stale
from seq2seq.init import initialize
from seq2seq.model import Seq2Seq
from seq2seq.tokenizer import BOS_ID, EOS_ID, PAD_ID, Tokenizer
from seq2seq.translator import Translator
from training.batching import pad_batch, token_batches
from training.checkpoint import (
    CheckpointError,
    average_states,
    load_checkpoint,
    save_checkpoint,
)
from training.config import ConfigError, ExperimentConfig, save_config, scaled_recurrent
from training.corpus import Corpus, FilterStats, filter_pairs, load_split
from training.distributed import World, all_max, all_sum, barrier, broadcast, gather, join, leave, share
from training.evaluate import score
from training.loss import smoothed_cross_entropy
from training.metrics import MetricsLog
from training.run import (
    best_checkpoint,
    checkpoint_dir,
    config_path,
    eval_dir,
    final_checkpoint,
    last_checkpoint,
    log_path,
    outputs,
    previous_dir,
)
from training.vocab import build_vocabs

AMP = {"none": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}  # train.amp: autocast's dtype
BUDGET_KEYS = ("max_steps", "max_epochs", "max_minutes", "device", "threads", "amp")


class _NoMetrics:
    """What a process other than process 0 logs its metrics to: nothing (process 0 writes them)."""

    rows = 0

    def add(self, *args: Any, **values: float) -> None:
        pass

    def plot(self) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass
class Data:
    src_tok: Tokenizer
    tgt_tok: Tokenizer
    src_ids: list[list[int]]
    tgt_ids: list[list[int]]
    valid: Corpus
    valid_src_ids: list[list[int]]
    valid_tgt_ids: list[list[int]]


@dataclass
class Corpora:
    train: Corpus  # filtered
    stats: FilterStats
    valid: Corpus


def read_corpora(cfg: ExperimentConfig) -> Corpora:
    """The training split, filtered, and the validation split; a missing or broken corpus is refused here."""
    d = cfg.data
    train, stats = filter_pairs(load_split(d.path, d.train_split, d.src, d.tgt), d.max_len, d.max_ratio)
    return Corpora(train, stats, load_split(d.path, d.valid_split, d.src, d.tgt))


def prepare_data(cfg: ExperimentConfig, run_dir: str, log, corpora: Corpora) -> Data:
    d = cfg.data
    train, valid = corpora.train, corpora.valid
    log(f"train {train.name}: {corpora.stats}")
    src_path, tgt_path = build_vocabs(train, run_dir, cfg.vocab.size, cfg.vocab.type, cfg.vocab.joint)
    src_tok = Tokenizer.from_file(src_path)
    tgt_tok = src_tok if tgt_path == src_path else Tokenizer.from_file(tgt_path)
    log(f"vocabularies: source {len(src_tok)}, target {len(tgt_tok)} ({cfg.vocab.type}, joint={cfg.vocab.joint})")
    # The source ends with EOS; the target is BOS y EOS, split into decoder input and output by the trainer.
    src_ids = [ids + [EOS_ID] for ids in src_tok.sp.encode(train.src)]
    tgt_ids = [[BOS_ID] + ids + [EOS_ID] for ids in tgt_tok.sp.encode(train.tgt)]
    valid_src = [ids[: d.max_len * 3] + [EOS_ID] for ids in src_tok.sp.encode(valid.src)]
    valid_tgt = [[BOS_ID] + ids[: d.max_len * 3] + [EOS_ID] for ids in tgt_tok.sp.encode(valid.tgt)]
    return Data(src_tok, tgt_tok, src_ids, tgt_ids, valid, valid_src, valid_tgt)


def lr_at(cfg: ExperimentConfig, step: int, plateau_scale: float, progress: float = 0.0) -> float:
    """The learning rate of update `step`; `progress` is the fraction of the budget spent (`train.anneal`)."""
    t = cfg.train
    if t.schedule == "inverse_sqrt":
        warm = max(t.warmup_steps, 1)
        lr = t.lr * min(step / warm, math.sqrt(warm / max(step, 1)))
    else:
        lr = t.lr * (min(step / t.warmup_steps, 1.0) if t.warmup_steps > 0 else 1.0)
        if t.schedule == "plateau":
            lr = max(lr * plateau_scale, t.min_lr)
    # Budgeted training (Li, Yumer & Ramanan 2020): over the budget's last `anneal` fraction the rate falls
    # linearly towards min_lr, so that a run stopped by its budget ends annealed instead of at its peak rate.
    if t.anneal > 0 and progress > 1.0 - t.anneal:
        lr = max(lr * (1.0 - progress) / t.anneal, t.min_lr)
    return lr


def batch_loss(model: Seq2Seq, src: list[list[int]], tgt: list[list[int]], device: torch.device,
               smoothing: float) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Teacher-forced loss of one batch: (smoothed loss sum, NLL sum, target tokens)."""
    src_ids, src_lens = pad_batch(src, PAD_ID)
    tgt_ids, tgt_lens = pad_batch(tgt, PAD_ID)
    if device.type == "cuda":  # page-locked copies go to the GPU without a host sync
        src_ids, src_lens, tgt_ids, tgt_lens = (t.pin_memory() for t in (src_ids, src_lens, tgt_ids, tgt_lens))
    src_ids, src_lens = src_ids.to(device, non_blocking=True), src_lens.to(device, non_blocking=True)
    tgt_ids = tgt_ids.to(device, non_blocking=True)
    tgt_in, tgt_out = tgt_ids[:, :-1], tgt_ids[:, 1:]
    tgt_lens = (tgt_lens - 1).to(device, non_blocking=True)  # every token after BOS is scored, EOS included
    # Only the scored steps are decoded and projected to the vocabulary: no work is spent on padding.
    logits = model(src_ids, src_lens, tgt_in, tgt_lens)  # (N, V)
    gold = tgt_out[torch.arange(tgt_out.size(1), device=device).unsqueeze(0) < tgt_lens.unsqueeze(1)]
    # the same as F.cross_entropy(..., label_smoothing=smoothing, reduction="sum"), in float32 under autocast too,
    # in one pass over the (N, V) logits (training/loss.py)
    loss, nll = smoothed_cross_entropy(logits, gold, smoothing)
    return loss, nll, gold.numel()


class Trainer:
    def __init__(self, cfg: ExperimentConfig, run_dir: str, fresh: bool = False, progress: bool = True):
        """Nothing is read or written here: `run` checks what can refuse the run before it writes anything."""
        self.cfg, self.run_dir, self.fresh, self.progress = cfg, run_dir, fresh, progress
        self.ckpt_dir = checkpoint_dir(run_dir)
        self.last_path = last_checkpoint(run_dir)
        self._log_file: TextIO | None = None
        self.stop_requested = False
        self._reg_scale: float | None = None  # the schedule's scale the model's rates were last set to
        self.world = World()  # which of the training processes this is (`run` joins torchrun's group)

    def log(self, message: str) -> None:
        if not self.world.main:  # process 0 logs for all
            return
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}"
        tqdm.write(line, file=sys.stderr)
        if self._log_file is not None:
            self._log_file.write(line + "\n")
            self._log_file.flush()

    def _check_resume_config(self, saved: dict[str, Any]) -> None:
        now = self.cfg.to_dict()
        diffs = []
        for section, values in now.items():
            for key, value in values.items():
                old = saved.get(section, {}).get(key)
                if section == "train" and key in BUDGET_KEYS:
                    continue
                if old != value and not (isinstance(value, tuple) and list(value) == old):
                    diffs.append(f"{section}.{key}: {old!r} in the run, {value!r} now")
        if diffs:
            raise ConfigError(
                f"{self.last_path}: the run was started with another configuration; use a new run folder or "
                f"--fresh. Differences: " + "; ".join(diffs)
            )

    def run(self) -> dict[str, Any]:
        cfg, t = self.cfg, self.cfg.train
        run_started = time.time()  # a fresh run's time budget includes data loading and SentencePiece training
        # What can refuse the run is checked before anything is written: the checkpoint it resumes and its
        # configuration, the device, the corpus. `--fresh` sets the old run aside only once the new one can start.
        resume = None
        if not self.fresh and os.path.exists(self.last_path):
            resume = load_checkpoint(self.last_path)
            self._check_resume_config(resume["train_config"])
        device = torch.device(t.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(f"train.device: {t.device}: CUDA is not available on this machine")
        corpora = read_corpora(cfg)
        self.world, device = join(device)
        try:
            if self.world.main:
                os.makedirs(self.run_dir, exist_ok=True)
                self._log_file = open(log_path(self.run_dir), "a", encoding="utf-8")
            return self._run(resume, corpora, device, run_started)
        finally:
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None
            self.ddp = None  # DDP holds the process group: released here, not at interpreter exit (see `leave`)
            leave()

    def _run(self, resume: dict[str, Any] | None, corpora: Corpora, device: torch.device,
             run_started: float) -> dict[str, Any]:
        cfg, t, world = self.cfg, self.cfg.train, self.world
        for folder in (self.run_dir, self.ckpt_dir, eval_dir(self.run_dir)) if world.main else ():
            for path in remove_stale(folder):
                self.log(f"removed {path}: the temporary file of a write that was killed")
        if t.threads > 0:
            torch.set_num_threads(t.threads)
        if not world.main:  # process 0 trains the vocabularies (if the run has none yet); the others read them
            barrier(world)
        data = prepare_data(cfg, self.run_dir, self.log, corpora)
        if world.main:
            barrier(world)
        model_cfg = cfg.model_config(len(data.src_tok), len(data.tgt_tok))
        torch.manual_seed(t.seed)
        model = Seq2Seq(model_cfg)
        initialize(model, t.init, t.init_scale, t.forget_bias)
        model = model.to(device)
        # The fused kernel updates every parameter in one pass (on a 2-core CPU, 4x faster than the default).
        opt = torch.optim.Adam(model.parameters(), lr=t.lr, betas=t.betas, weight_decay=t.weight_decay,
                               fused=device.type in ("cpu", "cuda"))
        st: dict[str, Any] = {
            "step": 0, "epoch": 0, "batch_in_epoch": 0, "elapsed": 0.0, "plateau_scale": 1.0,
            "plateau_best": -1.0, "plateau_bad": 0, "best": [], "bad_valids": 0, "nonfinite": 0,
            "tokens": 0, "stopped": "", "metrics_rows": 0, "valid_step": 0,
        }
        metrics_rows: int | None = 0  # the rows of metrics.csv the run (re)starts after
        # Loss scaling for fp16 (a no-op otherwise: bf16 has float32's range)
        self.scaler = torch.amp.GradScaler(device.type, enabled=t.amp == "fp16")
        if resume is not None:
            try:
                model.load_state_dict(resume["model_state"])
                opt.load_state_dict(resume["optimizer"])
                if resume.get("scaler"):
                    self.scaler.load_state_dict(resume["scaler"])
            except (RuntimeError, ValueError, KeyError) as exc:
                raise CheckpointError(f"{self.last_path}: does not fit this model ({exc})") from None
            st.update(resume["trainer"])
            metrics_rows = resume["trainer"].get("metrics_rows")  # None: a checkpoint from before it was counted
            if not st["stopped"].startswith("early stopping"):
                st["stopped"] = ""  # a budget or a signal ended the last session; early stopping is final
            self._resume_rng(resume["rng"], st["step"])
            self.log(f"resumed from {self.last_path} at step {st['step']} (epoch {st['epoch'] + 1})")
        else:
            st["elapsed"] = time.time() - run_started
            if world.rank:  # dropout masks of their own on each process; process 0 draws what one process would
                torch.manual_seed(t.seed * 1000003 + world.rank)
        if world.main:
            if self.fresh:
                self._set_aside_previous()
            os.makedirs(self.ckpt_dir, exist_ok=True)
            save_config(cfg, config_path(self.run_dir))
        n_params = sum(p.numel() for p in model.parameters())
        self.log(f"model: {n_params / 1e6:.2f}M parameters; {model_cfg}"
                 + (f"; {world.size} processes" if world.distributed else ""))
        self.metrics = MetricsLog(self.run_dir, st["step"], metrics_rows) if world.main else _NoMetrics()
        barrier(world)  # nothing is read or written below before process 0 has set the run folder up
        self.ddp = model
        if world.distributed:
            from torch.nn.parallel import DistributedDataParallel

            # DDP sums the processes' gradients as backward produces them (bucketed all-reduce); its mean is
            # turned into the token-weighted mean of the global batch in `_loop`.
            self.ddp = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
        try:
            prev_handler = signal.signal(signal.SIGTERM, self._request_stop)
            try:
                self._loop(model, opt, data, st, device)
            finally:
                signal.signal(signal.SIGTERM, prev_handler)
            self._save(model, opt, st, self.last_path)
            if st["stopped"] == "stopped by signal":  # interrupted: last.pt is enough to resume; final.pt later
                return {"final": self.last_path, "step": st["step"], "interrupted": True, "main": world.main}
            if not world.main:
                return {"final": final_checkpoint(self.run_dir), "step": st["step"], "main": False}
            return self._finish(model, data, st, device)
        finally:
            self.metrics.close()

    def _resume_rng(self, rng: dict[str, Any], step: int) -> None:
        """Each process's random state as the checkpoint has it; with another number of processes than the run
        had, process 0 takes the first one's and the others a seed from (seed, step, rank)."""
        world, ranks = self.world, rng.get("ranks")
        if not world.distributed or world.main and not (ranks and len(ranks) == world.size):
            torch.set_rng_state(rng["torch"])
        elif ranks and len(ranks) == world.size:
            torch.set_rng_state(ranks[world.rank])
        else:
            torch.manual_seed(self.cfg.train.seed * 1000003 + world.rank + 7919 * step)
        if world.distributed and not (ranks and len(ranks) == world.size):
            self.log(f"resumed with {world.size} processes where the run had {len(ranks or [0])}: the dropout "
                     "masks from here on differ from those of a run never interrupted")

    def _set_aside_previous(self) -> None:
        """`--fresh`: move the outputs of the run this one replaces into RUN/previous/ (an older one there goes)."""
        present = [path for path in outputs(self.run_dir) if os.path.exists(path)]
        if not present:
            return
        previous = previous_dir(self.run_dir)
        if os.path.exists(previous):
            shutil.rmtree(previous)
        os.makedirs(previous)
        for path in present:
            os.replace(path, os.path.join(previous, os.path.basename(path)))
        self.log(f"--fresh: the previous run's {', '.join(os.path.basename(p) for p in present)} moved to {previous}")

    def _request_stop(self, *_: Any) -> None:
        self.stop_requested = True

    def _state(self, model: Seq2Seq, opt: torch.optim.Optimizer, st: dict[str, Any]) -> dict[str, Any]:
        return {
            "model_config": model_config_dict(self.cfg, model, st["step"]),
            "model_state": model.state_dict(),
            "optimizer": opt.state_dict(),
            "step": st["step"],
            "trainer": dict(st),
            "rng": {"torch": torch.get_rng_state()},
            "scaler": self.scaler.state_dict(),
            "train_config": self.cfg.to_dict(),
        }

    def _save(self, model: Seq2Seq, opt: torch.optim.Optimizer, st: dict[str, Any], path: str) -> None:
        """Process 0 writes the checkpoint, with every process's random state (every process calls this)."""
        st["metrics_rows"] = self.metrics.rows  # a resume drops the rows logged after this checkpoint
        rngs = gather(torch.get_rng_state(), self.world)
        if self.world.main:
            state = self._state(model, opt, st)
            if self.world.distributed:
                state["rng"]["ranks"] = rngs
            save_checkpoint(path, state)

    def _budget_reason(self, st: dict[str, Any], started: float) -> str:
        """Why training stops before the next update, or ""; the processes agree (the clocks and a signal may
        differ between them: one that stops stops all)."""
        t = self.cfg.train
        reasons = [
            (bool(t.max_steps) and st["step"] >= t.max_steps, f"reached max_steps {t.max_steps}"),
            (bool(t.max_epochs) and st["epoch"] >= t.max_epochs, f"reached max_epochs {t.max_epochs}"),
            (bool(t.max_minutes) and st["elapsed"] + time.time() - started >= t.max_minutes * 60,
             f"reached max_minutes {t.max_minutes}"),
            (self.stop_requested, "stopped by signal"),
        ]
        hit = all_max(next((k + 1 for k, (met, _) in enumerate(reasons) if met), 0), self.world)
        return reasons[hit - 1][1] if hit else ""

    def _loop(self, model: Seq2Seq, opt: torch.optim.Optimizer, data: Data, st: dict[str, Any],
              device: torch.device) -> None:
        cfg, t = self.cfg, self.cfg.train
        src_lens = [len(s) for s in data.src_ids]
        tgt_lens = [len(s) - 1 for s in data.tgt_ids]
        started = time.time()
        bar = tqdm(total=t.max_steps or None, initial=st["step"], disable=not self.progress or not self.world.main,
                   unit="step", dynamic_ncols=True)
        window_tokens, window_start = 0, time.time()
        while not st["stopped"]:
            batches = token_batches(src_lens, tgt_lens, t.max_tokens, True, t.seed, st["epoch"])
            while st["batch_in_epoch"] < len(batches):
                reason = self._budget_reason(st, started)
                if reason:
                    st["stopped"] = reason
                    break
                idx = batches[st["batch_in_epoch"]]
                st["batch_in_epoch"] += 1
                model.train()
                self._schedule_regularizers(model, st["step"] + 1)
                lr = lr_at(cfg, st["step"] + 1, st["plateau_scale"], self._progress(st, started, len(batches)))
                for group in opt.param_groups:
                    group["lr"] = lr
                mine, weight = share(idx, self.world)  # all of it in one process
                with torch.autocast(device.type, dtype=AMP[t.amp], enabled=t.amp != "none"):
                    loss, nll, ntok = batch_loss(self.ddp, [data.src_ids[i] for i in mine],
                                                 [data.tgt_ids[i] for i in mine], device, t.label_smoothing)
                opt.zero_grad(set_to_none=True)
                finite = bool(torch.isfinite(loss))
                if self.world.distributed:  # the global batch's sums: its loss, NLL and target tokens
                    sums = all_sum(torch.stack([loss.detach(), nll, loss.new_tensor(float(ntok))]) * weight,
                                   self.world)
                    nll, ntok, finite = sums[1], int(sums[2].round()), bool(torch.isfinite(sums[0]))
                    if not finite:
                        (loss * 0.0).backward()  # every process runs the backward DDP waits for, then drops it
                        opt.zero_grad(set_to_none=True)
                if not finite:
                    st["nonfinite"] += 1
                    self.log(f"step {st['step'] + 1}: non-finite loss skipped ({st['nonfinite']} in a row)")
                    if st["nonfinite"] >= t.max_nonfinite:
                        raise FloatingPointError(
                            f"{st['nonfinite']} non-finite losses in a row: lower train.lr or train.clip_norm")
                    continue
                st["nonfinite"] = 0
                if self.world.distributed:
                    # DDP averages over the processes: N * (Σ of this share) / (global tokens) makes that mean
                    # the global batch's gradient per token, as one process computes it
                    loss = loss * (weight * self.world.size / ntok)
                else:
                    loss = loss / ntok
                self.scaler.scale(loss).backward()  # fp16: scaled so that small gradients do not flush to zero
                if t.clip_norm > 0:
                    self.scaler.unscale_(opt)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), t.clip_norm)
                self.scaler.step(opt)  # fp16: skipped if the scaled gradients overflowed, and the scale lowered
                self.scaler.update()
                st["step"] += 1
                st["tokens"] += ntok
                window_tokens += ntok
                bar.update(1)
                if st["step"] % t.log_every == 0:
                    rate = window_tokens / max(time.time() - window_start, 1e-9)
                    tok_loss = float(nll) / ntok
                    bar.set_postfix(loss=f"{tok_loss:.3f}", ppl=f"{math.exp(min(tok_loss, 50)):.1f}",
                                    tok_s=f"{rate:.0f}", lr=f"{lr:.2e}")
                    self.metrics.add(st["step"], st["epoch"] + 1, "train", loss=tok_loss, tok_s=rate, lr=lr)
                    if not self.progress:
                        self.log(f"step {st['step']} epoch {st['epoch'] + 1}: loss {tok_loss:.3f} "
                                 f"ppl {math.exp(min(tok_loss, 50)):.1f} {rate:.0f} tok/s lr {lr:.2e}")
                    window_tokens, window_start = 0, time.time()
                if t.valid_every and st["step"] % t.valid_every == 0:
                    self._validate(model, opt, data, st, device)
                if t.save_every and st["step"] % t.save_every == 0:
                    st["elapsed"] += time.time() - started
                    started = time.time()
                    self._save(model, opt, st, self.last_path)
            else:
                st["epoch"] += 1
                st["batch_in_epoch"] = 0
                if not t.valid_every:
                    self._validate(model, opt, data, st, device)
        st["elapsed"] += time.time() - started
        bar.close()
        self.log(f"training stopped at step {st['step']}: {st['stopped']}")
        if st["stopped"].startswith("reached") and st["step"] > st["valid_step"]:
            # a budget ended between validations: the last updates become a candidate for the best checkpoints
            # too (a signal stops at once instead: it resumes from last.pt)
            self._validate(model, opt, data, st, device)

    def _progress(self, st: dict[str, Any], started: float, epoch_batches: int) -> float:
        """How much of the budget is spent, in [0, 1]: the largest fraction among max_steps, max_epochs and
        max_minutes (those set); 0 when there is no budget."""
        t = self.cfg.train
        spent = [0.0]
        if t.max_steps:
            spent.append(st["step"] / t.max_steps)
        if t.max_epochs:
            spent.append((st["epoch"] + st["batch_in_epoch"] / max(epoch_batches, 1)) / t.max_epochs)
        if t.max_minutes:
            spent.append((st["elapsed"] + time.time() - started) / (t.max_minutes * 60))
        return min(max(spent), 1.0)

    def _schedule_regularizers(self, model: Seq2Seq, step: int) -> None:
        """Set the recurrent regularizers' rates for update `step` (`train.reg_start_step`, `reg_ramp_steps`)."""
        scale = self.cfg.train.reg_scale(step)
        if scale != self._reg_scale:
            m = self.cfg.model
            model.set_regularizers(scaled_recurrent(m.enc_reg, scale), scaled_recurrent(m.dec_reg, scale))
            self._reg_scale = scale

    def translator(self, model: Seq2Seq, data: Data) -> Translator:
        s = self.cfg.search
        meta = {"src_lang": self.cfg.data.src, "tgt_lang": self.cfg.data.tgt,
                "search": asdict(s.options())}
        return Translator.from_model(model, data.src_tok, data.tgt_tok, meta)

    def evaluate_valid(self, model: Seq2Seq, data: Data, device: torch.device, beam: int) -> dict[str, float]:
        model.eval()
        total, nll_sum = 0, 0.0
        order = sorted(range(len(data.valid_src_ids)), key=lambda i: len(data.valid_src_ids[i]))
        with torch.no_grad():
            for start in range(0, len(order), 64):
                idx = order[start : start + 64]
                _, nll, ntok = batch_loss(model, [data.valid_src_ids[i] for i in idx],
                                          [data.valid_tgt_ids[i] for i in idx], device, 0.0)
                nll_sum += float(nll)
                total += ntok
        s = self.cfg.search
        opts = s.options(beam)
        hyps = [tr.text for tr in self.translator(model, data).translate(data.valid.src, opts, max_tokens=2048)]
        scores = score(hyps, data.valid.tgt)
        return {"loss": nll_sum / total, "ppl": math.exp(nll_sum / total), "bleu": scores.bleu, "chrf": scores.chrf}

    def _validate(self, model: Seq2Seq, opt: torch.optim.Optimizer, data: Data, st: dict[str, Any],
                  device: torch.device) -> None:
        """Process 0 validates and judges; every process takes its verdict (the learning rate's plateau scale,
        early stopping) and joins in writing the checkpoints."""
        t, main = self.cfg.train, self.world.main
        m = self.evaluate_valid(model, data, device, self.cfg.search.valid_beam_size) if main else {}
        best_path = self._judge(m, st, opt.param_groups[0]["lr"]) if main else None
        if self.world.distributed:
            synced, best_path = broadcast((st, best_path), self.world)
            st.update(synced)
        if best_path:
            self._save(model, opt, st, best_path)
        if main:
            best = st["best"]
            st["bad_valids"] = 0 if best[0][1] == st["step"] else st["bad_valids"] + 1
            if t.patience and st["bad_valids"] >= t.patience:
                st["stopped"] = f"early stopping: validation BLEU did not improve in {t.patience} validations"
        if self.world.distributed:
            st.update(broadcast(st, self.world))
        self._save(model, opt, st, self.last_path)

    def _judge(self, m: dict[str, float], st: dict[str, Any], lr: float) -> str | None:
        """Log one validation, update the plateau schedule and the best k; the path of a new best checkpoint."""
        t = self.cfg.train
        st["valid_step"] = st["step"]
        self.metrics.add(st["step"], st["epoch"], "valid", loss=m["loss"], bleu=m["bleu"], chrf=m["chrf"],
                         lr=lr)
        self.metrics.plot()
        self.log(f"valid step {st['step']} epoch {st['epoch']}: loss {m['loss']:.3f} ppl {m['ppl']:.2f} "
                 f"BLEU {m['bleu']:.2f} chrF {m['chrf']:.2f}")
        if t.schedule == "plateau":
            if m["bleu"] > st["plateau_best"]:
                st["plateau_best"], st["plateau_bad"] = m["bleu"], 0
            else:
                st["plateau_bad"] += 1
                if st["plateau_bad"] > t.plateau_patience:
                    st["plateau_scale"] *= t.plateau_factor
                    st["plateau_bad"] = 0
                    self.log(f"validation BLEU plateaued: learning rate scaled by {st['plateau_scale']:g}")
        # Best-k checkpoints by validation BLEU.
        best = st["best"]
        if len(best) < t.keep_best or m["bleu"] > min(b[0] for b in best):
            path = best_checkpoint(self.run_dir, st["step"])
            best.append([m["bleu"], st["step"], path])
            best.sort(key=lambda b: -b[0])
            for _, _, old in best[t.keep_best :]:
                if os.path.exists(old):
                    os.remove(old)
            del best[t.keep_best :]
            return path
        return None

    def _finish(self, model: Seq2Seq, data: Data, st: dict[str, Any], device: torch.device) -> dict[str, Any]:
        """Average the best k checkpoints; keep whichever of best and average scores higher as final.pt."""
        best = [b for b in st["best"] if os.path.exists(b[2])]
        final_path = final_checkpoint(self.run_dir)
        if not best:
            save_checkpoint(final_path, load_checkpoint(self.last_path))
            return {"final": final_path, "step": st["step"]}
        beam = self.cfg.search.valid_beam_size
        best_ckpt = load_checkpoint(best[0][2])
        result = {"best_valid_bleu": best[0][0], "best_step": best[0][1], "final": final_path, "step": st["step"]}
        chosen = best_ckpt
        if len(best) > 1:
            avg = dict(best_ckpt, model_state=average_states([b[2] for b in best]))
            model.load_state_dict(avg["model_state"])
            m = self.evaluate_valid(model, data, device, beam)
            self.log(f"average of {len(best)} best checkpoints: valid BLEU {m['bleu']:.2f} "
                     f"(best single {best[0][0]:.2f})")
            result["average_valid_bleu"] = m["bleu"]
            if m["bleu"] > best[0][0]:
                chosen = avg
        save_checkpoint(final_path, chosen)
        model.load_state_dict(chosen["model_state"])
        return result


def model_config_dict(cfg: ExperimentConfig, model: Seq2Seq, step: int) -> dict[str, Any]:
    """The network as trained at update `step`: regularizer rates as the schedule had them (zoneout's
    expectation at inference must use the rate the weights were trained with)."""
    return cfg.model_config(model.encoder.embed.num_embeddings, model.decoder.embed.num_embeddings, step).to_dict()
