"""Several models in one server (service/runtime.py): one language pair each, routes through the pivot language,
`/languages` and `/ready` listing them, two for one pair refused at start, metrics by pair."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import httpx
import pytest

from seq2seq.translator import Translator
from service.metrics import Metrics
from service.runtime import Runtime
from service.settings import Settings
from tests.service.conftest import LINES
from tests.service.live import live_server, sample_value


@pytest.fixture(scope="module")
def models_folder(artifact: Path, en_fr: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    shutil.copy(artifact, folder / "de-en.pt")
    shutil.copy(en_fr, folder / "en-fr.pt")
    return folder


def test_one_server_serves_every_pair_and_pivots_through_english(artifact: Path, en_fr: Path) -> None:
    de_en, en_fr_model = Translator.load(str(artifact)), Translator.load(str(en_fr))
    with live_server(artifact, models=[str(artifact), str(en_fr)]) as server, httpx.Client(base_url=server.url) as c:
        ready = c.get("/ready").json()
        assert {(m["source"], m["target"]) for m in ready["models"]} == {("de", "en"), ("en", "fr")}
        languages = {lang["code"]: lang["targets"] for lang in c.get("/languages").json()}
        assert languages == {"de": ["en", "fr"], "en": ["fr"], "fr": []}
        # direct pairs: what each model gives alone
        direct = c.post("/translate", json={"q": LINES, "source": "de", "target": "en"}).json()["translatedText"]
        assert direct == [t.text for t in de_en.translate(LINES)]
        # de → fr: two hops, the first hop's best translation is the second's source
        pivoted = c.post("/translate", json={"q": LINES, "source": "de", "target": "fr"})
        assert pivoted.status_code == 200, pivoted.text
        assert pivoted.json()["translatedText"] == [t.text for t in en_fr_model.translate(direct)]
        # the attention of the two hops composed: target pieces × the German source's pieces, rows summing to 1
        r = c.post("/translate", json={"q": LINES[0], "source": "de", "target": "fr", "return_alignment": True})
        assert r.status_code == 200, r.text
        detail = r.json()["sentences"][0]
        assert detail["source_tokens"] == de_en.src_tok.id_to_piece(de_en.encode(LINES[0]))
        assert detail["translation"] == pivoted.json()["translatedText"][0]
        alignment = detail["alignment"]
        assert len(alignment) == len(detail["target_tokens"]) + 1
        assert all(len(row) == len(detail["source_tokens"]) for row in alignment)
        assert all(abs(sum(row) - 1) < 1e-4 and min(row) >= 0 for row in alignment)
        # a pair no path reaches: named, with what the server offers
        r = c.post("/translate", json={"q": LINES[0], "source": "fr", "target": "de"})
        error = r.json()["error"]
        assert r.status_code == 400 and "fr is not supported as a source language" in error
        assert "de to en" in error and "de to fr (through en)" in error and "en to fr" in error
        r = c.post("/translate", json={"q": LINES[0], "source": "en", "target": "de"})
        assert r.status_code == 400 and "de is not supported as a target language from en" in r.json()["error"]
        # source == target: the text comes back as it is
        same = c.post("/translate", json={"q": LINES, "source": "fr", "target": "fr", "alternatives": 1}).json()
        assert same["translatedText"] == LINES and same["alternatives"] == [[LINES[0]], [LINES[1]]]
        # auto: each item's language, among the server's (de, en, fr), routed by it
        auto = c.post("/translate", json={"q": LINES[0], "source": "auto", "target": "en"}).json()
        assert auto["detectedLanguage"]["language"] == "de" and auto["translatedText"] == direct[0]
        english = "The man sees the red ball."
        mixed = c.post("/translate", json={"q": [LINES[0], english], "source": "auto", "target": "fr"}).json()
        assert [d["language"] for d in mixed["detectedLanguage"]] == ["de", "en"]
        assert mixed["translatedText"] == [pivoted.json()["translatedText"][0],
                                           en_fr_model.translate([english])[0].text]
        r = c.post("/translate", json={"q": "Le chien court dans le parc.", "source": "auto", "target": "en"})
        assert r.status_code == 400 and "detected as fr" in r.json()["error"]
        assert "no model translates from" in r.json()["error"]
        # /detect: LibreTranslate's list, best first, confidence 0–100, from JSON, a form or the query string
        for sentence, language in (("Der Hund läuft über die Wiese.", "de"),
                                   ("The dog runs across the meadow.", "en"), ("Le chien court dans le pré.", "fr")):
            for kwargs in ({"json": {"q": sentence}}, {"data": {"q": sentence}}, {"params": {"q": sentence}}):
                ranked = c.post("/detect", **kwargs).json()
                assert ranked[0]["language"] == language, (sentence, ranked)
                assert 1 <= len(ranked) <= 3 and all(0 <= d["confidence"] <= 100 for d in ranked)
                assert [d["confidence"] for d in ranked] == sorted((d["confidence"] for d in ranked), reverse=True)
        assert c.post("/detect", json={"q": ""}).status_code == 400
        metrics = c.get("/metrics").text
        assert sample_value(metrics, "seq2seq_sentences_total", pair="de-en") >= 4  # direct and first hops
        assert sample_value(metrics, "seq2seq_sentences_total", pair="en-fr") >= 2


def test_html_through_the_pivot_keeps_the_markup(artifact: Path, en_fr: Path) -> None:
    """Inline tags across two hops, placed by the attention composed through the pivot (service/pivot.py)."""
    from bs4 import BeautifulSoup

    de_en, en_fr_model = Translator.load(str(artifact)), Translator.load(str(en_fr))
    expected = " ".join(t.text for t in en_fr_model.translate([t.text for t in de_en.translate(LINES)]))
    page = f'<p class="x">{LINES[0]} <a href="/y">{LINES[1]}</a></p>'
    # source auto: the language of the text it translates, never of its markup (this markup alone reads as English)
    noisy = ('<div class="main-content header navigation" title="Home page link for the whole site">'
             '<script>var home = "the page is here";</script>'
             f'{LINES[0]} <a href="/y" title="Read more about this story">{LINES[1]}</a></div>')
    with live_server(artifact, models=[str(artifact), str(en_fr)]) as server, \
            httpx.Client(base_url=server.url, timeout=60) as c:
        r = c.post("/translate", json={"q": page, "source": "de", "target": "fr", "format": "html"})
        auto = c.post("/translate", json={"q": noisy, "source": "auto", "target": "fr", "format": "html"})
    assert r.status_code == 200, r.text
    out = r.json()["translatedText"]
    assert out.startswith('<p class="x">') and out.endswith("</a></p>") and out.count('<a href="/y">') == 1
    assert BeautifulSoup(out, "html.parser").get_text() == expected
    assert auto.status_code == 200, auto.text
    assert auto.json()["detectedLanguage"]["language"] == "de"
    soup = BeautifulSoup(auto.json()["translatedText"], "html.parser")
    assert soup.script.string == 'var home = "the page is here";'
    soup.script.decompose()
    assert soup.get_text() == expected


def test_a_folder_serves_every_model_in_it(models_folder: Path) -> None:
    with live_server(models_folder, models=[str(models_folder)]) as server, httpx.Client(base_url=server.url) as c:
        assert sorted(m["model"] for m in c.get("/ready").json()["models"]) == ["de-en.pt", "en-fr.pt"]


def test_two_models_for_one_pair_or_an_unreadable_one_stop_the_start_naming_the_files(
        artifact: Path, tmp_path: Path) -> None:
    twin = tmp_path / "twin.pt"
    shutil.copy(artifact, twin)

    def start(*entries: object) -> str:
        runtime = Runtime(Settings(models=[str(e) for e in entries]), Metrics())
        with pytest.raises(Exception) as failure:
            asyncio.run(runtime.start())
        assert runtime.error and not runtime.ready
        return str(failure.value)

    message = start(artifact, twin)
    assert "two models for one language pair" in message and str(artifact) in message and str(twin) in message
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a model")
    message = start(artifact, broken)
    assert f"model {broken} failed to load" in message
    empty = tmp_path / "empty"
    empty.mkdir()
    assert f"{empty}: a folder without any model" in start(empty)
    assert "no such model file or folder" in start(tmp_path / "nowhere.pt")


def test_a_busy_pair_does_not_starve_another(artifact: Path, en_fr: Path) -> None:
    """de → en flooded with far more than one batch of work; an en → fr request sent just after it is answered
    while most of the flood still waits: the pairs' batches take turns in the shared decoding thread."""
    flood = [{"q": [f"{line} {i}" for line in LINES * 4], "source": "de", "target": "en"} for i in range(48)]
    with live_server(artifact, models=[str(artifact), str(en_fr)], batch_max_tokens=64, batch_wait_ms=1,
                     batch_linger_ms=1) as server:
        async def run() -> tuple[float, list[float]]:
            loop = asyncio.get_running_loop()
            async with httpx.AsyncClient(base_url=server.url, timeout=120,
                                         limits=httpx.Limits(max_connections=len(flood) + 1)) as c:
                async def timed(body: dict) -> float:
                    r = await c.post("/translate", json=body)
                    assert r.status_code == 200, r.text
                    return loop.time()

                busy = [asyncio.create_task(timed(body)) for body in flood]
                await asyncio.sleep(0.1)  # the flood is in and decoding
                other = await timed({"q": LINES[0], "source": "en", "target": "fr"})
                return other, list(await asyncio.gather(*busy))

        other, busy = asyncio.run(run())
    waiting = sum(t > other for t in busy)
    assert waiting >= len(flood) // 2, f"only {waiting} of {len(flood)} flood requests were left when en → fr ended"
