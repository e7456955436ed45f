"""Shared fixtures: a tiny real artifact (SentencePiece + Seq2Seq exported to TorchScript) and live servers.

The artifact is trained for a few seconds on a word-by-word "translation" of generated sentences, so that its
outputs vary with the input; servers are real uvicorn servers on loopback, each in a thread of its own.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sentencepiece as spm
import torch

from seq2seq.config import ModelConfig
from seq2seq.export import save
from seq2seq.model import Seq2Seq
from seq2seq.tokenizer import BOS_ID, EOS_ID, PAD_ID, Tokenizer
from seq2seq.translator import Translator
from tests.service.live import LiveServer, live_server
from training.trainer import batch_loss

LEXICON = {
    "der": "the", "ein": "a", "mann": "man", "hund": "dog", "frau": "woman", "kind": "child", "läuft": "runs",
    "springt": "jumps", "sieht": "sees", "rote": "red", "blaue": "blue", "große": "big", "kleine": "small",
    "ball": "ball", "baum": "tree", "im": "in the", "park": "park", "und": "and", "schnell": "fast",
}
SUBJECTS = ["der mann", "ein hund", "die frau", "ein kind", "der hund", "eine frau"]
VERBS = ["läuft", "springt", "sieht"]
OBJECTS = ["den roten ball", "einen großen baum", "im park", "schnell", "den kleinen hund", "die blaue frau"]


def make_sentence(rng: random.Random) -> str:
    words = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}".split()
    if rng.random() < 0.3:
        words += ["und", rng.choice(VERBS)]
    return " ".join(words).capitalize() + "."


def gloss(sentence: str) -> str:
    """The toy target: each known word replaced by its English gloss, the rest kept."""
    words = sentence.rstrip(".").lower().split()
    return " ".join(LEXICON.get(w.rstrip("nm") if w not in LEXICON else w, w) for w in words).capitalize() + "."


def _train_spm(lines: list[str]) -> bytes:
    proto = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=proto, vocab_size=60, model_type="unigram",
        pad_id=PAD_ID, unk_id=1, bos_id=2, eos_id=EOS_ID, hard_vocab_limit=False, minloglevel=2,
        character_coverage=1.0,
    )
    return proto.getvalue()


def _fit(model: Seq2Seq, tok: Tokenizer, pairs: list[tuple[str, str]], steps: int = 150) -> None:
    """A few Adam steps of the trainer's loss: enough for outputs that follow the input."""
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    encoded = [(tok.encode(s) + [EOS_ID], tok.encode(t) + [EOS_ID]) for s, t in pairs]
    rng = random.Random(0)
    model.train()
    for _ in range(steps):
        batch = rng.sample(encoded, 32)
        loss, _, tokens = batch_loss(model, [s for s, _ in batch], [[BOS_ID] + t for _, t in batch],
                                     torch.device("cpu"), 0.0)
        opt.zero_grad()
        (loss / tokens).backward()
        opt.step()
    model.eval()


@pytest.fixture(scope="session")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a tiny exported model: de → en, beam 3 by default, at most 40 source subwords."""
    rng = random.Random(1)
    sources = [make_sentence(rng) for _ in range(400)]
    pairs = [(s, gloss(s)) for s in sources]
    spm_bytes = _train_spm([line for pair in pairs for line in pair])
    tok = Tokenizer(spm_bytes)
    torch.manual_seed(0)
    cfg = ModelConfig(src_vocab=len(tok), tgt_vocab=len(tok), emb_dim=16, enc_hidden=16, enc_layers=1,
                      dec_hidden=32, dec_layers=1)
    model = Seq2Seq(cfg)
    _fit(model, tok, pairs)
    path = tmp_path_factory.mktemp("artifact") / "model.pt"
    meta = {"src_lang": "de", "tgt_lang": "en", "model_config": cfg.to_dict(), "max_src_tokens": 40,
            "search": {"beam_size": 3, "n_best": 1, "max_len_a": 1.5, "max_len_b": 5, "length_penalty": 1.0}}
    save(model, str(path), spm_bytes, spm_bytes, meta)
    return path


@pytest.fixture(scope="session")
def translator(artifact: Path) -> Translator:
    return Translator.load(str(artifact))


@pytest.fixture(scope="session")
def lines() -> list[str]:
    rng = random.Random(7)
    return [make_sentence(rng) for _ in range(12)]


@pytest.fixture(scope="session")
def server(artifact: Path) -> Iterator[LiveServer]:
    """The shared server with default limits (batch wait 20 ms so concurrent requests meet)."""
    with live_server(artifact, batch_wait_ms=20, max_chars_per_item=300, max_chars_per_request=1000,
                     max_items=16, max_beam_times_nbest=30) as srv:
        yield srv


@pytest.fixture()
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c
