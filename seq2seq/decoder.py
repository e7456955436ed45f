"""The attentional decoder of Luong et al. 2015 with input feeding (docs/design.md §4).

A step reads x_t = [y_{t-1}; s̃_{t-1}] into the stacked layers, which give s_t; attention over the source gives
the context c_t; the attentional vector s̃_t = tanh(W_c [c_t; s_t] + b_c) is fed to the next step and gives
p(y_t | y_<t, x) = softmax(W_y s̃_t + b_y). Layer 0's W_ih splits into the half that reads y_{t-1} and the
input-feeding half that reads s̃_{t-1}: teacher forcing projects every step's embedding before the time loop.
"""

from typing import List, NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.jit import Final

from seq2seq.attention import Attention
from seq2seq.cells import Masks, RecurrentLayer, defer_weight_grads, deferring, narrow_masks
from seq2seq.config import ModelConfig, Regularizers

# Decoder state: h (L, B, H), c (L, B, H or 0), previous attentional vector s̃_{t-1} (B, H).
State = Tuple[Tensor, Tensor, Tensor]


class StepWeights(NamedTuple):
    """What a step multiplies by and adds, taken from the parameters once per forward pass or search: slicing
    or transposing a parameter inside the time loop would redo that work every step, and make backward
    allocate and add a full-size gradient every step. Matrices are transposed, (inputs, outputs)."""

    w_emb: Tensor  # (E, G*H) layer 0's W_ih^T, the rows that read y_{t-1}
    b_emb: Tensor  # (G*H,) layer 0's bias, added with the projection of y_{t-1} (`RecurrentLayer.input_bias`)
    w_feed: Tensor  # (H, G*H) layer 0's W_ih^T, the rows that read s̃_{t-1}; (0, G*H) without input feeding
    w_ih: List[Tensor]  # (H, G*H) W_ih^T of each further layer
    b_in: List[Tensor]  # (G*H,) each further layer's bias (`input_bias`), or a step's rows of its accumulator
    w_c: Tensor  # (2H, H) W_c^T of s̃_t = tanh(W_c [c_t; s_t] + b_c)
    b_c: Tensor  # (H,) b_c, or a step's rows of its accumulator


class StepLogs(NamedTuple):
    """Where each step appends the input of every product whose weight gradient is deferred (`Decoder._defer`)."""

    feed: List[Tensor]  # s̃_{t-1}, times w_feed
    x: List[List[Tensor]]  # x^k_t of each further layer, times its w_ih
    h: List[List[Tensor]]  # h^k_{t-1} of every layer, times its W_hh^T (none for the GRU: per-step gradients)
    cx: List[Tensor]  # [c_t; s_t], times w_c


