"""The one-pass loss (training/loss.py) equals F.cross_entropy with label smoothing, in value and gradient."""

import pytest
import torch
import torch.nn.functional as F

import training.loss as loss_mod
from training.loss import smoothed_cross_entropy


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
@pytest.mark.parametrize("block", [1 << 18, 64])  # one block; blocks of a few rows, the last one short
def test_equals_cross_entropy(smoothing, block, monkeypatch):
    monkeypatch.setattr(loss_mod, "BLOCK_ELEMENTS", block)
    torch.manual_seed(0)
    z = (torch.randn(37, 23) * 3).requires_grad_()
    y = torch.randint(23, (37,))
    loss, nll = smoothed_cross_entropy(z, y, smoothing)
    (2.5 * loss).backward()
    ours = z.grad.clone()
    z.grad = None
    ref = F.cross_entropy(z, y, label_smoothing=smoothing, reduction="sum")
    (2.5 * ref).backward()
    torch.testing.assert_close(loss, ref.detach(), rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(nll, F.cross_entropy(z.detach(), y, reduction="sum"), rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(ours, z.grad, rtol=1e-5, atol=1e-6)
    assert not nll.requires_grad


def test_bfloat16_logits_give_float32_sums_and_a_bfloat16_gradient():
    torch.manual_seed(0)
    z = torch.randn(16, 50).bfloat16().requires_grad_()
    y = torch.randint(50, (16,))
    loss, _ = smoothed_cross_entropy(z, y, 0.1)
    loss.backward()
    assert loss.dtype == torch.float32 and z.grad.dtype == torch.bfloat16
    ref = torch.autograd.grad(F.cross_entropy(z.float(), y, label_smoothing=0.1, reduction="sum"), z)[0]
    torch.testing.assert_close(z.grad.float(), ref.float(), rtol=2e-2, atol=2e-2)
