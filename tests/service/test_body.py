"""Request bodies (service/body.py) on a live server: JSON, urlencoded and multipart forms read alike, in
UTF-8; every body, chunked or not, cut off as soon as it passes the limit; a client gone mid-body is a 499."""

from __future__ import annotations

import json
import logging
import time

import httpx
import pytest

from seq2seq.translator import Translator
from tests.service.live import LiveServer, RawConnection, direct, sample_value

DE_EN = {"source": "de", "target": "en"}
JSON_HEAD = b"POST /translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"


def test_form_bodies(client: httpx.Client, translator: Translator, lines: list[str]) -> None:
    expected = [h[0] for h in direct(translator, lines[:2])]
    r = client.post("/translate", data={"q": lines[0], **DE_EN})  # application/x-www-form-urlencoded
    assert r.json() == {"translatedText": expected[0]}
    r = client.post("/translate", data={"q": lines[:2], **DE_EN})  # repeated q → list
    assert r.json() == {"translatedText": expected}
    r = client.post("/translate", data={"q": lines[0], "alternatives": "1", **DE_EN}, files={"x": (None, "")})
    assert r.status_code == 200 and len(r.json()["alternatives"]) == 1  # multipart/form-data


def test_fields_in_the_query_string_of_a_post(client: httpx.Client, translator: Translator, lines: list[str]) -> None:
    """As LibreTranslate reads `request.values`: every field may come in the query string; it wins over a form's
    field of the same name; a JSON body ignores the query string."""
    expected = [h[0] for h in direct(translator, lines[:2])]
    r = client.post("/translate", params={"q": lines[0], **DE_EN})  # no body at all
    assert r.status_code == 200 and r.json() == {"translatedText": expected[0]}
    r = client.post("/translate", params={"q": lines[1]}, data={"q": lines[0], **DE_EN})
    assert r.json() == {"translatedText": expected[1]}
    r = client.post("/translate", params={"q": lines[1], "source": "xx"}, json={"q": lines[0], **DE_EN})
    assert r.json() == {"translatedText": expected[0]}
    r = client.post("/translate?q=%FF&source=de&target=en")  # the query string is read as strict UTF-8 too
    assert r.status_code == 400 and "error" in r.json()


def multipart(fields: dict[str, bytes], boundary: str = "xyz") -> bytes:
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value + b"\r\n"
             for name, value in fields.items()]
    return b"".join(parts) + f"--{boundary}--\r\n".encode()


FORMS = {  # what curl -d / -F send: the text as raw UTF-8 bytes, or percent-encoded
    "raw": ("application/x-www-form-urlencoded", "q=Größe&source=de&target=en&return_scores=true".encode()),
    "percent": ("application/x-www-form-urlencoded", b"q=Gr%C3%B6%C3%9Fe&source=de&target=en&return_scores=true"),
    "multipart": ("multipart/form-data; boundary=xyz",
                  multipart({"q": "Größe".encode(), "source": b"de", "target": b"en", "return_scores": b"true"})),
}


@pytest.mark.parametrize("form", FORMS)
def test_forms_are_read_as_utf8(client: httpx.Client, form: str) -> None:
    content_type, body = FORMS[form]
    r = client.post("/translate", content=body, headers={"content-type": content_type})
    assert r.status_code == 200, r.text
    assert r.json()["sentences"][0]["source"] == "Größe"  # the sentence as the server read it


@pytest.mark.parametrize(("content_type", "body"), [
    ("application/x-www-form-urlencoded", b"q=Gr\xf6\xdfe&source=de&target=en"),  # Latin-1 bytes
    ("application/x-www-form-urlencoded", b"q=Gr%F6%DFe&source=de&target=en"),
    ("application/x-www-form-urlencoded", b"q=%ED%A0%80&source=de&target=en"),  # an encoded surrogate
    ("multipart/form-data; boundary=xyz", multipart({"q": b"Gr\xf6\xdfe", "source": b"de", "target": b"en"})),
])
def test_forms_that_are_not_utf8_are_400(client: httpx.Client, content_type: str, body: bytes) -> None:
    r = client.post("/translate", content=body, headers={"content-type": content_type})
    assert r.status_code == 400 and "not valid UTF-8" in r.json()["error"], r.text


CHUNKED_STARTS = {
    "urlencoded": (b"application/x-www-form-urlencoded", b"source=de&target=en&q="),
    "multipart field": (b"multipart/form-data; boundary=xyz",
                        b'--xyz\r\nContent-Disposition: form-data; name="q"\r\n\r\n'),
    "multipart file": (b"multipart/form-data; boundary=xyz",
                       b'--xyz\r\nContent-Disposition: form-data; name="q"; filename="big.txt"\r\n\r\n'),
    "json": (b"application/json", b'{"source": "de", "target": "en", "q": "'),
}


@pytest.mark.parametrize("start", CHUNKED_STARTS)
def test_a_chunked_body_is_cut_off_at_the_limit(server: LiveServer, start: str) -> None:
    """No Content-Length to check first: the server must answer once the body passes the limit, without
    waiting for its end (which never comes here), so it never holds more than the limit."""
    content_type, opening = CHUNKED_STARTS[start]
    limit = server.app.state.translate.max_body_bytes
    with RawConnection(server, timeout=10) as conn:
        conn.send(b"POST /translate HTTP/1.1\r\nHost: x\r\nContent-Type: " + content_type +
                  b"\r\nTransfer-Encoding: chunked\r\n\r\n")
        sent, chunk = 0, opening + b"a" * (16384 - len(opening))
        while sent <= limit + 65536:
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent, chunk = sent + len(chunk), b"a" * 16384
        status, _, body = conn.response()  # no final 0-length chunk: the body never ends
    assert status == 413 and f"limit of {limit} bytes" in json.loads(body)["error"]


def test_a_client_gone_mid_body_is_one_info_line_and_its_own_metric(server: LiveServer,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    def counts() -> tuple[float, float, float]:
        text = httpx.get(server.url + "/metrics").text
        return (sample_value(text, "seq2seq_client_disconnects_total", stage="body"),
                sample_value(text, "seq2seq_requests_total", route="/translate", method="POST", status="500"),
                sample_value(text, "seq2seq_requests_total", route="/translate", method="POST", status="499"))

    gone, errors, closed = counts()
    with caplog.at_level(logging.INFO):
        with RawConnection(server) as conn:
            conn.send(JSON_HEAD + b"Content-Length: 1000\r\nX-Request-ID: gone-1\r\n\r\n{\"q\": ")
        deadline = time.monotonic() + 10
        while counts()[0] == gone and time.monotonic() < deadline:
            time.sleep(0.05)
    assert counts() == (gone + 1, errors, closed + 1)
    lines = [rec for rec in caplog.records if "POST /translate" in rec.getMessage() or rec.levelno >= logging.WARNING]
    assert [(rec.levelno, rec.name) for rec in lines] == [(logging.INFO, "service.access")], lines
    assert " 499 " in lines[0].getMessage()
