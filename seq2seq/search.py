"""Greedy and batched beam search over a `Seq2Seq`, written so that `torch.jit.script` compiles them.

Both return the same layout, so callers need not care which ran:
tokens (B, N, T) without BOS/EOS and padded with pad_id, scores (B, N) = sum of log-probabilities (EOS
included) / length**length_penalty, lengths (B, N) without EOS, attention (B, N, T+1, S): the weights of
every step, EOS step included, or (B, N, 0, S) when the search was asked not to keep them. N is 1 for greedy
and n_best for beam search. Hypotheses stop at EOS or at the maximum length a·|src| + b (EOS included), where
EOS is forced.

Options that make a search cheaper (docs/design.md §10), each off by default:
- `with_attention=False`: no attention history is kept (the alignment is all it is for).
- `shortlist=True`: the output layer is restricted, per batch, to the target pieces that the batch's source
  pieces translate to in a lexical table (`lexicon`, learned from the training corpus at export) plus the most
  frequent pieces, as Marian does; the softmax is taken over that shortlist.
- int8 weights (`Search(model, int8=True)`): every matrix product of a decoding step but attention runs on
  dynamically quantized int8 weights (fbgemm); the encoder stays in float, and so does the output layer when
  a shortlist restricts it. The quantized copies are made here: build the Search after loading the weights.
- `stop="beam"`: a sentence ends when beam_size hypotheses have ended (fairseq's rule), instead of when its
  best candidate ends (`stop="best"`, OpenNMT-py's rule).
"""

import warnings
from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn
from torch.ao.nn.quantized import dynamic as qdynamic
from torch.jit import Final

from seq2seq.cells import Masks
from seq2seq.decoder import State, StepWeights
from seq2seq.model import Seq2Seq

