"""Attention through a pivot: the alignment of source → pivot → target as one source → target alignment.

Two hops translate `source → P` and then `P → target`; each hop's attention links its own pieces. The second
hop reads the first hop's best translation again, through its own SentencePiece model, so the two hops cut the
pivot text into different pieces. A bridge matrix links them: the second hop's piece i takes from the first
hop's piece j the share of i's characters that j covers (positions in each segmentation's non-space characters,
as fractions of the whole, so that a character the tokenizers normalize differently moves a link by one
character, not more). The EOS of one links to the EOS of the other. With the hops' alignments A1 ((T1 + 1) ×
(S + 1)) and A2 ((T2 + 1) × (P2 + 1)), and the bridge B ((P2 + 1) × (T1 + 1)), the composition is A2 · B · A1,
(T2 + 1) × (S + 1): each row still sums to 1, since each factor's rows do.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from seq2seq.translator import Hypothesis

MARK = "\u2581"  # SentencePiece's word-boundary mark


def _spans(pieces: list[str]) -> list[tuple[float, float]]:
    """Each piece's share of the text, as (start, end) fractions of its non-space characters."""
    lengths = [len(p.replace(MARK, "").strip()) for p in pieces]
    total = sum(lengths)
    if total == 0:
        return [(i / max(len(pieces), 1), (i + 1) / max(len(pieces), 1)) for i in range(len(pieces))]
    spans, at = [], 0
    for n in lengths:
        spans.append((at / total, (at + n) / total))
        at += n
    return spans


def bridge(first: list[str], second: list[str]) -> torch.Tensor:
    """(len(second) + 1, len(first) + 1): how much of each piece of `second` each piece of `first` covers,
    rows summing to 1, EOS (the last row and column) linked to EOS."""
    out = torch.zeros(len(second) + 1, len(first) + 1, dtype=torch.float64)
    out[-1, -1] = 1.0
    a, b = _spans(first), _spans(second)
    for i, (s0, s1) in enumerate(b):
        for j, (f0, f1) in enumerate(a):
            out[i, j] = max(0.0, min(s1, f1) - max(s0, f0))
        if s1 <= s0 and a:  # a piece of no characters (a lone word mark): linked to the piece where it sits
            out[i, min(range(len(a)), key=lambda j: abs(a[j][0] - s0))] = 1.0
        if out[i].sum() == 0:
            out[i, -1] = 1.0  # nothing of the first hop's text: as the EOS
    return out / out.sum(dim=1, keepdim=True)


def compose(second: Hypothesis, first: Hypothesis | None, pivot_pieces: list[str], n_src: int) -> Hypothesis:
    """`second` (a hypothesis of the second hop) with its alignment over the first hop's source ids.

    :param first: the first hop's best hypothesis, whose text the second hop translated (None: there was none)
    :param pivot_pieces: the second hop's source pieces for that text, without EOS
    :param n_src: the first hop's source ids, EOS included: the columns of the result
    """
    if second.alignment is None:
        return second
    a2 = torch.tensor(second.alignment, dtype=torch.float64)
    if first is None or first.alignment is None:  # no first translation: everything on the source's EOS
        out = torch.zeros(a2.shape[0], n_src, dtype=torch.float64)
        out[:, -1] = 1.0
    else:
        a1 = torch.tensor(first.alignment, dtype=torch.float64)
        out = a2 @ bridge(first.tokens, pivot_pieces) @ a1
    return replace(second, alignment=out.to(torch.float32).tolist())
