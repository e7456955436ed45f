"""The trainer (training/trainer.py) end to end on the toy corpus: outputs, exact resume after SIGKILL (weights and
metrics), refusals before anything is written, `--fresh`, leftovers of killed writes, divergence, the learning-rate
schedule, the regularizer schedule's checkpoints, and the loss."""

import csv
import os
import shutil
import signal
import subprocess
import time

import pytest
import torch

from seq2seq.cli import main
from tests.conftest import PYTHON, ROOT, SEQ2SEQ, TINY, TRAINED_STEPS, cli, cli_env, tiny_model, tiny_overrides
from training.checkpoint import CheckpointError, load_checkpoint
from training.config import ConfigError, load_config
from training.trainer import Trainer, batch_loss, lr_at


def test_a_run_folder_holds_everything(trained_run):
    names = set(os.listdir(trained_run))
    assert {"config.yaml", "spm.model", "metrics.csv", "train.log", "curves.png", "tb", "checkpoints"} <= names
    assert os.listdir(os.path.join(trained_run, "tb"))
    ckpts = os.listdir(os.path.join(trained_run, "checkpoints"))
    assert {"last.pt", "final.pt"} <= set(ckpts)
    assert len([c for c in ckpts if c.startswith("best-")]) == 2  # keep_best: 2
    rows = open(os.path.join(trained_run, "metrics.csv")).read().splitlines()
    assert rows[0].startswith("step,epoch,split") and any(",valid," in r for r in rows)
    ckpt = load_checkpoint(os.path.join(trained_run, "checkpoints", "last.pt"))
    assert ckpt["step"] == TRAINED_STEPS
    assert set(ckpt) >= {"model_config", "model_state", "optimizer", "rng", "train_config"}


