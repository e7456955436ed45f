"""SentencePiece subword vocabularies (Kudo & Richardson 2018) trained on the training split.

Ids 0-3 are fixed as pad, unk, bos, eos, which ``seq2seq.tokenizer.Tokenizer`` checks on load.
"""

from __future__ import annotations

import io
import itertools
import os
from collections.abc import Iterable, Iterator

import sentencepiece as spm

from seq2seq.tokenizer import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from training.corpus import Corpus
from training.io import atomic_write_bytes
from training.run import spm_paths

MODEL_TYPES = ("unigram", "bpe")


def train_sentencepiece(
    texts: Iterable[str],
    model_path: str,
    vocab_size: int,
    model_type: str = "unigram",
    character_coverage: float = 1.0,
) -> None:
    """Train a SentencePiece model on ``texts`` (streamed) and write it atomically to ``model_path``.

    ``vocab_size`` is an upper bound (``hard_vocab_limit=False``): a corpus too small for it gives fewer pieces.
    :raises ValueError: an unknown ``model_type``, a ``vocab_size`` too small for the 4 special pieces, or no text.
    """
    if model_type not in MODEL_TYPES:
        raise ValueError(f"model_type: must be one of {', '.join(MODEL_TYPES)}, got {model_type!r}")
    if vocab_size <= 4:
        raise ValueError(f"vocab_size: must exceed the 4 special pieces, got {vocab_size}")
    seen = 0

    def sentences() -> Iterator[str]:
        nonlocal seen
        for text in texts:
            if text:
                seen += 1
                yield text

    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=sentences(),
            model_writer=model,
            vocab_size=vocab_size,
            model_type=model_type,
            character_coverage=character_coverage,
            pad_id=PAD_ID,
            unk_id=UNK_ID,
            bos_id=BOS_ID,
            eos_id=EOS_ID,
            hard_vocab_limit=False,
            num_threads=2,
            minloglevel=1,  # warnings and errors only: the INFO log runs to hundreds of lines
        )
    except RuntimeError as e:  # sentencepiece reports a failed check as "INTERNAL: file.cc(line) [condition]"
        raise ValueError(f"SentencePiece training on {seen:,} sentences failed: {e}") from None
    atomic_write_bytes(model_path, model.getvalue())  # readers never see a half-written model


def build_vocabs(
    train: Corpus, out_dir: str, vocab_size: int, model_type: str, joint: bool
) -> tuple[str, str]:
    """Train (or, when the files exist already, reuse) the source and target SentencePiece models.

    ``joint`` trains one model on both sides and returns it twice; otherwise one per side (file names in
    ``training.run``). Reuse lets a resumed run keep the vocabulary its checkpoint was trained with.
    :returns: (source model path, target model path)
    """
    os.makedirs(out_dir, exist_ok=True)
    paths = spm_paths(out_dir, joint)
    if joint:
        if not os.path.exists(paths[0]):
            train_sentencepiece(itertools.chain(train.src, train.tgt), paths[0], vocab_size, model_type)
        return paths
    for path, texts in zip(paths, (train.src, train.tgt)):
        if not os.path.exists(path):
            train_sentencepiece(texts, path, vocab_size, model_type)
    return paths
