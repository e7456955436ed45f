"""Live servers for the service tests: real uvicorn on a loopback port, and helpers to talk to them."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import uvicorn
from prometheus_client.parser import text_string_to_metric_families

from seq2seq.translator import Translator
from service.app import create_app
from service.server import uvicorn_options
from service.settings import Settings


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class LiveServer:
    """A real uvicorn server on a loopback port, run in a thread; `stop()` is uvicorn's graceful shutdown.

    Configured as `seq2seq serve` configures it (service/server.py: protocol, timeouts, proxy headers), except
    for logging: the test process's handlers stay, so `caplog` sees the service's and uvicorn's records.
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        self.app = create_app(settings)
        self.sock = free_socket()
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        options = {**uvicorn_options(settings), "log_config": None, "log_level": "warning",
                   "timeout_graceful_shutdown": 10, "lifespan": "on"}
        config = uvicorn.Config(self.app, **options)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self, wait_ready: bool = True, timeout: float = 60.0) -> LiveServer:
        self.thread.start()
        key = {"X-API-Key": self.settings.api_keys[0]} if self.settings.api_keys else {}  # /ready may need one
        if not wait_until(self.url + ("/ready" if wait_ready else "/health"), self.thread.is_alive, timeout, key):
            raise RuntimeError(f"server at {self.url} did not become ready")
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


def wait_until(url: str, alive: Callable[[], bool], timeout: float = 60.0, headers: dict[str, str] | None = None
               ) -> bool:
    """Poll `url` until it answers 200 (True), or until the server dies or `timeout` passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        try:
            if httpx.get(url, timeout=2, headers=headers).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    return False


@contextmanager
def live_server(artifact: Path, wait_ready: bool = True, **overrides: object) -> Iterator[LiveServer]:
    settings = Settings(model=str(artifact), **overrides)
    server = LiveServer(settings).start(wait_ready)
    try:
        yield server
    finally:
        server.stop()


def sample_value(metrics_text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text (0.0 when absent), e.g. `seq2seq_sentences_total`."""
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def post_concurrently(url: str, bodies: list[dict], timeout: float = 30.0) -> list[httpx.Response]:
    """POST every body to `url` at once, each on its own connection; responses in order."""
    async def run() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=len(bodies))
        async with httpx.AsyncClient(timeout=timeout, limits=limits) as c:
            return await asyncio.gather(*(c.post(url, json=body) for body in bodies))

    return asyncio.run(run())


def direct(translator: Translator, lines: list[str], **opts: int) -> list[list[str]]:
    """Hypothesis texts per line through `Translator.translate`, the CLI's path: what a server must answer."""
    results = translator.translate(lines, replace(translator.defaults, **opts))
    return [[h.text for h in r.hypotheses] for r in results]


class RawConnection:
    """A bare TCP connection to a live server, for what no HTTP client sends: slow, partial or broken requests."""

    def __init__(self, server: LiveServer, timeout: float = 10.0):
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_until_closed(self) -> bytes:
        """Everything the server sends until it closes the connection. :raises TimeoutError: it never does."""
        chunks = []
        while chunk := self.sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)

    def response(self) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) of the one response the server sends before it closes the connection."""
        return parse_response(self.read_until_closed())

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parse_response(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body
