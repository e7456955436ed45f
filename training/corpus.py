"""Parallel corpora: load one split from a local folder or the Hugging Face hub, check it, filter pairs.

A local folder holds, for split SPLIT and languages xx -> yy (any file may be gzipped, ``NAME.gz``):

- ``SPLIT.xx`` and ``SPLIT.yy``: one sentence a line; line i of one translates line i of the other;
- ``SPLIT.tsv``: ``source<TAB>target`` a line, no header, no quoting;
- ``SPLIT.jsonl``: one object a line, ``{"xx": ..., "yy": ...}`` or ``{"translation": {"xx": ..., "yy": ...}}``.

Anything that is not an existing local path is taken as a hub dataset id. Every local file is checked in one
streaming pass (UTF-8, fields, line counts) before ``datasets`` reads it, so that an error names the file and
line rather than surfacing as an Arrow traceback, and the row count ``datasets`` returns is checked against it.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import json
import os
import tempfile
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

# File suffixes that are never a language code, left out when listing the splits a folder holds.
_NOT_LANGS = frozenset({"md", "txt", "rst", "json", "yaml", "yml", "py", "sh", "cfg", "toml"})

# How the csv builder (pandas) reads SPLIT.tsv: no header, no quoting, no NA parsing, so every field is
# taken verbatim ("NA", "007" and '"' stay strings); "utf-8-sig" drops a byte-order mark.
_TSV_OPTIONS: dict[str, Any] = {
    "delimiter": "\t",
    "header": None,
    "column_names": ["src", "tgt"],
    "quoting": csv.QUOTE_NONE,
    "keep_default_na": False,
    "na_filter": False,
    "encoding": "utf-8-sig",
}


class CorpusError(ValueError):
    """A corpus that cannot be found, read or aligned; the message names the file (and line)."""


@dataclass
class Corpus:
    """Aligned sentence pairs: ``tgt[i]`` translates ``src[i]``."""

    src: list[str]
    tgt: list[str]
    name: str

    def __post_init__(self) -> None:
        if len(self.src) != len(self.tgt):
            raise CorpusError(f"{self.name}: {len(self.src):,} source but {len(self.tgt):,} target sentences")

    def __len__(self) -> int:
        return len(self.src)


@dataclass
class FilterStats:
    """What :func:`filter_pairs` kept and why it dropped the rest (each pair counted once)."""

    kept: int = 0
    empty: int = 0
    too_long: int = 0
    bad_ratio: int = 0
    max_len: int = 0
    max_ratio: float = 0.0

    @property
    def total(self) -> int:
        return self.kept + self.empty + self.too_long + self.bad_ratio

    def __str__(self) -> str:
        return (
            f"kept {self.kept:,} of {self.total:,} pairs (dropped: {self.empty:,} empty, "
            f"{self.too_long:,} over {self.max_len} tokens, {self.bad_ratio:,} with length ratio over {self.max_ratio})"
        )


def _word_count(text: str) -> int:
    return len(text.split())


def filter_pairs(
    corpus: Corpus, max_len: int, max_ratio: float, length_fn: Callable[[str], int] = _word_count
) -> tuple[Corpus, FilterStats]:
    """Drop pairs with an empty side, a side over ``max_len``, or a length ratio over ``max_ratio``.

    :param length_fn: length of one sentence; whitespace words by default, or a subword counter.
    """
    stats = FilterStats(max_len=max_len, max_ratio=max_ratio)
    src: list[str] = []
    tgt: list[str] = []
    for s, t in zip(corpus.src, corpus.tgt):
        if not s.strip() or not t.strip():
            stats.empty += 1
            continue
        s_len, t_len = length_fn(s), length_fn(t)
        if max(s_len, t_len) > max_len:
            stats.too_long += 1
        elif max(s_len, t_len) / max(min(s_len, t_len), 1) > max_ratio:
            stats.bad_ratio += 1
        else:
            src.append(s)
            tgt.append(t)
    stats.kept = len(src)
    return Corpus(src, tgt, corpus.name), stats


def read_lines(path: str) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)``, 1-based, from a plain or gzipped UTF-8 file, without the line break.

    Lines end at ``\\n`` only (a ``\\r`` before it is removed); a byte-order mark on line 1 is dropped.
    :raises CorpusError: naming the file and the line of the first undecodable line, or an unreadable file.
    """
    number = 0
    try:
        with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
            for number, raw in enumerate(f, 1):
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise CorpusError(
                        f"{path}: line {number} is not valid UTF-8 ({e.reason} at byte {e.start} of the line)"
                    ) from None
                if number == 1:
                    text = text.removeprefix("\ufeff")
                yield number, text.removesuffix("\n").removesuffix("\r")
    except (OSError, EOFError) as e:  # missing file, truncated or corrupt gzip
        raise CorpusError(f"{path}: cannot read past line {number}: {e}") from None


