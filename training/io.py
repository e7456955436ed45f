"""Atomic file writes of the training side (text, bytes, torch objects), through seq2seq/atomic.py."""

from __future__ import annotations

from typing import Any

import torch

from seq2seq.atomic import atomic_file


def atomic_write_bytes(path: str, data: bytes) -> None:
    with atomic_file(path) as f:
        f.write(data)


def atomic_write_text(path: str, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_torch_save(obj: Any, path: str) -> None:
    with atomic_file(path) as f:
        torch.save(obj, f)
