"""The web page at GET / and its assets (service/page.py, service/static/): served, typed, self-contained.
tests/service/test_browser.py runs it in a real browser."""

from __future__ import annotations

import re

import httpx

from service.page import STATIC


def test_index_is_the_page(client: httpx.Client) -> None:
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'self'" in r.headers["content-security-policy"]
    page = r.text
    for element in ('id="input"', 'id="source"', 'id="target"', 'id="output"', 'id="copy"', 'id="file"',
                    'id="alternatives"', 'id="sentences"', 'id="heatmap"'):
        assert element in page, element
    assert r.content == (STATIC / "index.html").read_bytes()


def test_assets_are_served_with_their_types(client: httpx.Client) -> None:
    page = client.get("/").text
    linked = re.findall(r'(?:src|href)="(static/[^"]+)"', page)
    assert sorted(linked) == ["static/app.css", "static/app.js"]
    types = {"css": "text/css; charset=utf-8", "js": "text/javascript; charset=utf-8"}
    for path in linked:
        r = client.get("/" + path)
        assert r.status_code == 200, path
        assert r.headers["content-type"] == types[path.rsplit(".", 1)[1]]
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.content == (STATIC / path.split("/", 1)[1]).read_bytes()


def test_nothing_is_fetched_from_elsewhere() -> None:
    """Offline: no URL with a scheme or a protocol-relative one in any asset (no CDN, no web fonts)."""
    for path in STATIC.iterdir():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text, re.I), path.name


def test_unknown_assets_are_404(client: httpx.Client) -> None:
    for path in ("/static/nothing.js", "/static/app.py", "/static/..%2Fapp.py", "/static/%2e%2e%2fpage.py",
                 "/static/"):
        r = client.get(path)
        assert r.status_code == 404 and "error" in r.json(), path


def test_the_page_is_not_in_the_api_schema(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths and "/static/{name}" not in paths
