"""The plain GET routes (service/routes.py) on a live server: liveness and readiness."""

from __future__ import annotations

import httpx


def test_health_and_ready(client: httpx.Client) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"status": "ready", "source": "de", "target": "en", "model": "model.pt",
                                           "models": [{"source": "de", "target": "en", "model": "model.pt"}]}
