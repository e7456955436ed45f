"""Shared fixtures: tiny model configurations, copied weights, and a tiny SentencePiece model."""

import os
import sys

import pytest
import torch

from seq2seq.config import ModelConfig, Regularizers
from seq2seq.model import Seq2Seq

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(ROOT, "..", "shared", "data")


def tiny_config(**overrides) -> ModelConfig:
    base = dict(src_vocab=24, tgt_vocab=26, emb_dim=8, enc_hidden=6, enc_layers=2, dec_hidden=10, dec_layers=2)
    base.update(overrides)
    return ModelConfig(**base)


def tiny_model(seed: int = 0, **overrides) -> Seq2Seq:
    torch.manual_seed(seed)
    return Seq2Seq(tiny_config(**overrides)).eval()


def random_batch(B: int = 5, S: int = 7, vocab: int = 24, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Source ids ending with EOS (3), padded with 0; the first sentence has the full length."""
    g = torch.Generator().manual_seed(seed)
    lens = torch.randint(1, S + 1, (B,), generator=g)
    lens[0] = S
    src = torch.zeros(B, S, dtype=torch.long)
    for b in range(B):
        L = int(lens[b])
        src[b, : L - 1] = torch.randint(4, vocab, (L - 1,), generator=g)
        src[b, L - 1] = 3
    return src, lens


@pytest.fixture
def all_regularizers() -> Regularizers:
    return Regularizers(dropout=0.2, rnndrop=0.2, variational=0.2, weight_drop=0.2, recurrent_dropout=0.2,
                        zoneout_c=0.2, zoneout_h=0.2)


def python_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


PYTHON = sys.executable


def modules_loaded_by(imports: str, watched: tuple[str, ...]) -> list[str]:
    """Which of `watched` a fresh interpreter has loaded after `import {imports}` (dependency-direction tests)."""
    import json
    import subprocess

    code = f"import json, sys; import {imports}; print(json.dumps(sorted(m for m in {watched!r} if m in sys.modules)))"
    env = dict(python_env(), PYTHONPATH=ROOT)
    out = subprocess.run([PYTHON, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])

# One thread per test process: the machine has two cores and long runs may share it.
torch.set_num_threads(1)
