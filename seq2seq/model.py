"""The sequence-to-sequence model: encoder and attentional decoder, with the checks of their inputs."""

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
    src_vocab: Final[int]
    tgt_vocab: Final[int]

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.pad_id, self.bos_id, self.eos_id = cfg.pad_id, cfg.bos_id, cfg.eos_id
        self.dec_hidden = cfg.dec_hidden
        self.src_vocab, self.tgt_vocab = cfg.src_vocab, cfg.tgt_vocab

    def set_regularizers(self, enc_reg: Regularizers, dec_reg: Regularizers) -> None:
        """Replace the encoder's and decoder's regularizer rates, as a training schedule ramps them (eager only;
        an exported model is built with the rates in effect when its checkpoint was written)."""
        enc_reg.validate(self.encoder.rnn.cell)
        dec_reg.validate(self.encoder.rnn.cell)
        self.encoder.rnn.set_rates(enc_reg)
        self.decoder.set_rates(dec_reg)

    def encode(self, src: Tensor, src_lens: Tensor) -> Tuple[Tensor, Tensor, Tensor, State]:
        """
        :param src: (B, S) ids ending with EOS, padded with pad_id; src_lens: (B,) torch.long, in [1, S]
        :return: keys (B, S, H), values (B, S, H), src_mask (B, S), initial decoder state
        """
        check_ids("src", src, self.src_vocab)  # (B, S) token ids in the vocabulary
        if src.size(0) == 0:
            raise ValueError("src: expected a non-empty (B, S) batch of ids")
        if src_lens.dim() != 1 or src_lens.size(0) != src.size(0):
            raise ValueError(f"src_lens: expected one length per sentence, ({src.size(0)},), "
                             f"got shape {list(src_lens.shape)}")
        if src_lens.dtype != torch.long:
            raise ValueError("src_lens: lengths must be a torch.long tensor")
        shortest, longest = torch.aminmax(src_lens)
        if int(shortest) < 1 or int(longest) > src.size(1):
            raise ValueError(f"src_lens: every length must be in [1, S], S = {src.size(1)}")
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
        check_ids("tgt_in", tgt_in, self.tgt_vocab)
        keys, values, src_mask, state = self.encode(src, src_lens)
        return self.decoder(tgt_in, state, keys, values, src_mask, tgt_lens)


def check_ids(name: str, ids: Tensor, vocab: int) -> None:
    """Refuse what the embedding would fail on later, less clearly: not 2-D, not integers, or outside the
    vocabulary. One pass over the ids (min and max together)."""
    if ids.dim() != 2:
        raise ValueError(f"{name}: expected (batch, length) ids, got shape {list(ids.shape)}")
    if ids.dtype != torch.long and ids.dtype != torch.int:
        raise ValueError(f"{name}: token ids must be a torch.long or torch.int tensor")
    if ids.numel() > 0:
        lowest, highest = torch.aminmax(ids)
        if int(lowest) < 0 or int(highest) >= vocab:
            raise ValueError(f"{name}: token ids must be in [0, {vocab}), got {int(lowest)} to {int(highest)}")