def _check_lines(path: str, fields: int | None) -> int:
    """Check a text (``fields=None``) or TSV file line by line; return its number of lines."""
    count = 0
    for count, text in read_lines(path):
        # datasets opens text with universal newlines, so a lone \r would split a line and misalign pairs.
        if "\r" in text:
            raise CorpusError(f"{path}: line {count} contains a carriage return (\\r) inside the line")
        found = text.count("\t") + 1
        if fields is not None and found != fields:
            raise CorpusError(f"{path}: line {count} has {found} tab-separated fields, expected {fields}")
    return count


def _pick(record: object, lang: str) -> str | None:
    """The sentence for ``lang`` in a record, flat (``{"de": ...}``) or hub style (``{"translation": {...}}``)."""
    if not isinstance(record, dict):
        return None
    inner = record.get("translation")
    value = inner.get(lang) if isinstance(inner, dict) and lang in inner else record.get(lang)
    return value if isinstance(value, str) else None


def _check_jsonl(path: str, langs: tuple[str, str]) -> int:
    """Check that every line is a JSON object holding a string for both languages; return the line count."""
    count = 0
    for count, text in read_lines(path):
        try:
            record = json.loads(text)
        except json.JSONDecodeError as e:
            raise CorpusError(f"{path}: line {count} is not valid JSON ({e.msg})") from None
        missing = [lang for lang in langs if _pick(record, lang) is None]
        if missing:
            raise CorpusError(
                f"{path}: line {count} has no string for {' and '.join(map(repr, missing))} "
                f"(expected keys {langs[0]!r} and {langs[1]!r}, at top level or under 'translation')"
            )
    return count


def _env_flag(*names: str) -> bool:
    return any(os.environ.get(name, "").upper() in ("1", "ON", "YES", "TRUE") for name in names)


@contextlib.contextmanager
def _hub_mode(offline: bool, quiet: bool) -> Iterator[None]:
    """Set ``datasets``' offline switch (and, when ``quiet``, hide its progress bars) for one call.

    ``datasets`` and ``huggingface_hub`` read ``HF_HUB_OFFLINE`` once, at import, and ``load_dataset`` pings a
    download counter over the network even for local files unless offline, so the switches are set here.
    """
    import datasets
    from huggingface_hub import constants

    saved = (datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE, datasets.is_progress_bar_enabled())
    datasets.config.HF_HUB_OFFLINE = constants.HF_HUB_OFFLINE = offline or saved[0]
    if quiet:
        datasets.disable_progress_bars()
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE = saved[:2]
        if quiet and saved[2]:
            datasets.enable_progress_bars()


def _read_local(
    builder: str, path: str, lines: int, cache_dir: str | None, **options: Any
) -> list[dict[str, Any]]:
    """Rows of one local file read by a ``datasets`` packaged builder; checks that no line was lost."""
    import datasets

    if lines == 0:  # the csv builder fails on an empty file; there is nothing to read anyway
        return []
    with _hub_mode(offline=True, quiet=True), contextlib.ExitStack() as stack:
        cache = cache_dir or stack.enter_context(tempfile.TemporaryDirectory(prefix="corpus-"))
        ds = datasets.load_dataset(
            builder, data_files=path, split="train", cache_dir=cache, keep_in_memory=True, **options
        )
        rows = ds.to_list()  # materialized before a temporary cache is removed
    if len(rows) != lines:
        raise CorpusError(f"{path}: has {lines:,} lines but datasets read {len(rows):,} rows")
    return rows


def _pairs(records: Iterable[object], langs: tuple[str, str], where: str) -> tuple[list[str], list[str]]:
    src: list[str] = []
    tgt: list[str] = []
    for i, record in enumerate(records):
        s, t = _pick(record, langs[0]), _pick(record, langs[1])
        if s is None or t is None:
            raise CorpusError(f"{where}: row {i} has no string for {langs[0]!r} and {langs[1]!r}")
        src.append(s)
        tgt.append(t)
    return src, tgt


def _find(folder: str, stem: str) -> str | None:
    """``folder/stem`` or ``folder/stem.gz``, whichever exists; both is ambiguous."""
    found = [p for p in (os.path.join(folder, stem), os.path.join(folder, stem + ".gz")) if os.path.isfile(p)]
    if len(found) == 2:
        raise CorpusError(f"both {found[0]} and {found[1]} exist; keep one")
    return found[0] if found else None


def _splits_in(folder: str) -> str:
    """The splits a folder holds with their languages or formats, e.g. ``train (de, en); val (tsv)``."""
    kinds: dict[str, set[str]] = {}
    for entry in os.listdir(folder):
        split, _, kind = entry.removesuffix(".gz").rpartition(".")
        if split and not entry.startswith(".") and kind not in _NOT_LANGS:
            kinds.setdefault(split, set()).add(kind)
    return "; ".join(f"{split} ({', '.join(sorted(k))})" for split, k in sorted(kinds.items())) or "none"


