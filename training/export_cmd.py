"""`seq2seq export`: a run folder or checkpoint → one TorchScript artifact, checked against the eager model."""

from __future__ import annotations

import sys
from dataclasses import asdict, replace
from typing import Any

import torch

from seq2seq import export
from seq2seq.config import ModelConfig
from seq2seq.search import Search
from seq2seq.tokenizer import Tokenizer
from seq2seq.translator import Translator, pad_batch
from training import lexicon
from training.checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint
from training.config import ExperimentConfig, load_config
from training.corpus import load_split
from training.eval_cmd import evaluate_checkpoint
from training.run import config_path, resolve, tokenizer_paths


def check_scripted(eager: Search, scripted: Any, sources: list[list[int]], cfg: ExperimentConfig,
                   shortlist: bool = False) -> int:
    """Translate with both (with the shortlist, if asked); return the number of sentences whose tokens differ."""
    s = cfg.search
    bad = 0
    with torch.inference_mode():
        for start in range(0, len(sources), 32):
            chunk = sources[start : start + 32]
            src, lens = pad_batch(chunk)
            args = (src, lens, s.beam_size, 1, s.max_len_a, s.max_len_b, s.length_penalty, "best", False, shortlist)
            a, b = eager(*args)[0], scripted(*args)[0]
            if a.shape != b.shape:
                bad += len(chunk)
            else:
                bad += int((a != b).flatten(1).any(1).sum())
    return bad


def check_fits_run(ckpt: dict[str, Any], ckpt_path: str, cfg: ExperimentConfig, src_vocab: int, tgt_vocab: int,
                   config_file: str) -> None:
    """The checkpoint's network is the one the run's config builds, not only one of the same vocabulary sizes: a
    checkpoint of another run, or a config edited since, would be exported with the wrong settings beside it.

    The config's model is taken at the checkpoint's step, whose recurrent rates the regularizer schedule sets
    (`ExperimentConfig.model_config`), as the trainer recorded it.

    :raises CheckpointError: naming every key that differs
    """
    expected = _flat(cfg.model_config(src_vocab, tgt_vocab, ckpt["step"]).to_dict())
    saved = _flat(ModelConfig(**ckpt["model_config"]).to_dict())
    diffs = [f"model.{key}: {saved.get(key)!r} in the checkpoint, {value!r} in {config_file}"
             for key, value in expected.items() if saved.get(key) != value]
    if diffs:
        raise CheckpointError(f"{ckpt_path}: not a checkpoint of this run's model: " + "; ".join(diffs))


def _flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


def learn_shortlist(cfg: ExperimentConfig, src_tok: Tokenizer, tgt_tok: Tokenizer, k: int,
                    frequent: int) -> tuple[tuple[torch.Tensor, torch.Tensor], dict[str, Any]]:
    """The lexical table of the shortlist (training/lexicon.py) from the run's training split, and what the
    artifact's meta says of it: k, frequent, and the share of the validation split's reference pieces that
    their sentence's shortlist holds."""
    train = load_split(cfg.data.path, cfg.data.train_split, cfg.data.src, cfg.data.tgt)
    src = [src_tok.encode(line) for line in train.src]
    tgt = [tgt_tok.encode(line) for line in train.tgt]
    table, top = lexicon.learn(src, tgt, len(src_tok), len(tgt_tok), k=k, frequent=frequent)
    valid = load_split(cfg.data.path, cfg.data.valid_split, cfg.data.src, cfg.data.tgt)
    held = lexicon.coverage(table, top, [src_tok.encode(x) for x in valid.src], [tgt_tok.encode(x) for x in valid.tgt])
    print(f"shortlist: {k} pieces per source piece and the {frequent} most frequent; it holds {100 * held:.2f} % "
          f"of the {cfg.data.valid_split} split's reference pieces", file=sys.stderr)
    info = {"k": k, "frequent": frequent, "coverage": round(held, 4), "coverage_split": cfg.data.valid_split}
    return (table, top), info


