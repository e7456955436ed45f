"""Request bodies (service/body.py) on a live server: JSON, urlencoded and multipart forms read alike."""

from __future__ import annotations

import httpx

from seq2seq.translator import Translator
from tests.service.live import direct

DE_EN = {"source": "de", "target": "en"}


def test_form_bodies(client: httpx.Client, translator: Translator, lines: list[str]) -> None:
    expected = [h[0] for h in direct(translator, lines[:2])]
    r = client.post("/translate", data={"q": lines[0], **DE_EN})  # application/x-www-form-urlencoded
    assert r.json() == {"translatedText": expected[0]}
    r = client.post("/translate", data={"q": lines[:2], **DE_EN})  # repeated q → list
    assert r.json() == {"translatedText": expected}
    r = client.post("/translate", data={"q": lines[0], "alternatives": "1", **DE_EN}, files={"x": (None, "")})
    assert r.status_code == 200 and len(r.json()["alternatives"]) == 1  # multipart/form-data
