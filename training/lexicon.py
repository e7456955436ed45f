"""The lexical table behind the vocabulary shortlist (`Search(shortlist=True)`, docs/design.md §10).

IBM Model 1 (Brown et al. 1993) learns t(f | e), the probability that source piece e translates to target
piece f, by expectation-maximization over the training corpus; a source piece's shortlist is its `k` most
probable target pieces. The `frequent` most frequent target pieces are always in, as in Marian's shortlists
(their t(f | e) is spread thin over every source piece). Every co-occurring pair of a sentence pair is one
element of flat tensors, so one EM iteration is a few scatter-adds over the corpus: memory grows with
Σ |src| · |tgt| over the corpus (about 10M pairs and a few hundred MB for Multi30k), so a corpus of millions of
pairs would need a sample. There is no NULL word: a target piece that no source piece explains (an article, a
full stop) is what the frequent pieces are for.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from seq2seq.tokenizer import EOS_ID


def learn(src: Sequence[Sequence[int]], tgt: Sequence[Sequence[int]], src_vocab: int, tgt_vocab: int,
          k: int = 20, frequent: int = 300, iterations: int = 5,
          fill: int = EOS_ID) -> tuple[torch.Tensor, torch.Tensor]:
    """:param src, tgt: the corpus as piece ids, sentence by sentence (no BOS/EOS)
    :param fill: the id that pads a row with fewer than k candidates (EOS: always in a shortlist)
    :return: table (src_vocab, k) of target ids, most probable first, and the `frequent` most frequent target ids
    """
    if len(src) != len(tgt):
        raise ValueError(f"lexicon: {len(src)} source sentences but {len(tgt)} target sentences")
    if k < 1 or frequent < 0 or iterations < 1:
        raise ValueError("lexicon: need k >= 1, frequent >= 0 and iterations >= 1")
    pair_src, pair_tgt, group = [], [], []  # per co-occurrence: source id, target id, target position
    position = 0
    for s, t in zip(src, tgt):
        if not s or not t:
            continue
        s_ids, t_ids = torch.tensor(s, dtype=torch.long), torch.tensor(t, dtype=torch.long)
        pair_src.append(s_ids.repeat(len(t)))
        pair_tgt.append(t_ids.repeat_interleave(len(s)))
        group.append(torch.arange(position, position + len(t)).repeat_interleave(len(s)))
        position += len(t)
    counts_f = torch.bincount(torch.tensor([i for t in tgt for i in t], dtype=torch.long), minlength=tgt_vocab)
    top = counts_f.argsort(descending=True, stable=True)[:frequent]
    table = torch.full((src_vocab, k), fill, dtype=torch.long)
    if not pair_src:
        return table, top
    e, f, g = torch.cat(pair_src), torch.cat(pair_tgt), torch.cat(group)
    pairs, which = torch.unique(e * tgt_vocab + f, return_inverse=True)  # the distinct (e, f) and each one's
    pair_e = torch.div(pairs, tgt_vocab, rounding_mode="floor")
    prob = torch.ones(pairs.numel(), dtype=torch.float64)  # t(f | e), uniform start
    for _ in range(iterations):
        weight = prob[which]  # E-step: each target position's alignment posterior over its sentence's sources
        posterior = weight / torch.zeros(position, dtype=torch.float64).index_add_(0, g, weight)[g]
        counts = torch.zeros(pairs.numel(), dtype=torch.float64).index_add_(0, which, posterior)
        totals = torch.zeros(src_vocab, dtype=torch.float64).index_add_(0, pair_e, counts)
        prob = counts / totals[pair_e]  # M-step
    # Each source id's pairs, most probable first: sort by probability, then (stably) by source id.
    order = prob.argsort(descending=True, stable=True)
    order = order[pair_e[order].argsort(stable=True)]
    sorted_e = pair_e[order]
    starts = torch.zeros(src_vocab, dtype=torch.long)
    starts[1:] = torch.bincount(sorted_e, minlength=src_vocab).cumsum(0)[:-1]
    rank = torch.arange(order.numel()) - starts[sorted_e]
    kept = rank < k
    table[sorted_e[kept], rank[kept]] = pairs[order[kept]] % tgt_vocab
    return table, top


def coverage(table: torch.Tensor, top: torch.Tensor, src: Sequence[Sequence[int]],
             tgt: Sequence[Sequence[int]]) -> float:
    """The share of target pieces of (src, tgt) that their sentence's shortlist holds: a quick check of k and
    `frequent` on held-out data."""
    held = total = 0
    always = set(top.tolist())
    for s, t in zip(src, tgt):
        if not t:
            continue
        allowed = always | set(table[torch.tensor(s, dtype=torch.long)].flatten().tolist()) if s else always
        held += sum(1 for i in t if i in allowed)
        total += len(t)
    return held / total if total else 1.0
