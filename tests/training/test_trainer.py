"""The trainer end to end on a generated corpus: outputs, exact resume after SIGKILL, refusals."""

import os
import signal
import subprocess
import time

import pytest
import torch

from tests.conftest import PYTHON, ROOT
from tests.training.conftest import TINY, cli, tiny_overrides
from training.checkpoint import CheckpointError, load_checkpoint
from training.config import ConfigError, load_config
from training.trainer import Trainer


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
    assert ckpt["step"] == 40 and set(ckpt) >= {"model_config", "model_state", "optimizer", "rng", "train_config"}


def test_killed_run_resumes_to_the_same_weights(corpus_dir, tmp_path):
    args = ["train", "--config", TINY, "--no-progress"]
    sets = tiny_overrides(corpus_dir, **{"train.max_steps": 36, "train.save_every": 6, "train.valid_every": 12})
    for item in sets:
        args += ["--set", item]
    straight = cli(*args, "--run-dir", str(tmp_path / "straight"))
    assert straight.returncode == 0, straight.stderr
    # Same run, killed with SIGKILL once it has passed a checkpoint, then resumed by the same command.
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
    proc = subprocess.Popen([PYTHON, "-m", "training.cli", *args, "--run-dir", str(tmp_path / "killed")], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = tmp_path / "killed" / "train.log"
    deadline = time.time() + 240
    while time.time() < deadline:
        if log.exists() and "step 20 " in log.read_text():
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = load_checkpoint(str(tmp_path / "killed" / "checkpoints" / "last.pt"))["step"]
    assert 0 < killed_at < 36
    resumed = cli(*args, "--run-dir", str(tmp_path / "killed"))
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stderr
    a = load_checkpoint(str(tmp_path / "straight" / "checkpoints" / "last.pt"))
    b = load_checkpoint(str(tmp_path / "killed" / "checkpoints" / "last.pt"))
    assert a["step"] == b["step"] == 36
    for key, value in a["model_state"].items():
        assert torch.equal(value, b["model_state"][key]), key


def test_bad_config_is_refused_before_training(corpus_dir, tmp_path):
    out = cli("train", "--config", TINY, "--run-dir", str(tmp_path / "r"), "--set", "train.lr=fast")
    assert out.returncode == 2 and "train.lr: expected a number" in out.stderr
    assert not os.path.exists(tmp_path / "r")


def test_resume_with_another_model_is_refused(trained_run, corpus_dir):
    cfg = load_config(TINY, tiny_overrides(corpus_dir, **{"model.attention": "general"}))
    with pytest.raises(ConfigError, match="model.attention"):
        Trainer(cfg, trained_run, progress=False).run()


def test_truncated_and_foreign_checkpoints_are_refused(trained_run, tmp_path, corpus_dir):
    good = open(os.path.join(trained_run, "checkpoints", "last.pt"), "rb").read()
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "last.pt").write_bytes(good[: len(good) // 2])
    cfg = load_config(TINY, tiny_overrides(corpus_dir))
    with pytest.raises(CheckpointError, match="last.pt: not a readable checkpoint"):
        Trainer(cfg, str(run_dir), progress=False).run()
    torch.save({"weights": torch.zeros(2)}, run_dir / "checkpoints" / "last.pt")
    with pytest.raises(CheckpointError, match="not a checkpoint of this project"):
        Trainer(cfg, str(run_dir), progress=False).run()


def test_persistent_non_finite_losses_stop_the_run(corpus_dir, tmp_path, monkeypatch):
    import training.trainer as trainer_module

    real = trainer_module.batch_loss

    def poisoned(*args, **kwargs):
        loss, nll, n = real(*args, **kwargs)
        return loss * float("nan"), nll, n

    monkeypatch.setattr(trainer_module, "batch_loss", poisoned)
    cfg = load_config(TINY, tiny_overrides(corpus_dir, **{"train.max_nonfinite": 3}))
    with pytest.raises(FloatingPointError, match="3 non-finite losses in a row"):
        Trainer(cfg, str(tmp_path / "nan"), progress=False).run()
    assert "non-finite loss skipped" in (tmp_path / "nan" / "train.log").read_text()


def test_learning_rate_schedules():
    from training.trainer import lr_at

    cfg = load_config(None, ["train.schedule=inverse_sqrt", "train.warmup_steps=100", "train.lr=0.001"])
    assert lr_at(cfg, 50, 1.0) == pytest.approx(0.0005)  # linear warm-up
    assert lr_at(cfg, 100, 1.0) == pytest.approx(0.001)  # peak
    assert lr_at(cfg, 400, 1.0) == pytest.approx(0.0005)  # lr * sqrt(warmup / step)
    cfg = load_config(None, ["train.schedule=plateau", "train.min_lr=1e-4"])
    assert lr_at(cfg, 10, 0.5) == pytest.approx(0.0005)
    assert lr_at(cfg, 10, 0.01) == pytest.approx(1e-4)  # never below the floor
    cfg = load_config(None, ["train.schedule=constant"])
    assert lr_at(cfg, 10_000, 0.01) == pytest.approx(0.001)


def test_batch_loss_equals_cross_entropy_over_the_padded_batch():
    # batch_loss decodes only the scored steps (packed targets); its sums equal torch's label-smoothed cross
    # entropy over the whole padded batch with padding ignored
    from seq2seq.translator import pad_batch
    from tests.conftest import tiny_model
    from training.trainer import batch_loss

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
