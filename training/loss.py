"""The training loss over the vocabulary: label-smoothed cross-entropy and the NLL, in one pass over the logits.

For N target tokens and V pieces the logits are an (N, V) matrix, tens of megabytes for one batch, and on a CPU
each pass over it is paid at memory speed: log_softmax, the gather of the gold pieces, the mean for the smoothing
term and the backward of each (a zero-filled (N, V) gradient for the gather, another for the mean, their sum, the
log-softmax's backward) make about a dozen. Here the forward reads the logits once, in blocks of rows that stay
in the cache, keeping only each row's log-sum-exp, and the backward writes the gradient in one pass:

    loss_n = (1 − ε)(lse_n − z_{n,y_n}) + ε (lse_n − mean_v z_{n,v})        (Szegedy et al. 2016, label smoothing)
    ∂loss_n/∂z_{n,v} = softmax(z_n)_v − (1 − ε)[v = y_n] − ε/V

the same loss as F.cross_entropy(z, y, label_smoothing=ε, reduction="sum"), with the NLL Σ_n lse_n − z_{n,y_n}.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

BLOCK_ELEMENTS = 1 << 18  # rows per block: about 1 MB of float32 logits, within a core's L2 cache


def _blocks(n: int, v: int) -> range:
    return range(0, n, max(1, BLOCK_ELEMENTS // max(v, 1)))


class SmoothedCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits: Tensor, gold: Tensor, smoothing: float) -> tuple[Tensor, Tensor]:
        n, v = logits.shape
        step = max(1, BLOCK_ELEMENTS // max(v, 1))
        lse = torch.empty(n, dtype=torch.float32, device=logits.device)
        nll = torch.zeros((), dtype=torch.float32, device=logits.device)
        uniform = torch.zeros((), dtype=torch.float32, device=logits.device)
        for r in _blocks(n, v):
            z = logits[r : r + step].float()  # under autocast the logits may be bfloat16: the sums in float32
            block_lse = torch.logsumexp(z, 1)
            lse[r : r + step] = block_lse
            nll += (block_lse - z.gather(1, gold[r : r + step].unsqueeze(1)).squeeze(1)).sum()
            if smoothing > 0:
                uniform += (block_lse - z.mean(1)).sum()
        ctx.save_for_backward(logits, gold, lse)
        ctx.smoothing = smoothing
        loss = (1.0 - smoothing) * nll + smoothing * uniform if smoothing > 0 else nll.clone()
        ctx.mark_non_differentiable(nll)
        return loss, nll

    @staticmethod
    @once_differentiable
    def backward(ctx, d_loss: Tensor, d_nll: Tensor):
        logits, gold, lse = ctx.saved_tensors
        eps = ctx.smoothing
        n, v = logits.shape
        step = max(1, BLOCK_ELEMENTS // max(v, 1))
        grad = torch.empty_like(logits)
        # d/dz of d_loss·loss (d_nll is zero: the NLL is reported, not trained on)
        g = d_loss.float()
        for r in _blocks(n, v):
            z = logits[r : r + step].float()
            p = torch.exp(z - lse[r : r + step].unsqueeze(1)).mul_(g)  # g · softmax(z)
            if eps > 0:
                p.sub_(g * (eps / v))
            rows = torch.arange(p.size(0), device=p.device)
            p[rows, gold[r : r + step]] -= g * (1.0 - eps)
            grad[r : r + step] = p
        return grad, None, None


def smoothed_cross_entropy(logits: Tensor, gold: Tensor, smoothing: float) -> tuple[Tensor, Tensor]:
    """Summed label-smoothed cross-entropy and summed NLL (detached) of the gold pieces.

    :param logits: (N, V), any floating dtype (the sums run in float32)
    :param gold: (N,) the gold pieces' ids
    :return: (loss, nll), scalars in float32
    """
    loss, nll = SmoothedCrossEntropy.apply(logits, gold, float(smoothing))
    return loss, nll
