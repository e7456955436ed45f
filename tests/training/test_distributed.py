"""Data-parallel training (training/distributed.py) with 2 gloo processes on the CPU, started by `seq2seq train
--nproc 2` (torchrun): the same updates as one process on the same global batches, exact resume after a process
is killed, resuming with another number of processes, and how a global batch is shared out."""

import os
import signal
import subprocess
import time

import pytest
import torch

from tests.conftest import ROOT, SEQ2SEQ, TINY, cli, cli_env, tiny_overrides
from training.checkpoint import load_checkpoint
from training.distributed import World, share

# Regularizers off: dropout masks are drawn per process, so only without them can N processes equal one.
# A small learning rate: Adam's step is about lr whatever the gradient's size, so where the sum over two processes
# rounds a near-zero gradient differently from one process, the weights differ by up to ~lr·(relative rounding);
# the processor's GEMM kernels decide that rounding (about 1.5e-6 at lr 3e-3 on an AVX-512 Xeon).
PLAIN = {"model.emb_dropout": 0, "model.out_dropout": 0, "model.enc_reg.recurrent_dropout": 0,
         "model.enc_reg.zoneout_c": 0, "model.dec_reg.recurrent_dropout": 0, "model.dec_reg.zoneout_c": 0,
         "train.lr": 0.0003}


def train_args(corpus: str, run_dir, steps: int, **extra: object) -> list[str]:
    args = ["train", "--config", TINY, "--no-progress", "--run-dir", str(run_dir), "--max-steps", str(steps)]
    for item in tiny_overrides(corpus, **{**PLAIN, "train.valid_every": 6, "train.save_every": 2, **extra}):
        args += ["--set", item]
    return args


def max_difference(a: str, b: str) -> float:
    wa, wb = load_checkpoint(a)["model_state"], load_checkpoint(b)["model_state"]
    assert wa.keys() == wb.keys()
    return max(float((wa[k] - wb[k]).abs().max()) for k in wa)


def last(run_dir) -> str:
    return os.path.join(str(run_dir), "checkpoints", "last.pt")


def test_share_covers_the_batch_once():
    batch = list(range(7))
    shares = [share(batch, World(r, 3)) for r in range(3)]
    assert sorted(i for mine, _ in shares for i in mine) == batch and all(w == 1.0 for _, w in shares)
    assert share([5, 9], World(0, 1)) == ([5, 9], 1.0)
    assert share([4], World(1, 2)) == ([4], 0.0)  # nothing left for process 1: it runs example 4 with weight 0


@pytest.fixture(scope="module")
def one_process(toy_corpus, tmp_path_factory):
    run = tmp_path_factory.mktemp("one")
    out = cli(*train_args(toy_corpus, run, 12))
    assert out.returncode == 0, out.stderr
    return run


def test_two_processes_make_the_updates_of_one(toy_corpus, one_process, tmp_path):
    out = cli(*train_args(toy_corpus, tmp_path, 12), "--nproc", "2")
    assert out.returncode == 0, out.stderr
    assert "2 processes" in (tmp_path / "train.log").read_text()
    two = load_checkpoint(last(tmp_path))
    assert two["step"] == 12 and len(two["rng"]["ranks"]) == 2
    assert max_difference(last(one_process), last(tmp_path)) < 1e-6
    # process 0 alone wrote the run's files: one metrics.csv with each update's row once
    rows = (tmp_path / "metrics.csv").read_text().splitlines()
    assert len([r for r in rows if ",train," in r]) == len([r for r in (one_process / "metrics.csv")
                                                            .read_text().splitlines() if ",train," in r])


def workers(run_dir) -> dict[int, int]:
    """RANK -> pid of the training processes whose command line names `run_dir`."""
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
            environ = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
        except OSError:
            continue
        rank = [e[5:] for e in environ if e.startswith(b"RANK=")]
        if str(run_dir).encode() in cmdline and b"training.cli" in cmdline and rank:
            found[int(rank[0])] = int(pid)
    return found


