"""POST /translate (service/translation.py) on a live server: LibreTranslate shapes, extensions, whitespace,
parity with the CLI path."""

from __future__ import annotations

import httpx

from seq2seq.translator import Translator
from service.detect import Detector
from tests.service.live import direct

DE_EN = {"source": "de", "target": "en"}


def test_string_q_gives_string(client: httpx.Client, translator: Translator) -> None:
    line = "Der mann sieht den roten ball."
    r = client.post("/translate", json={"q": line, **DE_EN})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"translatedText": direct(translator, [line])[0][0]}  # no alternatives unless asked


def test_list_q_gives_list_in_order(client: httpx.Client, translator: Translator, lines: list[str]) -> None:
    r = client.post("/translate", json={"q": lines[:4], **DE_EN})
    assert r.status_code == 200
    assert r.json() == {"translatedText": [h[0] for h in direct(translator, lines[:4])]}


def test_parity_with_cli_path(client: httpx.Client, translator: Translator, lines: list[str]) -> None:
    expected = direct(translator, lines)
    assert len({e[0] for e in expected}) > 3  # the toy model's outputs follow its inputs
    r = client.post("/translate", json={"q": lines, **DE_EN})
    assert r.json()["translatedText"] == [e[0] for e in expected]

    r = client.post("/translate", json={"q": lines, "alternatives": 2, **DE_EN})
    expected = direct(translator, lines, n_best=3)
    assert r.json()["translatedText"] == [e[0] for e in expected]
    assert r.json()["alternatives"] == [e[1:] for e in expected]

    r = client.post("/translate", json={"q": lines, "beam_size": 1, **DE_EN})
    assert r.json()["translatedText"] == [e[0] for e in direct(translator, lines, beam_size=1)]


def test_alternatives_shape_for_string_q(client: httpx.Client, translator: Translator) -> None:
    line = "Ein hund läuft schnell."
    r = client.post("/translate", json={"q": line, "alternatives": 2, **DE_EN})
    body = r.json()
    expected = direct(translator, [line], n_best=3)[0]
    assert body == {"translatedText": expected[0], "alternatives": expected[1:]}


def test_whitespace_and_newlines_are_kept(client: httpx.Client, translator: Translator) -> None:
    s1, s2, s3, s4 = ("Der mann sieht den roten ball.", "Ein hund läuft!", "Die frau springt.",
                      "Ein kind läuft schnell.")
    text = f"  {s1} {s2}\n\n\r\n{s3}  \n   \n\t{s4}"
    t1, t2, t3, t4 = (h[0] for h in direct(translator, [s1, s2, s3, s4]))
    r = client.post("/translate", json={"q": [text, "", "\n\n", "   "], **DE_EN})
    assert r.status_code == 200
    assert r.json()["translatedText"] == [f"  {t1} {t2}\n\n\r\n{t3}  \n   \n\t{t4}", "", "\n\n", "   "]


def test_source_auto_detects_each_item(client: httpx.Client, translator: Translator) -> None:
    """Language identification among the server's languages (de, en here), item by item: German is translated,
    English is already the target and comes back as it is."""
    r = client.post("/translate", json={"q": "Ein hund läuft über die Wiese.", "source": "auto", "target": "en"})
    detected = r.json()["detectedLanguage"]
    assert detected["language"] == "de" and 90 < detected["confidence"] <= 100
    items = ["Der Mann sieht den roten Ball.", "The man sees the red ball and runs."]
    r = client.post("/translate", json={"q": items, "source": "auto", "target": "en"}).json()
    assert [d["language"] for d in r["detectedLanguage"]] == ["de", "en"]
    assert r["translatedText"] == [direct(translator, items[:1])[0][0], items[1]]


def test_scores_and_alignment_extensions(client: httpx.Client, translator: Translator) -> None:
    text = "Der mann sieht den roten ball. Ein hund läuft."
    r = client.post("/translate", json={"q": [text], "alternatives": 1, "return_scores": True,
                                        "return_alignment": True, **DE_EN})
    body = r.json()
    sentences = body["sentences"][0]
    assert [s["source"] for s in sentences] == ["Der mann sieht den roten ball.", "Ein hund läuft."]
    assert body["translatedText"][0] == " ".join(s["translation"] for s in sentences)
    for s in sentences:
        assert s["score"] <= 0 and len(s["alternatives"]) == 1 and s["alternatives"][0]["score"] <= s["score"]
        assert s["source_tokens"][-1] == "</s>"
        rows, cols = len(s["alignment"]), len(s["alignment"][0])
        assert (rows, cols) == (len(s["target_tokens"]) + 1, len(s["source_tokens"]))
        assert all(abs(sum(row) - 1) < 1e-4 for row in s["alignment"])
    r = client.post("/translate", json={"q": text, "return_scores": True, **DE_EN})
    only_scores = r.json()["sentences"]
    assert "alignment" not in only_scores[0] and "score" in only_scores[0]


def test_detection_leaves_out_the_languages_it_rules_out() -> None:
    detector = Detector(["de", "en", "fr"])  # lingua's real models
    assert detector.detect("ça") == [("fr", 100.0)]  # "ç" is French alone: English and German are not listed
    ranked = detector.detect("Der Hund läuft über die Wiese.")
    assert ranked[0][0] == "de" and all(conf > 0 for _, conf in ranked)
    assert [conf for _, conf in ranked] == sorted((conf for _, conf in ranked), reverse=True)
    assert detector.detect("123 !!") == [("de", 0.0)]  # nothing to tell: one language, no confidence