def _load_folder(
    folder: str, split: str, langs: tuple[str, str], cache_dir: str | None
) -> tuple[list[str], list[str]]:
    src_path, tgt_path = _find(folder, f"{split}.{langs[0]}"), _find(folder, f"{split}.{langs[1]}")
    if src_path and tgt_path:
        src_lines, tgt_lines = _check_lines(src_path, None), _check_lines(tgt_path, None)
        if src_lines != tgt_lines:
            raise CorpusError(
                f"{src_path} has {src_lines:,} lines but {tgt_path} has {tgt_lines:,}; "
                "line i of one must translate line i of the other"
            )
        # "utf-8-sig" drops a byte-order mark; the text builder keeps empty lines, so lines stay aligned.
        src = _read_local("text", src_path, src_lines, cache_dir, encoding="utf-8-sig")
        tgt = _read_local("text", tgt_path, tgt_lines, cache_dir, encoding="utf-8-sig")
        return [r["text"] for r in src], [r["text"] for r in tgt]
    if tsv := _find(folder, f"{split}.tsv"):
        import datasets

        features = datasets.Features({"src": datasets.Value("string"), "tgt": datasets.Value("string")})
        rows = _read_local("csv", tsv, _check_lines(tsv, 2), cache_dir, features=features, **_TSV_OPTIONS)
        return [r["src"] for r in rows], [r["tgt"] for r in rows]
    if jsonl := _find(folder, f"{split}.jsonl"):
        return _pairs(_read_local("json", jsonl, _check_jsonl(jsonl, langs), cache_dir), langs, jsonl)
    raise CorpusError(
        f"no split {split!r} for {langs[0]}-{langs[1]} in {folder}: looked for {split}.{langs[0]}[.gz] with "
        f"{split}.{langs[1]}[.gz], {split}.tsv[.gz] and {split}.jsonl[.gz]; splits there: {_splits_in(folder)}"
    )


def _load_hub(
    data: str, split: str, langs: tuple[str, str], cache_dir: str | None
) -> tuple[list[str], list[str]]:
    import datasets

    try:
        with _hub_mode(offline=_env_flag("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"), quiet=False):
            ds = datasets.load_dataset(data, split=split, cache_dir=cache_dir)
    except ConnectionError as e:
        raise CorpusError(
            f"{data!r} is not a local folder, so it was taken as a Hugging Face hub dataset id, but the hub "
            f"could not be reached ({e}). Local folders are accepted: SPLIT.LANG[.gz] pairs, SPLIT.tsv[.gz] or "
            "SPLIT.jsonl[.gz]"
        ) from None
    except FileNotFoundError as e:
        raise CorpusError(
            f"{data!r} is neither a local folder nor a dataset on the Hugging Face hub ({e})"
        ) from None
    except ValueError as e:  # unknown split, missing config name
        raise CorpusError(f"hub dataset {data!r}, split {split!r}: {e}") from None
    columns = [c for c in ("translation", *langs) if c in ds.column_names]
    if not columns:
        raise CorpusError(
            f"hub dataset {data!r} has columns {ds.column_names}; expected 'translation' with keys "
            f"{langs[0]!r} and {langs[1]!r}, or columns {langs[0]!r} and {langs[1]!r}"
        )
    return _pairs(ds.select_columns(columns), langs, f"{data}:{split}")


def _clean(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


def load_split(data: str, split: str, src_lang: str, tgt_lang: str, cache_dir: str | None = None) -> Corpus:
    """Load one split as NFC-normalized, stripped sentence pairs (empty lines kept, so pairs stay aligned).

    :param data: a local folder (see the module docstring) or a Hugging Face hub dataset id.
    :param cache_dir: ``datasets`` cache; None reads local files through a temporary one and uses the default
        hub cache for hub datasets.
    :raises CorpusError: a missing split, unreadable or misaligned file, or an unreachable hub.
    """
    path = os.path.expanduser(data)
    langs = (src_lang, tgt_lang)
    if os.path.isdir(path):
        name = os.path.basename(os.path.abspath(path))
        src, tgt = _load_folder(path, split, langs, cache_dir)
    elif os.path.exists(path):
        raise CorpusError(
            f"{data} is a file; pass the folder that holds SPLIT.LANG, SPLIT.tsv or SPLIT.jsonl files"
        )
    elif path.startswith((".", "/", "~")) or path.count("/") > 1 or "\\" in path:
        raise CorpusError(f"no such folder: {data}")
    else:
        name = data
        src, tgt = _load_hub(data, split, langs, cache_dir)
    return Corpus([_clean(s) for s in src], [_clean(t) for t in tgt], f"{name}:{split}")
