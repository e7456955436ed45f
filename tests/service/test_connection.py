"""The guarded connection (service/connection.py) on a live server, over bare sockets: deadlines for slow
clients, caps on open connections and on a request's head, no keep-alive behind an unread body, and JSON for
every error the server answers before any route runs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.connection import MAX_HEAD_BYTES
from tests.service.live import LiveServer, RawConnection, live_server, sample_value

CAP = 6


@pytest.fixture(scope="module")
def guarded(artifact: Path) -> Iterator[LiveServer]:
    with live_server(artifact, header_timeout_s=1, body_timeout_s=1, max_connections=CAP) as srv:
        yield srv


def json_error(response: tuple[int, dict[str, str], bytes], status: int, *words: str) -> None:
    got, headers, body = response
    assert got == status, body
    assert headers["content-type"] == "application/json"
    error = json.loads(body)
    assert list(error) == ["error"]
    for word in words:
        assert word in error["error"], error


def test_headers_sent_slowly_get_408_at_the_deadline(guarded: LiveServer) -> None:
    with RawConnection(guarded, timeout=8) as conn:
        start = time.monotonic()
        conn.send(b"POST /translate HTTP/1.1\r\nHost: x\r\n")
        for _ in range(3):  # a header line now and then does not move the deadline
            time.sleep(0.3)
            conn.send(b"X-Slow: 1\r\n")
        response = conn.response()  # uvicorn alone waits for the headers for ever: this would time out
        elapsed = time.monotonic() - start
    json_error(response, 408, "headers not received within 1 s")
    assert response[1]["connection"] == "close"
    assert elapsed < 4
    metrics = httpx.get(guarded.url + "/metrics").text
    assert sample_value(metrics, "seq2seq_connection_errors_total", reason="header_timeout") >= 1


def test_a_connection_that_sends_nothing_is_closed(guarded: LiveServer) -> None:
    with RawConnection(guarded, timeout=8) as conn:
        assert conn.read_until_closed() == b""


def test_a_kept_alive_connection_has_the_deadline_for_each_request(guarded: LiveServer) -> None:
    with RawConnection(guarded, timeout=8) as conn:
        conn.send(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert conn.sock.recv(65536).startswith(b"HTTP/1.1 200")
        conn.send(b"GET /health HTTP/1.1\r\n")  # the next request's first bytes start its own deadline
        json_error(conn.response(), 408, "headers")


def test_a_body_sent_slowly_gets_408(guarded: LiveServer) -> None:
    with RawConnection(guarded, timeout=8) as conn:
        conn.send(b"POST /translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100\r\n\r\n{\"q\": ")
        response = conn.response()
    json_error(response, 408, "body not received within 1 s")
    assert response[1]["connection"] == "close"


def test_connections_past_the_cap_are_refused_at_once(guarded: LiveServer) -> None:
    idle = [RawConnection(guarded, timeout=8) for _ in range(CAP)]
    try:
        with RawConnection(guarded, timeout=0.9) as extra:  # before the idle ones reach their deadline
            response = extra.response()
        json_error(response, 503, f"at most {CAP}")
        assert response[1]["retry-after"] == "1"
    finally:
        for conn in idle:
            conn.close()
    deadline = time.monotonic() + 5
    while len(guarded.server.server_state.connections) >= CAP and time.monotonic() < deadline:
        time.sleep(0.05)
    assert httpx.get(guarded.url + "/health").status_code == 200  # room again once they are gone


@pytest.mark.parametrize("end", [b"", b"\r\n\r\n"])
def test_a_huge_head_gets_431(guarded: LiveServer, end: bytes) -> None:
    """Still coming (httptools would buffer the line for ever), or whole in one read."""
    with RawConnection(guarded) as conn:
        conn.send(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (MAX_HEAD_BYTES + 1) + end)
        json_error(conn.response(), 431, str(MAX_HEAD_BYTES))


@pytest.mark.parametrize("request_bytes", [
    b"GARBAGE\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
    b"POST /translate HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
])
def test_malformed_requests_get_a_json_400(server: LiveServer, request_bytes: bytes) -> None:
    with RawConnection(server) as conn:
        conn.send(request_bytes)
        json_error(conn.response(), 400, "Invalid HTTP request")


def test_an_answer_before_the_body_ends_the_connection(guarded: LiveServer) -> None:
    """A 405 (or a 413 from Content-Length) comes before the body is read; uvicorn alone would then read the
    whole body, however slowly it came, and keep the connection for the next request."""
    for head in (b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n",
                 b"POST /translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1000000000\r\n\r\n"):
        with RawConnection(guarded, timeout=8) as conn:
            conn.send(head + b"a" * 1000)
            status, _, body = conn.response()  # the answer, then the end of the connection
        assert status in (405, 413) and "error" in json.loads(body)


def test_a_small_head_read_together_with_a_large_body_is_not_431(guarded: LiveServer) -> None:
    """A read often holds the end of a head and the start of its body: only the head counts against its cap."""
    body = json.dumps({"q": "a" * 100_000, "source": "de", "target": "en"}).encode()
    with RawConnection(guarded) as conn:
        conn.send(b"POST /translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(body), body))  # one write: head and body arrive at once
        json_error(conn.response(), 413, "characters")
