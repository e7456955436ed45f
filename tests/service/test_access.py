"""API keys, their back-off, rate limits, forwarded addresses, key and disabled routes, CORS: units, then live
servers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.access import KeyChecker, KeyFailures, RateLimiter
from service.app import create_app
from service.errors import ApiError
from service.settings import Settings
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


def test_wrong_keys_back_off_exponentially() -> None:
    failures = KeyFailures(free=2, base_s=1.0, max_s=4.0, forget_s=60.0)
    for now in (0.0, 0.0):
        failures.check("a", now=now)
        failures.failed("a", now=now)
    failures.check("a", now=0.0)  # two free wrong keys
    failures.failed("a", now=0.0)  # the third shuts "a" out for 1 s
    for now, retry in ((0.0, "1"), (0.5, "1")):
        with pytest.raises(ApiError) as err:
            failures.check("a", now=now)
        assert err.value.status == 429 and err.value.headers["Retry-After"] == retry
    failures.check("b", now=0.5)  # per address
    failures.check("a", now=1.0)
    failures.failed("a", now=1.0)  # then 2 s, then 4 s (the most)
    with pytest.raises(ApiError):
        failures.check("a", now=2.9)
    failures.check("a", now=3.0)
    for now in (3.0, 7.0):
        failures.failed("a", now=now)
    with pytest.raises(ApiError) as err:
        failures.check("a", now=7.0)
    assert err.value.headers["Retry-After"] == "4"
    failures.failed("a", now=100.0)  # a minute without a wrong key: the count starts over
    failures.check("a", now=100.0)


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


def post_key(srv: LiveServer, key: str) -> httpx.Response:
    return httpx.post(srv.url + "/translate", json={"q": LINE, "api_key": key, **DE_EN})


def test_wrong_keys_back_off_for_everyone_at_that_address(artifact: Path) -> None:
    with live_server(artifact, api_keys=["alpha"]) as srv:
        assert [post_key(srv, "guess").status_code for _ in range(4)] == [403] * 4  # the 4th shuts it out for 1 s
        for key in ("guess", "alpha"):  # a right key too: else its answer would tell a right guess
            r = post_key(srv, key)
            assert r.status_code == 429 and "wrong API keys" in r.json()["error"] and r.headers["Retry-After"] == "1"
        time.sleep(1.1)
        assert post_key(srv, "alpha").status_code == 200
        assert post_key(srv, "guess").status_code == 403  # the 5th: 2 s now
        assert post_key(srv, "alpha").headers["Retry-After"] == "2"


def test_wrong_keys_count_against_the_address_limit(artifact: Path) -> None:
    with live_server(artifact, api_keys=["alpha"], rate_limit_per_minute=2) as srv:
        statuses = [post_key(srv, "guess").status_code for _ in range(3)]
        assert statuses == [403, 403, 429]
        r = httpx.post(srv.url + "/translate", json={"q": LINE, **DE_EN})  # no key: also the address's request
        assert r.status_code == 429 and "2 per minute" in r.json()["error"]
        assert post_key(srv, "alpha").status_code == 200  # a right key has its own bucket


def test_forwarded_for_is_believed_only_from_configured_proxies(artifact: Path) -> None:
    def statuses(srv: LiveServer) -> list[int]:
        return [httpx.post(srv.url + "/translate", json={"q": LINE, **DE_EN},
                           headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code for i in range(3)]

    with live_server(artifact, rate_limit_per_minute=2) as srv:
        assert statuses(srv) == [200, 200, 429]  # one loopback client, whatever address it claims
    with live_server(artifact, rate_limit_per_minute=2, forwarded_allow_ips=["127.0.0.1"]) as srv:
        assert statuses(srv) == [200, 200, 200]  # behind a trusted proxy: three clients


READING_PATHS = ("/languages", "/metrics", "/ready", "/docs", "/redoc", "/openapi.json")


def test_key_routes_need_a_key(artifact: Path) -> None:
    with live_server(artifact, api_keys=["alpha"], key_routes=["/languages", "/metrics", "/docs", "/ready"]) as srv:
        for path in READING_PATHS:
            r = httpx.get(srv.url + path)
            assert r.status_code == 403 and "api_key missing" in r.json()["error"], path
            assert httpx.get(srv.url + path, headers={"X-API-Key": "alpha"}).status_code == 200, path
        assert httpx.get(srv.url + "/languages", params={"api_key": "alpha"}).status_code == 200
        r = httpx.get(srv.url + "/metrics", headers={"X-API-Key": "alphabet"})
        assert r.status_code == 403 and r.json() == {"error": "Invalid API key"}
        assert httpx.get(srv.url + "/health").status_code == 200  # the liveness probe stays open


def test_disabled_routes_are_gone(artifact: Path) -> None:
    with live_server(artifact, disabled_routes=["/metrics", "/docs"]) as srv:
        for path in ("/metrics", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"):
            r = httpx.get(srv.url + path)
            assert r.status_code == 404 and r.json() == {"error": "Not Found"}, path
        assert httpx.get(srv.url + "/languages").status_code == 200
    spec = create_app(Settings(disabled_routes=["/metrics"])).openapi()
    assert "/metrics" not in spec["paths"] and "/translate" in spec["paths"]
