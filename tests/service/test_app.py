"""The application (service/app.py): not ready while the model loads, a failed load reported, the OpenAPI
schema and docs."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from service.app import create_app
from service.settings import Settings
from tests.service.live import live_server

DE_EN = {"source": "de", "target": "en"}


def test_not_ready_while_loading(artifact: Path) -> None:
    async def probe() -> None:
        app = create_app(Settings(model=str(artifact)))  # lifespan not started: the model is not loaded
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
            assert (await c.get("/health")).status_code == 200
            r = await c.get("/ready")
            assert r.status_code == 503 and "still loading" in r.json()["error"] and r.headers["Retry-After"]
            r = await c.post("/translate", json={"q": "Ein hund.", **DE_EN})
            assert r.status_code == 503

    asyncio.run(probe())


def test_failed_load_is_reported(tmp_path: Path) -> None:
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a model")
    with live_server(broken, wait_ready=False) as srv:
        assert httpx.get(srv.url + "/health").status_code == 200
        deadline = time.monotonic() + 60  # only against a hang: the loop ends once the load has failed
        while "still loading" in (r := httpx.get(srv.url + "/ready")).json()["error"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert r.status_code == 503 and "failed to load" in r.json()["error"]
        r = httpx.post(srv.url + "/translate", json={"q": "Ein hund.", **DE_EN})
        assert r.status_code == 503 and "broken.pt" not in r.json()["error"]


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
