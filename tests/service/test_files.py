"""POST /translate_file and GET /download_file/{name} (service/files.py): round trips of .txt and .html files, one
download each, the files' lifetime (download, expiry, shutdown), and every refusal."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import httpx
import pytest

from seq2seq.translator import Translator
from service.files import FileStore
from tests.service.live import LiveServer, direct, live_server

DE_EN = {"source": "de", "target": "en"}


def upload(client: httpx.Client, name: str, data: bytes, **fields: str) -> httpx.Response:
    return client.post("/translate_file", files={"file": (name, data)}, data={**DE_EN, **fields})


def download_name(response: httpx.Response, server: LiveServer) -> str:
    assert response.status_code == 200, response.text
    url = response.json()["translatedFileUrl"]
    assert url.startswith(server.url + "/download_file/"), url
    return url.rsplit("/", 1)[1]


def stored(server: LiveServer) -> list[str]:
    folder = server.app.state.files.store.folder
    return sorted(p.name for p in folder.iterdir()) if folder is not None and folder.exists() else []


def test_txt_round_trip_line_by_line(client: httpx.Client, server: LiveServer, translator: Translator,
                                     lines: list[str]) -> None:
    # more lines and characters than one item of /translate may have on this server (300): a file's own limit
    text = "\n".join(lines[:6]) + "\n\n  " + "\r\n".join(lines[6:]) + "\n"
    assert len(text) > server.settings.max_chars_per_item
    best = [h[0] for h in direct(translator, lines)]
    expected = "\n".join(best[:6]) + "\n\n  " + "\r\n".join(best[6:]) + "\n"
    name = download_name(upload(client, "notes.txt", text.encode()), server)
    assert name in stored(server)
    r = client.get(f"/download_file/{name}")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.headers["content-disposition"] == 'attachment; filename="notes.txt"'
    assert r.content.decode() == expected
    assert name not in stored(server)  # deleted as it was served
    again = client.get(f"/download_file/{name}")
    assert again.status_code == 404 and "error" in again.json()


def test_html_round_trip_as_format_html(client: httpx.Client, server: LiveServer) -> None:
    page = ("<!doctype html><html><head><title>Der hund</title></head><body>\n"
            "<h1>Ein kind sieht den roten ball.</h1>\n<p>Die frau läuft <b>im park</b>.</p>\n</body></html>\n")
    expected = client.post("/translate", json={"q": page, "format": "html", **DE_EN}).json()["translatedText"]
    assert expected != page and "<h1>" in expected and "<b>" in expected
    name = download_name(upload(client, "Seite 1.HTML", page.encode()), server)
    r = client.get(f"/download_file/{name}")
    assert r.status_code == 200 and r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["content-disposition"] == 'attachment; filename="Seite_1.html"'
    assert r.headers["content-security-policy"] == "sandbox"  # a translated page runs no script on this origin
    assert r.content.decode() == expected


def test_a_byte_order_mark_is_not_translated(client: httpx.Client, server: LiveServer, translator: Translator
                                             ) -> None:
    name = download_name(upload(client, "bom.txt", "\ufeffDer hund läuft.\n".encode()), server)
    assert client.get(f"/download_file/{name}").content.decode() == direct(translator, ["Der hund läuft."])[0][0] + "\n"


def test_refusals(client: httpx.Client, server: LiveServer) -> None:
    limit, before = server.settings.max_file_bytes, stored(server)
    cases = [
        (upload(client, "report.pdf", b"%PDF-1.7 ..."), 400, "not supported"),
        (upload(client, "README", b"Der hund."), 400, "not supported"),
        (upload(client, "big.txt", b"a" * (limit + 1)), 413, f"limit is {limit}"),
        (upload(client, "latin1.txt", "Der hund läuft.".encode("latin-1")), 400, "not UTF-8"),
        (upload(client, "empty.txt", b" \n"), 400, "empty"),
        (upload(client, "a.txt", b"Der hund.", target="xx"), 400, "xx"),
        (client.post("/translate_file", files={"document": ("a.txt", b"Der hund.")}, data=DE_EN), 400,
         "missing file"),
        (client.post("/translate_file", data=DE_EN), 400, "multipart/form-data"),
        (client.post("/translate_file", files={"file": ("a.txt", b"Der hund.")}, data={"source": "de"}), 400,
         "missing target"),
        (client.post("/translate_file", json={"file": "Der hund.", **DE_EN}), 400, "multipart/form-data"),
    ]
    for response, status, words in cases:
        assert response.status_code == status, response.text
        assert words in response.json()["error"], response.json()
    assert stored(server) == before  # nothing refused was written


def test_a_body_far_over_the_limit_is_refused_as_it_arrives(client: httpx.Client, server: LiveServer) -> None:
    r = upload(client, "huge.txt", b"a" * (server.settings.max_file_bytes * 2 + 100_000))
    assert r.status_code == 413 and "limit" in r.json()["error"]


def test_unknown_names(client: httpx.Client) -> None:
    for name in ("nothing.txt", "A" * 22 + ".notes.txt", "..%2F..%2Fetc%2Fpasswd", ".hidden.txt"):
        r = client.get(f"/download_file/{name}")
        assert r.status_code == 404 and "error" in r.json(), (name, r.text)


def test_frontend_settings_offer_files(client: httpx.Client) -> None:
    body = client.get("/frontend/settings").json()
    assert body["filesTranslation"] is True and body["supportedFilesFormat"] == [".txt", ".html"]


def test_suggest_is_refused(client: httpx.Client) -> None:
    r = client.post("/suggest", json={"q": "a", "s": "b", **DE_EN})
    assert r.status_code == 403 and "disabled" in r.json()["error"]


def test_openapi_documents_the_file_routes(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    form = paths["/translate_file"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["properties"]["file"]["format"] == "binary" and set(form["required"]) == {"file", "source", "target"}
    assert "/download_file/{name}" in paths


def test_keys_expiry_and_shutdown(artifact: Path, translator: Translator) -> None:
    """With keys: the key from the form or the header. Files not downloaded go after the expiry, and every one with
    the server's folder when it stops."""
    with live_server(artifact, api_keys=["alpha"], file_expiry_s=2.0) as srv, \
            httpx.Client(base_url=srv.url, timeout=30) as c:
        assert upload(c, "a.txt", b"Der hund.").status_code == 403
        assert upload(c, "a.txt", b"Der hund.", api_key="wrong").status_code == 403
        expiring = download_name(upload(c, "a.txt", b"Der hund.", api_key="alpha"), srv)
        r = c.post("/translate_file", files={"file": ("b.txt", b"Ein kind.")}, data=DE_EN,
                   headers={"X-API-Key": "alpha"})
        kept = download_name(r, srv)
        folder = srv.app.state.files.store.folder
        assert sorted(stored(srv)) == sorted([expiring, kept])
        deadline = time.monotonic() + 10
        while stored(srv) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert stored(srv) == []
        assert c.get(f"/download_file/{expiring}").status_code == 404
        kept = download_name(upload(c, "c.txt", b"Der mann.", api_key="alpha"), srv)
        assert stored(srv) == [kept]
    assert not folder.exists()  # removed with what was left in it at shutdown


