"""`format: html`: the text of a page in runs, one per block, and the page again with the runs translated.

The page is parsed by BeautifulSoup's `html.parser` builder, which recovers from broken markup (unclosed tags
are closed by their parent's end tag, stray end tags are ignored) and never refuses any; on top of it, the
start tags that close open elements in a browser close them here too (`<p>a <b>b<div>` closes the b and the p;
`<li>`, `<dd>`, `<td>`, `<tr>`, `<option>` likewise), so the text is grouped into sentences as a browser shows
it. Unlike a browser, an inline element closed that way is not opened again in the next block, and text
misplaced in a table stays where the source has it. `<![` (a CDATA section, a conditional comment, or a broken
declaration html.parser would give up on) opens a comment up to the next `>`, as in a browser outside svg and
math. Elements nested deeper than MAX_DEPTH are kept as they are. While it parses, service/sourcemap.py notes
where in the source each tag and string lies. The answer is the source itself with only the translated runs
spliced in: every tag, attribute, entity, comment and whitespace outside them comes back byte for byte
(nothing is serialized again).

A run is what a reader sees as one piece of text: the strings and inline elements (INLINE) that follow each
other inside a block element (`p`, `li`, `td`, `h1`, `title`, `div`, the document itself, …; any element not
INLINE counts as a block). `<br>` and block elements end a run. Its text is translated as one input (split into
sentences like plain text) and its inline elements are put back around the target words they wrapped
(service/inline.py). Comments, `<img>`, `<wbr>`, `<input>` and untranslated inline elements inside a run are
kept whole, as empty spans. Never translated, with everything inside: `script`, `style`, `code`, `pre`,
`textarea`, and any element with `translate="no"` or the class `notranslate`. Attributes (`title`, `alt`) are
not translated: they come back as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import unescape

from bs4 import Comment, NavigableString, PageElement, ParserRejectedMarkup, Tag
from bs4.element import PreformattedString

from service import sourcemap
from service.inline import Link, Range, Span, diagonal_links, place, render
from service.segment import Segmented, segment
from service.sourcemap import SourceMap

INLINE = frozenset({
    "a", "abbr", "acronym", "b", "bdi", "bdo", "big", "cite", "data", "del", "dfn", "em", "font", "i", "ins",
    "kbd", "label", "mark", "q", "s", "samp", "small", "span", "strike", "strong", "sub", "sup", "time", "tt", "u",
    "var",
})
KEPT_INLINE = frozenset({"img", "wbr", "input", "code"})  # inside a run, kept as they are where their words go
NOT_TRANSLATED = frozenset({"script", "style", "code", "pre", "textarea"})
_LIKE = {"lead": ("lead",), "core": ("core",), "trail": ("trail",), "punct": ("trail", "lead")}  # token to token
MAX_DEPTH = 200  # elements open at once whose text is translated; deeper ones are kept as they are
_WORD = re.compile(r"\S+")
_PUNCT = re.compile(r"(?P<lead>\W*)(?P<core>.*?)(?P<trail>\W*)", re.S)  # a word, in full


@dataclass
class InlineTag(Span):
    """An inline element of a run, with its markup as the source spells it."""

    open: str = ""  # the start tag; for a kept element, all of it
    close: str = ""  # the end tag: the source's, `</name>` where the source left it implicit, "" for kept ones


@dataclass
class Run:
    """The text of one block, its inline elements, and the characters of the source it replaces."""

    text: str
    tags: list[InlineTag]
    start: int
    end: int
    segmented: Segmented = field(init=False)

    def __post_init__(self) -> None:
        self.segmented = segment(self.text)


@dataclass
class Page:
    """An HTML item of q: its source and the runs it translates. `sentences` is what the model is given."""

    source: str
    runs: list[Run]

    @property
    def sentences(self) -> list[str]:
        return [s for run in self.runs for s in run.segmented.sentences]

    def render(self, targets: list[tuple[str, list[Link] | None]]) -> str:
        """The page with each sentence translated.

        :param targets: per sentence (in `sentences` order), the translation and its word links (source word,
            target word within the sentence; service/inline.py), or None to place tags by relative position
        """
        if len(targets) != len(self.sentences):
            raise ValueError(f"expected {len(self.sentences)} translations, got {len(targets)}")
        out, at, done = [], 0, 0
        for run in self.runs:
            count = len(run.segmented.sentences)
            out += [self.source[done : run.start], _run_markup(run, targets[at : at + count])]
            at, done = at + count, run.end
        return "".join(out) + self.source[done:]


def parse(source: str) -> Page:
    """The runs of an HTML fragment or document. Markup without text gives no runs.

    Elements nested deeper than MAX_DEPTH are kept as they are, with everything inside.

    :raises ValueError: markup html.parser gives up on
    """
    try:
        # `<![` outside svg and math opens a bogus comment in a browser (up to the next `>`), CDATA included;
        # html.parser instead reads a marked section and gives up on one it does not know. The same number of
        # characters keeps every position of the copy that of the source.
        soup, where = sourcemap.parse(source.replace("<![", "<!?"))
    except ParserRejectedMarkup as exc:  # not seen since: kept so that any other refusal is a 400, never a 500
        raise ValueError(f"the parser gave up on it ({exc})") from None
    if where.deepest > MAX_DEPTH:  # the walks below recurse once per level: deeper elements stay as they are
        _too_deep(soup)
    runs: list[Run] = []
    _collect(soup, source, where, runs)
    kept, end = [], 0
    for run in sorted(runs, key=lambda r: r.start):
        if run.start >= end:  # a run never overlaps another; if recovery ever made one, its text stays as it is
            kept.append(run)
            end = run.end
    return Page(source, kept)


# --- the runs of the tree ------------------------------------------------------------------------------------


_DEEP = "data-seq2seq-too-deep"  # marks, on the parsed tree only, an element at MAX_DEPTH


def _too_deep(soup: Tag) -> None:
    """Mark the elements at depth MAX_DEPTH, so that nothing inside them is translated (iteratively: the tree is
    deeper than a recursive walk may go)."""
    stack = [(soup, 0)]
    while stack:
        node, depth = stack.pop()
        for child in node.children:
            if isinstance(child, Tag):
                if depth + 1 >= MAX_DEPTH:
                    child.attrs[_DEEP] = ""
                else:
                    stack.append((child, depth + 1))


def _translated(tag: Tag) -> bool:
    if _DEEP in tag.attrs:
        return False
    classes = tag.get("class") or []
    classes = classes.split() if isinstance(classes, str) else classes
    return (tag.name not in NOT_TRANSLATED and str(tag.get("translate", "")).strip().lower() != "no"
            and "notranslate" not in classes)


def _kind(node: PageElement) -> str:
    """'text', 'inline' (an element of the run), 'kept' (in the run as it is), 'block' (its own runs inside),
    or 'apart' (ends a run, nothing translated inside)."""
    if isinstance(node, Comment):
        return "kept"
    if isinstance(node, PreformattedString):  # doctype, CDATA, declaration, processing instruction
        return "apart"
    if isinstance(node, NavigableString):
        return "text"
    assert isinstance(node, Tag)
    if not _translated(node):
        return "kept" if node.name in INLINE or node.name in KEPT_INLINE else "apart"
    if node.name in KEPT_INLINE:
        return "kept"
    if node.name in INLINE and all(_kind(child) in ("text", "inline", "kept") for child in node.children):
        return "inline"
    return "block"


def _collect(parent: Tag, source: str, where: SourceMap, runs: list[Run]) -> None:
    """Add the runs of `parent` (a block) and of the blocks inside it, in document order."""
    nodes: list[PageElement] = []
    for child in [*parent.children, None]:
        kind = _kind(child) if child is not None else "end"
        if kind in ("text", "inline", "kept"):
            nodes.append(child)
            continue
        while nodes and _idle(nodes[-1], source, where):  # markup and whitespace at a run's edges stay where they are
            nodes.pop()
        while nodes and _idle(nodes[0], source, where):
            nodes.pop(0)
        if nodes:
            run = _run(nodes, source, where)
            if run is not None:
                runs.append(run)
            nodes = []
        if kind == "block":
            _collect(child, source, where, runs)


def _idle(node: PageElement, source: str, where: SourceMap) -> bool:
    """A node without text of a run: a kept element or comment, whitespace, or a tag the input cut short."""
    if _kind(node) == "kept":
        return True
    return isinstance(node, NavigableString) and (not node.strip() or source.startswith("<", where.extent(node)[0]))


def _run(nodes: list[PageElement], source: str, where: SourceMap) -> Run | None:
    """The run of consecutive nodes, or None when they hold no text (or a position went unrecorded)."""
    text: list[str] = []
    tags: list[InlineTag] = []
    length = 0

    def add(node: PageElement, parent: int | None) -> None:
        nonlocal length
        start, end = where.extent(node)
        kind = _kind(node)
        raw = source[start:end]
        if kind == "text" and not raw.startswith("<"):
            # as a browser reads it (bs4 folds whitespace, and turns `&nosuch;` into "&nosuch");
            # a `</>` that html.parser skips silently sits in the range: bs4's string then
            value = str(node) if "<" in raw else unescape(raw)
            text.append(value)
            length += len(value)
        elif kind in ("text", "kept"):  # text that starts with "<": a tag the input cut short, kept as it is
            tags.append(InlineTag(length, length, parent, source[start:end], ""))
        else:
            assert isinstance(node, Tag)
            opened, close = where.start_tag(node), where.end_tag(node)
            i = len(tags)
            tags.append(InlineTag(length, length, parent, source[opened[0] : opened[1]],
                                  source[close[0] : close[1]] if close else _implicit_close(node, source, opened)))
            for child in node.children:
                add(child, i)
            tags[i].end = length

    try:
        for node in nodes:
            add(node, None)
        start, end = where.extent(nodes[0])[0], where.extent(nodes[-1])[1]
    except KeyError:
        return None
    joined = "".join(text)
    return Run(joined, tags, start, end) if joined.strip() else None


def _implicit_close(tag: Tag, source: str, opened: Range) -> str:
    """The end tag to write for an element whose source has none: none for `<b/>` (which html.parser closes)."""
    return "" if source[opened[0] : opened[1]].endswith("/>") and not tag.contents else f"</{tag.name}>"


# --- a run's translation -------------------------------------------------------------------------------------


def _run_markup(run: Run, targets: list[tuple[str, list[Link] | None]]) -> str:
    """The markup of a run whose sentences translate to `targets`: words, whitespace and inline tags.

    Tags are placed on tokens, not whole words: a word's leading and trailing punctuation are tokens of their
    own, linked to the same kind of token of the target word (or to its core; a word of punctuation only to the
    target word's punctuation), so `<b>world</b>.` keeps its full stop outside the tag, and `<b>world.</b>`
    inside."""
    src_tokens: list[Range] = []
    tgt_tokens: list[Range] = []
    links: list[Link] = []
    chunks: list[str] = []
    src_at = tgt_at = 0
    for k, part in enumerate(run.segmented.parts):
        if k % 2 == 0:  # whitespace between sentences, the same in the translation
            chunks.append(part)
            src_at, tgt_at = src_at + len(part), tgt_at + len(part)
            continue
        text, sentence_links = targets[k // 2]
        sw, tw = _tokens(part, src_at, src_tokens), _tokens(text, tgt_at, tgt_tokens)
        if sentence_links is None:
            sentence_links = diagonal_links(len(sw), len(tw))
        if sw and tw:  # subword counts of words may differ from whitespace's: clamp into the sentence
            for s, t in sentence_links:
                source, target = sw[min(s, len(sw) - 1)], tw[min(t, len(tw) - 1)]
                links += [(i, next(target[k] for k in (*_LIKE[kind], "core", "punct") if k in target))
                          for kind, i in source.items()]
        chunks.append(text)
        src_at, tgt_at = src_at + len(part), tgt_at + len(text)
    target = "".join(chunks)
    words = [target[a:b] for a, b in tgt_tokens]
    edges = [0] + [x for a, b in tgt_tokens for x in (a, b)] + [len(target)]
    gaps = [target[edges[2 * i] : edges[2 * i + 1]] for i in range(len(words) + 1)]
    ranges, sides = place(run.tags, src_tokens, len(words), links)
    return render(words, gaps, [(t.open, t.close) for t in run.tags], [t.parent for t in run.tags], ranges, sides)


def _tokens(text: str, at: int, tokens: list[Range]) -> list[dict[str, int]]:
    """Append the tokens of `text`'s words to `tokens` (characters from `at`); per word, its tokens by kind:
    'lead' and 'trail' punctuation where it has some, and its 'core'; or 'punct' for a word of punctuation only."""
    words = []
    for m in _WORD.finditer(text):
        parts = _PUNCT.fullmatch(m.group())
        assert parts is not None  # every string matches
        kinds = {}
        if parts.group(2):
            for kind in ("lead", "core", "trail"):
                a, b = parts.span(kind)
                if b > a:
                    kinds[kind] = len(tokens)
                    tokens.append((at + m.start() + a, at + m.start() + b))
        else:  # nothing but punctuation: one token
            kinds["punct"] = len(tokens)
            tokens.append((at + m.start(), at + m.end()))
        words.append(kinds)
    return words
