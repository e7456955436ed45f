"""Embeddings, stacked bidirectional recurrent layers and the bridge to the decoder (docs/design.md §3)."""

from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.jit import Final

from seq2seq.cells import RecurrentStack
from seq2seq.config import ModelConfig


class Encoder(nn.Module):
    """Encodes padded source ids into attention values and the decoder's initial state."""

    emb_dropout: Final[float]
    lstm: Final[bool]
    use_bridge: Final[bool]
    enc_layers: Final[int]
    dec_layers: Final[int]
    dec_hidden: Final[int]

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.embed = nn.Embedding(cfg.src_vocab, cfg.emb_dim, padding_idx=cfg.pad_id)
        self.emb_dropout = cfg.emb_dropout
        self.rnn = RecurrentStack(cfg.cell, cfg.emb_dim, cfg.enc_hidden, cfg.enc_layers, True, cfg.enc_reg)
        # W_f h_fwd + W_b h_bwd: the two directions combined through weights, to the decoder's size.
        self.combine = nn.Linear(2 * cfg.enc_hidden, cfg.dec_hidden, bias=False)
        self.lstm = cfg.cell == "lstm"
        self.use_bridge = cfg.bridge == "linear"
        self.bridge_h = nn.Linear(2 * cfg.enc_hidden, cfg.dec_hidden)
        self.bridge_c = nn.Linear(2 * cfg.enc_hidden, cfg.dec_hidden) if self.lstm else nn.Identity()
        self.enc_layers, self.dec_layers, self.dec_hidden = cfg.enc_layers, cfg.dec_layers, cfg.dec_hidden

    def _per_layer(self, final: Tensor) -> Tensor:
        """(L_enc*2, B, H_enc) final states → (L_dec, B, 2*H_enc), both directions of a layer side by side."""
        B = final.size(1)
        per_layer = final.view(self.enc_layers, 2, B, -1).permute(0, 2, 1, 3).reshape(self.enc_layers, B, -1)
        if self.enc_layers != self.dec_layers:  # only the top layer when the depths differ
            per_layer = per_layer[-1:].expand(self.dec_layers, B, per_layer.size(2))
        return per_layer

    def forward(self, src: Tensor, src_lens: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """
        :param src: (B, S) ids; src_lens: (B,)
        :return: values (B, S, H_dec), h0 (L_dec, B, H_dec), c0 (L_dec, B, H_dec or 0)
        """
        if src.dim() != 2:
            raise ValueError(f"src: expected (B, S) ids, got shape {list(src.shape)}")
        x = F.dropout(self.embed(src), self.emb_dropout, self.training)
        out, h_n, c_n = self.rnn(x, src_lens)
        values = self.combine(out)
        B = src.size(0)
        if self.use_bridge:
            h0 = torch.tanh(self.bridge_h(self._per_layer(h_n)))
            if self.lstm:
                c0 = torch.tanh(self.bridge_c(self._per_layer(c_n)))
            else:
                c0 = h0.new_zeros(self.dec_layers, B, 0)
        else:
            h0 = values.new_zeros(self.dec_layers, B, self.dec_hidden)
            c0 = values.new_zeros(self.dec_layers, B, self.dec_hidden if self.lstm else 0)
        return values, h0, c0
