"""What the example scripts share: reading a text file with errors that name it, and the regularizer options."""

import argparse
import gzip
import sys
from dataclasses import fields

from seq2seq.config import Regularizers

REGS = [f.name for f in fields(Regularizers)]  # the six recurrent dropout variants of docs/design.md §2


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


def add_regularizer_args(p: argparse.ArgumentParser) -> None:
    for name in REGS:
        p.add_argument(f"--{name}", type=float, default=0.0, help="rate, 0 for off (docs/design.md §2)")


def regularizers(args: argparse.Namespace) -> Regularizers:
    """The options' rates, checked for args.cell: a rate outside [0, 1) or one the cell lacks stops the script."""
    try:
        reg = Regularizers(**{name: getattr(args, name) for name in REGS})
        reg.validate(args.cell)
    except ValueError as e:
        fail(f"--{e}")
    return reg
