"""GET endpoints, request ids and logging on a live server."""

from __future__ import annotations

import logging

import httpx
import pytest

from service.log import RequestIdFilter
from tests.service.live import sample_value

DE_EN = {"source": "de", "target": "en"}


def test_languages(client: httpx.Client) -> None:
    assert client.get("/languages").json() == [
        {"code": "de", "name": "German", "targets": ["en"]},
        {"code": "en", "name": "English", "targets": []},
    ]


def test_health_and_ready(client: httpx.Client) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"status": "ready", "source": "de", "target": "en", "model": "model.pt"}


def test_metrics(client: httpx.Client) -> None:
    client.post("/translate", json={"q": ["Ein hund läuft. Der mann springt.", "Ein kind."], **DE_EN})
    client.get("/nowhere")
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert sample_value(text, "seq2seq_requests_total", route="/translate", method="POST", status="200") >= 1
    assert sample_value(text, "seq2seq_requests_total", route="unmatched", method="GET", status="404") >= 1
    assert sample_value(text, "seq2seq_request_duration_seconds_count", route="/translate") >= 1
    for stage in ("seq2seq_queue_wait_seconds_count", "seq2seq_decode_seconds_count",
                  "seq2seq_batch_size_sentences_count", "seq2seq_sentences_total"):
        assert sample_value(text, stage) >= 1, stage
    assert sample_value(text, "seq2seq_sentences_total") >= 3
    assert "seq2seq_queue_depth_sentences 0.0" in text
    assert sample_value(text, "seq2seq_model_ready") == 1.0


def test_openapi_and_docs(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/translate", "/languages", "/health", "/ready", "/metrics"} <= set(spec["paths"])
    body = spec["paths"]["/translate"]["post"]["requestBody"]["content"]
    assert {"application/json", "application/x-www-form-urlencoded", "multipart/form-data"} <= set(body)
    assert {"q", "source", "target", "alternatives", "beam_size", "return_alignment"} <= set(
        body["application/json"]["schema"]["properties"])
    assert "TranslateResponse" in spec["components"]["schemas"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_request_id_is_honoured_or_generated(client: httpx.Client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.handler.addFilter(RequestIdFilter())
    with caplog.at_level(logging.INFO, logger="service.access"):
        r = client.post("/translate", json={"q": "Ein hund.", **DE_EN}, headers={"X-Request-ID": "trace-42"})
        assert r.headers["x-request-id"] == "trace-42"
        generated = client.get("/languages").headers["x-request-id"]
        assert len(generated) == 32
        assert client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"}).headers["x-request-id"] != (
            "bad id\twith spaces")
        assert client.get("/nowhere", headers={"X-Request-ID": "e-1"}).headers["x-request-id"] == "e-1"
    lines = {(rec.request_id, rec.getMessage().split('"')[1]) for rec in caplog.records if rec.name == "service.access"}
    assert ("trace-42", "POST /translate") in lines and (generated, "GET /languages") in lines
