"""A beam search in progress (`Decoding`), which sentences join and leave between steps (docs/design.md §6).

`Search.start` encodes sentences into a decoding, `Search.join` merges two, `Search.step` advances every
sentence by one token and hands back those that ended, `Search.select` keeps some. `Search.beam` is `start`
and `step` until no sentence is left, so the whole-batch search and continuous batching run the same steps.
Everything here is a function of its arguments (state passed in and returned), as TorchScript requires.

Sentences that joined at different steps share one tensor of histories: they are right-aligned, sentence b's
hypotheses being the last `steps[b]` columns of `hist`, and a step appends a column to every row. Sources are
right-padded to the longest; padding never changes a result (attention gives it weight 0). When sentences leave,
the columns and source positions that none of the others needs are cut.
"""

from typing import List, NamedTuple, Tuple

import torch
from torch import Tensor

from seq2seq.decoder import State

Result = Tuple[Tensor, Tensor, Tensor, Tensor]  # `Search.forward`'s: tokens, scores, lengths, attention


class Decoding(NamedTuple):
    """Bn sentences with K = beam_size rows each (R = Bn·K; sentence b's rows are b·K … b·K + K - 1).

    A decoding is used up by the call it is passed to (`step` files hypotheses into its lists in place)."""

    ids: Tensor  # (Bn,) long: the caller's name of each sentence
    src_lens: Tensor  # (Bn,) source lengths, EOS included
    max_lens: Tensor  # (Bn,) the most steps a sentence takes, floor(a·|src| + b), EOS included
    steps: Tensor  # (Bn,) steps taken
    counts: Tensor  # (Bn,) finished hypotheses filed
    scores: Tensor  # (Bn, K) log-probability of each live hypothesis (-inf: not started)
    prev: Tensor  # (R,) its last token
    hist: Tensor  # (R, T) its tokens so far, right-aligned
    hist_attn: Tensor  # (R, T, S) their attention weights, right-aligned; (R, 0, 0) without attention
    keys: Tensor  # (Bn, S, H): one row per sentence, which its K beams share (`Attention.forward`)
    values: Tensor  # (Bn, S, H)
    src_mask: Tensor  # (Bn, S) True on real source positions
    state: State  # decoder state of each row
    fin_tok: List[List[Tensor]]  # per sentence, its finished hypotheses' tokens, EOS excluded
    fin_attn: List[List[Tensor]]  # their attention, the EOS step included
    fin_score: List[List[float]]  # their scores, log-probability / length**length_penalty
    src: Tensor  # (Bn, S) source ids, kept to rebuild the shortlist when sentences join; (0, 0) without one
    vocab: Tensor  # `Search._output`: the target ids of the output columns (empty: the whole layer) …
    out_w: Tensor  # … W_y^T restricted to them …
    out_b: Tensor  # … each row's bias, (R, Vs) …
    cols: List[int]  # … and the columns of pad, BOS and EOS
    beam_size: int
    n_best: int
    length_penalty: float
    stop: str
    with_attention: bool
    shortlist: bool


def no_hypotheses(B: int) -> List[List[Tensor]]:
    """B empty lists (of finished hypotheses' tokens or attention)."""
    out: List[List[Tensor]] = []
    for _ in range(B):
        none: List[Tensor] = []
        out.append(none)
    return out


def no_scores(B: int) -> List[List[float]]:
    out: List[List[float]] = []
    for _ in range(B):
        none: List[float] = []
        out.append(none)
    return out


