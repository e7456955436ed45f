"""Keep the memory a training step frees for the next step to reuse, instead of handing it back to the system.

A training step on the CPU allocates and frees the same large buffers every update: the output layer's
(N, V) logits and their gradient (N target tokens × V pieces: 128 MB at 4,096 tokens and 8,000 pieces),
the recurrent layers' gate activations. glibc's malloc serves any block over its mmap threshold (at most 32 MB)
with a fresh `mmap` and returns it with `munmap` when freed, so every update page-faults those buffers in
again, zero-filled by the kernel: a measurable share of the step (`copy_` and the first write to each buffer in
the profile, BENCHMARKS.md). With `mmap` off for malloc and the heap never trimmed, freed blocks stay in the heap
and the next update reuses them: the process keeps its peak resident memory (hundreds of MB for the reference
network) in exchange. Elsewhere than glibc (musl, macOS) this does nothing.
"""

from __future__ import annotations

import ctypes
import sys

# mallopt parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
NEVER_TRIM = 2**31 - 1  # bytes of free memory at the top of the heap before malloc gives it back: never


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to serve large blocks from the heap and keep what is freed; for the whole process
    from now on. True if it took effect (glibc on Linux), False where there is no glibc to tell."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl's libc.so has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(M_MMAP_MAX, 0) == 1 and mallopt(M_TRIM_THRESHOLD, NEVER_TRIM) == 1
