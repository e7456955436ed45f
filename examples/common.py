"""What the example scripts share: reading a text file with errors that name it, the options both take (the
regularizer rates among them), model configs built from those options, the update step, evaluation mode, a clock of
training time, and checkpoints (a plain dict: model_config, model_state, train_config and the script's own keys)."""

import argparse
import contextlib
import gzip
import os
import sys
import time
from dataclasses import asdict, fields
from typing import Iterator, List, Optional

import torch
from torch import Tensor, nn

from seq2seq.config import Regularizers

REGS = [f.name for f in fields(Regularizers)]  # the six recurrent dropout variants, (a)-(f) of docs/design.md §2


def fail(message: str) -> None:
    """Stop the script with a message and exit status 2, as argparse does for a bad option."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def read_text(path: str) -> str:
    """The whole file, UTF-8, optionally gzipped; a missing, undecodable or empty one stops the script, naming the
    file (and the line of the first byte that is not UTF-8)."""
    try:
        with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:  # missing, unreadable, a truncated or corrupt .gz
        fail(f"{path}: cannot read it ({e})")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        fail(f"{path}:{line}: not UTF-8 text (byte {raw[e.start]:#04x} at offset {e.start})")
    if not text.strip():
        fail(f"{path}: empty file: no text in it")
    return text


# The options both scripts have with the same defaults (with --cell and the rates, all that parser() adds).
SHARED = dict(emb_dim=64, layers=2, emb_dropout=0.0, out_dropout=0.0, lr=2e-3, clip=1.0, seed=0, threads=1)


def parser(doc: str, **defaults) -> argparse.ArgumentParser:
    """A parser with `doc` as its description and the options both scripts have: --cell, one --NAME for each keyword
    and for each of SHARED that it does not name (of its default's type: int, float, str), and the regularizer rates.
    They are listed in groups of their own, after the options the script adds."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    model = p.add_argument_group("model and training")
    model.add_argument("--cell", choices=["lstm", "gru"], default="lstm")
    for name, default in {**SHARED, **defaults}.items():
        model.add_argument(f"--{name}", type=type(default), default=default)
    regs = p.add_argument_group("recurrent regularizers (docs/design.md §2)")
    for name in REGS:
        regs.add_argument(f"--{name}", type=float, default=0.0, help="rate, 0 for off")
    return p


def parse(p: argparse.ArgumentParser, argv: Optional[List[str]]) -> argparse.Namespace:
    """The options of `argv` (None: the command line); torch is then seeded with --seed and runs --threads threads."""
    args = p.parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    return args


def regularizers(args: argparse.Namespace) -> Regularizers:
    """The options' rates, checked for args.cell: a rate outside [0, 1) or one the cell lacks stops the script."""
    try:
        reg = Regularizers(**{name: getattr(args, name) for name in REGS})
        reg.validate(args.cell)
    except ValueError as e:
        fail(f"--{e}")
    return reg


class ModelConfig:
    """Base of the scripts' model config dataclasses, whose `reg` field holds the Regularizers."""

    def __post_init__(self) -> None:  # from a checkpoint's asdict(), reg is a dict
        self.reg = Regularizers(**self.reg) if isinstance(self.reg, dict) else self.reg

    @classmethod
    def from_args(cls, args: argparse.Namespace, **given) -> "ModelConfig":
        """The fields in `given`, reg from the rate options (checked), every other field from the option of its name."""
        rest = {f.name: getattr(args, f.name) for f in fields(cls) if f.name not in given and f.name != "reg"}
        return cls(**given, **rest, reg=regularizers(args))


def update(model: nn.Module, opt: torch.optim.Optimizer, loss: Tensor, clip: float) -> None:
    """One optimizer step on the gradients of `loss`, their global norm clipped to `clip` (Pascanu et al. 2013)."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()


@contextlib.contextmanager
def evaluating(model: nn.Module) -> Iterator[None]:
    """The model in evaluation mode (no dropout draws) inside the block, back in training mode after it."""
    model.eval()
    try:
        yield
    finally:
        model.train()


class Clock:
    """Wall time since it was made, and `busy`, the seconds spent inside `with clock:` blocks: the training steps,
    so that the throughput the scripts print leaves evaluation and checkpoints out."""

    def __init__(self) -> None:
        self.start, self.busy = time.perf_counter(), 0.0

    def __enter__(self) -> None:
        self.tick = time.perf_counter()

    def __exit__(self, *exc) -> None:
        self.busy += time.perf_counter() - self.tick

    def minutes(self) -> float:
        return (time.perf_counter() - self.start) / 60


def save_ckpt(path: str, model: nn.Module, args: argparse.Namespace, opt: Optional[torch.optim.Optimizer] = None,
              **extra) -> None:
    """The model (its `cfg` dataclass and weights), the options, the optimizer's state if given and the script's
    `extra` keys at `path`, its folder made if need be."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    ckpt = {"model_config": asdict(model.cfg), "model_state": model.state_dict(), "train_config": vars(args)}
    if opt is not None:  # char_lm keeps it
        ckpt["optimizer"] = opt.state_dict()
    torch.save({**ckpt, **extra}, path)


def load_ckpt(path: str, script: str) -> dict:
    """A checkpoint `script` saved; a missing, truncated or foreign file stops the script, naming it."""
    try:
        return torch.load(path, weights_only=True)
    except Exception as e:  # missing, truncated, not a checkpoint
        fail(f"{path}: not a {script} checkpoint ({e})")
