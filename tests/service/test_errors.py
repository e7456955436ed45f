"""Every refusal is `{"error": "..."}` with the right 4xx, never a 500 (live server, limits from conftest)."""

from __future__ import annotations

import json

import httpx
import pytest

from seq2seq.translator import Translator
from tests.service.live import LiveServer

DE_EN = {"source": "de", "target": "en"}
LINE = "Ein hund läuft."


def assert_error(r: httpx.Response, status: int, *words: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert list(body) == ["error"] and isinstance(body["error"], str)
    for word in words:
        assert word in body["error"], body["error"]
    assert r.headers.get("x-request-id")


@pytest.mark.parametrize(("content", "words"), [
    ("{", ("not valid JSON",)),
    ("[1, 2]", ("must be an object",)),
    ("", ("empty body",)),
    ("\xff\xfe", ("not valid JSON",)),
])
def test_malformed_json(client: httpx.Client, content: str, words: tuple[str, ...]) -> None:
    r = client.post("/translate", content=content.encode("latin-1"), headers={"content-type": "application/json"})
    assert_error(r, 400, *words)


@pytest.mark.parametrize(("body", "words"), [
    ({**DE_EN}, ("missing q parameter",)),
    ({"q": "", **DE_EN}, ("missing q parameter",)),
    ({"q": [], **DE_EN}, ("missing q parameter",)),
    ({"q": LINE, "target": "en"}, ("missing source parameter",)),
    ({"q": LINE, "source": "de"}, ("missing target parameter",)),
    ({"q": {"text": LINE}, **DE_EN}, ("q:",)),
    ({"q": [LINE, 3], **DE_EN}, ("q.1",)),
    ({"q": LINE, "alternatives": "many", **DE_EN}, ("alternatives",)),
    ({"q": LINE, "alternatives": -1, **DE_EN}, ("alternatives",)),
    ({"q": LINE, "beam_size": 0, **DE_EN}, ("beam_size",)),
])
def test_invalid_fields_are_400(client: httpx.Client, body: dict, words: tuple[str, ...]) -> None:
    assert_error(client.post("/translate", json=body), 400, "Invalid request", *words)


@pytest.mark.parametrize(("body", "words"), [
    ({"q": LINE, "source": "fr", "target": "en"}, ("fr is not supported as a source language", "de to en")),
    ({"q": LINE, "source": "de", "target": "es"}, ("es is not supported as a target language",)),
    ({"q": LINE, "format": "xml", **DE_EN}, ("'xml' is not supported", "format=text", "format=html")),
])
def test_languages_and_format(client: httpx.Client, body: dict, words: tuple[str, ...]) -> None:
    assert_error(client.post("/translate", json=body), 400, *words)


def test_size_limits_are_413(client: httpx.Client, translator: Translator) -> None:
    assert_error(client.post("/translate", json={"q": "a" * 301, **DE_EN}), 413, "301 characters", "300")
    assert_error(client.post("/translate", json={"q": [LINE, "a" * 301], **DE_EN}), 413, "q[1]")
    assert_error(client.post("/translate", json={"q": ["a" * 250] * 5, **DE_EN}), 413, "1250", "1000")
    assert_error(client.post("/translate", json={"q": [LINE] * 17, **DE_EN}), 413, "17 items", "16")
    long_sentence = "1 " * 149  # one sentence of 298 characters, each digit (unknown to the toy corpus) a subword
    assert len(translator.src_tok.encode(long_sentence)) >= translator.max_src_tokens  # over the model's limit
    assert_error(client.post("/translate", json={"q": long_sentence, **DE_EN}), 413, "longer than the model")
    huge = b'{"q": "' + b"a" * 200_000 + b'"}'
    assert_error(client.post("/translate", content=huge, headers={"content-type": "application/json"}), 413,
                 "bytes")


def test_search_limits_are_400(client: httpx.Client) -> None:
    # limit 30: beam 8 x 4 = 32
    assert_error(client.post("/translate", json={"q": LINE, "alternatives": 3, "beam_size": 8, **DE_EN}), 400,
                 "32", "30")
    assert_error(client.post("/translate", json={"q": LINE, "alternatives": 3, "beam_size": 2, **DE_EN}), 400,
                 "at least alternatives + 1")
    assert_error(client.post("/translate", json={"q": LINE, "alternatives": 9, **DE_EN}), 400, "at most 8")
    assert client.post("/translate", json={"q": LINE, "alternatives": 4, **DE_EN}).status_code == 200  # beam 5


def test_unknown_routes_and_methods(client: httpx.Client) -> None:
    assert_error(client.get("/nowhere"), 404, "Not Found")
    assert_error(client.get("/translate"), 405, "Method Not Allowed")


@pytest.mark.parametrize("body", [
    b"null", b"0", b'"q"', b'{"q": null, "source": "de", "target": "en"}', b'{"q": "x", "source": 1, "target": []}',
    b'{"q": ["x"], "source": "de", "target": "en", "alternatives": 1e309}', b"[" * 20000 + b"]" * 20000,
    b'{"q": "\\ud800", "source": "de", "target": "en"}',
])
def test_garbage_never_gives_500(client: httpx.Client, body: bytes) -> None:
    r = client.post("/translate", content=body, headers={"content-type": "application/json"})
    assert_error(r, 400)  # each body is malformed: a 400 with {"error": ...}, never a 500 or a 200


def test_malformed_form(client: httpx.Client) -> None:
    r = client.post("/translate", content=b"--x\r\nbroken", headers={"content-type": "multipart/form-data; boundary=x"})
    assert_error(r, 400)
    r = client.post("/translate", data={"q": LINE, **DE_EN}, files={"q": ("a.txt", b"file content")})
    assert_error(r, 400, "not a file")


def test_unexpected_failure_is_a_bare_500(server: LiveServer, client: httpx.Client,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_decoder(*args: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(server.app.state.runtime.models[("de", "en")].batcher, "decode", broken_decoder)
    r = client.post("/translate", json={"q": LINE, **DE_EN}, headers={"X-Request-ID": "boom-1"})
    assert r.status_code == 500 and r.json() == {"error": "Internal server error"}
    assert r.headers["x-request-id"] == "boom-1"


@pytest.mark.parametrize(("body", "where"), [
    ({"q": "\ud800", **DE_EN}, "q is"),
    ({"q": [LINE, "a\udfff"], **DE_EN}, "q[1] is"),
    ({"q": LINE, "source": "\ud800", "target": "en"}, "source is"),
    ({"q": LINE, "source": "de", "target": "e\ud800n"}, "target is"),
    ({"q": LINE, "format": "\ud800", **DE_EN}, "format is"),
    ({"q": LINE, "api_key": "\ud800", **DE_EN}, "api_key is"),
    ({"q": LINE, "\ud800": 1, **DE_EN}, "a field name"),
])
def test_a_lone_surrogate_in_any_field_is_400(client: httpx.Client, body: dict, where: str) -> None:
    """JSON can escape a lone surrogate (\\ud800), which UTF-8 cannot encode: quoted in an error, it was a 500."""
    r = client.post("/translate", content=json.dumps(body).encode(), headers={"content-type": "application/json"})
    assert_error(r, 400, where, "not valid Unicode")


def test_errors_quote_client_values_shortened(client: httpx.Client) -> None:
    r = client.post("/translate", json={"q": LINE, "source": "x" * 10_000, "target": "en"})
    assert_error(r, 400, "x" * 40 + "… is not supported as a source language")
    assert len(r.content) < 300  # not the 10 KB code echoed whole
    r = client.post("/translate", json={"q": LINE, "format": "<" * 10_000, **DE_EN})
    assert_error(r, 400, "format '" + "<" * 40 + "…' is not supported")