def stack(a: Tensor, b: Tensor, dims: List[int], sizes: List[int], left: List[bool]) -> Tensor:
    """a's rows, then b's, each padded with zeros (False, id 0) along dims[i] to sizes[i], before its entries
    where left[i], after them elsewhere: one allocation and one copy of each, as a join happens every step."""
    if all([a.size(d) == n and b.size(d) == n for d, n in zip(dims, sizes)]):
        return torch.cat([a, b])
    shape = list(a.shape)
    shape[0] = a.size(0) + b.size(0)
    for d, n in zip(dims, sizes):
        shape[d] = n
    out = torch.empty(shape, dtype=a.dtype, device=a.device)
    start = 0
    for x in [a, b]:
        part = out.narrow(0, start, x.size(0))
        for d, n, before in zip(dims, sizes, left):  # zeros where x does not reach, then x
            pad = n - x.size(d)
            if pad > 0:
                part.narrow(d, 0 if before else x.size(d), pad).zero_()
            part = part.narrow(d, pad if before else 0, x.size(d))
        part.copy_(x)
        start += x.size(0)
    return out


def subset(d: Decoding, keep: Tensor) -> Decoding:
    """The sentences at positions `keep` (B',), in that order, without the history columns and source positions
    none of them needs."""
    K = d.beam_size
    rows = (keep.unsqueeze(1) * K + torch.arange(K, device=keep.device).unsqueeze(0)).view(-1)
    steps, src_lens = d.steps.index_select(0, keep), d.src_lens.index_select(0, keep)
    T = int(steps.max()) if keep.numel() > 0 else 0
    S = int(src_lens.max()) if keep.numel() > 0 else 0
    hist = d.hist.index_select(0, rows)
    hist = hist[:, hist.size(1) - T :]
    hist_attn = d.hist_attn.index_select(0, rows)
    if d.with_attention:
        hist_attn = hist_attn[:, hist_attn.size(1) - T :, :S]
    keys, values, src_mask = d.keys.index_select(0, keep), d.values.index_select(0, keep), d.src_mask.index_select(
        0, keep)
    if S < keys.size(1):  # contiguous, as a batch of these sources alone would be
        keys, values, src_mask = keys[:, :S].contiguous(), values[:, :S].contiguous(), src_mask[:, :S].contiguous()
    h, c, feed = d.state
    src, out_b = d.src, d.out_b
    if d.shortlist:
        src, out_b = src.index_select(0, keep)[:, :S], out_b.index_select(0, rows)
    kept: List[int] = keep.tolist()
    return Decoding(
        d.ids.index_select(0, keep), src_lens, d.max_lens.index_select(0, keep), steps,
        d.counts.index_select(0, keep), d.scores.index_select(0, keep), d.prev.index_select(0, rows), hist,
        hist_attn, keys, values, src_mask,
        (h.index_select(1, rows), c.index_select(1, rows), feed.index_select(0, rows)),
        [d.fin_tok[i] for i in kept], [d.fin_attn[i] for i in kept], [d.fin_score[i] for i in kept], src,
        d.vocab, d.out_w, out_b, d.cols, d.beam_size, d.n_best, d.length_penalty, d.stop, d.with_attention,
        d.shortlist,
    )


def concat(a: Decoding, b: Decoding) -> Decoding:
    """a's sentences, then b's, with a's output layer: `Search.join` rebuilds a shortlist's for both."""
    if (a.beam_size != b.beam_size or a.n_best != b.n_best or a.length_penalty != b.length_penalty
            or a.stop != b.stop or a.with_attention != b.with_attention or a.shortlist != b.shortlist):
        raise ValueError("join: the two decodings were started with different search options")
    S = max(a.keys.size(1), b.keys.size(1))
    T = max(a.hist.size(1), b.hist.size(1))
    ha, ca, fa = a.state
    hb, cb, fb = b.state
    if a.with_attention:
        hist_attn = stack(a.hist_attn, b.hist_attn, [1, 2], [T, S], [True, False])
    else:
        hist_attn = torch.cat([a.hist_attn, b.hist_attn])  # (R, 0, 0)
    src = stack(a.src, b.src, [1], [S], [False]) if a.shortlist else a.src
    return Decoding(
        torch.cat([a.ids, b.ids]), torch.cat([a.src_lens, b.src_lens]), torch.cat([a.max_lens, b.max_lens]),
        torch.cat([a.steps, b.steps]), torch.cat([a.counts, b.counts]), torch.cat([a.scores, b.scores]),
        torch.cat([a.prev, b.prev]), stack(a.hist, b.hist, [1], [T], [True]), hist_attn,
        stack(a.keys, b.keys, [1], [S], [False]), stack(a.values, b.values, [1], [S], [False]),
        stack(a.src_mask, b.src_mask, [1], [S], [False]),
        (torch.cat([ha, hb], 1), torch.cat([ca, cb], 1), torch.cat([fa, fb])),
        a.fin_tok + b.fin_tok, a.fin_attn + b.fin_attn, a.fin_score + b.fin_score, src,
        a.vocab, a.out_w, a.out_b, a.cols,
        a.beam_size, a.n_best, a.length_penalty, a.stop, a.with_attention, a.shortlist,
    )


