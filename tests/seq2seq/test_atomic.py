"""Atomic writes (seq2seq/atomic.py): a failed write keeps the old file; a killed writer's temporary file is removed
by `remove_stale`, a live writer's never."""

import os
import signal
import subprocess
import time

import pytest
import torch

from seq2seq.atomic import PREFIX, atomic_file, atomic_path, remove_stale
from tests.conftest import PYTHON, ROOT, python_env


def temporaries(folder) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.startswith(PREFIX))


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old\n")
    with pytest.raises(RuntimeError, match="midway"):
        with atomic_file(str(path), "w", encoding="utf-8") as f:
            f.write("partial\n")
            raise RuntimeError("midway")
    assert path.read_text() == "old\n" and temporaries(tmp_path) == []
    with atomic_file(str(path), "w", encoding="utf-8") as f:
        f.write("new\n")
    assert path.read_text() == "new\n" and temporaries(tmp_path) == []


def test_a_write_through_a_link_replaces_the_file_it_names(tmp_path):
    real = tmp_path / "real.txt"
    real.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    with atomic_file(str(link), "w") as f:
        f.write("new")
    assert link.is_symlink() and real.read_text() == "new"


def test_only_the_temporary_files_of_dead_writers_are_removed(tmp_path):
    path = tmp_path / "last.pt"
    path.write_bytes(b"old")
    # A writer killed midway (SIGKILL: no exception, no clean-up) leaves its temporary file.
    code = (f"import os, signal\nfrom seq2seq.atomic import atomic_file\nwith atomic_file({str(path)!r}) as f:\n"
            f"    f.write(b'half'); f.flush(); os.kill(os.getpid(), signal.SIGKILL)\n")
    killed = subprocess.run([PYTHON, "-c", code], cwd=ROOT, env=dict(python_env(), PYTHONPATH=ROOT), timeout=120)
    assert killed.returncode == -signal.SIGKILL
    [left] = temporaries(tmp_path)
    assert path.read_bytes() == b"old"
    live = tmp_path / f"{PREFIX}{os.getppid()}-inflight"  # a write of a process still running
    live.write_bytes(b"")
    assert remove_stale(str(tmp_path)) == [str(tmp_path / left)]
    assert temporaries(tmp_path) == [live.name] and path.read_bytes() == b"old"
    assert remove_stale(str(tmp_path / "no such folder")) == []


@pytest.mark.parametrize("name", ["model.pt", "model", ".model", "x" * 300 + ".pt"])
def test_the_temporary_name_suits_torch_jit_save_and_names_the_target(tmp_path, name):
    """torch.jit.save takes its zip archive's name from the file's up to its last dot: ".tmp-1-x" gave none."""
    path = tmp_path / name[:200]
    with atomic_path(str(path)) as tmp:
        assert os.path.basename(tmp).startswith(PREFIX) and os.path.basename(tmp).endswith("." + path.name[:48])
        torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), tmp)
    assert torch.jit.load(str(path))(torch.ones(1, 2)).shape == (1, 2) and temporaries(tmp_path) == []


def test_the_previous_writers_nameless_temporaries_are_removed_once_old(tmp_path):
    """Before the process id was in the name, a killed write left `.tmp-` and mkstemp's 8 characters."""
    old, young = tmp_path / ".tmp-k3_9xq0a", tmp_path / ".tmp-ab12cd34"
    for path in (old, young):
        path.write_bytes(b"half a checkpoint")
    an_hour_ago = time.time() - 3601
    os.utime(old, (an_hour_ago, an_hour_ago))  # a write of the old code still running would be younger
    kept = tmp_path / ".tmp-notes.txt"  # not a temporary name of either writer
    kept.write_text("mine")
    os.utime(kept, (an_hour_ago, an_hour_ago))
    assert remove_stale(str(tmp_path)) == [str(old)]
    assert young.exists() and kept.exists()


def test_a_replaced_file_keeps_its_mode_and_a_new_one_follows_the_umask(tmp_path):
    private = tmp_path / "private.txt"
    private.write_text("old")
    private.chmod(0o600)
    with atomic_file(str(private), "w") as f:
        f.write("new")
    assert private.read_text() == "new" and private.stat().st_mode & 0o777 == 0o600
    mask = os.umask(0o022)
    try:
        with atomic_file(str(tmp_path / "new.txt"), "w") as f:
            f.write("x")
    finally:
        os.umask(mask)
    assert (tmp_path / "new.txt").stat().st_mode & 0o777 == 0o644  # not mkstemp's 0o600


def test_a_write_first_removes_what_killed_writes_of_the_same_file_left(tmp_path):
    dead = int(subprocess.run([PYTHON, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout)
    mine, other = tmp_path / f"{PREFIX}{dead}-abcd1234.out.en", tmp_path / f"{PREFIX}{dead}-abcd1234.other.en"
    for path in (mine, other):
        path.write_bytes(b"half")
    with atomic_file(str(tmp_path / "out.en"), "w") as f:
        f.write("done\n")
    assert not mine.exists() and other.exists()  # another file's leftover waits for a folder-wide remove_stale
    assert temporaries(tmp_path) == [other.name]
