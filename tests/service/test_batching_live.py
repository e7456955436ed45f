"""Batching across requests on live servers: shared batches, full queue, timeouts, clients that leave."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from seq2seq.translator import Translator
from tests.service.live import LiveServer, live_server, post_concurrently, sample_value

DE_EN = {"source": "de", "target": "en"}


@pytest.fixture(scope="module")
def patient(artifact: Path) -> Iterator[LiveServer]:
    """Waits 200 ms for company before decoding."""
    with live_server(artifact, batch_wait_ms=200) as srv:
        yield srv


def batches_over_one(server: LiveServer) -> float:
    text = httpx.get(server.url + "/metrics").text
    return (sample_value(text, "seq2seq_batch_size_sentences_count")
            - sample_value(text, "seq2seq_batch_size_sentences_bucket", le="1.0"))


def test_concurrent_requests_share_a_batch(patient: LiveServer, translator: Translator, lines: list[str]) -> None:
    before = batches_over_one(patient)
    responses = post_concurrently(patient.url + "/translate", [{"q": line, **DE_EN} for line in lines[:8]])
    assert [r.status_code for r in responses] == [200] * 8
    assert [r.json()["translatedText"] for r in responses] == [t.text for t in translator.translate(lines[:8])]
    assert batches_over_one(patient) > before


def test_client_that_left_is_not_decoded(patient: LiveServer) -> None:
    metrics = httpx.get(patient.url + "/metrics").text
    decoded = sample_value(metrics, "seq2seq_sentences_total")
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(patient.url + "/translate", json={"q": "Ein hund läuft.", **DE_EN}, timeout=0.05)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        metrics = httpx.get(patient.url + "/metrics").text
        if sample_value(metrics, "seq2seq_dropped_sentences_total", reason="cancelled") >= 1:
            break
        time.sleep(0.05)
    assert sample_value(metrics, "seq2seq_dropped_sentences_total", reason="cancelled") == 1
    assert sample_value(metrics, "seq2seq_rejected_requests_total", reason="client_gone") == 1
    assert sample_value(metrics, "seq2seq_sentences_total") == decoded


def test_full_queue_is_503_with_retry_after(artifact: Path, lines: list[str]) -> None:
    with live_server(artifact, queue_max_sentences=2, batch_wait_ms=300) as srv:
        responses = post_concurrently(srv.url + "/translate", [{"q": line, **DE_EN} for line in lines[:10]])
        statuses = [r.status_code for r in responses]
        assert set(statuses) == {200, 503}, statuses
        for r in responses:
            if r.status_code == 503:
                assert int(r.headers["Retry-After"]) >= 1 and "server busy" in r.json()["error"]
        metrics = httpx.get(srv.url + "/metrics").text
        assert sample_value(metrics, "seq2seq_rejected_requests_total", reason="queue_full") == statuses.count(503)
        r = httpx.post(srv.url + "/translate", json={"q": " ".join(lines[:3]), **DE_EN})  # 3 sentences never fit
        assert r.status_code == 413 and "queues at most 2" in r.json()["error"]


def test_request_timeout_is_503(artifact: Path) -> None:
    with live_server(artifact, batch_wait_ms=1000, request_timeout_s=0.2) as srv:
        r = httpx.post(srv.url + "/translate", json={"q": "Ein hund läuft.", **DE_EN})
        assert r.status_code == 503 and "not translated within 0.2 s" in r.json()["error"]
        assert r.headers["Retry-After"]