def file_finished(
    fin: Tensor,
    src_beam: Tensor,
    top_s: Tensor,
    steps: Tensor,
    hist: Tensor,
    hist_attn: Tensor,
    att: Tensor,
    length_penalty: float,
    fin_tok: List[List[Tensor]],
    fin_attn: List[List[Tensor]],
    fin_score: List[List[float]],
    with_attention: bool,
    limit: int,
    counts: Tensor,
) -> None:
    """File the candidates that end in EOS among a step's top K (`fin`, (Bn, K)) under their sentence's
    position, best first, until the sentence has `limit`: tokens (the last steps[b] columns of `hist`),
    attention (this step's row included) and score / (steps[b] + 1)**length_penalty; `counts` (Bn,)
    counts what each sentence filed."""
    K = fin.size(1)
    T = hist.size(1)
    taken: List[int] = steps.tolist()
    pairs: List[List[int]] = fin.nonzero().tolist()  # row-major: each sentence's candidates in rank order
    for pair in pairs:
        b, j = pair[0], pair[1]
        if len(fin_score[b]) >= limit:
            continue
        row = b * K + int(src_beam[b, j])
        fin_tok[b].append(hist[row, T - taken[b] :])
        if with_attention:
            fin_attn[b].append(torch.cat([hist_attn[row, T - taken[b] :], att[row].unsqueeze(0)], 0))
        fin_score[b].append(float(top_s[b, j]) / float(taken[b] + 1) ** length_penalty)
        counts[b] += 1


def pack(
    fin_tok: List[List[Tensor]],
    fin_attn: List[List[Tensor]],
    fin_score: List[List[float]],
    n_best: int,
    S: int,
    device: torch.device,
    with_attention: bool,
    pad_id: int,
) -> Result:
    """The n_best best of each sentence's finished hypotheses as `Search.forward` returns them; attention rows
    narrower than S (filed after the longer sources left) are padded with zeros."""
    B = len(fin_tok)
    T = 1
    for hyps in fin_tok:
        for h in hyps:
            T = max(T, h.size(0) + 1)
    tokens = torch.full([B, n_best, T], pad_id, dtype=torch.long, device=device)
    scores = torch.full([B, n_best], float("-inf"), device=device)
    lengths = torch.zeros(B, n_best, dtype=torch.long, device=device)
    attn = torch.zeros(B, n_best, T if with_attention else 0, S, device=device)
    for b in range(B):
        ranked: List[int] = (
            torch.tensor(fin_score[b], dtype=torch.float64).argsort(descending=True, stable=True).tolist()
        )
        for n, i in enumerate(ranked[:n_best]):
            L = fin_tok[b][i].size(0)
            tokens[b, n, :L] = fin_tok[b][i]
            scores[b, n] = fin_score[b][i]
            lengths[b, n] = L
            if with_attention:
                w = min(S, fin_attn[b][i].size(1))
                attn[b, n, : L + 1, :w] = fin_attn[b][i][:, :w]
    return tokens, scores, lengths, attn
