"""Inline tags of a translated sentence run: where their words went (attention), and the markup around them.

A run is the text of one block of HTML (service/html.py) with its inline elements (`<b>`, `<a href>`, …) as
character spans. The model translates the run's text without them; they are put back in three steps:

1. `word_links`: a word alignment from the decoder's attention (a_t, the "alignment vector" of Luong et al.
   2015, §3). Each target subword is linked to the source subword it attends to most (the argmax of its row,
   the usual reading of attention as alignment); a source word that no target subword chose is linked to the
   target subword that attends to it most (the argmax of its column), so that every source word reaches some
   target word. Subwords count as words by SentencePiece's `▁` mark.
2. `place`: each tag covers the contiguous target range from the first to the last target word linked to the
   source words it wrapped. Ranges are then made to nest as the tags did in the source: a child is clamped into
   its parent, siblings do not overlap (the later one keeps its largest part that is free). A tag that keeps no
   word goes around the nearest word; an empty one (`<a id=x></a>`, `<img>`, a comment, `<code>` kept as is)
   goes after the target words of the source word it stuck to (`word<img>`), else before those of the source
   word after it, with whitespace around it where it had some.
3. `render`: the target words and the whitespace between them, with each tag's start and end markup around its
   range. Whitespace at a tag's edges goes outside it; words are escaped (`&`, `<`, `>`).
"""

from __future__ import annotations

import html
from dataclasses import dataclass

Link = tuple[int, int]  # (source word, target word), both counted from 0
Range = tuple[int, int]  # target words [start, end); start == end: between word start - 1 and word start


@dataclass
class Span:
    """An inline element of a run: the characters of the run's text it covers, and the element around it."""

    start: int
    end: int  # start == end: it wraps no text (an empty element, an image, a comment)
    parent: int | None  # index of the enclosing span in the run's list (which lists parents first), None at the top


def piece_words(pieces: list[str]) -> list[int]:
    """The word of each subword: a piece that starts with `▁` starts a word."""
    words, word = [], -1
    for piece in pieces:
        if piece.startswith("▁") or word < 0:
            word += 1
        words.append(word)
    return words


def word_links(src_pieces: list[str], tgt_pieces: list[str], attention: list[list[float]]) -> list[Link]:
    """Word links from attention (module docstring, step 1).

    :param src_pieces: source subwords, S, without EOS
    :param tgt_pieces: target subwords, T, without EOS
    :param attention: (T + 1, S + 1) weights, one row per target subword and EOS, one column per source subword
        and EOS (`Hypothesis.alignment`); the EOS row and column are not read
    """
    S, T = len(src_pieces), len(tgt_pieces)
    if not S or not T:
        return []
    src_word, tgt_word = piece_words(src_pieces), piece_words(tgt_pieces)
    links = set()
    for t in range(T):
        row = attention[t]
        links.add((src_word[max(range(S), key=row.__getitem__)], tgt_word[t]))
    chosen = {s for s, _ in links}
    for s in range(S):
        if src_word[s] not in chosen:
            links.add((src_word[s], tgt_word[max(range(T), key=lambda t: attention[t][s])]))
    return sorted(links)


