"""Per-request bookkeeping (service/middleware.py, service/log.py) on a live server: request ids honoured or
generated, and on every access log line."""

from __future__ import annotations

import logging

import httpx
import pytest

from service.log import RequestIdFilter

DE_EN = {"source": "de", "target": "en"}


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