def test_a_killed_process_stops_the_job_and_the_run_resumes_exactly(toy_corpus, one_process, tmp_path):
    args = train_args(toy_corpus, tmp_path, 12)
    proc = subprocess.Popen([*SEQ2SEQ, *args, "--nproc", "2"], cwd=ROOT, env=cli_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240  # only against a hang: the loop ends once step 4 is saved
    while time.monotonic() < deadline:
        if os.path.exists(last(tmp_path)) and load_checkpoint(last(tmp_path))["step"] >= 4:
            break
        time.sleep(0.05)
    pids = workers(tmp_path)
    os.kill(pids[1], signal.SIGKILL)
    _, err = proc.communicate(timeout=240)
    assert proc.returncode != 0
    assert "rerun the same command to resume" in err
    killed_at = load_checkpoint(last(tmp_path))["step"]
    assert 4 <= killed_at < 12
    resumed = cli(*args, "--nproc", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stderr
    assert load_checkpoint(last(tmp_path))["step"] == 12
    assert max_difference(last(one_process), last(tmp_path)) < 1e-6


def test_a_two_process_run_resumes_in_one_process(toy_corpus, one_process, tmp_path):
    out = cli(*train_args(toy_corpus, tmp_path, 6), "--nproc", "2")
    assert out.returncode == 0, out.stderr
    more = cli(*train_args(toy_corpus, tmp_path, 12))  # the same run, a larger budget, one process
    assert more.returncode == 0, more.stderr
    assert "resumed from" in more.stderr
    assert max_difference(last(one_process), last(tmp_path)) < 1e-6


def test_bf16_autocast_trains_and_its_gradients_follow_float32s():
    """The custom time loop's deferred weight gradients under autocast (bfloat16 on the CPU), as a CUDA run with
    train.amp takes them: float32 gradients close to those of float32 training, every parameter's."""
    from seq2seq.config import Regularizers
    from tests.conftest import tiny_model
    from training.trainer import batch_loss

    model = tiny_model(enc_reg=Regularizers(zoneout_c=0.1, recurrent_dropout=0.1),
                       dec_reg=Regularizers(zoneout_c=0.1)).train()
    src, tgt = [[5, 6, 7, 8, 3], [9, 10, 3]], [[2, 5, 6, 3], [2, 7, 8, 9, 3]]
    grads = []
    for amp in (False, True):
        model.zero_grad()
        torch.manual_seed(1)  # the same dropout and zoneout masks
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            loss, _, ntok = batch_loss(model, src, tgt, torch.device("cpu"), 0.1)
        assert loss.dtype == torch.float32
        (loss / ntok).backward()
        assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in model.parameters())
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    assert float((grads[0] - grads[1]).norm() / grads[0].norm()) < 0.02


def test_a_bf16_run_trains_and_fp16_on_a_cpu_is_refused(toy_corpus, tmp_path):
    out = cli(*train_args(toy_corpus, tmp_path, 6, **{"train.amp": "bf16"}))
    assert out.returncode == 0, out.stderr
    rows = [r.split(",") for r in (tmp_path / "metrics.csv").read_text().splitlines() if ",train," in r]
    assert rows and all(float(r[3]) == float(r[3]) for r in rows)  # finite losses logged
    refused = cli(*train_args(toy_corpus, tmp_path / "fp16", 6, **{"train.amp": "fp16"}))
    assert refused.returncode == 2 and "train.amp: fp16 needs train.device cuda" in refused.stderr


def test_more_processes_than_cores_are_refused_with_the_count(toy_corpus, tmp_path):
    cores = len(os.sched_getaffinity(0))
    out = cli(*train_args(toy_corpus, tmp_path, 2), "--nproc", str(cores + 1))
    assert out.returncode == 2
    assert f"--nproc {cores + 1}: this machine has {cores} usable CPU core(s)" in out.stderr
    assert not tmp_path.joinpath("checkpoints").exists()


def test_a_process_that_cannot_reach_the_rendezvous_says_where_within_the_timeout(toy_corpus, tmp_path):
    """Process 1 of 2 whose first process never comes: a message naming MASTER_ADDR:MASTER_PORT once
    SEQ2SEQ_JOIN_TIMEOUT has passed, not a hang (torchrun sets these variables; here they are set by hand)."""
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(cli_env(), WORLD_SIZE="2", RANK="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1",
               MASTER_PORT=str(port), SEQ2SEQ_JOIN_TIMEOUT="3")
    started = time.monotonic()
    out = subprocess.run([*SEQ2SEQ, *train_args(toy_corpus, tmp_path, 2)], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    assert f"process 1 of 2 could not join the others at 127.0.0.1:{port} within 3 s" in out.stderr
    assert time.monotonic() - started < 60
