"""Per-request bookkeeping as a plain ASGI middleware: request id, access log line, request metrics.

Plain ASGI (not Starlette's BaseHTTPMiddleware) so the app's `receive` reaches the route untouched: the
translate route listens on it to notice a client that went away.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.log import request_id_var
from service.metrics import Metrics

access_log = logging.getLogger("service.access")

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
_QUIET_ROUTES = {"/health", "/ready", "/metrics"}  # probes and scrapes log at debug level


def request_id_from(headers: Headers) -> str:
    """The client's X-Request-ID when it is a short token, else a new random id."""
    given = headers.get(REQUEST_ID_HEADER, "")
    return given if _VALID_ID.fullmatch(given) else uuid.uuid4().hex


class RequestContextMiddleware:
    """Sets the request id for logs, echoes it in the response, logs and counts every request."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(Headers(scope=scope))
        scope.setdefault("state", {})["request_id"] = request_id  # for the last-resort 500 handler, outside us
        token = request_id_var.set(request_id)
        status = 500  # what the client sees if the app raises before responding
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - start
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(route, scope["method"], str(status)).inc()
            self.metrics.request_seconds.labels(route).observe(elapsed)
            level = logging.DEBUG if route in _QUIET_ROUTES and status < 400 else logging.INFO
            client = scope.get("client") or ("-", 0)
            access_log.log(level, '%s "%s %s" %d %.1fms', client[0], scope["method"], scope["path"], status,
                           elapsed * 1000)
            request_id_var.reset(token)
