"""The Docker image's install, without Docker: what the Dockerfile copies, in a fresh virtual environment.

torch==2.13.0 first (as the Dockerfile does), then `pip install '.[serve]'` from a folder holding only the
Dockerfile's COPY sources, so no training code. From that environment, `seq2seq serve` answers /translate on a
loopback port, `seq2seq translate` works, and the training side is absent and says what to install.
"""

from __future__ import annotations

import shlex
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import PYTHON, ROOT, python_env
from tests.service.live import free_socket, wait_until

pytestmark = pytest.mark.slow


def dockerfile_copies() -> list[str]:
    """The source paths of the Dockerfile's COPY instructions (the image's only project files)."""
    sources = []
    for line in (Path(ROOT) / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            sources += [src for src in shlex.split(line)[1:-1] if not src.startswith("--")]
    return sources


def run(*cmd: str | Path, cwd: Path, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=python_env(), capture_output=True, text=True, timeout=timeout, **kwargs
    )


@pytest.fixture(scope="module")
def serve_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `bin/` folder of a fresh virtual environment holding the core and the [serve] extra only."""
    base = tmp_path_factory.mktemp("install_serve")
    src = base / "src"
    src.mkdir()
    for path in dockerfile_copies():
        origin = Path(ROOT) / path
        if origin.is_dir():
            shutil.copytree(origin, src / path, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy(origin, src / path)
    assert not (src / "training").exists()
    out = run(PYTHON, "-m", "venv", base / "venv", cwd=base)
    assert out.returncode == 0, out.stderr
    pip = base / "venv" / "bin" / "pip"
    for args in (["torch==2.13.0"], [f"{src}[serve]"]):  # torch pinned first: else pip may pull CUDA builds
        out = run(pip, "install", "-q", *args, cwd=base, timeout=600)
        assert out.returncode == 0, out.stdout + out.stderr
    return base / "venv" / "bin"


@pytest.fixture(scope="module")
def served(serve_env: Path, artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`seq2seq serve` from the fresh environment on a free loopback port; its URL."""
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()  # the command binds the port itself (another process could take it in between; unlikely)
    cwd = tmp_path_factory.mktemp("serve_cwd")
    log = cwd / "serve.log"
    with open(log, "w") as out:  # a file, not a pipe nobody reads while the server runs
        proc = subprocess.Popen(
            [str(serve_env / "seq2seq"), "serve", "-m", str(artifact), "--host", "127.0.0.1", "--port", str(port)],
            cwd=cwd,
            env=python_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        if not wait_until(url + "/ready", lambda: proc.poll() is None, timeout=120):
            raise AssertionError(f"seq2seq serve did not become ready:\n{log.read_text()}")
        yield url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_served_from_the_serve_install(served: str) -> None:
    r = httpx.post(
        served + "/translate", json={"q": "Ein hund läuft im park.", "source": "de", "target": "en"}, timeout=60
    )
    assert r.status_code == 200, r.text
    assert r.json()["translatedText"].strip()
    page = httpx.get(served + "/", timeout=10)  # service/static/ is package data: the page is in the install
    assert page.status_code == 200 and "static/app.js" in page.text
    assert httpx.get(served + "/static/app.js", timeout=10).status_code == 200


def test_translate_from_the_serve_install(serve_env: Path, artifact: Path, tmp_path: Path) -> None:
    out = run(
        serve_env / "seq2seq",
        "translate",
        "-m",
        artifact,
        "--quiet",
        cwd=tmp_path,
        input="Der mann läuft.\n\nEin hund springt.\n",
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split("\n")[:-1]
    assert len(lines) == 3 and lines[0] and lines[1] == "" and lines[2]


def test_no_training_code_or_dependencies_in_the_serve_install(serve_env: Path, tmp_path: Path) -> None:
    for module in ("training", "datasets", "sacrebleu"):
        out = run(serve_env / "python", "-c", f"import {module}", cwd=tmp_path)
        assert out.returncode != 0 and "ModuleNotFoundError" in out.stderr, (module, out.stderr)
    out = run(serve_env / "seq2seq", "train", "--config", "configs/tiny.yaml", cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert "pip install 'seq2seq-nmt[train]'" in out.stderr and "Traceback" not in out.stderr
