"""A tiny model learns to reverse short sequences: the whole model, loss and search working together."""

import torch
import torch.nn.functional as F

from seq2seq.config import ModelConfig
from seq2seq.model import Seq2Seq
from seq2seq.search import Search

SYMBOLS = 10  # ids 4..13


def reverse_batch(g: torch.Generator, B: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    lens = torch.randint(3, 8, (B,), generator=g)
    S = int(lens.max()) + 1
    src = torch.zeros(B, S, dtype=torch.long)
    tgt = torch.zeros(B, S + 1, dtype=torch.long)
    for b in range(B):
        L = int(lens[b])
        seq = torch.randint(4, 4 + SYMBOLS, (L,), generator=g)
        src[b, :L], src[b, L] = seq, 3
        tgt[b, 0], tgt[b, 1 : L + 1], tgt[b, L + 1] = 2, seq.flip(0), 3
    return src, lens + 1, tgt


def test_tiny_model_learns_to_reverse_sequences():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    cfg = ModelConfig(src_vocab=4 + SYMBOLS, tgt_vocab=4 + SYMBOLS, emb_dim=32, enc_hidden=48, enc_layers=1,
                      dec_hidden=64, dec_layers=1)
    model = Seq2Seq(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(400):
        src, lens, tgt = reverse_batch(g, 64)
        logits = model(src, lens, tgt[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), tgt[:, 1:].reshape(-1), ignore_index=0)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    model.eval()
    src, lens, tgt = reverse_batch(torch.Generator().manual_seed(123), 500)
    with torch.no_grad():
        tokens, _, lengths, _ = Search(model).greedy(src, lens)
    correct = 0
    for b in range(500):
        L = int(lens[b]) - 1
        correct += tokens[b, 0, : lengths[b, 0]].tolist() == tgt[b, 1 : L + 1].tolist()
    assert correct / 500 >= 0.99, f"exact match {correct / 500:.3f}"
