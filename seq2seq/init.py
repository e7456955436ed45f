"""Weight initialization schemes, applied to a freshly built model before training.

- ``torch``: what each module's constructor draws (torch.nn's defaults: embeddings N(0, 1), recurrent and linear
  layers U(±1/√fan)).
- ``uniform``: every parameter U(±scale), embeddings and biases included (OpenNMT-py's ``param_init``; Luong et
  al. 2015 §4.1 use scale 0.1, Sutskever et al. 2014 0.08).
- ``xavier``: Glorot-uniform matrices and embeddings, zero biases (JoeyNMT's default).

``forget_bias`` then sets the LSTM forget gate's bias b_f (b_ih + b_hh) to that value (Jozefowicz et al. 2015
recommend 1): early in training the cell keeps its state instead of halving it every step.
"""

import torch
from torch import nn

from seq2seq.cells import RecurrentLayer

SCHEMES = ("torch", "uniform", "xavier")


def initialize(model: nn.Module, scheme: str = "torch", scale: float = 0.1, forget_bias: float = 0.0) -> None:
    """Re-draw `model`'s parameters in place (from torch's global generator)."""
    if scheme not in SCHEMES:
        raise ValueError(f"init: unknown scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    if not (scale > 0 and scale < float("inf")):
        raise ValueError(f"init_scale: must be a positive number, got {scale!r}")
    with torch.no_grad():
        if scheme == "uniform":
            for p in model.parameters():
                p.uniform_(-scale, scale)
        elif scheme == "xavier":
            for name, p in model.named_parameters():
                if p.dim() < 2 or name.rsplit(".", 1)[-1].startswith("bias"):
                    p.zero_()
                else:  # per direction for (D, G*H, I) recurrent weights
                    for matrix in p.view(-1, p.size(-2), p.size(-1)):
                        nn.init.xavier_uniform_(matrix)
        for module in model.modules():
            if isinstance(module, nn.Embedding) and module.padding_idx is not None:
                module.weight[module.padding_idx] = 0.0  # as nn.Embedding leaves it: padding embeds to zeros
        if forget_bias:
            for module in model.modules():
                if isinstance(module, RecurrentLayer) and module.cell == "lstm":
                    H = module.hidden
                    module.bias_ih[:, H : 2 * H] = forget_bias  # gate order i, f, g, o
                    module.bias_hh[:, H : 2 * H] = 0.0
