"""The sentence splitter: what it cuts, and that separators survive exactly."""

from __future__ import annotations

import pytest

from service.segment import segment, split_sentences


@pytest.mark.parametrize(("line", "sentences"), [
    ("One sentence", ["One sentence"]),
    ("Hello. World!", ["Hello.", "World!"]),
    ("Wait... What?! Yes.", ["Wait...", "What?!", "Yes."]),
    ('He said "Stop." Then left.', ['He said "Stop."', "Then left."]),
    ("(See above.) Next one.", ["(See above.)", "Next one."]),
    ("Approx. three e.g. this one.", ["Approx. three e.g. this one."]),  # lowercase next: no cut
    ("Version 2.5 is out. 3 people came.", ["Version 2.5 is out.", "3 people came."]),
    ("Ende…  Anfang.", ["Ende…", "Anfang."]),
])
def test_split_sentences(line: str, sentences: list[str]) -> None:
    assert [s for s, _ in split_sentences(line)] == sentences


@pytest.mark.parametrize("text", [
    "", " ", "\n", "\n\n\n", "a", "  Hello.  World!  ", "Line one.\nLine two.\r\n\r\nLine three.\rEnd",
    "\tTabbed. Text.\t\n  \n", "No end punctuation\n", "Ünïcödé… Straße!  Ja.",
])
def test_join_restores_text(text: str) -> None:
    seg = segment(text)
    assert "".join(seg.parts) == text
    assert seg.join(seg.sentences) == text
    assert all(s == s.strip() and s and "\n" not in s and "\r" not in s for s in seg.sentences)


def test_separators_kept_around_translations() -> None:
    seg = segment("  Hallo. Welt!\n\n\r\nTschüss.  ")
    assert seg.sentences == ["Hallo.", "Welt!", "Tschüss."]
    assert seg.join(["Hello.", "World!", "Bye."]) == "  Hello. World!\n\n\r\nBye.  "
    with pytest.raises(ValueError):
        seg.join(["too few"])


def test_blank_text_has_no_sentences() -> None:
    assert segment("  \n\t\n").sentences == []
