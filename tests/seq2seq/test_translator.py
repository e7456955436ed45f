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
