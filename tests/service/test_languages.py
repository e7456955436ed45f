"""GET /languages (service/languages.py), /frontend/settings and /suggest on a live server."""

from __future__ import annotations

import httpx


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


def test_suggestions_are_refused_as_libretranslate_refuses_them(client: httpx.Client) -> None:
    r = client.post("/suggest", data={"q": "Hallo", "s": "Hello", "source": "de", "target": "en"})
    assert r.status_code == 403 and r.json() == {"error": "Suggestions are disabled on this server."}
