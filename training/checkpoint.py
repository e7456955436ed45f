"""Checkpoints are plain dicts written atomically and read back with `weights_only=True`."""

from __future__ import annotations

import os
from typing import Any

import torch

from seq2seq.config import ModelConfig
from seq2seq.model import Seq2Seq
from training.io import atomic_torch_save

REQUIRED = ("model_config", "model_state", "step")


class CheckpointError(ValueError):
    pass


def save_checkpoint(path: str, state: dict[str, Any]) -> None:
    """Write a checkpoint atomically; one whose weights are not all finite is never written.

    :raises FloatingPointError: a weight is NaN or infinite (the training diverged); `path` is left as it was
    """
    for key, value in state["model_state"].items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise FloatingPointError(
                f"step {state['step']}: the weights are no longer finite ({key}); {path} not written, the last "
                f"checkpoint kept: the training diverged, lower train.lr or train.clip_norm")
    atomic_torch_save(state, path)


def load_checkpoint(path: str) -> dict[str, Any]:
    """Read a checkpoint; a truncated, foreign or incomplete file is refused with a message naming it."""
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated or foreign file: {first})") from None
    if not isinstance(ckpt, dict) or any(key not in ckpt for key in REQUIRED):
        raise CheckpointError(f"{path}: not a checkpoint of this project (expected keys {', '.join(REQUIRED)})")
    return ckpt


def model_from_checkpoint(ckpt: dict[str, Any], path: str = "checkpoint") -> Seq2Seq:
    try:
        model = Seq2Seq(ModelConfig(**ckpt["model_config"]))
        model.load_state_dict(ckpt["model_state"])
    except (TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: model does not match its config ({str(exc).splitlines()[0]})") from None
    return model


def average_states(paths: list[str]) -> dict[str, torch.Tensor]:
    """Element-wise mean of the model weights of several checkpoints of one run."""
    total: dict[str, torch.Tensor] = {}
    for path in paths:
        state = load_checkpoint(path)["model_state"]
        for key, value in state.items():
            total[key] = total.get(key, 0) + value.double()
    return {key: (value / len(paths)).float() for key, value in total.items()}
