"""SentencePiece training: fixed special ids, round trips, joint/separate files, reuse on resume."""

from __future__ import annotations

import os
import random

import pytest
import sentencepiece as spm

import training.vocab
from training.corpus import Corpus
from training.vocab import build_vocabs, train_sentencepiece

SYLLABLES = ["ka", "to", "mi", "ren", "sul", "bo", "ta", "lin", "ger", "ich", "ung", "schaf", "haus", "ve"]


def sentences(seed: int, n: int = 300) -> list[str]:
    """Pseudo-words from a few syllables: enough structure for a ~100-piece model."""
    rng = random.Random(seed)
    words = ["".join(rng.choices(SYLLABLES, k=rng.randint(1, 3))) for _ in range(60)]
    return [" ".join(rng.choices(words, k=rng.randint(3, 10))) for _ in range(n)]


@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_special_ids_and_round_trip(tmp_path, model_type):
    texts = sentences(0)
    path = str(tmp_path / "spm.model")
    train_sentencepiece(texts, path, vocab_size=100, model_type=model_type)
    sp = spm.SentencePieceProcessor(model_file=path)
    assert (sp.pad_id(), sp.unk_id(), sp.bos_id(), sp.eos_id()) == (0, 1, 2, 3)
    assert sp.id_to_piece([0, 1, 2, 3]) == ["<pad>", "<unk>", "<s>", "</s>"]
    assert 4 < sp.get_piece_size() <= 100
    for text in texts[:20]:
        ids = sp.encode(text)
        assert min(ids) > 3  # no unknown pieces, no specials inside a sentence
        assert sp.decode(ids) == text
    assert os.listdir(tmp_path) == ["spm.model"]  # the temporary file was renamed into place


def test_bad_arguments_raise_value_error(tmp_path):
    path = str(tmp_path / "spm.model")
    with pytest.raises(ValueError, match="model_type"):
        train_sentencepiece(["a b"], path, 100, model_type="word")
    with pytest.raises(ValueError, match="vocab_size"):
        train_sentencepiece(["a b"], path, 4)
    with pytest.raises(ValueError, match="on 0 sentences"):
        train_sentencepiece(["", ""], path, 100)
    assert not os.path.exists(path)


def syllable_corpus() -> Corpus:
    return Corpus(sentences(1, 200), [s.upper() for s in sentences(2, 200)], "toy:train")


def test_joint_vocabulary_is_one_file_covering_both_sides(tmp_path):
    src_path, tgt_path = build_vocabs(syllable_corpus(), str(tmp_path), 120, "unigram", joint=True)
    assert src_path == tgt_path == str(tmp_path / "spm.model")
    assert sorted(os.listdir(tmp_path)) == ["spm.model"]
    sp = spm.SentencePieceProcessor(model_file=src_path)
    assert sp.unk_id() not in sp.encode("kato haus") + sp.encode("KATO HAUS")


def test_separate_vocabularies(tmp_path):
    src_path, tgt_path = build_vocabs(syllable_corpus(), str(tmp_path / "run"), 100, "bpe", joint=False)
    assert (src_path, tgt_path) == (
        str(tmp_path / "run" / "spm.src.model"),
        str(tmp_path / "run" / "spm.tgt.model"),
    )
    assert sorted(os.listdir(tmp_path / "run")) == ["spm.src.model", "spm.tgt.model"]
    src_sp = spm.SentencePieceProcessor(model_file=src_path)
    tgt_sp = spm.SentencePieceProcessor(model_file=tgt_path)
    # each side saw only its own script case
    assert src_sp.unk_id() in src_sp.encode("KATO") and tgt_sp.unk_id() not in tgt_sp.encode("KATO")


@pytest.mark.parametrize("joint", [True, False])
def test_existing_models_are_reused(tmp_path, monkeypatch, joint):
    paths = build_vocabs(syllable_corpus(), str(tmp_path), 100, "unigram", joint)
    mtimes = [os.stat(p).st_mtime_ns for p in paths]

    def fail(*args, **kwargs):
        raise AssertionError("retrained although the model files exist")

    monkeypatch.setattr(training.vocab, "train_sentencepiece", fail)
    assert build_vocabs(syllable_corpus(), str(tmp_path), 100, "unigram", joint) == paths
    assert [os.stat(p).st_mtime_ns for p in paths] == mtimes