def test_killed_run_resumes_to_the_same_weights(toy_corpus, tmp_path):
    args = ["train", "--config", TINY, "--no-progress"]
    sets = tiny_overrides(toy_corpus, **{"train.max_steps": 36, "train.save_every": 6, "train.valid_every": 12})
    for item in sets:
        args += ["--set", item]
    straight = cli(*args, "--run-dir", tmp_path / "straight")
    assert straight.returncode == 0, straight.stderr
    # Same run, killed with SIGKILL once it has passed a checkpoint, then resumed by the same command.
    proc = subprocess.Popen([*SEQ2SEQ, *args, "--run-dir", str(tmp_path / "killed")], cwd=ROOT, env=cli_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = tmp_path / "killed" / "train.log"
    deadline = time.monotonic() + 240  # only against a hang: the loop ends as soon as step 20 is logged
    while time.monotonic() < deadline:
        if log.exists() and "step 20 " in log.read_text():
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = load_checkpoint(str(tmp_path / "killed" / "checkpoints" / "last.pt"))["step"]
    assert 0 < killed_at < 36
    resumed = cli(*args, "--run-dir", tmp_path / "killed")
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stderr
    a = load_checkpoint(str(tmp_path / "straight" / "checkpoints" / "last.pt"))
    b = load_checkpoint(str(tmp_path / "killed" / "checkpoints" / "last.pt"))
    assert a["step"] == b["step"] == 36
    for key, value in a["model_state"].items():
        assert torch.equal(value, b["model_state"][key]), key
    # The steps redone after the resume are logged once: the rows logged after the checkpoint were dropped.
    assert metrics_rows(tmp_path / "killed") == metrics_rows(tmp_path / "straight")


def test_resume_with_another_model_is_refused(trained_run, toy_corpus):
    cfg = load_config(TINY, tiny_overrides(toy_corpus, **{"model.attention": "general"}))
    with pytest.raises(ConfigError, match="model.attention"):
        Trainer(cfg, trained_run, progress=False).run()


def test_truncated_and_foreign_checkpoints_are_refused(trained_run, tmp_path, toy_corpus):
    good = open(os.path.join(trained_run, "checkpoints", "last.pt"), "rb").read()
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "last.pt").write_bytes(good[: len(good) // 2])
    cfg = load_config(TINY, tiny_overrides(toy_corpus))
    with pytest.raises(CheckpointError, match="last.pt: not a readable checkpoint"):
        Trainer(cfg, str(run_dir), progress=False).run()
    torch.save({"weights": torch.zeros(2)}, run_dir / "checkpoints" / "last.pt")
    with pytest.raises(CheckpointError, match="not a checkpoint of this project"):
        Trainer(cfg, str(run_dir), progress=False).run()


def test_persistent_non_finite_losses_stop_the_run(toy_corpus, tmp_path, monkeypatch):
    import training.trainer as trainer_module

    real = trainer_module.batch_loss

    def poisoned(*args, **kwargs):
        loss, nll, n = real(*args, **kwargs)
        return loss * float("nan"), nll, n

    monkeypatch.setattr(trainer_module, "batch_loss", poisoned)
    cfg = load_config(TINY, tiny_overrides(toy_corpus, **{"train.max_nonfinite": 3}))
    with pytest.raises(FloatingPointError, match="3 non-finite losses in a row"):
        Trainer(cfg, str(tmp_path / "nan"), progress=False).run()
    assert "non-finite loss skipped" in (tmp_path / "nan" / "train.log").read_text()


def test_checkpoints_record_the_regularizer_rates_in_effect(toy_corpus, tmp_path):
    # the recurrent regularizers are off until train.reg_start_step, then ramped in over train.reg_ramp_steps
    extra = {"train.max_steps": 10, "train.valid_every": 5, "train.reg_start_step": 4, "train.reg_ramp_steps": 4,
             "model.enc_reg.zoneout_c": 0.2, "model.dec_reg.recurrent_dropout": 0.4}
    cfg = load_config(TINY, tiny_overrides(toy_corpus, **extra))
    Trainer(cfg, str(tmp_path), progress=False).run()
    mid = load_checkpoint(str(tmp_path / "checkpoints" / "best-step5.pt"))
    assert mid["step"] == 5  # scale (5 - 4) / 4: an export rebuilds the network as it was trained
    assert mid["model_config"]["enc_reg"]["zoneout_c"] == pytest.approx(0.05)
    assert mid["model_config"]["dec_reg"]["recurrent_dropout"] == pytest.approx(0.1)
    assert mid["train_config"]["model"]["enc_reg"]["zoneout_c"] == 0.2  # the configured rate is kept
    end = load_checkpoint(str(tmp_path / "checkpoints" / "last.pt"))
    assert end["step"] == 10 and end["model_config"]["enc_reg"]["zoneout_c"] == pytest.approx(0.2)


def test_learning_rate_schedules():
    cfg = load_config(None, ["train.schedule=inverse_sqrt", "train.warmup_steps=100", "train.lr=0.001"])
    assert lr_at(cfg, 50, 1.0) == pytest.approx(0.0005)  # linear warm-up
    assert lr_at(cfg, 100, 1.0) == pytest.approx(0.001)  # peak
    assert lr_at(cfg, 400, 1.0) == pytest.approx(0.0005)  # lr * sqrt(warmup / step)
    cfg = load_config(None, ["train.schedule=plateau", "train.min_lr=1e-4"])
    assert lr_at(cfg, 10, 0.5) == pytest.approx(0.0005)
    assert lr_at(cfg, 10, 0.01) == pytest.approx(1e-4)  # never below the floor
    cfg = load_config(None, ["train.schedule=constant"])
    assert lr_at(cfg, 10_000, 0.01) == pytest.approx(0.001)


def test_anneal_brings_the_rate_down_over_the_budgets_last_fraction():
    cfg = load_config(None, ["train.lr=0.002", "train.anneal=0.25", "train.schedule=constant", "train.min_lr=1e-5"])
    assert lr_at(cfg, 10, 1.0, progress=0.5) == pytest.approx(0.002)  # before the last quarter: the peak
    assert lr_at(cfg, 10, 1.0, progress=0.875) == pytest.approx(0.001)  # half way through the last quarter
    assert lr_at(cfg, 10, 1.0, progress=1.0) == pytest.approx(1e-5)  # the floor at the very end
    plateau = load_config(None, ["train.lr=0.002", "train.anneal=0.5"])
    assert lr_at(plateau, 10, 0.5, progress=0.75) == pytest.approx(0.0005)  # on top of the plateau's halving
    with pytest.raises(ConfigError, match="train.anneal"):
        load_config(None, ["train.anneal=1.0"])


def test_progress_is_the_largest_spent_fraction_of_the_budgets(tmp_path):
    # no time budget (max_minutes 0), so the clock passed as `started` plays no part
    cfg = load_config(TINY, ["train.max_steps=200", "train.max_epochs=4", "train.max_minutes=0"])
    trainer = Trainer(cfg, str(tmp_path), progress=False)
    st = {"step": 50, "epoch": 1, "batch_in_epoch": 30, "elapsed": 0.0}
    assert trainer._progress(st, started=time.time(), epoch_batches=60) == pytest.approx(0.375)
    st["step"] = 150
    assert trainer._progress(st, started=time.time(), epoch_batches=60) == pytest.approx(0.75)


def test_batch_loss_equals_cross_entropy_over_the_padded_batch():
    # batch_loss decodes only the scored steps (packed targets); its sums equal torch's label-smoothed cross
    # entropy over the whole padded batch with padding ignored
    from seq2seq.translator import pad_batch

    model = tiny_model(seed=2)
    g = torch.Generator().manual_seed(0)
    src = [[int(t) for t in torch.randint(4, 24, (n,), generator=g)] + [3] for n in (4, 1, 6)]
    tgt = [[1] + [int(t) for t in torch.randint(4, 26, (n,), generator=g)] + [3] for n in (2, 7, 0)]
    loss, nll, n = batch_loss(model, src, tgt, torch.device("cpu"), 0.1)
    src_ids, src_lens = pad_batch(src)
    tgt_ids, _ = pad_batch(tgt)
    logits = model(src_ids, src_lens, tgt_ids[:, :-1]).reshape(-1, 26)
    gold = tgt_ids[:, 1:].reshape(-1)
    assert n == 2 + 7 + 0 + 3
    ce = torch.nn.functional.cross_entropy
    torch.testing.assert_close(loss, ce(logits, gold, ignore_index=0, label_smoothing=0.1, reduction="sum"))
    torch.testing.assert_close(nll, ce(logits, gold, ignore_index=0, reduction="sum"))


def metrics_rows(run_dir) -> list[dict[str, str]]:
    """metrics.csv less its one timing column (tokens/s), which no two runs share."""
    with open(os.path.join(run_dir, "metrics.csv"), newline="", encoding="utf-8") as f:
        return [{k: v for k, v in row.items() if k != "tok_s"} for row in csv.DictReader(f)]


def test_fresh_with_a_broken_corpus_leaves_the_old_run_as_it_was(trained_run_copy, toy_corpus, tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(toy_corpus, broken)
    lines = (broken / "train.en").read_text(encoding="utf-8").splitlines(keepends=True)
    (broken / "train.en").write_text("".join(lines[:-1]), encoding="utf-8")  # one target sentence short
    before = {p: p.read_bytes() for p in trained_run_copy.rglob("*") if p.is_file()}
    args = ["train", "--config", TINY, "--run-dir", str(trained_run_copy), "--fresh", "--no-progress"]
    for item in tiny_overrides(str(broken), **{"train.max_steps": TRAINED_STEPS}):
        args += ["--set", item]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"has {len(lines)} lines" in err and f"{broken / 'train.en'} has {len(lines) - 1}" in err
    assert {p: p.read_bytes() for p in trained_run_copy.rglob("*") if p.is_file()} == before  # train.log too


def test_fresh_sets_the_previous_run_aside_once_the_new_one_starts(trained_run_copy, toy_corpus):
    run = trained_run_copy
    old_last = (run / "checkpoints" / "last.pt").read_bytes()
    cfg = load_config(TINY, tiny_overrides(toy_corpus, **{"train.max_steps": 4, "train.log_every": 2}))
    Trainer(cfg, str(run), fresh=True, progress=False).run()
    assert load_checkpoint(str(run / "checkpoints" / "last.pt"))["step"] == 4
    # the old run's best checkpoints are gone; the new run's only is that of its end-of-budget validation
    assert [name for name in os.listdir(run / "checkpoints") if name.startswith("best-")] == ["best-step4.pt"]
    rows = [(row["step"], row["split"]) for row in metrics_rows(run)]
    assert rows == [("2", "train"), ("4", "train"), ("4", "valid")]  # the budget's end is validated
    previous = run / "previous"
    assert (previous / "checkpoints" / "last.pt").read_bytes() == old_last
    assert {"config.yaml", "checkpoints", "metrics.csv", "tb", "curves.png"} <= set(os.listdir(previous))
    assert load_config(str(previous / "config.yaml")).train.max_steps == TRAINED_STEPS


def test_a_run_removes_the_temporary_files_of_writes_that_were_killed(trained_run_copy, toy_corpus):
    from seq2seq.atomic import PREFIX

    dead = subprocess.run([PYTHON, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout
    stale = trained_run_copy / "checkpoints" / f"{PREFIX}{int(dead)}-last"  # what a SIGKILL during a save leaves
    stale.write_bytes(b"half a checkpoint")
    live = trained_run_copy / "checkpoints" / f"{PREFIX}{os.getppid()}-inflight"  # a live process's write
    live.write_bytes(b"")
    cfg = load_config(TINY, tiny_overrides(toy_corpus, **{"train.max_steps": TRAINED_STEPS}))
    rows = metrics_rows(trained_run_copy)
    Trainer(cfg, str(trained_run_copy), progress=False).run()  # resumes at its budget: nothing more to train
    assert not stale.exists() and live.exists()
    assert f"removed {stale}" in (trained_run_copy / "train.log").read_text(encoding="utf-8")
    assert metrics_rows(trained_run_copy) == rows


def test_weights_that_are_no_longer_finite_are_never_saved(toy_corpus, tmp_path, monkeypatch):
    real_step = torch.optim.Adam.step

    def diverging(self, *args, **kwargs):
        out = real_step(self, *args, **kwargs)
        with torch.no_grad():
            self.param_groups[0]["params"][0].fill_(float("inf"))
        return out

    monkeypatch.setattr(torch.optim.Adam, "step", diverging)
    cfg = load_config(TINY, tiny_overrides(toy_corpus, **{"train.max_steps": 3, "train.save_every": 1}))
    with pytest.raises(FloatingPointError, match=r"step 1: the weights are no longer finite .*last\.pt not written"):
        Trainer(cfg, str(tmp_path / "run"), progress=False).run()
    assert not os.listdir(tmp_path / "run" / "checkpoints")
