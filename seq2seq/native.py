"""The LSTM step's pointwise kernels in C (seq2seq/lstm_kernels.c), built at first use and loaded with ctypes.

On a CPU the pointwise part of a training step is a dozen small tensor operations, each a pass over memory; the
kernels do it in one. They are plain C (no PyTorch headers), so the build takes a second: `cc -O3 -march=native`,
vectorized with glibc's vector math (libmvec). The library goes to `$SEQ2SEQ_CACHE` (default
`~/.cache/seq2seq`), named by a hash of the source, the compiler flags and the processor's features, so that a
cache shared between machines never loads a build for another processor. Without a C compiler, or with
`SEQ2SEQ_NATIVE=0`, `kernels()` is None and the step runs as torch operations (the same equations).
"""

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from typing import Optional

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lstm_kernels.c")
# -ffast-math at compile time only: it lets gcc call libmvec's vector expf/tanhf; linked without it, the library
# does not pull in crtfastmath.o, which would flush denormals to zero for the whole process.
COMPILE = ["-O3", "-march=native", "-ffast-math", "-fopenmp-simd", "-fPIC", "-c"]
LINK = ["-shared", "-lmvec", "-lm"]

_P, _L, _I = ctypes.c_void_p, ctypes.c_long, ctypes.c_int
_FWD_ARGS = [_I, _I, _I, _P, _L, _P, _L, _P, _L, _P, _L, _P, _L, _P, _L, _P, _L, _P, _L, _P, _P, _P]
_BWD_ARGS = [_I, _I, _I, _P, _L, _P, _P, _L, _P, _L, _P, _L, _P, _L, _P, _L, _P, _L, _P, _L, _P, _L, _P, _L, _P, _P]

_loaded: Optional[ctypes.CDLL] = None
_tried = False


def _cpu_features() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            return next((ln for ln in fh if ln.startswith("flags")), "")
    except OSError:
        return platform.processor()


def _build(path: str) -> None:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise RuntimeError("no C compiler (cc) found")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tempfile.TemporaryDirectory(dir=os.path.dirname(path)) as tmp:
        obj, lib = os.path.join(tmp, "k.o"), os.path.join(tmp, "k.so")
        for cmd in ([cc, *COMPILE, SOURCE, "-o", obj], [cc, obj, "-o", lib, *LINK]):
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode:
                raise RuntimeError(f"{' '.join(cmd)}: {done.stderr.strip()[-500:]}")
        os.replace(lib, path)  # atomic: another process never loads half a library


def kernels() -> Optional[ctypes.CDLL]:
    """The loaded kernels, or None (no compiler, a failed build, not x86-64/Linux, or SEQ2SEQ_NATIVE=0)."""
    global _loaded, _tried
    if _tried:
        return _loaded
    _tried = True
    if os.environ.get("SEQ2SEQ_NATIVE", "1") == "0" or platform.system() != "Linux":
        return None
    with open(SOURCE, "rb") as fh:
        key = hashlib.sha256(fh.read() + " ".join(COMPILE + LINK).encode() + _cpu_features().encode())
    cache = os.environ.get("SEQ2SEQ_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "seq2seq")
    path = os.path.join(cache, f"lstm_kernels-{key.hexdigest()[:16]}.so")
    try:
        if not os.path.exists(path):
            _build(path)
        lib = ctypes.CDLL(path)
    except (OSError, RuntimeError) as e:
        warnings.warn(f"seq2seq: the LSTM's C kernels are unavailable, using torch operations ({e})", stacklevel=2)
        return None
    lib.lstm_fwd.argtypes, lib.lstm_fwd.restype = _FWD_ARGS, None
    lib.lstm_bwd.argtypes, lib.lstm_bwd.restype = _BWD_ARGS, None
    _loaded = lib
    return lib
