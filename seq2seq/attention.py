"""Luong global attention (Luong, Pham & Manning 2015, §3.1): dot, general and concat scores."""

from typing import Tuple

import torch
from torch import Tensor, nn
from torch.jit import Final

from seq2seq.config import ATTENTIONS


class Attention(nn.Module):
    """Scores a decoder state against every source position; padding gets weight 0.

    Keys are precomputed once per source (`keys`), so a decoding step costs one (B, S, H) product.
    """

    kind: Final[str]

    def __init__(self, kind: str, hidden: int):
        super().__init__()
        if kind not in ATTENTIONS:
            raise ValueError(f"attention: unknown score {kind!r}; choose one of {', '.join(ATTENTIONS)}")
        self.kind = kind
        # `general`: e = s · W_a h; `concat`: e = v · tanh(W_a [s; h]) = v · tanh(W_q s + W_k h).
        self.w_a = nn.Linear(hidden, hidden, bias=False) if kind == "general" else nn.Identity()
        self.w_q = nn.Linear(hidden, hidden, bias=False) if kind == "concat" else nn.Identity()
        self.w_k = nn.Linear(hidden, hidden) if kind == "concat" else nn.Identity()
        self.v = nn.Linear(hidden, 1, bias=False) if kind == "concat" else nn.Identity()

    def keys(self, values: Tensor) -> Tensor:
        """:param values: (B, S, H) encoder outputs → keys (B, S, H)"""
        if self.kind == "general":
            return self.w_a(values)
        if self.kind == "concat":
            return self.w_k(values)
        return values

    def forward(self, query: Tensor, keys: Tensor, values: Tensor, src_mask: Tensor,
                beams: int = 1) -> Tuple[Tensor, Tensor]:
        """
        :param query: (B, H) decoder state s_t; with beams > 1, (B·beams, H): each source's `beams` queries
            one after the other (a beam search's hypotheses, which share their sentence's source)
        :param keys: (B, S, H); values: (B, S, H)
        :param src_mask: (B, S) True on real source positions
        :return: context (B·beams, H), weights (B·beams, S)
        """
        if beams > 1:  # one (beams, H) x (H, S) product per source instead of a copy of it per query
            B, S = keys.size(0), keys.size(1)
            q = query.view(B, beams, -1)
            if self.kind == "concat":
                scores = self.v(torch.tanh(keys.unsqueeze(1) + self.w_q(q).unsqueeze(2))).squeeze(3)
            else:
                scores = torch.bmm(q, keys.transpose(1, 2))  # (B, beams, S)
            scores = scores.masked_fill(~src_mask.unsqueeze(1), float("-inf"))
            weights = torch.softmax(scores, dim=2)
            context = torch.bmm(weights, values)  # (B, beams, H)
            return context.view(B * beams, -1), weights.view(B * beams, S)
        if self.kind == "concat":
            scores = self.v(torch.tanh(keys + self.w_q(query).unsqueeze(1))).squeeze(2)
        else:
            scores = torch.bmm(keys, query.unsqueeze(2)).squeeze(2)  # e_ti = s_t · h_i
        scores = scores.masked_fill(~src_mask, float("-inf"))
        weights = torch.softmax(scores, dim=1)
        context = torch.bmm(weights.unsqueeze(1), values).squeeze(1)  # c_t = Σ_i a_ti h_i
        return context, weights
