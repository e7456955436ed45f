"""Loading parallel corpora from local folders (text pairs, TSV, JSONL, gzipped or not) and the hub."""

from __future__ import annotations

import gzip
import json
import os
import socket

import pytest

from tests.conftest import ROOT
from training.corpus import Corpus, CorpusError, FilterStats, filter_pairs, load_split, read_lines

MULTI30K = os.path.join(ROOT, "data", "multi30k")


def write(path, text: str | bytes) -> str:
    """Write ``text`` (UTF-8 when a str) to ``path``, gzipped when it ends with .gz."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    with gzip.open(path, "wb") if str(path).endswith(".gz") else open(path, "wb") as f:
        f.write(data)
    return str(path)


@pytest.mark.parametrize("src_name, tgt_name", [("train.de", "train.en"), ("train.de.gz", "train.en.gz")])
def test_text_pairs_plain_and_gzipped(tmp_path, src_name, tgt_name):
    write(tmp_path / src_name, "Ein Hund.\n  Eine Katze  \r\nZwei Männer.\n")
    write(tmp_path / tgt_name, "A dog.\nA cat.\nTwo men.")  # no final newline
    corpus = load_split(str(tmp_path), "train", "de", "en")
    assert corpus.src == ["Ein Hund.", "Eine Katze", "Zwei Männer."]
    assert corpus.tgt == ["A dog.", "A cat.", "Two men."]
    assert corpus.name == f"{tmp_path.name}:train" and len(corpus) == 3


def test_empty_lines_keep_alignment(tmp_path):
    write(tmp_path / "val.de", "eins\n\n\nvier\n   \nsechs\n")
    write(tmp_path / "val.en.gz", "one\ntwo\nthree\nfour\nfive\n\n")
    corpus = load_split(str(tmp_path), "val", "de", "en")
    assert corpus.src == ["eins", "", "", "vier", "", "sechs"]
    assert corpus.tgt == ["one", "two", "three", "four", "five", ""]


def test_nfc_normalization_and_byte_order_mark(tmp_path):
    write(tmp_path / "test.de", "\ufeffCafe\u0301\ne\u0301t\u00e9\n")
    write(tmp_path / "test.en", "cafe\nsummer\n")
    corpus = load_split(str(tmp_path), "test", "de", "en")
    assert corpus.src == ["Caf\u00e9", "\u00e9t\u00e9"]
    assert len(corpus.src[1]) == 3


def test_tsv_fields_are_verbatim(tmp_path):
    write(tmp_path / "train.tsv", 'Hallo\tHello\n007\tNA\n"zitiert\t\n\tnull\ne\u0301\tx\n')
    corpus = load_split(str(tmp_path), "train", "de", "en")
    assert corpus.src == ["Hallo", "007", '"zitiert', "", "\u00e9"]
    assert corpus.tgt == ["Hello", "NA", "", "null", "x"]


def test_tsv_gz_wrong_field_count_names_file_and_line(tmp_path):
    path = write(tmp_path / "train.tsv.gz", "a\tb\nc\td\te\n")
    with pytest.raises(CorpusError, match="line 2 has 3 tab-separated fields") as err:
        load_split(str(tmp_path), "train", "de", "en")
    assert path in str(err.value)


def test_jsonl_flat_and_translation_records(tmp_path):
    records = [
        {"de": "Haus", "en": "house", "id": 1},
        {"translation": {"de": "Baum", "en": "tree", "fr": "arbre"}, "id": "x"},
        {"de": "", "en": "empty"},
    ]
    write(tmp_path / "dev.jsonl.gz", "".join(json.dumps(r) + "\n" for r in records))
    corpus = load_split(str(tmp_path), "dev", "en", "de")
    assert corpus.src == ["house", "tree", "empty"]
    assert corpus.tgt == ["Haus", "Baum", ""]


@pytest.mark.parametrize(
    "line, message",
    [('{"de": "Haus"}', "line 2 has no string for 'en'"), ("{not json", "line 2 is not valid JSON")],
)
def test_jsonl_bad_line_names_file_and_line(tmp_path, line, message):
    path = write(tmp_path / "train.jsonl", '{"de": "a", "en": "b"}\n' + line + "\n")
    with pytest.raises(CorpusError, match=message) as err:
        load_split(str(tmp_path), "train", "de", "en")
    assert path in str(err.value)


def test_mismatched_line_counts_name_both_files(tmp_path):
    src = write(tmp_path / "train.de", "a\nb\nc\n")
    tgt = write(tmp_path / "train.en.gz", "a\nb\n")
    with pytest.raises(CorpusError) as err:
        load_split(str(tmp_path), "train", "de", "en")
    message = str(err.value)
    assert src in message and tgt in message
    assert "3 lines" in message and "has 2" in message


@pytest.mark.parametrize("name", ["train.de", "train.de.gz"])
def test_invalid_utf8_names_file_and_line(tmp_path, name):
    write(tmp_path / name, b"one\ntwo\nthr\xffee\nfour\n")
    write(tmp_path / "train.en", "1\n2\n3\n4\n")
    with pytest.raises(CorpusError, match="line 3") as err:
        load_split(str(tmp_path), "train", "de", "en")
    assert name in str(err.value) and "UTF-8" in str(err.value)


def test_carriage_return_inside_a_line_is_rejected(tmp_path):
    # datasets opens text with universal newlines and would read this line as two
    write(tmp_path / "train.de", "a\nb\rc\n")
    write(tmp_path / "train.en", "a\nb\n")
    with pytest.raises(CorpusError, match=r"train.de: line 2 contains a carriage return"):
        load_split(str(tmp_path), "train", "de", "en")


def test_missing_split_lists_available_splits(tmp_path):
    write(tmp_path / "train.de.gz", "a\n")
    write(tmp_path / "train.en.gz", "a\n")
    write(tmp_path / "val.tsv", "a\tb\n")
    write(tmp_path / "README.md", "# notes\n")
    with pytest.raises(CorpusError) as err:
        load_split(str(tmp_path), "test", "de", "en")
    message = str(err.value)
    assert "test.de[.gz]" in message and "test.tsv[.gz]" in message and "test.jsonl[.gz]" in message
    assert "splits there: train (de, en); val (tsv)" in message


def test_missing_language_lists_available_splits(tmp_path):
    write(tmp_path / "train.de", "a\n")
    write(tmp_path / "train.en", "a\n")
    with pytest.raises(CorpusError, match=r"for de-fr .*train \(de, en\)"):
        load_split(str(tmp_path), "train", "de", "fr")


def test_plain_and_gz_of_the_same_file_is_ambiguous(tmp_path):
    for name in ("train.de", "train.de.gz", "train.en"):
        write(tmp_path / name, "a\n")
    with pytest.raises(CorpusError, match="both .* exist"):
        load_split(str(tmp_path), "train", "de", "en")


def test_path_that_does_not_exist(tmp_path):
    with pytest.raises(CorpusError, match="no such folder"):
        load_split(str(tmp_path / "nowhere"), "train", "de", "en")


def test_file_instead_of_folder(tmp_path):
    path = write(tmp_path / "train.de", "a\n")
    with pytest.raises(CorpusError, match="is a file"):
        load_split(path, "train", "de", "en")


def test_hub_unreachable_is_a_clear_error(monkeypatch, tmp_path):
    import datasets

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # fail at once rather than retrying for ~20 s
    offline_before = datasets.config.HF_HUB_OFFLINE
    with pytest.raises(CorpusError) as err:
        load_split("nobody/no-such-corpus", "train", "de", "en", cache_dir=str(tmp_path))
    message = str(err.value)
    assert "hub could not be reached" in message and "Local folders are accepted" in message
    assert "Traceback" not in message and err.value.__cause__ is None
    assert datasets.config.HF_HUB_OFFLINE == offline_before  # the switch is restored


@pytest.mark.parametrize("names", [("train.de", "train.en"), ("train.tsv",), ("train.jsonl",)])
def test_empty_files_give_an_empty_corpus(tmp_path, names):
    for name in names:
        write(tmp_path / name, "")
    corpus = load_split(str(tmp_path), "train", "de", "en")
    assert corpus.src == [] and corpus.tgt == []


def fake_hub(monkeypatch, result: object) -> list[tuple]:
    """Replace ``datasets.load_dataset`` by one that returns ``result`` (or raises it); records the calls."""
    import datasets

    calls: list[tuple] = []

    def load_dataset(path, split, cache_dir=None):
        calls.append((path, split, cache_dir))
        if isinstance(result, Exception):
            raise result
        return result

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls


def test_hub_dataset_with_translation_column(monkeypatch):
    import datasets

    rows = [{"de": " Haus ", "en": "house"}, {"de": "Cafe\u0301", "en": "cafe"}]
    calls = fake_hub(monkeypatch, datasets.Dataset.from_dict({"translation": rows, "id": ["0", "1"]}))
    corpus = load_split("someone/corpus", "validation", "en", "de")
    assert calls == [("someone/corpus", "validation", None)]
    assert corpus.src == ["house", "cafe"] and corpus.tgt == ["Haus", "Caf\u00e9"]
    assert corpus.name == "someone/corpus:validation"


def test_hub_dataset_with_language_columns(monkeypatch):
    import datasets

    fake_hub(monkeypatch, datasets.Dataset.from_dict({"de": ["Haus"], "en": ["house"]}))
    assert load_split("someone/corpus", "test", "de", "en").tgt == ["house"]


def test_hub_dataset_without_the_languages(monkeypatch):
    import datasets

    fake_hub(monkeypatch, datasets.Dataset.from_dict({"text": ["a"]}))
    with pytest.raises(CorpusError, match=r"has columns \['text'\]; expected 'translation'"):
        load_split("someone/corpus", "test", "de", "en")


def test_hub_unknown_split_is_a_corpus_error(monkeypatch):
    fake_hub(monkeypatch, ValueError("Unknown split \"dev\". Should be one of ['train']."))
    with pytest.raises(CorpusError, match="someone/corpus.*split 'dev'.*Unknown split"):
        load_split("someone/corpus", "dev", "de", "en")


def test_local_folder_makes_no_network_call(monkeypatch, tmp_path):
    calls: list[tuple] = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    write(tmp_path / "train.de", "a\n")
    write(tmp_path / "train.en", "b\n")
    assert load_split(str(tmp_path), "train", "de", "en").tgt == ["b"]
    assert calls == []


def test_cache_dir_is_used_and_gives_the_same_result(tmp_path):
    data, cache = tmp_path / "data", tmp_path / "cache"
    data.mkdir()
    write(data / "train.de", "a\n\nc\n")
    write(data / "train.en", "x\ny\nz\n")
    first = load_split(str(data), "train", "de", "en", cache_dir=str(cache))
    assert os.listdir(cache)
    assert load_split(str(data), "train", "de", "en", cache_dir=str(cache)) == first
    assert first == load_split(str(data), "train", "de", "en")


def test_read_lines_numbers_lines_and_strips_breaks(tmp_path):
    path = write(tmp_path / "x.gz", "a\r\n\nb")
    assert list(read_lines(path)) == [(1, "a"), (2, ""), (3, "b")]


def test_read_lines_corrupt_gzip(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(b"this is not gzip")
    with pytest.raises(CorpusError, match=r"x\.gz: cannot read"):
        list(read_lines(str(path)))


def test_corpus_sides_must_align():
    with pytest.raises(CorpusError, match="2 source but 1 target"):
        Corpus(["a", "b"], ["c"], "toy")


def test_filter_pairs_counts_each_reason():
    src = ["a b", "", "a b c d e f", "a", "one two three four", "x y"]
    tgt = ["c d", "e", "f", "a b c d", "uno dos tres", "   "]
    kept, stats = filter_pairs(Corpus(src, tgt, "toy"), max_len=5, max_ratio=3.0)
    assert kept.src == ["a b", "one two three four"] and kept.tgt == ["c d", "uno dos tres"]
    assert kept.name == "toy"
    assert (stats.kept, stats.empty, stats.too_long, stats.bad_ratio) == (2, 2, 1, 1)
    assert stats.total == len(src)
    assert str(stats) == (
        "kept 2 of 6 pairs (dropped: 2 empty, 1 over 5 tokens, 1 with length ratio over 3.0)"
    )


def test_filter_pairs_uses_length_fn():
    corpus = Corpus(["abcdef", "ab"], ["abc", "abcd"], "toy")
    kept, stats = filter_pairs(corpus, max_len=5, max_ratio=10.0, length_fn=len)
    assert kept.src == ["ab"] and stats.too_long == 1


def test_filter_stats_str_uses_thousands_separators():
    stats = FilterStats(kept=28_950, empty=3, too_long=40, bad_ratio=7, max_len=100, max_ratio=3.0)
    assert str(stats) == (
        "kept 28,950 of 29,000 pairs (dropped: 3 empty, 40 over 100 tokens, 7 with length ratio over 3.0)"
    )


def test_real_multi30k_validation_split():
    corpus = load_split(MULTI30K, "val", "de", "en")
    assert len(corpus) == 1014 and corpus.name == "multi30k:val"
    assert all(corpus.src) and all(corpus.tgt)
    assert corpus.src[0].startswith("Eine Gruppe von Männern") and corpus.tgt[0].startswith("A group of men")


def test_hub_multi30k():
    """The same corpus from the Hugging Face hub (data/README.md); skips, saying why, when the hub is unreachable."""
    try:
        socket.create_connection(("huggingface.co", 443), timeout=3).close()
    except OSError as exc:
        pytest.skip(f"the Hugging Face hub cannot be reached from here ({exc})")
    try:
        corpus = load_split("bentrevett/multi30k", "validation", "de", "en")
    except CorpusError as exc:
        if "could not be reached" in str(exc):
            pytest.skip(f"the Hugging Face hub cannot be reached from here ({exc})")
        raise
    local = load_split(MULTI30K, "val", "de", "en")
    assert len(corpus) == len(local) == 1014
    assert corpus.src[0] == local.src[0] and corpus.tgt[0] == local.tgt[0]
