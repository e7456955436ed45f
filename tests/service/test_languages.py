"""GET /languages (service/languages.py), /frontend/settings and /suggest (service/suggest.py) on a live server."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx
import pytest

from service.settings import Settings
from tests.service.live import live_server


def test_languages(client: httpx.Client) -> None:
    assert client.get("/languages").json() == [
        {"code": "de", "name": "German", "targets": ["en"]},
        {"code": "en", "name": "English", "targets": []},
    ]


def test_frontend_settings_in_libretranslates_shape(client: httpx.Client) -> None:
    settings = client.get("/frontend/settings").json()
    assert set(settings) == {"charLimit", "frontendTimeout", "apiKeys", "keyRequired", "suggestions",
                             "filesTranslation", "supportedFilesFormat", "language"}
    assert settings["charLimit"] > 0 and settings["apiKeys"] is False and settings["keyRequired"] is False
    assert settings["language"] == {"source": {"code": "auto", "name": "Auto Detect"},
                                    "target": {"code": "en", "name": "English"}}
    # the limit a client checks one text against is the server's: a text that long is taken, one more is not
    limit = settings["charLimit"]
    r = client.post("/translate", json={"q": "a" * limit, "source": "en", "target": "en"})
    assert r.status_code == 200 and r.json()["translatedText"] == "a" * limit
    r = client.post("/translate", json={"q": "a" * (limit + 1), "source": "en", "target": "en"})
    assert r.status_code == 413 and str(limit) in r.json()["error"]


def test_suggestions_are_refused_as_libretranslate_refuses_them(client: httpx.Client) -> None:
    r = client.post("/suggest", data={"q": "Hallo", "s": "Hello", "source": "de", "target": "en"})
    assert r.status_code == 403 and r.json() == {"error": "Suggestions are disabled on this server."}


def test_suggestions_when_enabled_are_appended_from_every_place_and_checked(artifact: Path, tmp_path: Path) -> None:
    """`suggestions` on: a suggestion from JSON, a form or the query string is one JSON line of the file, whole
    even when many arrive at once; a missing field, an unknown language or a bad key gets a 4xx and no line."""
    store = tmp_path / "suggestions.jsonl"
    with live_server(artifact, suggestions=True, suggestions_file=str(store), api_keys=["k1"]) as server, \
            httpx.Client(base_url=server.url, timeout=30) as c:
        assert c.get("/frontend/settings").json()["suggestions"] is True
        fields = {"q": "Der Hund läuft.", "s": "The dog runs.", "source": "de", "target": "en", "api_key": "k1"}
        for kwargs in ({"json": fields}, {"data": fields}, {"params": fields}):
            r = c.post("/suggest", **kwargs)
            assert r.status_code == 200 and r.json() == {"success": True}, r.text
        for bad, status, message in (({"s": None}, 400, "missing s parameter"), ({"q": "  "}, 400, "missing q"),
                                     ({"target": "xx"}, 400, "none of this server's languages: de, en"),
                                     ({"api_key": "wrong"}, 403, "")):
            body = {k: v for k, v in {**fields, **bad}.items() if v is not None}
            r = c.post("/suggest", json=body)
            assert r.status_code == status and message in r.json()["error"], r.text

        def many(i: int) -> None:
            with httpx.Client(base_url=server.url, timeout=30) as ci:
                assert ci.post("/suggest", json={**fields, "s": f"The dog runs. {i} " * 50}).status_code == 200

        threads = [threading.Thread(target=many, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    rows = [json.loads(line) for line in store.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 23
    assert rows[0]["q"] == "Der Hund läuft." and rows[0]["s"] == "The dog runs." and rows[0]["source"] == "de"
    assert all(set(r) == {"q", "s", "source", "target", "time"} and "api_key" not in r for r in rows)
    assert sorted(r["s"] for r in rows[3:]) == sorted(f"The dog runs. {i} " * 50 for i in range(20))


def test_suggestions_need_a_file() -> None:
    with pytest.raises(ValueError, match="suggestions needs suggestions_file"):
        Settings(model="m.pt", suggestions=True)
