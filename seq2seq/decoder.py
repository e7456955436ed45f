"""The attentional decoder of Luong et al. 2015 with input feeding (DESIGN §4)."""

from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.jit import Final

from seq2seq.attention import Attention
from seq2seq.cells import Masks, RecurrentLayer
from seq2seq.config import ModelConfig

# Decoder state: h (L, B, H), c (L, B, H or 0), previous attentional vector s̃_{t-1} (B, H).
State = Tuple[Tensor, Tensor, Tensor]


class Decoder(nn.Module):
    input_feeding: Final[bool]
    emb_dropout: Final[float]
    out_dropout: Final[float]
    dropout: Final[float]
    feed_size: Final[int]

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        H = cfg.dec_hidden
        self.embed = nn.Embedding(cfg.tgt_vocab, cfg.emb_dim, padding_idx=cfg.pad_id)
        self.input_feeding = cfg.input_feeding
        self.feed_size = H if cfg.input_feeding else 0
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

    def sample_masks(self, batch: int, like: Tensor) -> List[Masks]:
        """Per-sequence masks of every layer, drawn once per forward pass (none in eval)."""
        return [layer.sample_masks(batch, like) for layer in self.layers]

    def feed_weight(self) -> Tensor:
        """Layer 0's W_ih columns that read s̃_{t-1}, transposed: (H, G*H); (0, G*H) without input feeding.

        Taken once per forward pass and handed to every step: slicing the parameter inside the time loop
        would make backward allocate and add a full-size gradient of W_ih at every step.
        """
        w = self.layers[0].weight_ih
        return w[0, :, w.size(2) - self.feed_size:].t()

    def embed_projection(self, emb: Tensor, masks: List[Masks]) -> Tensor:
        """Layer 0's input projection of the target embeddings, biases included; (B, ..., E) → (B, ..., G*H).

        Teacher forcing projects every step's embedding in one matrix product before the time loop; a step
        then only adds the projection of s̃_{t-1} (the input-feeding half of [y_{t-1}; s̃_{t-1}]).
        """
        layer = self.layers[0]
        E = emb.size(-1)
        x = emb.reshape(emb.size(0), -1, E)  # (B, T, E)
        x_mask = masks[0][0]
        if x_mask is not None:  # variational dropout on x: one mask per sequence, the same at every step
            x = x * x_mask[0, :, :E].unsqueeze(1)
        bias = layer.bias_ih + layer.bias_hh if layer.fold_bias else layer.bias_ih
        gx = torch.addmm(bias[0], x.reshape(-1, E), layer.weight_ih[0, :, :E].t())
        return gx.view(list(emb.shape[:-1]) + [gx.size(1)])

    def step(self, gx_emb: Tensor, state: State, keys: Tensor, values: Tensor, src_mask: Tensor,
             masks: List[Masks], w_feed: Tensor) -> Tuple[Tensor, Tensor, State]:
        """One decoding step.

        :param gx_emb: (B, G*H) `embed_projection` of the embedding of y_{t-1}
        :param w_feed: `feed_weight()`
        :return: s̃_t (B, H), attention weights (B, S), new state
        """
        h, c, feed = state
        gx = gx_emb.unsqueeze(0)
        if self.input_feeding:
            x_mask = masks[0][0]
            if x_mask is not None:
                feed = feed * x_mask[0, :, x_mask.size(2) - self.feed_size:]
            gx = torch.addmm(gx_emb, feed, w_feed).unsqueeze(0)  # (1, B, G*H)
        hs: List[Tensor] = []
        cs: List[Tensor] = []
        h_prev, c_prev = h.unbind(0), c.unbind(0)
        x = gx_emb  # replaced by layer 0's output before any use
        for k, layer in enumerate(self.layers):
            m = masks[k]
            if k > 0:
                x = F.dropout(x, self.dropout, self.training)  # Zaremba et al.: vertical connections only
                gx = layer.project(x.unsqueeze(0), m[0])  # (1, B, G*H)
            h_k, c_k = layer.step(gx, h_prev[k].unsqueeze(0), c_prev[k].unsqueeze(0), m)
            hs.append(h_k)
            cs.append(c_k)
            x = h_k.squeeze(0)
        context, weights = self.attention(x, keys, values, src_mask)
        attn_vec = torch.tanh(self.concat(torch.cat([context, x], 1)))
        return attn_vec, weights, (torch.cat(hs, 0), torch.cat(cs, 0), attn_vec)

    def logits(self, attn_vec: Tensor) -> Tensor:
        """p(y_t | y_<t, x) = softmax(W_y s̃_t + b_y); returns the logits. (..., H) → (..., V)"""
        return self.out(F.dropout(attn_vec, self.out_dropout, self.training))

    def forward(self, tgt_in: Tensor, state: State, keys: Tensor, values: Tensor, src_mask: Tensor) -> Tensor:
        """Teacher forcing.

        :param tgt_in: (B, T) ids starting with BOS
        :return: logits (B, T, V)
        """
        B = tgt_in.size(0)
        emb = F.dropout(self.embed(tgt_in), self.emb_dropout, self.training)
        masks = self.sample_masks(B, emb)
        gx_emb = self.embed_projection(emb, masks)  # (B, T, G*H): one matrix product for every step
        w_feed = self.feed_weight()
        outs: List[Tensor] = []
        for gx_t in gx_emb.unbind(1):  # unbind: indexing's backward would allocate (B, T, G*H) zeros per step
            attn_vec, _, state = self.step(gx_t, state, keys, values, src_mask, masks, w_feed)
            outs.append(attn_vec)
        return self.logits(torch.stack(outs, 1))
