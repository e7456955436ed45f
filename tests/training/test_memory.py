"""training/memory.py: with keep_freed_memory, a large block freed stays resident for the next allocation to
reuse; without it, glibc hands it back to the system at once. Each case in a fresh interpreter (the setting is
process-wide)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import PYTHON, ROOT, python_env

PROBE = """
import sys
import torch
from training.memory import keep_freed_memory

def rss_mb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024

kept = keep_freed_memory() if sys.argv[1] == "keep" else False
before = rss_mb()
block = torch.ones(64 * 2**20 // 4)  # 64 MB, written: resident
during = rss_mb()
del block
after = rss_mb()
print(kept, round(during - before), round(after - before))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc on Linux only")
def test_freed_blocks_stay_for_reuse_only_when_asked() -> None:
    def probe(mode: str) -> tuple[str, int, int]:
        out = subprocess.run([PYTHON, "-c", PROBE, mode], cwd=ROOT, env=python_env(), capture_output=True,
                             text=True, timeout=120, check=True).stdout.split()
        return out[0], int(out[1]), int(out[2])

    kept, grown, left = probe("keep")
    assert kept == "True" and grown >= 60 and left >= 60  # freed, yet still resident: the heap keeps it
    _, grown, left = probe("default")
    assert grown >= 60 and left <= 8  # glibc's default: munmap'ed when freed
