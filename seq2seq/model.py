"""The sequence-to-sequence model: encoder, attentional decoder, and the step the searches call."""

from typing import Optional, Tuple

import torch
from torch import Tensor, nn
from torch.jit import Final

from seq2seq.config import ModelConfig, Regularizers
from seq2seq.decoder import Decoder, State
from seq2seq.encoder import Encoder


class Seq2Seq(nn.Module):
    pad_id: Final[int]
    bos_id: Final[int]
    eos_id: Final[int]

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.pad_id, self.bos_id, self.eos_id = cfg.pad_id, cfg.bos_id, cfg.eos_id
        self.dec_hidden = cfg.dec_hidden

    def set_regularizers(self, enc_reg: Regularizers, dec_reg: Regularizers) -> None:
        """Replace the encoder's and decoder's regularizer rates, as a training schedule ramps them (eager only;
        an exported model is built with the rates in effect when its checkpoint was written)."""
        enc_reg.validate(self.encoder.rnn.cell)
        dec_reg.validate(self.encoder.rnn.cell)
        self.encoder.rnn.set_rates(enc_reg)
        self.decoder.set_rates(dec_reg)

    def encode(self, src: Tensor, src_lens: Tensor) -> Tuple[Tensor, Tensor, Tensor, State]:
        """:return: keys (B, S, H), values (B, S, H), src_mask (B, S), initial decoder state"""
        values, h0, c0 = self.encoder(src, src_lens)
        src_mask = torch.arange(src.size(1), device=src.device).unsqueeze(0) < src_lens.unsqueeze(1)
        feed = values.new_zeros(src.size(0), self.dec_hidden)
        return self.decoder.attention.keys(values), values, src_mask, (h0, c0, feed)

    def forward(self, src: Tensor, src_lens: Tensor, tgt_in: Tensor, tgt_lens: Optional[Tensor] = None) -> Tensor:
        """
        :param src: (B, S) ids ending with EOS, padded with pad_id; src_lens: (B,)
        :param tgt_in: (B, T) BOS followed by the target
        :param tgt_lens: (B,) scored steps per sentence; the steps past them are never computed (training)
        :return: logits (B, T, V); given tgt_lens, (N, V) for the scored steps only, sentence by sentence:
            the rows of `tgt_out[mask]` with mask = arange(T) < tgt_lens[:, None]
        """
        if src.dim() != 2:
            raise ValueError(f"src: expected (B, S) ids, got shape {list(src.shape)}")
        if tgt_in.dim() != 2 or tgt_in.size(0) != src.size(0):
            raise ValueError(f"tgt_in: expected ({src.size(0)}, T) ids, got shape {list(tgt_in.shape)}")
        keys, values, src_mask, state = self.encode(src, src_lens)
        return self.decoder(tgt_in, state, keys, values, src_mask, tgt_lens)

    def decode_step(self, prev: Tensor, state: State, keys: Tensor, values: Tensor,
                    src_mask: Tensor) -> Tuple[Tensor, Tensor, State]:
        """:param prev: (B,) previous token → log-probabilities (B, V), attention (B, S), new state"""
        emb = self.decoder.embed(prev)
        masks = self.decoder.sample_masks(prev.size(0), emb)
        gx_emb = self.decoder.embed_projection(self.decoder.mask_embedding(emb, masks))
        weights, biases = self.decoder.step_weights()
        attn_vec, att, state = self.decoder.step([gx_emb] + biases, state, keys, values, src_mask, masks, weights)
        return torch.log_softmax(self.decoder.logits(attn_vec), dim=-1), att, state
