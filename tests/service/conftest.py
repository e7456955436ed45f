"""The service's fixtures: live servers over the shared artifact (tests/conftest.py), and lines to send them.

Servers are real uvicorn servers on loopback, each in a thread of its own (tests/service/live.py).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from seq2seq.translator import Translator
from tests.conftest import make_sentence
from tests.service.live import LiveServer, live_server


@pytest.fixture(scope="session")
def translator(artifact: Path) -> Translator:
    return Translator.load(str(artifact))


@pytest.fixture(scope="session")
def lines() -> list[str]:
    """Twelve toy sentences (tests/conftest.py's generator), not all different."""
    rng = random.Random(7)
    return [make_sentence(rng) for _ in range(12)]


@pytest.fixture(scope="session")
def server(artifact: Path) -> Iterator[LiveServer]:
    """The shared server with default limits (batch wait 20 ms so concurrent requests meet)."""
    with live_server(artifact, batch_wait_ms=20, max_chars_per_item=300, max_chars_per_request=1000,
                     max_items=16, max_beam_times_nbest=30) as srv:
        yield srv


@pytest.fixture()
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c
