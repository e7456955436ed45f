"""Cut text into sentences and put translations back, keeping every space and line break of the input.

The splitter is simple on purpose:

1. Text is cut into lines at `\\n`, `\\r\\n` or `\\r`. Line breaks, empty lines, and the whitespace that
   starts or ends a line are kept verbatim.
2. A line is cut after `.`, `!`, `?` or `…` (or a run of them: `?!`, `...`), optionally followed by closing
   quotes or brackets, when whitespace follows and the next character is not a lowercase letter. The
   whitespace between two sentences is kept verbatim.

Known limits: an abbreviation before a capitalised word ("Dr. Smith") is cut there; scripts that put no
space between sentences (Chinese, Japanese) are not cut within a line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE_BREAK = re.compile(r"(\r\n|\r|\n)")
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’»)\]]*(\s+)")


@dataclass
class Segmented:
    """`parts` alternates separators and sentences: sep, sentence, sep, ..., sentence, sep (odd length)."""

    parts: list[str]

    @property
    def sentences(self) -> list[str]:
        return self.parts[1::2]

    def join(self, translations: list[str]) -> str:
        """The text with sentence i replaced by translations[i], separators untouched."""
        if len(translations) != len(self.sentences):
            raise ValueError(f"expected {len(self.sentences)} translations, got {len(translations)}")
        out = list(self.parts)
        out[1::2] = translations
        return "".join(out)


def segment(text: str) -> Segmented:
    """Split `text` into sentences and the separators around them; `"".join(parts) == text`."""
    parts = [""]
    for i, chunk in enumerate(_LINE_BREAK.split(text)):
        if i % 2 or not chunk.strip():  # a line break, or an empty / blank line
            parts[-1] += chunk
            continue
        start = len(chunk) - len(chunk.lstrip())
        end = len(chunk.rstrip())
        parts[-1] += chunk[:start]
        for sentence, gap in split_sentences(chunk[start:end]):
            parts += [sentence, gap]
        parts[-1] += chunk[end:]
    return Segmented(parts)


def split_sentences(line: str) -> list[tuple[str, str]]:
    """(sentence, whitespace after it) pairs of one stripped, non-empty line; the last gap is ''."""
    pairs: list[tuple[str, str]] = []
    begin = 0
    for m in _SENTENCE_END.finditer(line):
        following = line[m.end() : m.end() + 1]
        if following.islower():
            continue  # "e.g. this", "3 p.m. today": not a sentence end
        pairs.append((line[begin : m.start(1)], m.group(1)))
        begin = m.end()
    pairs.append((line[begin:], ""))
    return pairs
