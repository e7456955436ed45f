"""POST /translate on a live server: LibreTranslate shapes, extensions, whitespace, parity with the CLI path."""

from __future__ import annotations

from dataclasses import replace

import httpx

from seq2seq.translator import Translator

DE_EN = {"source": "de", "target": "en"}


def cli(translator: Translator, lines: list[str], **opts: int) -> list[list[str]]:
    """Hypothesis texts per line through `Translator.translate`, the CLI's path."""
    results = translator.translate(lines, replace(translator.defaults, **opts))
    return [[h.text for h in r.hypotheses] for r in results]


def test_string_q_gives_string(client: httpx.Client, translator: Translator) -> None:
    line = "Der mann sieht den roten ball."
    r = client.post("/translate", json={"q": line, **DE_EN})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"translatedText": cli(translator, [line])[0][0]}  # no alternatives unless asked


def test_list_q_gives_list_in_order(client: httpx.Client, translator: Translator, lines: list[str]) -> None:
    r = client.post("/translate", json={"q": lines[:4], **DE_EN})
    assert r.status_code == 200
    assert r.json() == {"translatedText": [h[0] for h in cli(translator, lines[:4])]}


def test_parity_with_cli_path(client: httpx.Client, translator: Translator, lines: list[str]) -> None:
    expected = cli(translator, lines)
    assert len({e[0] for e in expected}) > 3  # the toy model's outputs follow its inputs
    r = client.post("/translate", json={"q": lines, **DE_EN})
    assert r.json()["translatedText"] == [e[0] for e in expected]

    r = client.post("/translate", json={"q": lines, "alternatives": 2, **DE_EN})
    expected = cli(translator, lines, n_best=3)
    assert r.json()["translatedText"] == [e[0] for e in expected]
    assert r.json()["alternatives"] == [e[1:] for e in expected]

    r = client.post("/translate", json={"q": lines, "beam_size": 1, **DE_EN})
    assert r.json()["translatedText"] == [e[0] for e in cli(translator, lines, beam_size=1)]


def test_alternatives_shape_for_string_q(client: httpx.Client, translator: Translator) -> None:
    line = "Ein hund läuft schnell."
    r = client.post("/translate", json={"q": line, "alternatives": 2, **DE_EN})
    body = r.json()
    expected = cli(translator, [line], n_best=3)[0]
    assert body == {"translatedText": expected[0], "alternatives": expected[1:]}


def test_whitespace_and_newlines_are_kept(client: httpx.Client, translator: Translator) -> None:
    s1, s2, s3, s4 = ("Der mann sieht den roten ball.", "Ein hund läuft!", "Die frau springt.",
                      "Ein kind läuft schnell.")
    text = f"  {s1} {s2}\n\n\r\n{s3}  \n   \n\t{s4}"
    t1, t2, t3, t4 = (h[0] for h in cli(translator, [s1, s2, s3, s4]))
    r = client.post("/translate", json={"q": [text, "", "\n\n", "   "], **DE_EN})
    assert r.status_code == 200
    assert r.json()["translatedText"] == [f"  {t1} {t2}\n\n\r\n{t3}  \n   \n\t{t4}", "", "\n\n", "   "]


def test_form_bodies(client: httpx.Client, translator: Translator, lines: list[str]) -> None:
    expected = [h[0] for h in cli(translator, lines[:2])]
    r = client.post("/translate", data={"q": lines[0], **DE_EN})  # application/x-www-form-urlencoded
    assert r.json() == {"translatedText": expected[0]}
    r = client.post("/translate", data={"q": lines[:2], **DE_EN})  # repeated q → list
    assert r.json() == {"translatedText": expected}
    r = client.post("/translate", data={"q": lines[0], "alternatives": "1", **DE_EN}, files={"x": (None, "")})
    assert r.status_code == 200 and len(r.json()["alternatives"]) == 1  # multipart/form-data


def test_source_auto_reports_detected_language(client: httpx.Client) -> None:
    r = client.post("/translate", json={"q": "Ein hund läuft.", "source": "auto", "target": "en"})
    assert r.json()["detectedLanguage"] == {"language": "de", "confidence": 100.0}
    r = client.post("/translate", json={"q": ["Ein hund läuft.", "Ein kind."], "source": "auto", "target": "en"})
    assert r.json()["detectedLanguage"] == [{"language": "de", "confidence": 100.0}] * 2


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
