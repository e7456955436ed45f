"""Data-parallel training across processes with `torch.distributed` (`torchrun`): gloo on CPU, NCCL on CUDA.

Every process builds the same global batch from (seed, epoch) and takes a disjoint share of it (`share`); the
gradients are summed across processes by DDP and divided by the global batch's target tokens, so N processes
make the update one process makes on the whole batch. Process 0 validates and writes (checkpoints, logs,
metrics); the others wait for it at the collectives below. A process that dies makes the others' next
collective fail: `PeerLost` says so and how to resume.

    torchrun --standalone --nproc-per-node 2 -m training.cli train --config configs/multi30k.yaml
    seq2seq train --nproc 2 --config configs/multi30k.yaml       # the same, started for you
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist


class PeerLost(RuntimeError):
    """A collective failed: another training process is gone (killed, or stopped by an error of its own)."""


class JoinError(ConnectionError):
    """This process could not join the others at the rendezvous endpoint within the timeout."""


# How long a process waits for the others to meet at MASTER_ADDR:MASTER_PORT before it gives up with a message.
JOIN_TIMEOUT_S = float(os.environ.get("SEQ2SEQ_JOIN_TIMEOUT", "300"))


def usable_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def check_nproc(nproc: int, device: str) -> None:
    """Refuse more processes than this machine has GPUs (CUDA) or cores (CPU), naming both counts."""
    if nproc <= 1:
        return
    if device.startswith("cuda"):
        gpus = torch.cuda.device_count()
        if nproc > gpus:
            raise ValueError(f"--nproc {nproc}: one process per GPU, and this machine has {gpus} CUDA device(s)")
    else:
        cpus = usable_cpus()
        if nproc > cpus:
            raise ValueError(f"--nproc {nproc}: this machine has {cpus} usable CPU core(s); run at most {cpus} "
                             "processes (each needs a core of its own)")


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (rank 0 of 1 without torchrun)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def launched() -> bool:
    """Whether torchrun (or another launcher that sets its environment) started this process as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def join(device: torch.device) -> tuple[World, torch.device]:
    """Join the process group torchrun's environment describes (nothing to join without it), and the device this
    process trains on: `cuda` becomes `cuda:LOCAL_RANK`, one GPU per process."""
    if not launched():
        return World(), device
    rank, size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        if device.index is None and local_rank >= torch.cuda.device_count():
            raise ValueError(f"process {local_rank} of this machine has no GPU of its own: this machine has "
                             f"{torch.cuda.device_count()} CUDA device(s); start at most that many per node")
        device = torch.device("cuda", local_rank if device.index is None else device.index)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        endpoint = f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
        try:
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                    timeout=timedelta(seconds=JOIN_TIMEOUT_S))
        except (RuntimeError, ValueError, OSError) as exc:  # the store's connect timeout, a refused connection
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise JoinError(f"process {rank} of {size} could not join the others at {endpoint} within "
                            f"{JOIN_TIMEOUT_S:g} s ({first}); check that the first node runs and that this "
                            "address and port are reachable from here (SEQ2SEQ_JOIN_TIMEOUT sets the wait)") from None
    return World(rank, size, local_rank), device


def leave() -> None:
    """Leave the process group while the interpreter is fully alive. Whatever still references it (a DDP module's
    reducer, in a reference cycle) is collected first, so that gloo's worker threads are joined here: left to
    interpreter exit, they can end the process with "terminate called without an active exception" (SIGABRT)
    after its work is done."""
    if dist.is_initialized():
        gc.collect()
        dist.destroy_process_group()
        gc.collect()


def share(batch: list[int], world: World) -> tuple[list[int], float]:
    """This process's examples of a global batch, and their weight: every `size`-th from `rank`, so that a batch
    sorted by length is shared evenly. A batch with fewer examples than processes leaves some without: they run
    its first example with weight 0 (DDP needs every process to run a backward), which adds nothing."""
    mine = batch[world.rank :: world.size]
    return (mine, 1.0) if mine else (batch[:1], 0.0)


def _collective(what: str, fn, *args: Any) -> Any:
    try:
        return fn(*args)
    except (RuntimeError, ConnectionError) as exc:  # gloo/NCCL: "Connection closed by peer", timeouts, resets
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise PeerLost(f"another training process is gone ({what}: {first}); rerun the same command to resume "
                       "from the last checkpoint, with the same number of processes or another") from None


def all_sum(values: torch.Tensor, world: World) -> torch.Tensor:
    """The sum of `values` over every process (in place; returned)."""
    if world.distributed:
        _collective("all_reduce", dist.all_reduce, values)
    return values


def all_max(value: int, world: World) -> int:
    """The largest of one integer per process."""
    if not world.distributed:
        return value
    t = torch.tensor([value], dtype=torch.long)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    _collective("all_reduce", dist.all_reduce, t, dist.ReduceOp.MAX)
    return int(t.item())


def broadcast(obj: Any, world: World) -> Any:
    """Process 0's `obj` on every process (picklable objects)."""
    if not world.distributed:
        return obj
    box = [obj]
    _collective("broadcast", dist.broadcast_object_list, box, 0)
    return box[0]


def gather(obj: Any, world: World) -> list[Any] | None:
    """Every process's `obj` on process 0 (None elsewhere)."""
    if not world.distributed:
        return [obj]
    out: list[Any] | None = [None] * world.size if world.main else None
    _collective("gather", dist.gather_object, obj, out, 0)
    return out


def barrier(world: World) -> None:
    if world.distributed:
        _collective("barrier", dist.barrier)


def launch(nproc: int, argv: list[str]) -> int:
    """`seq2seq train --nproc N ...`: run `torchrun --standalone --nproc-per-node N -m training.cli ARGV` on this
    machine and wait; a process that dies stops the others (torchrun's rule), and the message says how to resume."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           "-m", "training.cli", *argv]
    env = dict(os.environ)
    cpus = usable_cpus()
    env.setdefault("OMP_NUM_THREADS", str(max(1, cpus // nproc)))  # the cores shared out, not oversubscribed
    code = subprocess.call(cmd, env=env)
    if code:
        print(f"seq2seq train: one of the {nproc} training processes failed (exit {code}); the messages above "
              "say which and why; rerun the same command to resume from the last checkpoint", file=sys.stderr)
    return code