def export_path(source: str, output: str, test_split: str | None = None, check: int = 100,
                length_penalty: float | None = None, shortlist: int = 0, frequent: int = 300,
                int8: bool = False) -> dict[str, Any]:
    """Export a run folder's final (or last) checkpoint, or a checkpoint file of a run, to `output`.

    With `test_split`, the checkpoint's scores on it go into the artifact's meta; with `check`, that many
    validation sentences must translate alike scripted and eager, and the module checked is the one saved.
    With `shortlist` > 0, the artifact holds a lexical table of that many target pieces per source piece (and
    the `frequent` most frequent ones) and uses it by default; with `int8`, its decoding step runs on int8
    weights (CPU). Scores and checks are those of the artifact as exported, options included.
    """
    if shortlist < 0 or frequent < 0:
        raise ValueError(f"--shortlist, --frequent: need counts >= 0, got {shortlist} and {frequent}")
    run_dir, ckpt_path = resolve(source)
    ckpt = load_checkpoint(ckpt_path)
    model = model_from_checkpoint(ckpt, ckpt_path).eval()
    if int8 and next(model.parameters()).device.type != "cpu":
        raise ValueError("--int8: int8 weights run on the CPU only; export on the CPU")
    cfg = load_config(config_path(run_dir))
    if length_penalty is not None:
        replace(cfg.search.options(), length_penalty=length_penalty).validate()
        cfg = replace(cfg, search=replace(cfg.search, length_penalty=length_penalty))
    src_path, tgt_path = tokenizer_paths(run_dir)
    src_tok = Tokenizer.from_file(src_path)
    tgt_tok = src_tok if tgt_path == src_path else Tokenizer.from_file(tgt_path)
    if len(src_tok) != model.encoder.embed.num_embeddings or len(tgt_tok) != model.decoder.embed.num_embeddings:
        raise CheckpointError(f"{ckpt_path}: vocabulary sizes differ from the run's SentencePiece models")
    check_fits_run(ckpt, ckpt_path, cfg, len(src_tok), len(tgt_tok), config_path(run_dir))
    meta: dict[str, Any] = {
        "src_lang": cfg.data.src, "tgt_lang": cfg.data.tgt, "model_config": ckpt["model_config"],
        "training_data": cfg.data.path, "train_split": cfg.data.train_split, "step": ckpt["step"],
        "search": asdict(replace(cfg.search.options(), shortlist=shortlist > 0)),
        "max_src_tokens": 250,
        "int8": int8,
    }
    table = None
    if shortlist:
        table, meta["shortlist"] = learn_shortlist(cfg, src_tok, tgt_tok, shortlist, frequent)
    eager = Search(model, lexicon=table, int8=int8).eval()
    translator = Translator(eager, meta, src_tok, tgt_tok, str(next(model.parameters()).device))
    if test_split:
        meta["evaluation"] = evaluate_checkpoint(translator, run_dir, cfg, test_split, ckpt_path, ckpt["step"])
    scripted = export.script(eager)  # the eager search's own weights: int8 quantizes once
    if check > 0:
        valid = load_split(cfg.data.path, cfg.data.valid_split, cfg.data.src, cfg.data.tgt)
        sources = [translator.encode(line) for line in valid.src[:check] if line.strip()]  # what translation feeds
        bad = check_scripted(eager, scripted, sources, cfg, shortlist > 0)
        if bad:
            raise RuntimeError(f"export refused: scripted and eager translations differ on {bad} of {len(sources)} "
                               f"validation sentences")
        print(f"checked: scripted equals eager on {len(sources)} validation sentences", file=sys.stderr)
    with open(src_path, "rb") as f:
        src_bytes = f.read()
    with open(tgt_path, "rb") as f:
        tgt_bytes = f.read()
    export.save(scripted, output, src_bytes, tgt_bytes, meta)
    print(f"exported {ckpt_path} to {output}", file=sys.stderr)
    return meta


def export_run(run_dir: str, checkpoint: str | None, output: str, test_split: str | None) -> None:
    """Used by `train --export`: score the test split with the final model, then export."""
    export_path(checkpoint or run_dir, output, test_split=test_split)
