"""Text in, text out (seq2seq/translator.py): the artifact translates as the eager model, batching changes
nothing, bad options and the artifact's errors reach the caller as ValueError."""

import pytest
import sentencepiece as spm

from seq2seq import export
from seq2seq.search import Search
from seq2seq.translator import SearchOptions, Translator, script_value_error
from tests.conftest import tiny_model


def exported(tmp_path, spm_bytes: bytes, **overrides) -> tuple[object, Translator]:
    """A tiny untrained model over the shared SentencePiece model, and the translator of its artifact."""
    V = spm.SentencePieceProcessor(model_proto=spm_bytes).get_piece_size()
    model = tiny_model(src_vocab=V, tgt_vocab=V, **overrides)
    path = tmp_path / "model.pt"
    export.save(model, str(path), spm_bytes, spm_bytes, {"src_lang": "de", "tgt_lang": "en"})
    return model, Translator.load(str(path))


def test_translator_on_the_artifact_equals_the_eager_model(tmp_path, spm_bytes):
    model, loaded = exported(tmp_path, spm_bytes, seed=3, cell="gru", attention="general")
    eager = Translator(Search(model).eval(), loaded.meta, loaded.src_tok, loaded.tgt_tok)
    lines = ["der hund spielt im park", "", "eine katze", "ein mann läuft auf der frau " * 3, "  "]
    opts = SearchOptions(beam_size=3, n_best=2)
    a, b = loaded.translate(lines, opts), eager.translate(lines, opts)
    assert [[h.text for h in t.hypotheses] for t in a] == [[h.text for h in t.hypotheses] for t in b]
    assert a[1].hypotheses == [] and a[4].hypotheses == []  # empty lines are not decoded
    assert len(a[0].hypotheses) == 2
    # Batching never changes a translation: all at once equals one by one.
    one_by_one = [loaded.translate([line], opts)[0].text for line in lines]
    assert [t.text for t in a] == one_by_one
    with_alignment = loaded.translate(lines[:1], opts, with_alignment=True)[0].hypotheses[0]
    assert len(with_alignment.alignment) == len(with_alignment.tokens) + 1
    assert all(abs(sum(row) - 1) < 1e-4 for row in with_alignment.alignment)


def test_bad_search_options_are_refused(tmp_path, spm_bytes):
    _, translator = exported(tmp_path, spm_bytes)
    with pytest.raises(ValueError, match="n_best"):
        translator.translate(["der hund"], SearchOptions(beam_size=2, n_best=3))
    with pytest.raises(ValueError, match="beam_size"):
        translator.translate(["der hund"], SearchOptions(beam_size=0))


def test_the_artifact_s_value_errors_reach_the_caller_as_value_errors(tmp_path, spm_bytes):
    # the scripted search raises torch.jit.Error where the eager one raises ValueError; the translator unwraps it
    model, loaded = exported(tmp_path, spm_bytes)
    V = len(loaded.src_tok)
    eager = Translator(Search(model).eval(), loaded.meta, loaded.src_tok, loaded.tgt_tok)
    for translator in (loaded, eager):
        with pytest.raises(ValueError, match=rf"^src: token ids must be in \[0, {V}\), got 3 to {V + 5}$"):
            translator.translate_ids([[5, 3], [V + 5, 3]], SearchOptions(beam_size=2))
    assert script_value_error(RuntimeError("not a ValueError")) is None


def test_step_by_step_the_artifact_gives_what_translate_ids_gives_and_an_older_one_refuses(tmp_path, spm_bytes):
    _, loaded = exported(tmp_path, spm_bytes, seed=4)
    assert loaded.can_step and loaded.format_version == export.FORMAT_VERSION
    sentences = [loaded.encode(line) for line in ["der hund spielt im park", "eine katze", "ein mann läuft " * 4]]
    opts = SearchOptions(beam_size=3, n_best=2)
    got: dict[int, list] = {}
    running, ended = loaded.advance(None, None, sentences[:1], opts, True, [10])  # one step alone
    got.update(ended)
    running, ended = loaded.advance(running, None, sentences[1:], opts, True, [11, 12])  # two join it
    got.update(ended)
    running, ended = loaded.advance(running, [10, 12], [], opts, True, [])  # 11's client has gone
    got.update(ended)
    while running is not None:
        running, ended = loaded.advance(running, None, [], opts, True, [])
        got.update(ended)
    assert sorted(got) == [10, 12]
    for name, src in ((10, sentences[0]), (12, sentences[2])):
        want = loaded.translate_ids([src], opts, with_alignment=True)[0]
        assert [(h.text, h.tokens) for h in got[name]] == [(h.text, h.tokens) for h in want]
        assert [len(h.alignment) for h in got[name]] == [len(h.alignment) for h in want]
    older = Translator(loaded.module, {**loaded.meta, "format_version": 2}, loaded.src_tok, loaded.tgt_tok)
    assert not older.can_step
    with pytest.raises(ValueError, match=r"artifact \(format 2\) does not decode step by step"):
        older.advance(None, None, sentences[:1], opts, False, [0])
