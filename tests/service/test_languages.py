"""GET /languages (service/languages.py) on a live server: the model's source language with its one target."""

from __future__ import annotations

import httpx


def test_languages(client: httpx.Client) -> None:
    assert client.get("/languages").json() == [
        {"code": "de", "name": "German", "targets": ["en"]},
        {"code": "en", "name": "English", "targets": []},
    ]
