"""Parse HTML with BeautifulSoup's `html.parser` builder and note where in the source each node lies.

`parse(source)` gives the tree (bs4's, with its recovery from broken markup: an element left open is closed by
an enclosing element's end tag, a stray end tag is ignored; and, as browsers build it, the start tags that
implicitly close an open `p`, `li`, `dd`, `dt`, table cell, row or section, heading or option close it, as in a
fragment without a doctype) and a
`SourceMap` of character ranges: each string's
and comment's, each element's start tag, and its end tag where the source has one. service/html.py splices
translations into the source by them, so nothing outside the translated text is serialized again.

html.parser reports the line and column where each event (a tag, a string, a comment) starts, and each event
starts where the one before it ended, so an event ends where the next one starts.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning, NavigableString, PageElement, ParserRejectedMarkup, Tag
from bs4.builder import HTMLParserTreeBuilder
from bs4.builder._htmlparser import BeautifulSoupHTMLParser

Range = tuple[int, int]  # characters [start, end) of the source

warnings.filterwarnings("ignore", category=MarkupResemblesLocatorWarning)  # "index.html" is a page here, too


@dataclass
class SourceMap:
    """Where the nodes of one parsed page lie in its source."""

    ranges: dict[int, Range]  # id(string or comment) → its characters; -id(tag) → its start tag; id(tag) → end tag
    deepest: int  # the most elements open at once

    def start_tag(self, tag: Tag) -> Range:
        return self.ranges[-id(tag)]

    def end_tag(self, tag: Tag) -> Range | None:
        return self.ranges.get(id(tag))

    def extent(self, node: PageElement) -> Range:
        """All the characters of a node, its markup included. :raises KeyError: a node not seen while parsing"""
        if not isinstance(node, Tag):
            return self.ranges[id(node)]
        start, end = self.start_tag(node)
        closed = self.end_tag(node)
        if closed is not None:
            return start, closed[1]
        if node.contents:  # the end tag is implicit: the element ends with its last child
            end = max(end, self.extent(node.contents[-1])[1])
        return start, end


def parse(source: str) -> tuple[BeautifulSoup, SourceMap]:
    """The tree of an HTML fragment or document, and where its nodes lie in `source`.

    :raises bs4.ParserRejectedMarkup: markup html.parser gives up on
    """
    builder = _Builder()
    soup = BeautifulSoup(source, builder=builder)
    return soup, builder.map


# HTML's tree construction ("in body", WHATWG HTML §13.2.6.4.7) closes some elements the source left open when
# certain start tags come: `<p>one<div>` closes the p, `<li>a <b>b<li>c` the first li with the b in it. html.parser
# would nest them instead, and a sentence would end inside an inline element. Each rule: the start tags it
# applies to, the elements it closes (the innermost open one, with everything inside it), and the elements
# that end the search: a scope's boundary (a p inside a table cell is not closed by a div inside that cell), or
# for li, dd and dt any "special" element but address, div and p (`<li>a<section><li>b` nests the second li).
_SCOPE = frozenset({"applet", "caption", "html", "table", "td", "th", "marquee", "object", "template"})
_SPECIAL = frozenset({
    "address", "applet", "area", "article", "aside", "base", "basefont", "bgsound", "blockquote", "body", "br",
    "button", "caption", "center", "col", "colgroup", "dd", "details", "dir", "div", "dl", "dt", "embed",
    "fieldset", "figcaption", "figure", "footer", "form", "frame", "frameset", "h1", "h2", "h3", "h4", "h5", "h6",
    "head", "header", "hgroup", "hr", "html", "iframe", "img", "input", "keygen", "li", "link", "listing", "main",
    "marquee", "menu", "meta", "nav", "noembed", "noframes", "noscript", "object", "ol", "p", "param",
    "plaintext", "pre", "script", "search", "section", "select", "source", "style", "summary", "table", "tbody",
    "td", "template", "textarea", "tfoot", "th", "thead", "title", "tr", "track", "ul", "wbr", "xmp",
})
# `table` closes a p only in a document with a doctype (standards mode); a fragment is in quirks mode, where it
# does not, so it is not here
_CLOSES_P = frozenset({
    "address", "article", "aside", "blockquote", "center", "details", "dialog", "dir", "div", "dl", "fieldset",
    "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "li",
    "dd", "dt", "listing", "main", "menu", "nav", "ol", "p", "plaintext", "pre", "search", "section", "summary",
    "ul", "xmp",
})
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_TABLE_SCOPE = frozenset({"html", "table", "template"})
_RULES: list[tuple[frozenset[str], frozenset[str], frozenset[str]]] = [
    (frozenset({"li"}), frozenset({"li"}), _SPECIAL - {"address", "div", "p"}),
    (frozenset({"dd", "dt"}), frozenset({"dd", "dt"}), _SPECIAL - {"address", "div", "p"}),
    (_CLOSES_P, frozenset({"p"}), _SCOPE | {"button"}),
    (frozenset({"td", "th"}), frozenset({"td", "th"}), _TABLE_SCOPE | {"tr"}),
    (frozenset({"tr"}), frozenset({"tr"}), _TABLE_SCOPE | {"thead", "tbody", "tfoot"}),
    (frozenset({"thead", "tbody", "tfoot"}), frozenset({"thead", "tbody", "tfoot"}), _TABLE_SCOPE),
]
# closed only when it is the innermost open element: a heading by a heading; an option by an option or an
# optgroup, and an optgroup by an optgroup ("in select")
_CLOSES_CURRENT = {**{h: (_HEADINGS,) for h in _HEADINGS}, "option": (frozenset({"option"}),),
                   "optgroup": (frozenset({"option"}), frozenset({"optgroup"}))}


class _Parser(BeautifulSoupHTMLParser):
    """bs4's driver of html.parser, noting the ranges of `SourceMap` as it goes."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.ranges: dict[int, Range] = {}
        self.lines: list[int] = [0]  # offset of each line's first character (getpos() counts lines from 1)
        self.size = 0
        self.data_at: int | None = None  # where the string being gathered began
        self.ending: list[int] = []  # keys of `ranges` that end where the next event starts
        self.last_start = -1  # where the last start tag began
        self.deepest = 0

    def feed(self, data: str) -> None:
        self.lines += [m.end() for m in re.finditer("\n", data)]
        self.size += len(data)
        super().feed(data)

    def close(self) -> None:
        # what is left is a construct the input cut short (`<b`, `<p class="x`), which html.parser now reads as
        # text: a string of its own, so that it can be told apart (it starts with "<")
        self._event(self._pos())
        super().close()
        self._event(self.size)

    def _pos(self) -> int:
        line, column = self.getpos()
        return self.lines[line - 1] + column

    def _ended(self, at: int) -> None:
        """Something starts at `at`: the markup before it ends there."""
        for key in self.ending:
            self.ranges[key] = (self.ranges[key][0], at)
        self.ending = []

    def _last_child(self) -> PageElement | None:
        contents = self.soup.currentTag.contents
        return contents[-1] if contents else None

    def _event(self, at: int) -> None:
        """Markup starts at `at`: the string gathered before it is complete (bs4 adds it to the tree now)."""
        self._ended(at)
        if self.data_at is not None:
            self.soup.endData()
            node = self._last_child()
            if isinstance(node, NavigableString):
                self.ranges[id(node)] = (self.data_at, at)
            self.data_at = None

    def _markup(self, handler: object, data: str) -> None:
        """A comment, declaration or processing instruction: bs4 adds it; it ends where the next event starts."""
        at = self._pos()
        self._event(at)
        handler(data)  # type: ignore[operator]
        node = self._last_child()
        if node is not None and id(node) not in self.ranges:
            self.ranges[id(node)] = (at, at)
            self.ending.append(id(node))

    def handle_starttag(self, name: str, attrs: list[tuple[str, str | None]], handle_empty_element: bool = True
                        ) -> None:
        at = self._pos()
        self._event(at)
        text = self.get_starttag_text() or ""
        self.last_start = at
        self._close_implied(name)
        super().handle_starttag(name, attrs, handle_empty_element)
        self.deepest = max(self.deepest, len(self.soup.tagStack) - 1)
        for tag in (self.soup.currentTag, self._last_child()):  # the tag is open, or closed at once (<br>)
            if isinstance(tag, Tag) and tag.name == name and -id(tag) not in self.ranges:
                self.ranges[-id(tag)] = (at, at + len(text))
                break

    def _close_implied(self, name: str) -> None:
        """Close what the start tag `name` implicitly ends (`_RULES`); those elements keep no end tag of theirs
        in the source map, so each ends with its last child."""
        for starts, closes, boundary in _RULES:
            if name not in starts:
                continue
            for tag in reversed(self.soup.tagStack[1:]):
                if tag.name in closes:
                    BeautifulSoupHTMLParser.handle_endtag(self, tag.name)
                    break
                if tag.name in boundary:
                    break
        for closes in _CLOSES_CURRENT.get(name, ()):  # in order: <optgroup> closes an <option>, then an <optgroup>
            current = self.soup.currentTag
            if current is not self.soup and current.name in closes:
                BeautifulSoupHTMLParser.handle_endtag(self, current.name)

    def handle_endtag(self, name: str, check_already_closed: bool = True) -> None:
        at = self._pos()
        if at != self.last_start:  # an end tag of the source, not the one bs4 sends itself for <br> or <b/>
            self._event(at)
            for tag in reversed(self.soup.tagStack[1:]):  # bs4 closes the innermost open element of that name
                if tag.name == name:
                    self.ranges[id(tag)] = (at, at)
                    self.ending.append(id(tag))
                    break
        super().handle_endtag(name, check_already_closed)

    def handle_data(self, data: str) -> None:
        if self.data_at is None:
            self.data_at = self._pos()
            self._ended(self.data_at)
        super().handle_data(data)

    def handle_comment(self, data: str) -> None:
        self._markup(super().handle_comment, data)

    def handle_decl(self, data: str) -> None:
        self._markup(super().handle_decl, data)

    def unknown_decl(self, data: str) -> None:
        self._markup(super().unknown_decl, data)

    def handle_pi(self, data: str) -> None:
        self._markup(super().handle_pi, data)


class _Builder(HTMLParserTreeBuilder):
    """bs4's html.parser builder with `_Parser` as its driver; `map` is the last page's."""

    def feed(self, markup: object) -> None:
        assert isinstance(markup, str)  # bs4 hands this builder text (it decodes bytes first)
        parser = _Parser(self.soup, *self.parser_args[0], **self.parser_args[1])
        try:
            parser.feed(markup)
            parser.close()
        except AssertionError as exc:  # html.parser's way of giving up (a broken declaration), as bs4 reads it
            raise ParserRejectedMarkup(exc) from None
        parser.already_closed_empty_element = []
        self.map = SourceMap(parser.ranges, parser.deepest)
