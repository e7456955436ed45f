"""Greedy and batched beam search over a `Seq2Seq`, written so that `torch.jit.script` compiles them.

Both return the same layout, so callers need not care which ran:
tokens (B, N, T) without BOS/EOS and padded with pad_id, scores (B, N) = sum of log-probabilities (EOS
included) / length**length_penalty, lengths (B, N) without EOS, attention (B, N, T+1, S): the weights of
every step, EOS step included. N is 1 for greedy and n_best for beam search. Hypotheses stop at EOS or at
the maximum length a·|src| + b (EOS included), where EOS is forced.
"""

from typing import List, Tuple

import torch
from torch import Tensor, nn

from seq2seq.decoder import State
from seq2seq.model import Seq2Seq

Result = Tuple[Tensor, Tensor, Tensor, Tensor]


def _reorder(state: State, rows: Tensor) -> State:
    h, c, feed = state
    return h.index_select(1, rows), c.index_select(1, rows), feed.index_select(0, rows)


def _rows(keys: Tensor, values: Tensor, src_mask: Tensor, rows: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """The source side (keys, values, src_mask) of the hypotheses in `rows`."""
    return keys.index_select(0, rows), values.index_select(0, rows), src_mask.index_select(0, rows)


def _no_hypotheses(B: int) -> Tuple[List[List[Tensor]], List[List[Tensor]], List[List[float]]]:
    """Empty lists of finished hypotheses (tokens, attention, scores) for each of B sentences."""
    fin_tok: List[List[Tensor]] = []
    fin_attn: List[List[Tensor]] = []
    fin_score: List[List[float]] = []
    for _ in range(B):
        no_tensors: List[Tensor] = []
        no_attn: List[Tensor] = []
        no_scores: List[float] = []
        fin_tok.append(no_tensors)
        fin_attn.append(no_attn)
        fin_score.append(no_scores)
    return fin_tok, fin_attn, fin_score


class Search(nn.Module):
    """The model with its searches; `forward` runs beam search, or greedy when beam_size is 1."""

    def __init__(self, model: Seq2Seq):
        super().__init__()
        self.model = model

    def _check(self, beam_size: int, n_best: int, max_len_a: float, max_len_b: int, length_penalty: float) -> None:
        """The search's own arguments; `Seq2Seq.encode` checks src and src_lens."""
        if beam_size < 1:
            raise ValueError("beam_size: must be at least 1")
        if n_best < 1 or n_best > beam_size:
            raise ValueError("n_best: must be between 1 and beam_size")
        if max_len_a < 0.0 or max_len_b < 1:
            raise ValueError("max_len_a, max_len_b: need a >= 0 and b >= 1")
        if not (length_penalty >= 0.0 and length_penalty < float("inf")):  # NaN fails both comparisons
            raise ValueError(f"length_penalty: must be a finite number >= 0, got {length_penalty}")

    def _mask_logp(self, logp: Tensor, force_eos: Tensor) -> Tensor:
        """Never emit pad or BOS; emit only EOS where a hypothesis reached its maximum length."""
        logp[:, self.model.pad_id] = float("-inf")
        logp[:, self.model.bos_id] = float("-inf")
        not_eos = torch.ones(logp.size(1), dtype=torch.bool, device=logp.device)
        not_eos[self.model.eos_id] = False
        return logp.masked_fill(force_eos.unsqueeze(1) & not_eos.unsqueeze(0), float("-inf"))

    def forward(
        self,
        src: Tensor,
        src_lens: Tensor,
        beam_size: int = 5,
        n_best: int = 1,
        max_len_a: float = 1.5,
        max_len_b: int = 10,
        length_penalty: float = 1.0,
    ) -> Result:
        if beam_size == 1 and n_best == 1:  # any other n_best is refused by beam's check
            return self.greedy(src, src_lens, max_len_a, max_len_b, length_penalty)
        return self.beam(src, src_lens, beam_size, n_best, max_len_a, max_len_b, length_penalty)

    @torch.jit.export
    def greedy(
        self, src: Tensor, src_lens: Tensor, max_len_a: float = 1.5, max_len_b: int = 10, length_penalty: float = 1.0
    ) -> Result:
        self._check(1, 1, max_len_a, max_len_b, length_penalty)
        model = self.model
        keys, values, src_mask, state = model.encode(src, src_lens)
        step_w, masks = model.decoder.search_weights()  # once per search, not once per step
        B = src.size(0)
        max_lens = (src_lens.to(torch.float64) * max_len_a + max_len_b).floor().long()
        T = int(max_lens.max())
        prev = torch.full([B], model.bos_id, dtype=torch.long, device=src.device)
        tokens = torch.full([B, T], model.pad_id, dtype=torch.long, device=src.device)
        attn = torch.zeros(B, T, src.size(1), device=src.device)
        total = torch.zeros(B, device=src.device)
        lengths = torch.zeros(B, dtype=torch.long, device=src.device)
        active = torch.arange(B, device=src.device)  # sentences still decoding; finished ones leave the batch
        steps = 0
        for t in range(T):
            logp, att, state = model.decoder.decode_step(prev, state, keys, values, src_mask, step_w, masks)
            best, tok = self._mask_logp(logp, t + 1 >= max_lens.index_select(0, active)).max(1)
            tokens.select(1, t).index_copy_(0, active, tok)
            attn.select(1, t).index_copy_(0, active, att)
            total.index_add_(0, active, best)
            lengths.index_add_(0, active, torch.ones_like(tok))
            steps = t + 1
            ended = tok == model.eos_id
            if bool(ended.all()):
                break
            if bool(ended.any()):
                keep = (~ended).nonzero().squeeze(1)
                active, tok = active.index_select(0, keep), tok.index_select(0, keep)
                keys, values, src_mask = _rows(keys, values, src_mask, keep)
                state = _reorder(state, keep)
            prev = tok
        tokens = tokens[:, :steps]
        tokens = tokens.masked_fill(tokens == model.eos_id, model.pad_id)
        scores = total / lengths.to(total.dtype).pow(length_penalty)
        return tokens.unsqueeze(1), scores.unsqueeze(1), (lengths - 1).unsqueeze(1), attn[:, :steps].unsqueeze(1)

    @torch.jit.export
    def beam(
        self,
        src: Tensor,
        src_lens: Tensor,
        beam_size: int = 5,
        n_best: int = 1,
        max_len_a: float = 1.5,
        max_len_b: int = 10,
        length_penalty: float = 1.0,
    ) -> Result:
        self._check(beam_size, n_best, max_len_a, max_len_b, length_penalty)
        model = self.model
        keys, values, src_mask, state = model.encode(src, src_lens)
        step_w, masks = model.decoder.search_weights()  # once per search, not once per step
        B, K, S = src.size(0), beam_size, src.size(1)
        device = src.device
        expand = torch.arange(B, device=device).repeat_interleave(K)
        keys, values, src_mask = _rows(keys, values, src_mask, expand)
        state = _reorder(state, expand)
        max_lens = (src_lens.to(torch.float64) * max_len_a + max_len_b).floor().long()  # (B,)
        beam_max = max_lens.repeat_interleave(K)
        # All K beams start identical: only the first may expand at the first step.
        scores = torch.full([B, K], float("-inf"), device=device)
        scores[:, 0] = 0.0
        prev = torch.full([B * K], model.bos_id, dtype=torch.long, device=device)
        hist = torch.zeros(B * K, 0, dtype=torch.long, device=device)
        hist_attn = torch.zeros(B * K, 0, S, device=device)
        fin_tok, fin_attn, fin_score = _no_hypotheses(B)
        counts = torch.zeros(B, dtype=torch.long, device=device)
        # Sentences still decoding (their original indices); finished ones leave the batch at once.
        active = torch.arange(B, device=device)
        rank = torch.arange(2 * K, device=device).unsqueeze(0)
        for t in range(int(max_lens.max())):
            Bn = active.size(0)
            logp, att, state = model.decoder.decode_step(prev, state, keys, values, src_mask, step_w, masks)
            logp = self._mask_logp(logp, t + 1 >= beam_max)
            V = logp.size(1)
            cand = (scores.view(-1, 1) + logp).view(Bn, K * V)
            top_s, top_i = cand.topk(min(2 * K, K * V), dim=1)
            src_beam = torch.div(top_i, V, rounding_mode="floor")
            tok = top_i - src_beam * V
            is_eos = (tok == model.eos_id) & (top_s > float("-inf"))
            # Hypotheses ending in EOS among the top K are final (as in fairseq's beam search).
            fin = is_eos[:, :K]
            if bool(fin.any()):
                norm = float(t + 1) ** length_penalty
                self._keep_finished(fin, src_beam, top_s, active, hist, hist_attn, att, norm, fin_tok, fin_attn,
                                    fin_score)
                counts.index_add_(0, active, fin.long().sum(1))
            # A sentence is done when its best candidate ends and it has n_best hypotheses, or at max length.
            done = (is_eos[:, 0] & (counts.index_select(0, active) >= n_best)) | (
                t + 1 >= max_lens.index_select(0, active)
            )
            if bool(done.all()):
                break
            # Survivors: the best K candidates that did not end.
            order = (is_eos.long() * (2 * K) + rank).argsort(dim=1)[:, :K]
            scores = top_s.gather(1, order)
            rows = (torch.arange(Bn, device=device).unsqueeze(1) * K + src_beam.gather(1, order)).view(-1)
            prev = tok.gather(1, order).view(-1)
            if bool(done.any()):
                keep = (~done).nonzero().squeeze(1)  # (Bk,) positions in the current batch
                keep_rows = (keep.unsqueeze(1) * K + torch.arange(K, device=device).unsqueeze(0)).view(-1)
                active, scores = active.index_select(0, keep), scores.index_select(0, keep)
                rows, prev = rows.index_select(0, keep_rows), prev.index_select(0, keep_rows)
                keys, values, src_mask = _rows(keys, values, src_mask, keep_rows)
                beam_max = beam_max.index_select(0, keep_rows)
            hist = torch.cat([hist.index_select(0, rows), prev.unsqueeze(1)], 1)
            hist_attn = torch.cat([hist_attn.index_select(0, rows), att.index_select(0, rows).unsqueeze(1)], 1)
            state = _reorder(state, rows)
        return self._pack(fin_tok, fin_attn, fin_score, n_best, S, device)

    def _keep_finished(
        self,
        fin: Tensor,
        src_beam: Tensor,
        top_s: Tensor,
        active: Tensor,
        hist: Tensor,
        hist_attn: Tensor,
        att: Tensor,
        norm: float,
        fin_tok: List[List[Tensor]],
        fin_attn: List[List[Tensor]],
        fin_score: List[List[float]],
    ) -> None:
        """File the candidates that end in EOS among a step's top K (`fin`, (Bn, K)) under their sentence's
        original index: tokens, attention (this step's row included) and score / norm."""
        K = fin.size(1)
        pairs: List[List[int]] = fin.nonzero().tolist()
        for pair in pairs:
            b, j = pair[0], pair[1]
            row = b * K + int(src_beam[b, j])
            orig = int(active[b])
            fin_tok[orig].append(hist[row])
            fin_attn[orig].append(torch.cat([hist_attn[row], att[row].unsqueeze(0)], 0))
            fin_score[orig].append(float(top_s[b, j]) / norm)

    def _pack(
        self,
        fin_tok: List[List[Tensor]],
        fin_attn: List[List[Tensor]],
        fin_score: List[List[float]],
        n_best: int,
        S: int,
        device: torch.device,
    ) -> Result:
        B = len(fin_tok)
        T = 1
        for hyps in fin_tok:
            for h in hyps:
                T = max(T, h.size(0) + 1)
        tokens = torch.full([B, n_best, T], self.model.pad_id, dtype=torch.long, device=device)
        scores = torch.full([B, n_best], float("-inf"), device=device)
        lengths = torch.zeros(B, n_best, dtype=torch.long, device=device)
        attn = torch.zeros(B, n_best, T, S, device=device)
        for b in range(B):
            ranked: List[int] = (
                torch.tensor(fin_score[b], dtype=torch.float64).argsort(descending=True, stable=True).tolist()
            )
            for n, i in enumerate(ranked[:n_best]):
                L = fin_tok[b][i].size(0)
                tokens[b, n, :L] = fin_tok[b][i]
                scores[b, n] = fin_score[b][i]
                lengths[b, n] = L
                attn[b, n, : L + 1] = fin_attn[b][i]
        return tokens, scores, lengths, attn
