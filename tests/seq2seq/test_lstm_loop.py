"""The LSTM's hand-written backpropagation through time (seq2seq/lstm_loop.py): its gradients are the derivatives
of its forward (gradcheck in float64), the C kernels give what the torch operations give, and in a layer it equals
the step-by-step loop that autograd records, wherever the two draw the same masks."""

import pytest
import torch

import seq2seq.native as native
from seq2seq.cells import RecurrentLayer
from seq2seq.config import Regularizers
from seq2seq.lstm_loop import LSTMLoop

SIZES = [4, 4, 3, 1]  # rows running at each packed step: 4 sequences of lengths 4, 3, 3, 2


def _inputs(D, dtype, masks, seed=0):
    g = torch.Generator().manual_seed(seed)
    B, N, H = SIZES[0], sum(SIZES), 3
    t = lambda *s: torch.randn(*s, generator=g, dtype=dtype)  # noqa: E731
    gx, h0, c0, w = t(D, N, 4 * H), t(D, B, H), t(D, B, H), t(D, 4 * H, H) * 0.5
    bern = lambda *s: (torch.rand(*s, generator=g) < 0.6).to(dtype)  # noqa: E731
    h_mask = bern(D, B, H) / 0.6 if "h" in masks else None
    c_mask = bern(D, B, H) / 0.6 if "c" in masks else None
    g_mask = bern(D, N, H) / 0.6 if "g" in masks else None
    zc = 1 - bern(D, N, H) if "zc" in masks else None
    zh = 1 - bern(D, N, H) if "zh" in masks else None
    return [gx, h0, c0, w], [h_mask, c_mask, g_mask, zc, zh]


MASKS = [(), ("zc", "zh"), ("g",), ("h", "c"), ("h", "c", "g", "zc", "zh")]


@pytest.mark.parametrize("masks", MASKS)
@pytest.mark.parametrize("D", [1, 2])
def test_gradients_are_the_forwards_derivatives(masks, D, monkeypatch):
    monkeypatch.setattr(native, "kernels", lambda: None)  # float64: the torch operations
    diff, fixed = _inputs(D, torch.float64, masks)
    diff = [x.requires_grad_() for x in diff]

    def f(gx, h0, c0, w):
        return LSTMLoop.apply(gx, h0, c0, w, *fixed, SIZES)

    assert torch.autograd.gradcheck(f, diff, eps=1e-6, atol=1e-5)


def _run(D, masks, use_native, monkeypatch):
    if not use_native:
        monkeypatch.setattr("seq2seq.lstm_loop.kernels", lambda: None)
    diff, fixed = _inputs(D, torch.float32, masks, seed=1)
    diff = [x.requires_grad_() for x in diff]
    out, h_n, c_n = LSTMLoop.apply(*diff, *fixed, SIZES)
    (out.pow(2).sum() + 1.3 * h_n.sum() + 0.7 * c_n.sum()).backward()
    monkeypatch.undo()
    return [out, h_n, c_n] + [x.grad for x in diff]


@pytest.mark.parametrize("masks", MASKS)
@pytest.mark.parametrize("D", [1, 2])
def test_c_kernels_equal_torch_operations(masks, D, monkeypatch):
    if native.kernels() is None:
        pytest.skip("the C kernels could not be built here (no C compiler?): the torch operations run instead")
    ours = _run(D, masks, True, monkeypatch)
    ref = _run(D, masks, False, monkeypatch)
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("reg", [Regularizers(), Regularizers(variational=0.3, rnndrop=0.3, weight_drop=0.3)])
@pytest.mark.parametrize("D", [1, 2])
def test_layer_equals_the_recorded_step_loop(reg, D):
    """Masks drawn per sequence (sample_masks) are the same on both paths under one seed: the results must be."""
    torch.manual_seed(0)
    layer = RecurrentLayer("lstm", 6, 5, D, reg).train()
    lens = torch.tensor([3, 5, 5, 1])  # unsorted: the layer sorts, runs packed, unsorts
    x0 = torch.randn(4, 5, 6)

    def run(loop):
        x = x0.clone().requires_grad_()
        layer.zero_grad()
        if loop:  # the step-by-step loop that autograd records
            layer._lstm_loop = layer._loop
        try:
            torch.manual_seed(1)
            out, h, c = layer(x, lens)
            (out.pow(2).sum() + h.sum() + c.sum()).backward()
        finally:
            layer.__dict__.pop("_lstm_loop", None)
        return [out, h, c, x.grad] + [p.grad.clone() for p in layer.parameters()]

    for a, b in zip(run(False), run(True)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_bfloat16_autocast_stays_close_to_float32():
    torch.manual_seed(0)
    layer = RecurrentLayer("lstm", 16, 32, 2, Regularizers(zoneout_c=0.1, recurrent_dropout=0.1)).train()
    x, lens = torch.randn(8, 12, 16), torch.tensor([12, 12, 11, 9, 9, 5, 3, 2])

    def grads(amp):
        layer.zero_grad()
        torch.manual_seed(1)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            out, _, _ = layer(x, lens)
        out.float().pow(2).sum().backward()
        return torch.cat([p.grad.flatten() for p in layer.parameters()])

    ref, low = grads(False), grads(True)
    assert low.dtype == torch.float32
    assert ((low - ref).norm() / ref.norm()).item() < 0.05
