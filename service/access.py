"""Who may call what, and how often: optional API keys, a back-off for wrong ones, a per-key token-bucket rate
limit, and the routes besides /translate that need a key (`key_routes`).

`Access.admit` is the one gate: /translate calls it once it has the key from the body, `KeyRoutesMiddleware`
before a key route runs. A client is its connecting address; X-Forwarded-For replaces it only when the
connection comes from a proxy of `forwarded_allow_ips` (uvicorn's ProxyHeadersMiddleware, service/server.py).
"""

from __future__ import annotations

import hmac
import math
import time
from collections import OrderedDict
from collections.abc import Iterable

from starlette.datastructures import Headers, QueryParams
from starlette.types import ASGIApp, Receive, Scope, Send

from service.errors import ApiError, error_response
from service.settings import Settings

# FastAPI's default URLs of the documentation (docs_url, swagger_ui_oauth2_redirect_url, redoc_url, openapi_url)
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json")


def paths_of(routes: Iterable[str]) -> frozenset[str]:
    """The URL paths of the routes named in `key_routes` or `disabled_routes` ("/docs" is four of them)."""
    return frozenset(path for route in routes for path in (DOCS_PATHS if route == "/docs" else (route,)))


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


class KeyChecker:
    """Accepts any request when no keys are configured; otherwise the key must match one of them."""

    def __init__(self, keys: list[str]):
        self._keys = [key.encode() for key in keys]

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def check(self, key: str | None) -> None:
        """:raises ApiError: 403 when keys are required and `key` is missing or unknown."""
        if not self._keys:
            return
        if not key:
            raise ApiError(403, "Please contact the server operator to get an API key (api_key missing)")
        given = key.encode("utf-8", "backslashreplace")  # never fails; such a key matches nothing
        # compare with every key, without stopping early, so timing says nothing about which key is close
        matches = [hmac.compare_digest(given, expected) for expected in self._keys]
        if not any(matches):
            raise ApiError(403, "Invalid API key")


class RateLimiter:
    """A token bucket per client: `per_minute` requests a minute, bursts up to `per_minute` at once.

    The number of tracked clients is bounded; the least recently seen are forgotten first.
    """

    def __init__(self, per_minute: int, max_clients: int = 100_000):
        self.per_minute, self.max_clients = per_minute, max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client -> (tokens, last time)

    def check(self, client: str, now: float | None = None) -> None:
        """Take one token for `client`. :raises ApiError: 429 with Retry-After when its bucket is empty."""
        if self.per_minute <= 0:
            return
        now = time.monotonic() if now is None else now
        rate = self.per_minute / 60.0  # tokens per second
        tokens, last = self._buckets.pop(client, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - last) * rate)
        if tokens < 1.0:
            self._remember(client, tokens, now)
            retry = max(1, math.ceil((1.0 - tokens) / rate))
            raise ApiError(
                429, f"Too many requests: limit is {self.per_minute} per minute", {"Retry-After": str(retry)}
            )
        self._remember(client, tokens - 1.0, now)

    def _remember(self, client: str, tokens: float, now: float) -> None:
        self._buckets[client] = (tokens, now)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)


class KeyFailures:
    """Back-off for wrong API keys, per client address, so that keys cannot be guessed at full speed.

    The first `free` wrong keys cost only their request; each one after them shuts the address out (429, right
    keys too: else the answers would still tell a right guess) for twice as long as the one before: `base_s`,
    2 × `base_s`, ... up to `max_s`. The count is forgotten `forget_s` after the last wrong key, not on a right
    one (a client holding one key could otherwise guess the others between its own requests).
    """

    def __init__(self, free: int = 3, base_s: float = 1.0, max_s: float = 300.0, forget_s: float = 900.0,
                 max_clients: int = 100_000):
        self.free, self.base_s, self.max_s, self.forget_s, self.max_clients = free, base_s, max_s, forget_s, max_clients
        self._clients: OrderedDict[str, tuple[int, float, float]] = OrderedDict()  # -> (failures, last, shut until)

    def check(self, client: str, now: float | None = None) -> None:
        """:raises ApiError: 429 with Retry-After while `client` is shut out."""
        entry = self._clients.get(client)
        now = time.monotonic() if now is None else now
        if entry is not None and now < entry[2]:
            retry = max(1, math.ceil(entry[2] - now))
            raise ApiError(429, f"Too many wrong API keys from this address; retry in {retry} s",
                           {"Retry-After": str(retry)})

    def failed(self, client: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        failures, last, _ = self._clients.pop(client, (0, now, 0.0))
        failures = 1 if now - last > self.forget_s else failures + 1
        over = failures - self.free
        until = now + min(self.max_s, self.base_s * 2 ** min(over - 1, 32)) if over > 0 else 0.0
        self._clients[client] = (failures, now, until)
        while len(self._clients) > self.max_clients:
            self._clients.popitem(last=False)


class Access:
    """The gate every protected route passes: back-off, key, rate limit, in that order."""

    def __init__(self, settings: Settings):
        self.keys = KeyChecker(settings.api_keys)
        self.limiter = RateLimiter(settings.rate_limit_per_minute)
        self.failures = KeyFailures()
        self.key_paths = paths_of(settings.key_routes) if self.keys.enabled else frozenset()

    def admit(self, key: str | None, address: str, rate_limited: bool = True) -> None:
        """Let a request with `key` (None: none given) from `address` through, or raise.

        With keys, a right key is rate-limited per key; a wrong or missing one counts against its address's
        limit, and a wrong one against its back-off too. Without keys, requests are rate-limited per address.
        `rate_limited` False: a right key is not rate-limited (reading routes such as /metrics, which a scraper
        calls every few seconds).

        :raises ApiError: 429 (backing off, or over the limit), 403 (key missing or wrong).
        """
        self.failures.check(address)
        if not self.keys.enabled:
            if rate_limited:
                self.limiter.check(f"address {address}")
            return
        try:
            self.keys.check(key)
        except ApiError:
            if key:  # a guess; a missing key guesses nothing
                self.failures.failed(address)
            self.limiter.check(f"address {address}")
            raise
        if rate_limited:
            self.limiter.check(f"key {key}")


class KeyRoutesMiddleware:
    """Asks for a key (X-API-Key header or api_key query parameter) on the routes of `key_routes`.

    Plain ASGI, inside the request-context middleware (so refusals are logged and counted) and inside CORS
    (so a browser's preflight is answered without a key, as browsers send none).
    """

    def __init__(self, app: ASGIApp, access: Access):
        self.app, self.access = app, access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self.access.key_paths:
            key = Headers(scope=scope).get("x-api-key") or QueryParams(scope.get("query_string", b"")).get("api_key")
            try:
                self.access.admit(key, client_address(scope), rate_limited=False)
            except ApiError as exc:
                await error_response(exc.status, exc.message, exc.headers)(scope, receive, send)
                return
        await self.app(scope, receive, send)
