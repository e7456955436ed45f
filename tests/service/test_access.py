"""API keys, rate limits and CORS: units, then a live server that requires keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.access import KeyChecker, RateLimiter
from service.errors import ApiError
from tests.service.live import LiveServer, live_server

DE_EN = {"source": "de", "target": "en"}
LINE = "Ein hund läuft."


def test_key_checker() -> None:
    KeyChecker([]).check(None)  # keys off: anyone
    checker = KeyChecker(["secret-1", "secret-2"])
    checker.check("secret-2")
    for bad in (None, "", "secret", "secret-10"):
        with pytest.raises(ApiError) as err:
            checker.check(bad)
        assert err.value.status == 403


def test_rate_limiter_refills_over_time() -> None:
    limiter = RateLimiter(per_minute=2)
    limiter.check("a", now=0.0)
    limiter.check("a", now=0.0)
    with pytest.raises(ApiError) as err:
        limiter.check("a", now=1.0)
    assert err.value.status == 429 and err.value.headers["Retry-After"] == "29"  # one token per 30 s
    limiter.check("b", now=1.0)  # per client
    limiter.check("a", now=31.0)
    RateLimiter(per_minute=0).check("a")  # off


def test_rate_limiter_forgets_oldest_clients() -> None:
    limiter = RateLimiter(per_minute=1, max_clients=2)
    for client in ("a", "b", "c"):
        limiter.check(client, now=0.0)
    limiter.check("a", now=0.0)  # "a" was forgotten, so it has a full bucket again


@pytest.fixture(scope="module")
def locked(artifact: Path) -> Iterator[LiveServer]:
    with live_server(artifact, api_keys=["alpha", "beta", "gamma"], rate_limit_per_minute=4,
                     cors_origins=["https://app.example"]) as srv:
        yield srv


def test_keys_required(locked: LiveServer) -> None:
    url = locked.url + "/translate"
    r = httpx.post(url, json={"q": LINE, **DE_EN})
    assert r.status_code == 403 and "api_key missing" in r.json()["error"]
    r = httpx.post(url, json={"q": LINE, "api_key": "alphabet", **DE_EN})
    assert r.status_code == 403 and r.json() == {"error": "Invalid API key"}
    assert httpx.post(url, json={"q": LINE, "api_key": "alpha", **DE_EN}).status_code == 200
    assert httpx.post(url, data={"q": LINE, "api_key": "alpha", **DE_EN}).status_code == 200  # form
    assert httpx.post(url, json={"q": LINE, **DE_EN}, headers={"X-API-Key": "alpha"}).status_code == 200
    assert httpx.get(locked.url + "/languages").status_code == 200  # reading is free, as in LibreTranslate


def test_rate_limit_per_key(locked: LiveServer) -> None:
    url = locked.url + "/translate"
    statuses = [httpx.post(url, json={"q": LINE, "api_key": "beta", **DE_EN}).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 429]
    r = httpx.post(url, json={"q": LINE, "api_key": "beta", **DE_EN})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1 and "4 per minute" in r.json()["error"]
    assert httpx.post(url, json={"q": LINE, "api_key": "gamma", **DE_EN}).status_code == 200  # its own bucket


def test_cors(locked: LiveServer) -> None:
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type"}
    r = httpx.options(locked.url + "/translate", headers=preflight)
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://app.example"
    r = httpx.options(locked.url + "/translate", headers={**preflight, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers
    r = httpx.get(locked.url + "/languages", headers={"Origin": "https://app.example"})
    assert r.headers["access-control-allow-origin"] == "https://app.example"
    assert "x-request-id" in r.headers["access-control-expose-headers"].lower()
