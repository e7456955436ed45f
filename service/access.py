"""Who may translate, and how often: optional API keys and a per-key token-bucket rate limit."""

from __future__ import annotations

import hmac
import math
import time
from collections import OrderedDict

from service.errors import ApiError


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
        given = key.encode()
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
