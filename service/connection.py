"""The HTTP/1.1 connection: uvicorn's httptools protocol, plus what a server open to hostile clients needs and
uvicorn does not do.

- A deadline for a request's headers (`header_timeout_s`), counted from the connection's opening, or on a
  kept-alive connection from the request's first byte. uvicorn waits for them forever, so a client sending a
  header line every few seconds holds a connection, and a file descriptor, as long as it likes. Past the
  deadline: 408 and close (a connection that sent nothing is closed without a word).
- A cap on the size of a request's head (MAX_HEAD_BYTES): httptools buffers a header line whole, however long.
- A cap on open connections (`max_connections`): one past it is answered 503 and closed at once. uvicorn's
  `limit_concurrency` answers 503 only once a request's headers are in, so idle connections past it stay open.
- After an answer sent before its request's body was read (413, 404, ...), the rest of the body is read and
  dropped for at most LINGER_S (so the client, still sending, gets to read the answer), then the connection
  closes: no keep-alive behind a body nobody reads, and no body trickled in forever. A route that reads its
  body has a deadline for it too (`body_timeout_s`, service/body.py).
- The errors the server answers itself (a malformed request, these limits) are `{"error": ...}` JSON like the
  app's, not uvicorn's plain text.

The limits are the app's, handed over in its lifespan state (service/app.py), so each app (a test process runs
several) and each worker process (`--workers N`) has its own; without them only the head cap and the JSON apply.
Used as `uvicorn.Config(http=GuardedHttpToolsProtocol)` (service/server.py); needs httptools (uvicorn[standard]).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from service.metrics import Metrics

LIMITS_KEY = "connection_limits"  # the key of ConnectionLimits in the app's lifespan state
MAX_HEAD_BYTES = 64 * 1024  # request line and headers (nginx allows 1 KB + 4 × 8 KB by default)
LINGER_S = 5.0  # how long the rest of an unread body is read and dropped before the connection closes


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout_s: float
    max_connections: int
    metrics: Metrics | None = None  # counts refusals in seq2seq_connection_errors_total{reason}


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """One connection. The parser's callbacks arrive in order: message begin, headers complete, body...,
    message complete; uvicorn's own handling runs in the `super()` calls."""

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits: ConnectionLimits | None = app_state.get(LIMITS_KEY)
        self._timer: asyncio.TimerHandle | None = None  # the header deadline, or the end of lingering
        self._head_bytes: int | None = 0  # bytes read since the current request's head began; None once it is in
        self._head_size = 0  # the current request's line and headers, as parsed
        self._lingering = False

    # --- connection
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.limits is None:
            return
        if len(self.connections) > self.limits.max_connections:
            self._refuse(503, f"Too many connections (at most {self.limits.max_connections}); retry shortly",
                         "max_connections", ((b"retry-after", b"1"),))
            return
        self._start_timer(self.limits.header_timeout_s, self._headers_late)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Cap a head that is still coming: httptools buffers a header line whole, however long. A read often
        holds the end of a head and the start of its body, so the cap applies only to a head still not complete
        after the read; a complete one is measured exactly (on_headers_complete)."""
        counting = self._head_bytes is not None
        if counting:
            self._head_bytes = (self._head_bytes or 0) + len(data)
        super().data_received(data)
        if counting and self._head_bytes is not None and self._head_bytes > MAX_HEAD_BYTES \
                and not self.transport.is_closing():
            self._refuse_head()

    def send_400_response(self, msg: str) -> None:
        """A request httptools cannot parse (uvicorn has logged it)."""
        if not self.transport.is_closing():  # not a parser error, but a callback of an answered connection
            self._refuse(400, msg, "malformed")

    # --- parser callbacks; once the connection is refused (closing), the rest of the read is dropped
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_size = 0
        if self._timer is None and self.limits is not None and not self._lingering:  # a kept-alive connection
            self._start_timer(self.limits.header_timeout_s, self._headers_late)

    def on_url(self, url: bytes) -> None:
        self._head_size += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._cancel_timer()
        self._head_bytes = None
        if self.transport.is_closing():  # closed while this read was parsed: start no request
            return
        if self._head_size > MAX_HEAD_BYTES:  # came whole in one read, so data_received could not tell
            self._refuse_head()
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self.transport.is_closing():
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self.transport.is_closing():
            return
        super().on_message_complete()
        self._head_bytes = 0  # what comes next is the next request's head
        if self._lingering:
            self.transport.close()

    def on_response_complete(self) -> None:
        cycle = self.cycle
        if cycle is None or not cycle.more_body or self.transport.is_closing():
            super().on_response_complete()
            return
        # answered before the body was read: uvicorn would read it all (and keep the connection) however long
        self.server_state.total_requests += 1
        self._lingering = True
        self.flow.resume_reading()  # the parser drops the rest of the body once the response is complete
        if self.transport.can_write_eof():
            self.transport.write_eof()  # the answer is whole: the client sees it end
        self._start_timer(LINGER_S, self.transport.close)

    # --- the guard
    def _headers_late(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if not self._head_bytes or (self.cycle is not None and not self.cycle.response_complete):
            self._count("idle" if not self._head_bytes else "header_timeout")
            self.transport.close()  # nothing to answer, or an answer is being written: just close
            return
        assert self.limits is not None
        self._refuse(408, f"Request headers not received within {self.limits.header_timeout_s:g} s",
                     "header_timeout")

    def _refuse_head(self) -> None:
        self._refuse(431, f"Request line and headers exceed {MAX_HEAD_BYTES} bytes", "headers_too_large")

    def _refuse(self, status: int, message: str, reason: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
        """Answer `{"error": message}` with `status` and close, before (or instead of) any route."""
        self._cancel_timer()
        self._count(reason)
        body = json.dumps({"error": message}).encode()
        fields = [*self.server_state.default_headers, (b"content-type", b"application/json"),
                  (b"content-length", str(len(body)).encode()), (b"connection", b"close"), *headers]
        head = b"".join(name + b": " + value + b"\r\n" for name, value in fields)
        self.transport.write(STATUS_LINE[status] + head + b"\r\n" + body)
        self.transport.close()

    def _count(self, reason: str) -> None:
        if self.limits is not None and self.limits.metrics is not None:
            self.limits.metrics.connection_errors.labels(reason).inc()

    def _start_timer(self, delay: float, callback: Callable[[], None]) -> None:
        self._cancel_timer()
        self._timer = self.loop.call_later(delay, callback)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