STOPS = ("best", "beam")

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
    """The model with its searches; `forward` runs beam search, or greedy when beam_size is 1.

    :param lexicon: (src_vocab, k) target ids each source id translates to, best first, and (F,) the most
        frequent target ids: what `shortlist=True` restricts the output layer to. None: no shortlist.
    :param int8: decode with dynamically quantized int8 weights (CPU only)
    """

    int8: Final[bool]
    has_shortlist: Final[bool]

    def __init__(self, model: Seq2Seq, lexicon: Optional[Tuple[Tensor, Tensor]] = None, int8: bool = False):
        super().__init__()
        self.model = model
        self.has_shortlist = lexicon is not None
        table, frequent = lexicon if lexicon is not None else (torch.zeros(0, 0), torch.zeros(0))
        if lexicon is not None:
            if table.dim() != 2 or table.size(0) != model.src_vocab or table.size(1) < 1 or frequent.dim() != 1:
                raise ValueError(f"lexicon: expected a ({model.src_vocab}, k) table and a 1-D list of frequent ids, "
                                 f"got shapes {list(table.shape)} and {list(frequent.shape)}")
            ids = torch.cat([table.flatten(), frequent.flatten()])
            if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= model.tgt_vocab):
                raise ValueError(f"lexicon: target ids must be in [0, {model.tgt_vocab})")
        if int8 and any(p.device.type != "cpu" for p in model.parameters()):
            raise ValueError("int8: dynamically quantized weights run on the CPU only")
        self.register_buffer("lexicon", table.long())
        self.register_buffer("frequent", frequent.long())
        self.int8 = int8
        # int8: layer k's input product (layer 0: the embedding half), W_hh, then W_c, W_y; nothing in float.
        self.q_in = nn.ModuleList()
        self.q_hh = nn.ModuleList()
        self.q_feed: nn.Module = nn.Identity()
        self.q_c: nn.Module = nn.Identity()
        self.q_out: nn.Module = nn.Identity()
        if int8:
            self._quantize()

    def _quantize(self) -> None:
        dec = self.model.decoder
        w = dec.step_weights()
        self.q_in.append(_int8(w.w_emb.t(), w.b_emb))
        if dec.input_feeding:
            self.q_feed = _int8(w.w_feed.t(), None)
        for k in range(1, len(dec.layers)):
            self.q_in.append(_int8(w.w_ih[k - 1].t(), w.b_in[k - 1]))
        for layer in dec.layers:
            bias = None if layer.fold_bias else layer.bias_hh[0]  # the GRU's b_hn sits inside r ⊙ (W_hn h + b_hn)
            self.q_hh.append(_int8(layer.weight_hh[0], bias))
        self.q_c = _int8(dec.concat.weight, dec.concat.bias)
        self.q_out = _int8(dec.out.weight, dec.out.bias)

    def _check(self, beam_size: int, n_best: int, max_len_a: float, max_len_b: int, length_penalty: float,
               stop: str = "best", shortlist: bool = False) -> None:
        """The search's own arguments; `Seq2Seq.encode` checks src and src_lens."""
        if beam_size < 1:
            raise ValueError("beam_size: must be at least 1")
        if n_best < 1 or n_best > beam_size:
            raise ValueError("n_best: must be between 1 and beam_size")
        if max_len_a < 0.0 or max_len_b < 1:
            raise ValueError("max_len_a, max_len_b: need a >= 0 and b >= 1")
        if not (length_penalty >= 0.0 and length_penalty < float("inf")):  # NaN fails both comparisons
            raise ValueError(f"length_penalty: must be a finite number >= 0, got {length_penalty}")
        if stop != "best" and stop != "beam":  # STOPS
            raise ValueError(f"stop: must be 'best' or 'beam', got '{stop}'")
        if shortlist and not self.has_shortlist:
            raise ValueError("shortlist: this model has no lexical table (export it with --shortlist)")

    def _mask_logp(self, logp: Tensor, force_eos: Tensor, cols: List[int]) -> Tensor:
        """Never emit pad or BOS; emit only EOS where a hypothesis reached its maximum length. `cols`: the
        output columns of pad, BOS and EOS (their ids, unless a shortlist renumbered the columns)."""
        logp[:, cols[0]] = float("-inf")
        logp[:, cols[1]] = float("-inf")
        if bool(force_eos.any()):  # in place, on the rows at their limit only: no (rows, V) mask or copy per step
            rows = force_eos.nonzero().squeeze(1)
            eos = logp[:, cols[2]].index_select(0, rows)
            logp.index_fill_(0, rows, float("-inf"))
            logp.index_put_((rows, torch.full_like(rows, cols[2])), eos)
        return logp

    def _output(self, src: Tensor, src_mask: Tensor, shortlist: bool) -> Tuple[Tensor, Tensor, Tensor, List[int]]:
        """The output layer a search uses: vocab (Vs,) the target ids of its columns, W_y^T (H, Vs), its bias
        per sentence (B, Vs), and the columns of pad, BOS and EOS. Without a shortlist, vocab and both weights
        are empty: the whole layer runs.

        The columns are the union of the batch's shortlists, so that the batch shares one product; a
        sentence's bias is -inf outside its own shortlist, so that its translation does not depend on the
        sentences beside it. Pad and BOS stay in (masked like the whole layer's), so that a shortlist of the
        whole vocabulary gives the whole layer's scores."""
        model = self.model
        out = model.decoder.out
        ids = [model.pad_id, model.bos_id, model.eos_id]
        if not shortlist:
            empty = out.weight.new_zeros(0)
            return torch.zeros(0, dtype=torch.long, device=src.device), empty, empty, ids
        special = torch.tensor(ids, device=src.device)
        B, V = src.size(0), out.weight.size(0)
        keep = torch.zeros(B, V, dtype=torch.bool, device=src.device)  # each sentence's own shortlist
        sentence = torch.arange(B, device=src.device).unsqueeze(1).expand(src.shape)[src_mask]
        cands = self.lexicon.index_select(0, src[src_mask])  # (N, k) for the N real source positions
        keep[sentence.unsqueeze(1).expand(cands.shape).flatten(), cands.flatten()] = True
        keep[:, self.frequent] = True
        keep[:, special] = True
        union = keep.any(0)
        vocab = union.nonzero().squeeze(1)
        cols: List[int] = (union.long().cumsum(0) - 1).index_select(0, special).tolist()
        bias = out.bias.index_select(0, vocab).unsqueeze(0).expand(B, vocab.size(0))
        bias = bias.masked_fill(~keep.index_select(1, vocab), float("-inf"))
        return vocab, out.weight.index_select(0, vocab).t().contiguous(), bias, cols

    def _step(self, prev: Tensor, state: State, keys: Tensor, values: Tensor, src_mask: Tensor,
              step_w: StepWeights, masks: List[Masks], out_w: Tensor, out_b: Tensor) -> Tuple[Tensor, Tensor, State]:
        """One decoding step: log-probabilities over the output layer's columns (B, V or Vs), attention, state."""
        dec = self.model.decoder
        if self.int8:
            attn_vec, att, state = self._int8_step(prev, state, keys, values, src_mask, masks)
            logits = self.q_out(attn_vec) if out_w.numel() == 0 else torch.addmm(out_b, attn_vec, out_w)
            return torch.log_softmax(logits, dim=-1), att, state
        return dec.decode_step(prev, state, keys, values, src_mask, step_w, masks, out_w, out_b)

    def _int8_step(self, prev: Tensor, state: State, keys: Tensor, values: Tensor, src_mask: Tensor,
                   masks: List[Masks]) -> Tuple[Tensor, Tensor, State]:
        """`Decoder.step` in eval with every product but attention on int8 weights: s̃_t, attention, state."""
        dec = self.model.decoder
        h, c, feed = state
        h_prev, c_prev = h.unbind(0), c.unbind(0)
        x = dec.embed(prev)
        hs: List[Tensor] = []
        cs: List[Tensor] = []
        for k, (layer, q_in, q_hh) in enumerate(zip(dec.layers, self.q_in, self.q_hh)):
            gx = q_in(x)
            if k == 0 and dec.input_feeding:
                gx = gx + self.q_feed(feed)
            hh = q_hh(h_prev[k])
            h_k, c_k = layer.step(gx.unsqueeze(0), h_prev[k].unsqueeze(0), c_prev[k].unsqueeze(0), masks[k], None,
                                  hh.unsqueeze(0))
            hs.append(h_k)
            cs.append(c_k)
            x = h_k.squeeze(0)
        context, att = dec.attention(x, keys, values, src_mask)
        attn_vec = torch.tanh(self.q_c(torch.cat([context, x], 1)))
        return attn_vec, att, (torch.cat(hs, 0), torch.cat(cs, 0), attn_vec)

    def forward(
        self,
        src: Tensor,
        src_lens: Tensor,
        beam_size: int = 5,
        n_best: int = 1,
        max_len_a: float = 1.5,
        max_len_b: int = 10,
        length_penalty: float = 1.0,
        stop: str = "best",
        with_attention: bool = True,
        shortlist: bool = False,
    ) -> Result:
        if beam_size == 1 and n_best == 1:  # any other n_best is refused by beam's check
            self._check(1, 1, max_len_a, max_len_b, length_penalty, stop, shortlist)  # stop too
            return self.greedy(src, src_lens, max_len_a, max_len_b, length_penalty, with_attention, shortlist)
        return self.beam(src, src_lens, beam_size, n_best, max_len_a, max_len_b, length_penalty, stop,
                         with_attention, shortlist)

    @torch.jit.export
    def greedy(
        self, src: Tensor, src_lens: Tensor, max_len_a: float = 1.5, max_len_b: int = 10, length_penalty: float = 1.0,
        with_attention: bool = True, shortlist: bool = False,
    ) -> Result:
        self._check(1, 1, max_len_a, max_len_b, length_penalty, "best", shortlist)
        model = self.model
        keys, values, src_mask, state = model.encode(src, src_lens)
        step_w, masks = model.decoder.search_weights()  # once per search, not once per step
        vocab, out_w, out_b, cols = self._output(src, src_mask, shortlist)
        B = src.size(0)
        max_lens = (src_lens.to(torch.float64) * max_len_a + max_len_b).floor().long()
        T = int(max_lens.max())
        prev = torch.full([B], model.bos_id, dtype=torch.long, device=src.device)
        tokens = torch.full([B, T], model.pad_id, dtype=torch.long, device=src.device)
        attn = torch.zeros(B, T if with_attention else 0, src.size(1), device=src.device)
        total = torch.zeros(B, device=src.device)
        lengths = torch.zeros(B, dtype=torch.long, device=src.device)
        active = torch.arange(B, device=src.device)  # sentences still decoding; finished ones leave the batch
        steps = 0
        for t in range(T):
            logp, att, state = self._step(prev, state, keys, values, src_mask, step_w, masks, out_w, out_b)
            best, tok = self._mask_logp(logp, t + 1 >= max_lens.index_select(0, active), cols).max(1)
            if shortlist:
                tok = vocab.index_select(0, tok)
            tokens.select(1, t).index_copy_(0, active, tok)
            if with_attention:
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
                if shortlist:
                    out_b = out_b.index_select(0, keep)
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
        stop: str = "best",
        with_attention: bool = True,
        shortlist: bool = False,
    ) -> Result:
        self._check(beam_size, n_best, max_len_a, max_len_b, length_penalty, stop, shortlist)
        model = self.model
        keys, values, src_mask, state = model.encode(src, src_lens)
        step_w, masks = model.decoder.search_weights()  # once per search, not once per step
        vocab, out_w, out_b, cols = self._output(src, src_mask, shortlist)
        need = beam_size if stop == "beam" else n_best  # finished hypotheses a sentence waits for
        limit = beam_size if stop == "beam" else 2147483647  # finished hypotheses a sentence files (2^31 - 1)
        B, K, S = src.size(0), beam_size, src.size(1)
        device = src.device
        expand = torch.arange(B, device=device).repeat_interleave(K)
        keys, values, src_mask = _rows(keys, values, src_mask, expand)
        state = _reorder(state, expand)
        if shortlist:  # a row's bias is its sentence's: beams reorder within a sentence, never across
            out_b = out_b.index_select(0, expand)
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
            logp, att, state = self._step(prev, state, keys, values, src_mask, step_w, masks, out_w, out_b)
            logp = self._mask_logp(logp, t + 1 >= beam_max, cols)
            V = logp.size(1)
            cand = logp.add_(scores.view(-1, 1)).view(Bn, K * V)  # in place: logp is not used again
            top_s, top_i = cand.topk(min(2 * K, K * V), dim=1)
            src_beam = torch.div(top_i, V, rounding_mode="floor")
            tok = top_i - src_beam * V
            if shortlist:
                tok = vocab.index_select(0, tok.flatten()).view(tok.shape)
            is_eos = (tok == model.eos_id) & (top_s > float("-inf"))
            # Hypotheses ending in EOS among the top K are final (as in fairseq's beam search).
            fin = is_eos[:, :K]
            if bool(fin.any()):
                norm = float(t + 1) ** length_penalty
                self._keep_finished(fin, src_beam, top_s, active, hist, hist_attn, att, norm, fin_tok, fin_attn,
                                    fin_score, with_attention, limit, counts)
            # A sentence is done at max length, or: "best", when its best candidate ends and it has n_best
            # hypotheses; "beam", when it has beam_size.
            enough = counts.index_select(0, active) >= need
            if stop == "best":
                enough = enough & is_eos[:, 0]
            done = enough | (t + 1 >= max_lens.index_select(0, active))
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
                if shortlist:
                    out_b = out_b.index_select(0, keep_rows)
            hist = torch.cat([hist.index_select(0, rows), prev.unsqueeze(1)], 1)
            if with_attention:
                hist_attn = torch.cat([hist_attn.index_select(0, rows), att.index_select(0, rows).unsqueeze(1)], 1)
            state = _reorder(state, rows)
        return self._pack(fin_tok, fin_attn, fin_score, n_best, S, device, with_attention)

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
        with_attention: bool,
        limit: int,
        counts: Tensor,
    ) -> None:
        """File the candidates that end in EOS among a step's top K (`fin`, (Bn, K)) under their sentence's
        original index, best first, until the sentence has `limit`: tokens, attention (this step's row
        included) and score / norm; `counts` (B,) counts what each sentence filed."""
        K = fin.size(1)
        pairs: List[List[int]] = fin.nonzero().tolist()  # row-major: each sentence's candidates in rank order
        for pair in pairs:
            b, j = pair[0], pair[1]
            row = b * K + int(src_beam[b, j])
            orig = int(active[b])
            if len(fin_score[orig]) >= limit:
                continue
            fin_tok[orig].append(hist[row])
            if with_attention:
                fin_attn[orig].append(torch.cat([hist_attn[row], att[row].unsqueeze(0)], 0))
            fin_score[orig].append(float(top_s[b, j]) / norm)
            counts[orig] += 1

    def _pack(
        self,
        fin_tok: List[List[Tensor]],
        fin_attn: List[List[Tensor]],
        fin_score: List[List[float]],
        n_best: int,
        S: int,
        device: torch.device,
        with_attention: bool,
    ) -> Result:
        B = len(fin_tok)
        T = 1
        for hyps in fin_tok:
            for h in hyps:
                T = max(T, h.size(0) + 1)
        tokens = torch.full([B, n_best, T], self.model.pad_id, dtype=torch.long, device=device)
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
                    attn[b, n, : L + 1] = fin_attn[b][i]
        return tokens, scores, lengths, attn


def _int8(weight: Tensor, bias: Optional[Tensor]) -> nn.Module:
    """A dynamically quantized linear layer y = x W^T + b: int8 weights, one scale per output row (fbgemm)."""
    dense = nn.Linear(weight.size(1), weight.size(0), bias=bias is not None)
    with torch.no_grad():
        dense.weight.copy_(weight.detach())
        if bias is not None:
            dense.bias.copy_(bias.detach())
    dense.qconfig = torch.ao.quantization.per_channel_dynamic_qconfig
    with warnings.catch_warnings():  # torch 2.13 announces the quantized dtypes' eventual removal (docs/design.md §10)
        warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")
        return qdynamic.Linear.from_float(dense)