def test_store_serves_once_and_cleans_up(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = FileStore(None, expiry_s=0.05)
        name = store.put("../../etc/x y.txt", b"one")
        assert "/" not in name and name.endswith(".x_y.txt")
        assert store.take(name) == ("x_y.txt", b"one")
        assert store.take(name) is None
        gone = store.put("g.txt", b"two")
        await asyncio.sleep(0.2)
        assert store.take(gone) is None and list(store.folder.iterdir()) == []
        left = store.put("l.txt", b"three")
        assert (store.folder / left).exists()
        store.close()
        assert not store.folder.exists()

        shared = tmp_path / "shared"  # a given folder (several workers): only this store's files are removed
        other = shared / ("B" * 22 + ".other.txt")
        store = FileStore(str(shared), expiry_s=60)
        mine = store.put("m.txt", b"four")
        other.write_bytes(b"not mine")
        assert store.take(other.name) == ("other.txt", b"not mine")  # any worker serves any worker's file
        other.write_bytes(b"not mine")
        store.close()
        assert not (shared / mine).exists() and other.exists()

    asyncio.run(scenario())


def test_store_removes_what_a_killed_server_left(tmp_path: Path) -> None:
    """A given folder keeps what a SIGKILLed server never expired: the next store deletes those files once they
    are older than the expiry, at start and at each upload, and leaves young files and foreign names alone."""
    async def scenario() -> None:
        folder = tmp_path / "files"
        folder.mkdir()
        stale, claimed = folder / ("A" * 22 + ".old.txt"), folder / (".C" + "C" * 21 + ".cut.txt")
        young, foreign = folder / ("Y" * 22 + ".young.txt"), folder / "notes.txt"
        for path in (stale, claimed, young, foreign):
            path.write_bytes(b"x")
        hour_ago = time.time() - 3600
        for path in (stale, claimed, foreign):
            os.utime(path, (hour_ago, hour_ago))
        store = FileStore(str(folder), expiry_s=600)
        assert not stale.exists() and not claimed.exists()
        assert young.exists() and foreign.exists()
        os.utime(young, (hour_ago, hour_ago))  # ages while this store runs: the next upload removes it
        mine = store.put("m.txt", b"mine")
        assert not young.exists() and (folder / mine).exists() and foreign.exists()
        store.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("name", ["", "x", "a/b.txt"])
def test_store_refuses_names_it_never_makes(name: str) -> None:
    assert FileStore(None, expiry_s=1).take(name) is None
