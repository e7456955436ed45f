"""Serving (service/server.py): a missing or broken model refused, graceful shutdown in a thread and on SIGTERM."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.server import serve
from service.settings import Settings
from tests.conftest import PYTHON, ROOT, python_env, with_meta
from tests.service.live import free_socket, live_server, post_concurrently, sample_value, wait_until

DE_EN = {"source": "de", "target": "en"}


def wait_for_queue(url: str, depth: int, timeout: float = 10.0) -> None:
    """Return once `depth` sentences wait in the server's queue."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sample_value(httpx.get(url + "/metrics").text, "seq2seq_queue_depth_sentences") >= depth:
            return
        time.sleep(0.02)
    raise AssertionError(f"{depth} sentences never reached the queue")


def in_background(url: str, bodies: list[dict]) -> tuple[threading.Thread, list[httpx.Response]]:
    responses: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: responses.extend(post_concurrently(url, bodies)))
    thread.start()
    return thread, responses


@pytest.fixture()
def restore_logging() -> Iterator[None]:
    """serve() installs its logging configuration; put the test process's back afterwards."""
    names = ("service", "service.access", "uvicorn", "uvicorn.error", "uvicorn.access")
    saved = {name: (lg.handlers[:], lg.propagate, lg.level, lg.disabled)
             for name in names for lg in [logging.getLogger(name)]}
    yield
    for name, (handlers, propagate, level, disabled) in saved.items():
        lg = logging.getLogger(name)
        lg.handlers[:], lg.propagate, lg.level, lg.disabled = handlers, propagate, level, disabled


@pytest.mark.usefixtures("restore_logging")
def test_serve_refuses_missing_or_broken_model(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no such model file"):
        serve(Settings(model=str(tmp_path / "missing.pt")))
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a model")
    with pytest.raises(SystemExit, match="failed to load"):
        serve(Settings(model=str(broken), port=0, log_level="critical"))


@pytest.mark.usefixtures("restore_logging")
def test_several_workers_refuse_twins_and_broken_models_before_starting(artifact: Path, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each worker process loads every model itself; what would only show there as /ready 503 stops the start."""
    def no_workers(*args: object, **kwargs: object) -> None:  # reached only if the check let a bad model through
        raise AssertionError("the workers were started")

    monkeypatch.setattr("service.server.uvicorn.run", no_workers)
    monkeypatch.setattr(os, "environ", os.environ.copy())  # serve() hands the settings to workers through it
    twin = tmp_path / "twin.pt"
    twin.write_bytes(artifact.read_bytes())
    with pytest.raises(SystemExit) as stop:
        serve(Settings(models=[str(artifact), str(twin)], workers=2, port=0, log_level="critical"))
    message = str(stop.value)
    assert "two models for one language pair" in message and str(artifact) in message and str(twin) in message
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a model")
    with pytest.raises(SystemExit, match=re.escape(f"{broken}: not a TorchScript model artifact")):
        serve(Settings(models=[str(artifact), str(broken)], workers=2, port=0, log_level="critical"))
    future = with_meta(artifact, tmp_path / "future.pt", format_version=99)  # a format this version cannot read
    with pytest.raises(SystemExit, match=re.escape(f"{future}: artifact format 99")):
        serve(Settings(models=[str(future)], workers=2, port=0, log_level="critical"))
    with pytest.raises(AssertionError, match="the workers were started"):  # and good models do start them
        serve(Settings(models=[str(artifact)], workers=2, port=0, log_level="critical"))


def test_graceful_shutdown_finishes_requests_in_flight(artifact: Path, lines: list[str]) -> None:
    with live_server(artifact, batch_wait_ms=500) as srv:
        thread, responses = in_background(srv.url + "/translate", [{"q": line, **DE_EN} for line in lines[:4]])
        wait_for_queue(srv.url, 4)
        srv.stop()  # what SIGTERM does: stop accepting, finish what is in flight, then stop the batcher
        thread.join(timeout=10)
        assert not srv.thread.is_alive()
        assert [r.status_code for r in responses] == [200] * 4
        assert all(r.json()["translatedText"] for r in responses)
        with pytest.raises(httpx.ConnectError):
            httpx.get(srv.url + "/health")


def test_python_m_service_stops_gracefully_on_sigterm(artifact: Path, lines: list[str]) -> None:
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    env = dict(python_env(), SEQ2SEQ_MODEL=str(artifact), SEQ2SEQ_BATCH_WAIT_MS="500", PYTHONPATH=ROOT)
    proc = subprocess.Popen([PYTHON, "-m", "service", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_until(url + "/ready", lambda: proc.poll() is None)
        thread, responses = in_background(url + "/translate", [{"q": line, **DE_EN} for line in lines[:3]])
        wait_for_queue(url, 3)
        proc.send_signal(signal.SIGTERM)
        thread.join(timeout=10)
        output, _ = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert [r.status_code for r in responses] == [200] * 3
    assert proc.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after a clean shutdown
    request_id = responses[0].headers["x-request-id"]
    assert f"[{request_id}]" in output and "POST /translate" in output  # access log line with the request id
    assert "Shutting down" in output and "model ready" in output
