"""Initialization schemes and the forget-gate bias (seq2seq/init.py)."""

import math

import pytest
import torch

from seq2seq.cells import RecurrentLayer
from seq2seq.init import initialize
from tests.conftest import tiny_model


def amax(t: torch.Tensor) -> float:
    return float(t.detach().abs().max())


def test_uniform_draws_every_parameter_within_the_scale_and_keeps_padding_zero():
    model = tiny_model()
    initialize(model, "uniform", 0.05)
    for name, p in model.named_parameters():
        assert amax(p) <= 0.05, name
    everything = torch.cat([p.flatten() for p in model.parameters()])
    assert abs(float(everything.detach().std()) - 0.05 / math.sqrt(3)) < 0.005  # U(-s, s) has std s/√3
    assert amax(model.encoder.embed.weight[0]) == 0.0
    assert amax(model.decoder.embed.weight[0]) == 0.0


def test_xavier_zeroes_biases_and_bounds_each_matrix_by_its_fans():
    model = tiny_model()
    initialize(model, "xavier")
    layer = model.encoder.rnn.layers[0]
    assert amax(layer.bias_ih) == 0.0 and amax(model.decoder.out.bias) == 0.0
    fan_out, fan_in = layer.weight_ih.shape[1:]
    bound = math.sqrt(6.0 / (fan_out + fan_in))
    assert amax(layer.weight_ih) <= bound and amax(layer.weight_ih) > 0.8 * bound


def test_forget_bias_sets_the_folded_forget_gate_bias_only():
    model = tiny_model()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    initialize(model, "torch", forget_bias=1.0)
    layers = [m for m in model.modules() if isinstance(m, RecurrentLayer)]
    assert len(layers) == 4  # two encoder layers, two decoder layers
    for layer in layers:
        H = layer.hidden
        folded = layer.bias_ih + layer.bias_hh
        assert torch.equal(folded[:, H : 2 * H], torch.ones_like(folded[:, H : 2 * H]))
    for name, p in model.named_parameters():  # "torch" re-draws nothing: only the forget slices moved
        if "bias" not in name or "layers" not in name:
            assert torch.equal(p, before[name]), name


def test_unknown_scheme_and_bad_scale_are_refused():
    with pytest.raises(ValueError, match="init: unknown scheme 'normal'"):
        initialize(tiny_model(), "normal")
    with pytest.raises(ValueError, match="init_scale"):
        initialize(tiny_model(), "uniform", float("nan"))
