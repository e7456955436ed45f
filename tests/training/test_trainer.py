"""The trainer (training/trainer.py) end to end on the toy corpus: outputs, exact resume after SIGKILL,
refusals, the learning-rate schedule, the regularizer schedule's checkpoints, and the loss."""

import os
import signal
import subprocess
import time

import pytest
import torch

from tests.conftest import ROOT, SEQ2SEQ, TINY, TRAINED_STEPS, cli, cli_env, tiny_model, tiny_overrides
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