class Decoder(nn.Module):
    input_feeding: Final[bool]
    emb_dropout: Final[float]
    out_dropout: Final[float]
    dropout: Final[float]
    feed_size: Final[int]
    defer_hh: Final[bool]

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        H = cfg.dec_hidden
        self.embed = nn.Embedding(cfg.tgt_vocab, cfg.emb_dim, padding_idx=cfg.pad_id)
        self.input_feeding = cfg.input_feeding
        self.feed_size = H if cfg.input_feeding else 0
        self.defer_hh = cfg.cell != "gru"  # the GRU's W_hh h has its own bias term, inside r ⊙ (·)
        self.emb_dropout, self.out_dropout, self.dropout = cfg.emb_dropout, cfg.out_dropout, cfg.dec_reg.dropout
        in0 = cfg.emb_dim + (H if cfg.input_feeding else 0)
        self.layers = nn.ModuleList(
            [RecurrentLayer(cfg.cell, in0 if k == 0 else H, H, 1, cfg.dec_reg) for k in range(cfg.dec_layers)]
        )
        self.attention = Attention(cfg.attention, H)
        self.concat = nn.Linear(2 * H, H)  # W_c, b_c of s̃_t = tanh(W_c [c_t; s_t] + b_c)
        self.out = nn.Linear(H, cfg.tgt_vocab)  # W_y, b_y
        if cfg.tie_embeddings:
            self.out.weight = self.embed.weight

    def set_rates(self, reg: Regularizers) -> None:
        """Replace the regularizer rates of every layer (a training schedule, eager only)."""
        self.dropout = reg.dropout
        for layer in self.layers:
            layer.set_rates(reg)

    def sample_masks(self, batch: int, like: Tensor) -> List[Masks]:
        """Per-sequence masks of every layer, drawn once per forward pass (none in eval)."""
        return [layer.sample_masks(batch, like) for layer in self.layers]

    def step_weights(self) -> StepWeights:
        """The weights every step of a forward pass uses (`StepWeights`)."""
        layer0 = self.layers[0]
        w = layer0.weight_ih[0]  # (G*H, E + feed_size)
        E = w.size(1) - self.feed_size
        w_ih: List[Tensor] = []
        b_in: List[Tensor] = []
        for k, layer in enumerate(self.layers):
            if k > 0:
                w_ih.append(layer.weight_ih[0].t())
                b_in.append(layer.input_bias()[0])
        return StepWeights(w[:, :E].t(), layer0.input_bias()[0], w[:, E:].t(), w_ih, b_in, self.concat.weight.t(),
                           self.concat.bias)

    def search_weights(self) -> Tuple[StepWeights, List[Masks]]:
        """The weights and masks of every step of a search (`decode_step`), taken once per search. Searches
        decode in eval, where no dropout mask is drawn: each layer's masks are its W_hh^T alone."""
        masks = [Masks(None, None, None, layer.weight_hh.transpose(1, 2)) for layer in self.layers]
        return self.step_weights(), masks

    def mask_embedding(self, emb: Tensor, masks: List[Masks]) -> Tensor:
        """Variational dropout on the embedding half of layer 0's input: one mask per sequence, the same at every
        step. (B, E) or (B, T, E)."""
        x_mask = masks[0].x_mask
        if x_mask is None:
            return emb
        m = x_mask[0, :, : emb.size(-1)]  # (B, E)
        return emb * (m.unsqueeze(1) if emb.dim() == 3 else m)

    def embed_projection(self, emb: Tensor, w: StepWeights) -> Tensor:
        """Layer 0's input projection of (masked) target embeddings, biases included; (..., E) → (..., G*H).

        Teacher forcing projects every step's embedding in one matrix product before the time loop; a step
        then only adds the projection of s̃_{t-1} (the input-feeding half of [y_{t-1}; s̃_{t-1}]).
        """
        E = emb.size(-1)
        gx = torch.addmm(w.b_emb, emb.reshape(-1, E), w.w_emb)
        return gx.view(list(emb.shape[:-1]) + [gx.size(1)])

    def step(self, gx: Tensor, state: State, keys: Tensor, values: Tensor, src_mask: Tensor,
             masks: List[Masks], w: StepWeights, logs: Optional[StepLogs] = None,
             beams: int = 1) -> Tuple[Tensor, Tensor, State]:
        """One decoding step.

        :param gx: (B, G*H) layer 0's `embed_projection` of y_{t-1}
        :param w: `step_weights` (detached, with this step's rows of the bias accumulators, when deferred)
        :param logs: when the weights' gradients are deferred, where the step appends each product's input
        :param beams: rows per source: keys, values and src_mask have B / beams rows (`Attention.forward`)
        :return: s̃_t (B, H), attention weights (B, S), new state
        """
        h, c, feed = state
        if self.input_feeding:
            x_mask = masks[0].x_mask
            if x_mask is not None:
                feed = feed * x_mask[0, :, x_mask.size(2) - self.feed_size :]
            if logs is not None:
                logs.feed.append(feed.detach())
            gx = torch.addmm(gx, feed, w.w_feed)  # (B, G*H)
        hs: List[Tensor] = []
        cs: List[Tensor] = []
        h_prev, c_prev = h.unbind(0), c.unbind(0)
        x = feed  # replaced by layer 0's output before any use
        for k, layer in enumerate(self.layers):
            m = masks[k]
            if k > 0:
                x = F.dropout(x, self.dropout, self.training)  # Zaremba et al.: vertical connections only
                x_mask = m.x_mask
                if x_mask is not None:
                    x = x * x_mask[0]  # variational: one mask per sequence
                if logs is not None:
                    logs.x[k - 1].append(x.detach())
                gx = torch.addmm(w.b_in[k - 1], x, w.w_ih[k - 1])
            hh_log = logs.h[k] if logs is not None and self.defer_hh else None
            h_k, c_k = layer.step(gx.unsqueeze(0), h_prev[k].unsqueeze(0), c_prev[k].unsqueeze(0), m, hh_log)
            hs.append(h_k)
            cs.append(c_k)
            x = h_k.squeeze(0)
        context, weights_a = self.attention(x, keys, values, src_mask, beams)
        cx = torch.cat([context, x], 1)
        if logs is not None:
            logs.cx.append(cx.detach())
        attn_vec = torch.tanh(torch.addmm(w.b_c, cx, w.w_c))  # s̃_t = tanh(W_c [c_t; s_t] + b_c)
        return attn_vec, weights_a, (torch.cat(hs, 0), torch.cat(cs, 0), attn_vec)

    def decode_step(self, prev: Tensor, state: State, keys: Tensor, values: Tensor, src_mask: Tensor,
                    w: StepWeights, masks: List[Masks], out_w: Optional[Tensor] = None,
                    out_b: Optional[Tensor] = None, beams: int = 1) -> Tuple[Tensor, Tensor, State]:
        """One step of a search.

        :param prev: (B,) previous tokens
        :param w, masks: `search_weights()`, taken once per search
        :param out_w, out_b: a restricted output layer, W_y^T (H, Vs) and its bias, (Vs,) or one row per
            hypothesis (B, Vs) (a vocabulary shortlist; -inf where a row may not go); None or empty: the whole
            vocabulary
        :param beams: rows per source (`step`)
        :return: log-probabilities (B, V) (over the Vs columns of out_w, given one), attention (B, S), new state
        """
        gx = self.embed_projection(self.embed(prev), w)
        attn_vec, att, state = self.step(gx, state, keys, values, src_mask, masks, w, None, beams)
        if out_w is not None and out_b is not None and out_w.numel() > 0:
            return torch.log_softmax(torch.addmm(out_b, attn_vec, out_w), dim=-1), att, state
        return torch.log_softmax(self.logits(attn_vec), dim=-1), att, state

    @torch.jit.unused
    def _defer(self, gx_emb: Tensor, w: StepWeights,
               masks: List[Masks]) -> Tuple[Tensor, StepWeights, StepLogs, List[Masks]]:
        """The step's weight gradients deferred to one matrix product each (`defer_weight_grads`): layer k's
        W_ih part and W_hh share one accumulator (its additive term: gx_emb for layer 0, the bias expanded to
        every step for the others), and W_c has the last.

        :param gx_emb: (N, G*H) layer 0's `embed_projection` of every step
        :return: gx_emb's accumulator; the weights for the loop (matrices detached, biases replaced by their
            (N, ·) accumulators); the logs for `step`; the masks with W_hh^T detached
        """
        N = gx_emb.size(0)

        def defer(acc: Tensor, weight: Tensor, k: int) -> Tuple[Tensor, List[Tensor], List[Tensor]]:
            if k < 0 or not self.defer_hh:  # W_c, or the GRU's layers: its W_hh h has its bias inside r ⊙ (·)
                acc, logs = defer_weight_grads(acc, [weight])
                return acc, logs[0], []
            acc, logs = defer_weight_grads(acc, [weight, masks[k].w_hh_t])
            return acc, logs[0], logs[1]

        gx_emb, feed_log, h_log = defer(gx_emb, w.w_feed, 0)
        x_logs: List[List[Tensor]] = []
        h_logs = [h_log]
        b_in: List[Tensor] = []
        for k in range(1, len(self.layers)):
            b = w.b_in[k - 1]
            acc, x_log, h_log = defer(b.expand(N, b.size(0)), w.w_ih[k - 1], k)
            b_in.append(acc)
            x_logs.append(x_log)
            h_logs.append(h_log)
        b_c, cx_log, _ = defer(w.b_c.expand(N, w.b_c.size(0)), w.w_c, -1)
        detached = StepWeights(w.w_emb, w.b_emb, w.w_feed.detach(), [v.detach() for v in w.w_ih], b_in,
                               w.w_c.detach(), b_c)
        loop_masks = [Masks(m.x_mask, m.h_mask, m.c_mask, m.w_hh_t.detach() if self.defer_hh else m.w_hh_t)
                      for m in masks]
        return gx_emb, detached, StepLogs(feed_log, x_logs, h_logs, cx_log), loop_masks

    def logits(self, attn_vec: Tensor) -> Tensor:
        """p(y_t | y_<t, x) = softmax(W_y s̃_t + b_y); returns the logits. (..., H) → (..., V)"""
        return self.out(F.dropout(attn_vec, self.out_dropout, self.training))

    def forward(self, tgt_in: Tensor, state: State, keys: Tensor, values: Tensor, src_mask: Tensor,
                tgt_lens: Optional[Tensor] = None) -> Tensor:
        """Teacher forcing, with the batch packed like a PackedSequence: step t runs only the sentences still
        that long, so a batch of mixed lengths costs what its real tokens cost.

        :param tgt_in: (B, T) ids starting with BOS
        :param tgt_lens: (B,) how many steps of each sentence are scored, in [1, T]; None scores all T
        :return: logits (B, T, V); given tgt_lens, (N, V) for the N = Σ tgt_lens scored steps only, sentence
            by sentence in the order of `tgt_in[mask]` with mask = arange(T) < tgt_lens[:, None]
        """
        B, T = tgt_in.size(0), tgt_in.size(1)
        pos = torch.empty(0, dtype=torch.long)
        if tgt_lens is None:
            lens = torch.full([B], T, dtype=torch.long)
        else:
            if tgt_lens.dim() != 1 or tgt_lens.size(0) != B:
                raise ValueError(f"tgt_lens: expected ({B},), got shape {list(tgt_lens.shape)}")
            if tgt_lens.dtype != torch.long:
                raise ValueError("tgt_lens: lengths must be a torch.long tensor")
            if bool((tgt_lens < 1).any()) or bool((tgt_lens > T).any()):
                raise ValueError(f"tgt_lens: every length must be in [1, {T}]")
            # Longest first, so that the sentences still running at step t are the first rows.
            tgt_lens = tgt_lens.to(tgt_in.device)
            sorted_lens, order = tgt_lens.sort(descending=True, stable=True)
            pos = order.argsort()
            lens = sorted_lens.to(device="cpu", dtype=torch.long)
            tgt_in, keys, values, src_mask = (tgt_in.index_select(0, order), keys.index_select(0, order),
                                              values.index_select(0, order), src_mask.index_select(0, order))
            h, c, feed = state
            state = (h.index_select(1, order), c.index_select(1, order), feed.index_select(0, order))
        emb = F.dropout(self.embed(tgt_in), self.emb_dropout, self.training)
        masks = self.sample_masks(B, emb)
        # (N, E) embeddings of the steps that run, step by step; batch_sizes[t] sentences run at step t.
        emb, batch_sizes = torch._pack_padded_sequence(self.mask_embedding(emb, masks), lens, True)
        sizes: List[int] = batch_sizes.tolist()
        packed = self._packed_steps(emb, sizes, state, keys, values, src_mask, masks)  # (N, H), step by step
        if tgt_lens is None:
            return self.logits(packed.view(T, B, -1).transpose(0, 1).contiguous())
        # Row of (sentence b, step t) in `packed`: the rows before step t, plus b's rank by length.
        starts = (batch_sizes.cumsum(0) - batch_sizes).to(pos.device)
        steps = torch.arange(len(sizes), device=pos.device)
        rows = (starts.unsqueeze(0) + pos.unsqueeze(1))[steps.unsqueeze(0) < tgt_lens.unsqueeze(1)]
        return self.logits(packed.index_select(0, rows))

    def _packed_steps(self, emb: Tensor, sizes: List[int], state: State, keys: Tensor, values: Tensor,
                      src_mask: Tensor, masks: List[Masks]) -> Tensor:
        """The time loop of teacher forcing over packed embeddings, longest sentences first.

        :param emb: (N, E) the embeddings of the steps that run, step by step; sizes[t] sentences run at step t
        :return: (N, H) s̃_t of every step that runs, in the same order
        """
        w = self.step_weights()
        gx_emb = self.embed_projection(emb, w)  # (N, G*H): one matrix product for every step
        logs: Optional[StepLogs] = None
        b_in_parts: List[List[Tensor]] = []
        b_c_parts: List[Tensor] = []
        if deferring():
            gx_emb, w, logs, masks = self._defer(gx_emb, w, masks)
            b_in_parts = [b.split(sizes) for b in w.b_in]
            b_c_parts = w.b_c.split(sizes)
        # split, not indexing: its backward is one concatenation, not a full-size zero tensor per step
        gx_parts = gx_emb.split(sizes)
        outs: List[Tensor] = []
        n = sizes[0]
        for t in range(len(sizes)):
            w_t = w
            if logs is not None:  # this step's rows of the bias accumulators
                w_t = StepWeights(w.w_emb, w.b_emb, w.w_feed, w.w_ih, [p[t] for p in b_in_parts], w.w_c,
                                  b_c_parts[t])
            if sizes[t] < n:  # sentences have ended: drop their rows
                n = sizes[t]
                h, c, feed = state
                state = (h[:, :n], c[:, :n], feed[:n])
                keys, values, src_mask = keys[:n], values[:n], src_mask[:n]
                masks = [narrow_masks(m, n) for m in masks]
            attn_vec, _, state = self.step(gx_parts[t], state, keys, values, src_mask, masks, w_t, logs)
            outs.append(attn_vec)
        return torch.cat(outs, 0)
