"""A server configured from the environment alone (SEQ2SEQ_MODELS with a file and a folder, SEQ2SEQ_PIVOT other
than English, SEQ2SEQ_API_KEYS), and every LibreTranslate field of `/translate` and `/detect` read alike from a
JSON body, a form, or the query string of the POST."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bs4 import BeautifulSoup

from seq2seq.translator import Translator
from service.settings import Settings
from tests.conftest import with_meta
from tests.service.conftest import LINES
from tests.service.live import LiveServer

KEY = "field-test-key"
PAGE = f'<p class="lead">{LINES[0]} <b>{LINES[1]}</b></p>'


@pytest.fixture(scope="module")
def env_server(artifact: Path, en_fr: Path, tmp_path_factory: pytest.TempPathFactory,
               ) -> Iterator[LiveServer]:
    """de → es (the de → en model, relabelled) as a file, es → fr (the en → fr model) in a folder, pivot es."""
    folder = tmp_path_factory.mktemp("env_models")
    # the pairs relabelled in meta.json: the models themselves unchanged
    de_es = with_meta(artifact, tmp_path_factory.mktemp("env_file") / "de-es.pt", src_lang="de", tgt_lang="es")
    with_meta(en_fr, folder / "es-fr.pt", src_lang="es", tgt_lang="fr")
    env = {"SEQ2SEQ_MODELS": f"{de_es},{folder}", "SEQ2SEQ_PIVOT": "es", "SEQ2SEQ_API_KEYS": KEY,
           "SEQ2SEQ_BATCH_WAIT_MS": "5"}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        settings = Settings()  # what `seq2seq serve` (and each of its workers) builds from the environment
    server = LiveServer(settings).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def client(env_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=env_server.url, timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def chain(artifact: Path, en_fr: Path) -> list[str]:
    """LINES through both models, one after the other: what de → fr through the pivot must give."""
    first, second = Translator.load(str(artifact)), Translator.load(str(en_fr))
    return [t.text for t in second.translate([t.text for t in first.translate(LINES)])]


def test_models_and_a_pivot_other_than_english_from_the_environment(client: httpx.Client, chain: list[str]) -> None:
    ready = client.get("/ready", headers={"X-API-Key": KEY}).json()
    assert sorted((m["source"], m["target"], m["model"]) for m in ready["models"]) == [
        ("de", "es", "de-es.pt"), ("es", "fr", "es-fr.pt")]
    languages = {lang["code"]: lang["targets"] for lang in client.get("/languages").json()}
    assert languages == {"de": ["es", "fr"], "es": ["fr"], "fr": []}
    r = client.post("/translate", json={"q": LINES, "source": "de", "target": "fr", "api_key": KEY})
    assert r.status_code == 200, r.text
    assert r.json()["translatedText"] == chain
    r = client.post("/translate", json={"q": LINES[0], "source": "fr", "target": "de", "api_key": KEY})
    assert r.status_code == 400 and "de to fr (through es)" in r.json()["error"]


# every field LibreTranslate's /translate reads, as each place spells it
FIELDS = {"q": PAGE, "source": "auto", "target": "fr", "format": "html", "alternatives": "1", "api_key": KEY}


def send(c: httpx.Client, route: str, place: str, fields: dict[str, str], query: dict[str, str] | None = None
         ) -> httpx.Response:
    """POST `fields` in `place` (json: numbers as numbers), with `query` in the query string besides."""
    if place == "json":
        body = {k: int(v) if v.isdigit() else v for k, v in fields.items()}
        return c.post(route, json=body, params=query)
    if place == "form":
        return c.post(route, data=fields, params=query)
    if place == "multipart":
        return c.post(route, data=fields, files={"unused": (None, "")}, params=query)
    assert place == "query" and query is None
    return c.post(route, params=fields)


@pytest.fixture(scope="module")
def reference(client: httpx.Client, chain: list[str]) -> dict:
    """The answer to FIELDS as JSON, checked for each field's effect."""
    r = send(client, "/translate", "json", FIELDS)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["detectedLanguage"]["language"] == "de"  # source auto
    assert 0 < answer["detectedLanguage"]["confidence"] <= 100
    out = answer["translatedText"]  # format html, target fr (through the pivot)
    assert out.startswith('<p class="lead">') and out.endswith("</b></p>") and out.count("<b>") == 1
    assert BeautifulSoup(out, "html.parser").get_text() == " ".join(chain)
    assert len(answer["alternatives"]) == 1  # alternatives, pages with the same markup
    assert answer["alternatives"][0].startswith('<p class="lead">')
    return answer


@pytest.mark.parametrize("place", ["json", "form", "multipart", "query"])
def test_every_translate_field_from_each_place(client: httpx.Client, reference: dict, place: str) -> None:
    r = send(client, "/translate", place, FIELDS)
    assert r.status_code == 200, r.text
    assert r.json() == reference
    without_key = {k: v for k, v in FIELDS.items() if k != "api_key"}  # api_key: read from this place too
    r = send(client, "/translate", place, without_key)
    assert r.status_code == 403 and "error" in r.json()


@pytest.mark.parametrize("field", sorted(FIELDS))
def test_each_translate_field_alone_in_the_query_string_of_a_form_post(client: httpx.Client, reference: dict,
                                                                       field: str) -> None:
    """LibreTranslate reads `request.values`: a field in the query string counts, whatever the form holds."""
    rest = {k: v for k, v in FIELDS.items() if k != field}
    r = send(client, "/translate", "form", rest, query={field: FIELDS[field]})
    assert r.status_code == 200, (field, r.text)
    assert r.json() == reference, field


@pytest.mark.parametrize("place", ["json", "form", "multipart", "query"])
def test_every_detect_field_from_each_place(client: httpx.Client, place: str) -> None:
    for text, language in (("Der Hund läuft über die Wiese.", "de"), ("Le chien court dans le pré.", "fr"),
                           ("El perro corre por el prado.", "es")):
        r = send(client, "/detect", place, {"q": text, "api_key": KEY})
        assert r.status_code == 200, r.text
        assert r.json()[0]["language"] == language, (text, r.json())
        r = send(client, "/detect", place, {"q": text})
        assert r.status_code == 403 and "error" in r.json()
