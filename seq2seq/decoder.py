"""The attentional decoder of Luong et al. 2015 with input feeding (DESIGN §4)."""

from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.jit import Final

from seq2seq.attention import Attention
from seq2seq.cells import Masks, RecurrentLayer, defer_weight_grads, deferring, narrow_masks
from seq2seq.config import ModelConfig, Regularizers

# Decoder state: h (L, B, H), c (L, B, H or 0), previous attentional vector s̃_{t-1} (B, H).
State = Tuple[Tensor, Tensor, Tensor]


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

    def step_weights(self) -> Tuple[List[Tensor], List[Tensor]]:
        """What every step multiplies by and adds, taken once per forward pass: slicing or transposing a
        parameter inside the time loop would make backward allocate and add a full-size gradient every step.

        :return: the matrices, transposed: [layer 0's W_ih columns that read s̃_{t-1} ((0, G*H) without input
            feeding), W_ih of every further layer, W_c]; the biases: [b of every further layer, b_c]
        """
        w = self.layers[0].weight_ih
        weights = [w[0, :, w.size(2) - self.feed_size :].t()]
        biases: List[Tensor] = []
        for k, layer in enumerate(self.layers):
            if k > 0:
                weights.append(layer.weight_ih[0].t())
                biases.append(layer.input_bias()[0])
        weights.append(self.concat.weight.t())
        biases.append(self.concat.bias)
        return weights, biases

    def mask_embedding(self, emb: Tensor, masks: List[Masks]) -> Tensor:
        """Variational dropout on the embedding half of layer 0's input: one mask per sequence, the same at every
        step. (B, E) or (B, T, E)."""
        x_mask = masks[0][0]
        if x_mask is None:
            return emb
        m = x_mask[0, :, : emb.size(-1)]  # (B, E)
        return emb * (m.unsqueeze(1) if emb.dim() == 3 else m)

    def embed_projection(self, emb: Tensor) -> Tensor:
        """Layer 0's input projection of (masked) target embeddings, biases included; (..., E) → (..., G*H).

        Teacher forcing projects every step's embedding in one matrix product before the time loop; a step
        then only adds the projection of s̃_{t-1} (the input-feeding half of [y_{t-1}; s̃_{t-1}]).
        """
        layer = self.layers[0]
        E = emb.size(-1)
        gx = torch.addmm(layer.input_bias()[0], emb.reshape(-1, E), layer.weight_ih[0, :, :E].t())
        return gx.view(list(emb.shape[:-1]) + [gx.size(1)])

    def step(self, adds: List[Tensor], state: State, keys: Tensor, values: Tensor, src_mask: Tensor,
             masks: List[Masks], weights: List[Tensor],
             logs: Optional[List[List[Tensor]]] = None) -> Tuple[Tensor, Tensor, State]:
        """One decoding step.

        :param adds: what each of `weights`' products adds to: layer 0's `embed_projection` of y_{t-1}
            (B, G*H), then `step_weights`'s biases (or this step's rows of their deferred accumulators)
        :param weights: `step_weights`'s matrices
        :param logs: when the weights' gradients are deferred, where the step appends each product's input:
            [s̃_{t-1}, h⁰_{t-1}, x¹_t, h¹_{t-1}, ..., [c_t; s_t]]
        :return: s̃_t (B, H), attention weights (B, S), new state
        """
        h, c, feed = state
        L = len(self.layers)
        gx = adds[0]
        if self.input_feeding:
            x_mask = masks[0][0]
            if x_mask is not None:
                feed = feed * x_mask[0, :, x_mask.size(2) - self.feed_size :]
            if logs is not None:
                logs[0].append(feed.detach())
            gx = torch.addmm(gx, feed, weights[0])  # (B, G*H)
        hs: List[Tensor] = []
        cs: List[Tensor] = []
        h_prev, c_prev = h.unbind(0), c.unbind(0)
        x = feed  # replaced by layer 0's output before any use
        for k, layer in enumerate(self.layers):
            m = masks[k]
            if k > 0:
                x = F.dropout(x, self.dropout, self.training)  # Zaremba et al.: vertical connections only
                x_mask = m[0]
                if x_mask is not None:
                    x = x * x_mask[0]  # variational: one mask per sequence
                if logs is not None:
                    logs[2 * k].append(x.detach())
                gx = torch.addmm(adds[k], x, weights[k])
            hh_log = logs[2 * k + 1] if logs is not None and self.defer_hh else None
            h_k, c_k = layer.step(gx.unsqueeze(0), h_prev[k].unsqueeze(0), c_prev[k].unsqueeze(0), m, hh_log)
            hs.append(h_k)
            cs.append(c_k)
            x = h_k.squeeze(0)
        context, weights_a = self.attention(x, keys, values, src_mask)
        cx = torch.cat([context, x], 1)
        if logs is not None:
            logs[2 * L].append(cx.detach())
        attn_vec = torch.tanh(torch.addmm(adds[L], cx, weights[L]))  # s̃_t = tanh(W_c [c_t; s_t] + b_c)
        return attn_vec, weights_a, (torch.cat(hs, 0), torch.cat(cs, 0), attn_vec)

    @torch.jit.unused
    def _defer(self, gx_emb: Tensor, weights: List[Tensor], biases: List[Tensor],
               masks: List[Masks]) -> Tuple[List[Tensor], List[List[Tensor]], List[Tensor], List[Masks]]:
        """The step's weight gradients deferred to one matrix product each (`defer_weight_grads`).

        :return: the accumulators [layer 0's gx_emb, then each bias expanded to every step], the logs for
            `step`, and the weights and masks to use in the loop (detached)
        """
        N = gx_emb.size(0)
        accs: List[Tensor] = []
        logs: List[List[Tensor]] = []
        for k in range(len(weights)):  # layers 0..L-1 log [input, h_{t-1}], W_c logs [c_t; s_t]
            acc = gx_emb if k == 0 else biases[k - 1].expand(N, biases[k - 1].size(0))
            deferred = [weights[k]]
            if k < len(self.layers) and self.defer_hh:
                deferred.append(masks[k][3])
            acc, acc_logs = defer_weight_grads(acc, deferred)
            accs.append(acc)
            logs += acc_logs
            if k < len(self.layers) and not self.defer_hh:
                logs.append([])  # the GRU's h_{t-1} slot: its W_hh gradient stays per step
        detached = [(m[0], m[1], m[2], m[3].detach() if self.defer_hh else m[3]) for m in masks]
        return accs, logs, [w.detach() for w in weights], detached

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
        gx_emb = self.embed_projection(emb)  # (N, G*H): one matrix product for every step
        weights, biases = self.step_weights()
        accs = [gx_emb]
        logs: Optional[List[List[Tensor]]] = None
        if deferring():
            accs, logs, weights, masks = self._defer(gx_emb, weights, biases, masks)
        # split, not indexing: its backward is one concatenation, not a full-size zero tensor per step
        parts = [acc.split(sizes) for acc in accs]
        outs: List[Tensor] = []
        n = B
        for t in range(len(sizes)):
            adds = [p[t] for p in parts] if logs is not None else [parts[0][t]] + biases
            if sizes[t] < n:  # sentences have ended: drop their rows
                n = sizes[t]
                h, c, feed = state
                state = (h[:, :n], c[:, :n], feed[:n])
                keys, values, src_mask = keys[:n], values[:n], src_mask[:n]
                masks = [narrow_masks(m, n) for m in masks]
            attn_vec, _, state = self.step(adds, state, keys, values, src_mask, masks, weights, logs)
            outs.append(attn_vec)
        packed = torch.cat(outs, 0)  # (N, H), step by step
        if tgt_lens is None:
            return self.logits(packed.view(T, B, -1).transpose(0, 1).contiguous())
        # Row of (sentence b, step t) in `packed`: the rows before step t, plus b's rank by length.
        starts = (batch_sizes.cumsum(0) - batch_sizes).to(pos.device)
        steps = torch.arange(len(sizes), device=pos.device)
        rows = (starts.unsqueeze(0) + pos.unsqueeze(1))[steps.unsqueeze(0) < tgt_lens.unsqueeze(1)]
        return self.logits(packed.index_select(0, rows))
