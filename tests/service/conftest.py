"""The service's fixtures: live servers over the shared artifact (tests/conftest.py), lines to send them, and a
second artifact of another pair (en → fr) for servers of several models.

Servers are real uvicorn servers on loopback, each in a thread of its own (tests/service/live.py).
"""

from __future__ import annotations

import gzip
import os
import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from seq2seq.translator import Translator
from tests.conftest import TINY, TRAINED_STEPS, make_sentence, tiny_overrides
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


LINES = ["Der hund läuft im park.", "Eine frau sieht den roten ball."]  # toy German for the toy models


def reversed_words(line: str) -> str:
    """The toy third language ("fr" here): every English word spelt backwards."""
    return " ".join(word[::-1] for word in line.split())


@pytest.fixture(scope="session")
def en_fr(toy_corpus: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An en → fr artifact trained on the toy corpus's English side and its reversed words."""
    from training.config import load_config
    from training.export_cmd import export_path
    from training.trainer import Trainer

    corpus = tmp_path_factory.mktemp("en_fr_corpus")
    for split in ("train", "val", "test"):
        with open(os.path.join(toy_corpus, f"{split}.en"), encoding="utf-8") as f:
            english = f.read().splitlines()
        with gzip.open(corpus / f"{split}.en.gz", "wt", encoding="utf-8") as f:
            f.write("".join(line + "\n" for line in english))
        (corpus / f"{split}.fr").write_text("".join(reversed_words(line) + "\n" for line in english), "utf-8")
    run_dir = str(tmp_path_factory.mktemp("en_fr_run"))
    cfg = load_config(TINY, tiny_overrides(str(corpus), **{"train.max_steps": TRAINED_STEPS, "data.src": "en",
                                                            "data.tgt": "fr"}))
    Trainer(cfg, run_dir, progress=False).run()
    path = tmp_path_factory.mktemp("en_fr") / "en-fr.pt"
    export_path(run_dir, str(path), check=10)
    return path