def diagonal_links(n_src: int, n_tgt: int) -> list[Link]:
    """Links by relative position, for a translation without attention to read."""
    if not n_src or not n_tgt:
        return []
    return [(s, min(n_tgt - 1, (2 * s + 1) * n_tgt // (2 * n_src))) for s in range(n_src)]


def place(spans: list[Span], src_words: list[Range], n_tgt: int, links: list[Link]
          ) -> tuple[list[Range], list[str]]:
    """The target words each span goes around (module docstring, step 2), and for an empty one, what it touched
    in the source: 'before' (it stuck to the word before it, or sat inside a word), 'after' (to the word after
    it), 'apart' (whitespace on both sides); '' for the others.

    :param spans: in document order, each parent before its children
    :param src_words: character range of each source word in the run's text
    :param n_tgt: how many target words
    :param links: (source word, target word) pairs; out of range ones are clamped
    """
    targets: list[set[int]] = [set() for _ in src_words]
    for s, t in links:
        if src_words and n_tgt:
            targets[min(max(s, 0), len(src_words) - 1)].add(min(max(t, 0), n_tgt - 1))

    def point(char: int) -> int:  # the target position before the words of the first source word from `char` on
        for w, (start, _) in enumerate(src_words):
            if start >= char and targets[w]:
                return min(targets[w])
        return n_tgt

    ranges: list[Range] = []
    sides: list[str] = []
    taken: dict[int | None, list[Range]] = {}  # parent → the ranges its children took so far
    for span in spans:
        lo, hi = ranges[span.parent] if span.parent is not None else (0, n_tgt)
        before: list[int] = []
        linked = {t for w, (a, b) in enumerate(src_words) if a < span.end and b > span.start for t in targets[w]}
        if span.end > span.start and linked:
            want = (min(linked), max(linked) + 1)
        elif span.end > span.start and n_tgt:  # words, but none linked: around the nearest word
            p = min(point(span.start), n_tgt - 1)
            want = (p, p + 1)
        else:
            before = [w for w, (a, b) in enumerate(src_words) if a < span.start <= b and targets[w]]
            p = max(targets[before[-1]]) + 1 if before else point(span.start)
            want = (p, p)
        siblings = taken.setdefault(span.parent, [])
        placed = _fit(want, lo, hi, siblings)
        siblings.append(placed)
        ranges.append(placed)
        if placed[0] < placed[1]:
            sides.append("")
        else:
            sides.append("before" if before else "after" if any(a == span.start for a, _ in src_words) else "apart")
    return ranges, sides


def _fit(want: Range, lo: int, hi: int, siblings: list[Range]) -> Range:
    """`want` inside [lo, hi) and clear of the siblings' words; its largest free part, else the nearest free word
    (a wanted word, kept as one), else an empty range at the nearest free position."""
    free = [w for w in range(lo, hi) if not any(a <= w < b for a, b in siblings)]
    if want[1] > want[0]:
        inside = [w for w in free if want[0] <= w < want[1]]
        if inside:
            best, run = (inside[0], inside[0] + 1), (inside[0], inside[0] + 1)
            for w in inside[1:]:
                run = (run[0], w + 1) if w == run[1] else (w, w + 1)
                if run[1] - run[0] > best[1] - best[0]:
                    best = run
            return best
        if free:
            w = min(free, key=lambda w: (abs(w - want[0]), w))
            return (w, w + 1)
    # an empty range: a position not strictly inside a sibling's words
    spots = [p for p in range(lo, hi + 1) if not any(a < p < b for a, b in siblings)]
    p = min(spots, key=lambda p: (abs(p - want[0]), p))
    return (p, p)


def render(words: list[str], gaps: list[str], tags: list[tuple[str, str]], parents: list[int | None],
           ranges: list[Range], sides: list[str]) -> str:
    """Markup of a translated run (module docstring, step 3).

    :param words: target words (plain text)
    :param gaps: the whitespace before each word and after the last: len(words) + 1 strings
    :param tags: each span's (start markup, end markup), as the source spelled them
    :param parents: each span's parent (`Span.parent`)
    :param ranges: each span's target words, and `sides`: what an empty one touches (`place`)
    """
    children: dict[int | None, list[int]] = {None: []}
    for i, parent in enumerate(parents):
        children.setdefault(parent, []).append(i)
        children.setdefault(i, [])
    for kids in children.values():
        kids.sort(key=lambda i: (ranges[i][0], ranges[i][1], i))

    def inside(lo: int, hi: int, kids: list[int]) -> str:
        out: list[str] = []
        done = {lo}  # positions whose gap is out (the gap before `lo` is outside this element)
        pos = lo

        def gap(p: int) -> None:
            if p not in done:
                out.append(gaps[p])
                done.add(p)

        def words_to(p: int) -> None:
            nonlocal pos
            for w in range(pos, p):
                gap(w)
                out.append(html.escape(words[w], quote=False))
            pos = max(pos, p)

        for k in kids:
            start, end = ranges[k]
            words_to(start)
            empty = start == end
            if start < hi and not (empty and sides[k] == "before"):  # else it stays next to the word before
                gap(start)
            out.append(tags[k][0] + inside(start, end, children[k]) + tags[k][1])
            if empty and sides[k] == "apart" and start < hi:  # `word <img> word`: whitespace after it too
                out.append(gaps[start] if start > lo else " ")
            pos = max(pos, end)
        words_to(hi)
        return "".join(out)

    n = len(words)
    return gaps[0] + inside(0, n, children[None]) + (gaps[n] if n else "")
