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
  a shortlist restricts it. The quantized copies are made here, on a copy of the model whose float matrices
  they replace are dropped (an int8 artifact holds only the int8 copies): build the Search after loading the
  weights.
- `stop="beam"`: a sentence ends when beam_size hypotheses have ended (fairseq's rule), instead of when its
  best candidate ends (`stop="best"`, OpenNMT-py's rule).

Beam search also runs step by step, for continuous batching (seq2seq/decoding.py): `start` encodes sentences into
a `Decoding`, `join` merges two, `select` keeps some, `step` advances every sentence by one token and returns
those that ended; `advance` is the three in one call. `beam` is `start` and `step` until no sentence is left,
so a sentence gets the same tokens whichever sentences share its steps, and whenever it joined them.
"""

import copy
import warnings
from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn
from torch.ao.nn.quantized import dynamic as qdynamic
from torch.jit import Final

from seq2seq.cells import Masks
from seq2seq.decoder import State, StepWeights
from seq2seq.decoding import Decoding, Result, concat, file_finished, no_hypotheses, no_scores, pack, subset
from seq2seq.model import Seq2Seq

STOPS = ("best", "beam")



def _reorder(state: State, rows: Tensor) -> State:
    h, c, feed = state
    return h.index_select(1, rows), c.index_select(1, rows), feed.index_select(0, rows)


def _rows(keys: Tensor, values: Tensor, src_mask: Tensor, rows: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """The source side (keys, values, src_mask) of the hypotheses in `rows`."""
    return keys.index_select(0, rows), values.index_select(0, rows), src_mask.index_select(0, rows)


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
        if int8 and any(p.device.type != "cpu" for p in model.parameters()):
            raise ValueError("int8: dynamically quantized weights run on the CPU only")
        # `_quantize` drops the float matrices it replaces: from a copy, never from the caller's model
        self.model = copy.deepcopy(model) if int8 else model
        self.has_shortlist = lexicon is not None
        table, frequent = lexicon if lexicon is not None else (torch.zeros(0, 0), torch.zeros(0))
        if lexicon is not None:
            if table.dim() != 2 or table.size(0) != model.src_vocab or table.size(1) < 1 or frequent.dim() != 1:
                raise ValueError(f"lexicon: expected a ({model.src_vocab}, k) table and a 1-D list of frequent ids, "
                                 f"got shapes {list(table.shape)} and {list(frequent.shape)}")
            ids = torch.cat([table.flatten(), frequent.flatten()])
            if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= model.tgt_vocab):
                raise ValueError(f"lexicon: target ids must be in [0, {model.tgt_vocab})")
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
        # The float matrices the int8 step replaces are never read again (`_weights`): an artifact keeps only
        # their int8 copies, a quarter of their size. The biases stay (small); so does the output layer's float
        # weight when a shortlist slices it (`_output`).
        with torch.no_grad():
            for layer in dec.layers:
                layer.weight_ih = nn.Parameter(layer.weight_ih.new_zeros(layer.weight_ih.size(0), 0, 0), False)
                layer.weight_hh = nn.Parameter(layer.weight_hh.new_zeros(layer.weight_hh.size(0), 0, 0), False)
            dec.concat.weight = nn.Parameter(dec.concat.weight.new_zeros(0, 0), False)
            if not self.has_shortlist:
                dec.out.weight = nn.Parameter(dec.out.weight.new_zeros(0, 0), False)

    def _weights(self) -> Tuple[StepWeights, List[Masks]]:
        """The decoder's step weights and masks for one search (`Decoder.search_weights`); with int8 weights,
        empty ones: `_int8_step` reads none of them, and the float matrices they would be taken from are gone."""
        if not self.int8:
            return self.model.decoder.search_weights()
        e = torch.zeros(0)
        no: List[Tensor] = []
        masks = [Masks(None, None, None, e) for _ in self.model.decoder.layers]
        return StepWeights(e, e, e, no, no, e, e), masks

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
              step_w: StepWeights, masks: List[Masks], out_w: Tensor, out_b: Tensor,
              beams: int = 1) -> Tuple[Tensor, Tensor, State]:
        """One decoding step: log-probabilities over the output layer's columns (B, V or Vs), attention, state.
        `beams`: rows per source (keys, values and src_mask have B / beams rows)."""
        dec = self.model.decoder
        if self.int8:
            attn_vec, att, state = self._int8_step(prev, state, keys, values, src_mask, masks, beams)
            logits = self.q_out(attn_vec) if out_w.numel() == 0 else torch.addmm(out_b, attn_vec, out_w)
            return torch.log_softmax(logits, dim=-1), att, state
        return dec.decode_step(prev, state, keys, values, src_mask, step_w, masks, out_w, out_b, beams)

    def _int8_step(self, prev: Tensor, state: State, keys: Tensor, values: Tensor, src_mask: Tensor,
                   masks: List[Masks], beams: int = 1) -> Tuple[Tensor, Tensor, State]:
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
        context, att = dec.attention(x, keys, values, src_mask, beams)
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
        step_w, masks = self._weights()  # once per search, not once per step
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
        """Every sentence of the batch started together, stepped until each has ended (`step`)."""
        B = src.size(0)
        d = self.start(src, src_lens, torch.arange(B, device=src.device), beam_size, n_best, max_len_a, max_len_b,
                       length_penalty, stop, with_attention, shortlist)
        fin_tok, fin_attn, fin_score = no_hypotheses(B), no_hypotheses(B), no_scores(B)
        while d.ids.size(0) > 0:
            d, ids, _, tok, attn, score = self._advance(d)
            ended: List[int] = ids.tolist()
            for i, b in enumerate(ended):
                fin_tok[b], fin_attn[b], fin_score[b] = tok[i], attn[i], score[i]
        return pack(fin_tok, fin_attn, fin_score, n_best, src.size(1), src.device, with_attention, self.model.pad_id)

    @torch.jit.export
    def start(
        self,
        src: Tensor,
        src_lens: Tensor,
        ids: Tensor,
        beam_size: int = 5,
        n_best: int = 1,
        max_len_a: float = 1.5,
        max_len_b: int = 10,
        length_penalty: float = 1.0,
        stop: str = "best",
        with_attention: bool = True,
        shortlist: bool = False,
    ) -> Decoding:
        """Encode a batch into a beam search that has taken no step yet (beam_size 1: greedy's tokens).

        :param ids: (B,) long, what `step` calls each sentence when it ends
        """
        self._check(beam_size, n_best, max_len_a, max_len_b, length_penalty, stop, shortlist)
        if ids.dim() != 1 or ids.size(0) != src.size(0):
            raise ValueError(f"ids: expected one id per sentence, ({src.size(0)},), got shape {list(ids.shape)}")
        model = self.model
        keys, values, src_mask, state = model.encode(src, src_lens)
        vocab, out_w, out_b, cols = self._output(src, src_mask, shortlist)
        B, K, S = src.size(0), beam_size, src.size(1)
        device = src.device
        expand = torch.arange(B, device=device).repeat_interleave(K)
        state = _reorder(state, expand)  # the source side stays one row per sentence: its K beams share it
        if shortlist:  # a row's bias is its sentence's: beams reorder within a sentence, never across
            out_b = out_b.index_select(0, expand)
        max_lens = (src_lens.to(torch.float64) * max_len_a + max_len_b).floor().long()  # (B,)
        # All K beams start identical: only the first may expand at the first step.
        scores = torch.full([B, K], float("-inf"), device=device)
        scores[:, 0] = 0.0
        prev = torch.full([B * K], model.bos_id, dtype=torch.long, device=device)
        hist = torch.zeros(B * K, 0, dtype=torch.long, device=device)
        hist_attn = torch.zeros(B * K, 0, S if with_attention else 0, device=device)
        zeros = torch.zeros(B, dtype=torch.long, device=device)
        kept_src = src if shortlist else torch.zeros(0, 0, dtype=torch.long, device=device)
        return Decoding(ids.to(device), src_lens, max_lens, zeros, zeros.clone(), scores, prev, hist, hist_attn, keys,
                        values, src_mask, state, no_hypotheses(B), no_hypotheses(B), no_scores(B), kept_src, vocab,
                        out_w, out_b, cols, beam_size, n_best, length_penalty, stop, with_attention, shortlist)

    @torch.jit.export
    def join(self, a: Decoding, b: Decoding) -> Decoding:
        """One decoding of a's sentences, then b's (both used up): b may join a between a's steps. A shortlist
        becomes the union of both batches' (`_output`): each row's bias keeps it to its own sentence's."""
        if a.ids.size(0) == 0:
            return b
        if b.ids.size(0) == 0:
            return a
        d = concat(a, b)
        if not d.shortlist:
            return d
        S = d.src.size(1)
        src_mask = torch.arange(S, device=d.src.device).unsqueeze(0) < d.src_lens.unsqueeze(1)
        vocab, out_w, out_b, cols = self._output(d.src, src_mask, True)
        out_b = out_b.repeat_interleave(d.beam_size, 0)
        return Decoding(d.ids, d.src_lens, d.max_lens, d.steps, d.counts, d.scores, d.prev, d.hist, d.hist_attn,
                        d.keys, d.values, d.src_mask, d.state, d.fin_tok, d.fin_attn, d.fin_score, d.src, vocab, out_w,
                        out_b, cols, d.beam_size, d.n_best, d.length_penalty, d.stop, d.with_attention, d.shortlist)

    @torch.jit.export
    def select(self, d: Decoding, keep: Tensor) -> Decoding:
        """Only the sentences at positions `keep` (B',) of d (used up) decode on (those whose clients left do not)."""
        if keep.dim() != 1 or (keep.numel() > 0 and (int(keep.min()) < 0 or int(keep.max()) >= d.ids.size(0))):
            raise ValueError(f"keep: expected positions in [0, {d.ids.size(0)})")
        return subset(d, keep.to(d.ids.device))

    @torch.jit.export
    def step(self, d: Decoding) -> Tuple[Decoding, Tensor, Tensor, Result]:
        """One step of every sentence of d (used up): the decoding of those still going, and of those that ended
        their ids (F,), source lengths (F,) and hypotheses, as `forward` returns them (n_best each)."""
        if d.ids.size(0) == 0:
            raise ValueError("step: the decoding has no sentence left")
        S = d.keys.size(1)
        d, ended, lens, tok, attn, score = self._advance(d)
        return d, ended, lens, pack(tok, attn, score, d.n_best, S, ended.device, d.with_attention, self.model.pad_id)

    @torch.jit.export
    def advance(
        self,
        d: Optional[Decoding],
        keep: Optional[Tensor],
        src: Optional[Tensor],
        src_lens: Optional[Tensor],
        ids: Optional[Tensor],
        beam_size: int = 5,
        n_best: int = 1,
        max_len_a: float = 1.5,
        max_len_b: int = 10,
        length_penalty: float = 1.0,
        stop: str = "best",
        with_attention: bool = True,
        shortlist: bool = False,
    ) -> Tuple[Optional[Decoding], Tensor, Tensor, Result]:
        """`select` (keep, when given), `start` (src, src_lens, ids, when given) and `join`, then `step`, in one
        call: continuous batching calls it once per step. Returns the decoding (None when no sentence is left)
        and what `step` returns of the sentences that ended."""
        if d is not None and keep is not None:
            d = self.select(d, keep)
        if src is not None and src_lens is not None and ids is not None:
            new = self.start(src, src_lens, ids, beam_size, n_best, max_len_a, max_len_b, length_penalty, stop,
                             with_attention, shortlist)
            d = new if d is None else self.join(d, new)
        if d is None or d.ids.size(0) == 0:
            raise ValueError("advance: no sentence to decode")
        d, ended, lens, result = self.step(d)
        return (d if d.ids.size(0) > 0 else None), ended, lens, result

    def _advance(self, d: Decoding) -> Tuple[Decoding, Tensor, Tensor, List[List[Tensor]], List[List[Tensor]],
                                             List[List[float]]]:
        """One step of every sentence; those that ended leave. Returns the decoding of the others, and of those
        that ended their ids, source lengths and finished hypotheses (tokens, attention, scores)."""
        model = self.model
        step_w, masks = self._weights()  # views of the parameters: cheap to take every step
        K, Bn, device = d.beam_size, d.ids.size(0), d.prev.device
        need = K if d.stop == "beam" else d.n_best  # finished hypotheses a sentence waits for
        limit = K if d.stop == "beam" else 2147483647  # finished hypotheses a sentence files (2^31 - 1)
        last = d.steps + 1 >= d.max_lens  # (Bn,) at its maximum length: EOS is forced
        logp, att, state = self._step(d.prev, d.state, d.keys, d.values, d.src_mask, step_w, masks, d.out_w, d.out_b,
                                      K)
        logp = self._mask_logp(logp, last.repeat_interleave(K), d.cols)
        V = logp.size(1)
        cand = logp.add_(d.scores.view(-1, 1)).view(Bn, K * V)  # in place: logp is not used again
        top_s, top_i = cand.topk(min(2 * K, K * V), dim=1)
        src_beam = torch.div(top_i, V, rounding_mode="floor")
        tok = top_i - src_beam * V
        if d.shortlist:
            tok = d.vocab.index_select(0, tok.flatten()).view(tok.shape)
        is_eos = (tok == model.eos_id) & (top_s > float("-inf"))
        # Hypotheses ending in EOS among the top K are final (as in fairseq's beam search).
        fin = is_eos[:, :K]
        if bool(fin.any()):
            file_finished(fin, src_beam, top_s, d.steps, d.hist, d.hist_attn, att, d.length_penalty, d.fin_tok,
                          d.fin_attn, d.fin_score, d.with_attention, limit, d.counts)
        # A sentence is done at max length, or: "best", when its best candidate ends and it has n_best
        # hypotheses; "beam", when it has beam_size.
        enough = d.counts >= need
        if d.stop == "best":
            enough = enough & is_eos[:, 0]
        done = enough | last
        at = done.nonzero().squeeze(1)
        done_at: List[int] = at.tolist()
        ended = (d.ids.index_select(0, at), d.src_lens.index_select(0, at), [d.fin_tok[i] for i in done_at],
                 [d.fin_attn[i] for i in done_at], [d.fin_score[i] for i in done_at])
        if len(done_at) == Bn:
            d = subset(d, torch.zeros(0, dtype=torch.long, device=device))
            return d, ended[0], ended[1], ended[2], ended[3], ended[4]
        # Survivors: the best K candidates that did not end.
        rank = torch.arange(2 * K, device=device).unsqueeze(0)
        order = (is_eos.long() * (2 * K) + rank).argsort(dim=1)[:, :K]
        rows = (torch.arange(Bn, device=device).unsqueeze(1) * K + src_beam.gather(1, order)).view(-1)
        prev = tok.gather(1, order).view(-1)
        hist = torch.cat([d.hist.index_select(0, rows), prev.unsqueeze(1)], 1)
        hist_attn = d.hist_attn
        if d.with_attention:
            hist_attn = torch.cat([hist_attn.index_select(0, rows), att.index_select(0, rows).unsqueeze(1)], 1)
        d = Decoding(d.ids, d.src_lens, d.max_lens, d.steps + 1, d.counts, top_s.gather(1, order), prev, hist,
                     hist_attn, d.keys, d.values, d.src_mask, _reorder(state, rows), d.fin_tok, d.fin_attn,
                     d.fin_score, d.src, d.vocab, d.out_w, d.out_b, d.cols, d.beam_size, d.n_best, d.length_penalty,
                     d.stop, d.with_attention, d.shortlist)
        if len(done_at) > 0:
            d = subset(d, (~done).nonzero().squeeze(1))
        return d, ended[0], ended[1], ended[2], ended[3], ended[4]

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
