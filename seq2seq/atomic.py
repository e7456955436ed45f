"""Atomic file writes: a temporary file beside the target, renamed over it once complete.

A reader never sees a half-written file, and a write that fails (an exception, Ctrl-C) leaves the old file as it
was. A writer killed outright (SIGKILL, power loss) cannot clean up after itself, so the temporary name carries
its process id and the target's name: `remove_stale` removes what dead writers left in a folder, never a file a
live one is writing, and each write first removes what killed writes of the same file left.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

PREFIX = ".tmp-"
_STALE = re.compile(rf"^{re.escape(PREFIX)}(\d+)-")  # .tmp-PID-RANDOM.NAME
# What the writer before this one left, without a process id (.tmp- and mkstemp's 8 characters): removed once it
# is older than any write takes, since whether its writer still runs cannot be told.
_LEGACY = re.compile(rf"^{re.escape(PREFIX)}[a-z0-9_]{{8}}$")
LEGACY_AGE_S = 3600.0
NAME_KEPT = 48  # characters of the target's name kept: 4 UTF-8 bytes each stay within the 255-byte limit on a name


@contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """A temporary path to write the whole file to; on leaving the block without an error it replaces `path`.

    `path` through a symbolic link replaces the file the link names (the link is kept). A `path` that exists and
    is not a regular file (a device such as /dev/stdout, a pipe) cannot be replaced: it is written in place.
    """
    try:
        st = os.stat(path)
        regular, mode = stat.S_ISREG(st.st_mode), stat.S_IMODE(st.st_mode)  # a file replaced keeps its mode
    except FileNotFoundError:
        regular, mode = True, 0o666 & ~_umask()  # mkstemp creates owner-only files; an output is meant to be shared
    if not regular:
        yield path
        return
    target = os.path.realpath(path)
    folder = os.path.dirname(target)
    os.makedirs(folder, exist_ok=True)
    # .tmp-PID-RANDOM.NAME: the target's name says what the file was for, and gives it a dot past the leading
    # one, without which torch.jit.save's zip writer finds no archive name (".tmp-1-x" is refused, ".tmp-1-x.m" not)
    name = os.path.basename(target)[:NAME_KEPT]
    remove_stale(folder, of=os.path.basename(target))  # what a killed write of this file left
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f"{PREFIX}{os.getpid()}-", suffix=f".{name}")
    os.close(fd)
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)  # the data is on disk before the rename makes it the file
        finally:
            os.close(fd)
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


@contextmanager
def atomic_file(path: str, mode: str = "wb", encoding: str | None = None,
                newline: str | None = None) -> Iterator[IO[Any]]:
    """`open(path, mode)` that replaces `path` only once the block completes (see `atomic_path`)."""
    with atomic_path(path) as tmp, open(tmp, mode, encoding=encoding, newline=newline) as f:
        yield f


def remove_stale(folder: str, of: str | None = None) -> list[str]:
    """Remove the temporary files that writers no longer running left in `folder`; the paths removed.

    :param of: only those of writes of the file of this name (every write does this first, so that a file written
        again does not gather leftovers); None for all, the previous writer's nameless ones included
    """
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    removed = []
    now = time.time()
    for name in names:
        path = os.path.join(folder, name)
        match = _STALE.match(name)
        try:
            if match:
                stale = (of is None or name.endswith("." + of[:NAME_KEPT])) and not _alive(int(match.group(1)))
            elif of is not None:
                continue
            else:
                stale = bool(_LEGACY.match(name)) and now - os.stat(path).st_mtime > LEGACY_AGE_S
            if stale:
                os.remove(path)
                removed.append(path)
        except FileNotFoundError:  # another process cleaned it first
            continue
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
