"""Recurrent layers: tanh RNN, LSTM and GRU cells with the six recurrent dropout variants.

Equations are docs/design.md §1 (PyTorch's parameterization, gate order i,f,g,o for the LSTM and r,z,n for the GRU);
regularizers are docs/design.md §2 (a)-(f). With every regularizer off a layer equals `torch.nn.LSTM/GRU/RNN`.

A layer holds `num_dirs` directions and runs them together: the input projections of the whole sequence are
one batched matrix product outside the time loop, and each step does one batched `W_hh h` product for all
directions. The loop runs packed: sequences sorted longest first, step t runs only those longer than t. While
autograd records, W_hh's gradient is one matrix product over all steps (`defer_weight_grads`), not one per step
(LSTM and tanh RNN; the GRU's W_hh h has its own bias inside r ⊙ (·) and keeps per-step gradients).
When no active option acts inside the recurrence, `RecurrentStack` hands the whole stack to PyTorch's fused
kernel instead (`torch.lstm` on a packed sequence).
"""


import math
from typing import List, NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable
from torch.jit import Final

from seq2seq.config import Regularizers
from seq2seq.lstm_loop import lstm_loop

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


class Masks(NamedTuple):
    """What one layer's steps share for one forward pass: each sequence's dropout masks (None when off or in
    eval), drawn once, and the W_hh every step multiplies by, transposed (after weight drop in training)."""

    x_mask: Optional[Tensor]  # (D, B, I) variational dropout on x_t (Gal & Ghahramani)
    h_mask: Optional[Tensor]  # (D, B, H) variational dropout on h_{t-1}
    c_mask: Optional[Tensor]  # (D, B, H) RNNdrop on c_t (Moon et al.)
    w_hh_t: Tensor  # (D, H, G*H) W_hh^T; in training, weight drop's DropConnect applied (Merity et al.)


def narrow_masks(masks: Masks, n: int) -> Masks:
    """The masks of the first `n` sequences of the batch (the weights are shared)."""
    x_mask, h_mask, c_mask, w_hh_t = masks
    return Masks(
        None if x_mask is None else x_mask[:, :n],
        None if h_mask is None else h_mask[:, :n],
        None if c_mask is None else c_mask[:, :n],
        w_hh_t,
    )


class _DeferredWeightGrads(torch.autograd.Function):
    """Identity on an accumulator; its backward also returns the deferred weights' gradients."""

    @staticmethod
    def forward(ctx, acc: Tensor, logs: List[List[Tensor]], *weights: Tensor) -> Tensor:
        # Filled in by the time loop after this call: each step appends its inputs, detached (values only:
        # a logged tensor that kept its history would tie the graph to this node in a cycle gc cannot free).
        ctx.logs = logs
        ctx.dtypes = [w.dtype for w in weights]
        return acc.view_as(acc)

    @staticmethod
    @once_differentiable  # the loop multiplies by detached weights: no second-order terms through them
    def backward(ctx, grad: Tensor):
        # dL/dW = Σ_t x_t^T dL/dacc_t = X^T dL/dacc: one matrix product over every step and sequence.
        grads = [_weight_grad(torch.cat(xs, -2).transpose(-1, -2), grad, ctx.dtypes[j])
                 if xs and ctx.needs_input_grad[2 + j] else None for j, xs in enumerate(ctx.logs)]
        return (grad, None, *grads)


def _weight_grad(x_t: Tensor, grad: Tensor, dtype: torch.dtype) -> Tensor:
    """X^T dL/dacc in the weight's dtype. Under autocast the loop's products ran in bfloat16 or float16, so the
    logged inputs or the incoming gradient are in it: the product is too, as autocast's own backward would do."""
    if x_t.dtype != grad.dtype:
        low = x_t.dtype if x_t.element_size() < grad.element_size() else grad.dtype
        x_t, grad = x_t.to(low), grad.to(low)
    return (x_t @ grad).to(dtype)


def deferring() -> bool:
    """Whether a time loop defers its weight gradients (`defer_weight_grads`): when autograd records, eagerly."""
    return torch.is_grad_enabled() and not torch.jit.is_scripting()


@torch.jit.unused
def defer_weight_grads(acc: Tensor, weights: List[Tensor]) -> Tuple[Tensor, List[List[Tensor]]]:
    """Make the gradients of weights used at every step of a time loop one matrix product each, not one per step.

    A loop that computes acc_t + Σ_j x_jt @ w_j at step t (acc_t: its rows of `acc`) instead uses the returned
    accumulator, multiplies by `w_j.detach()`, and appends `x_jt.detach()` to `logs[j]` (in acc_t's rows).
    Backward then gives each w_j the gradient X_j^T dL/dacc over all steps at once: per-step weight gradients
    are small matrix products (K = batch) and a full-size addition each. TorchScript never runs this (exported
    models compute no gradients).

    :param acc: (..., N, G) every step's additive term (projected inputs or biases), rows step by step
    :param weights: (..., I_j, G) each
    :return: the accumulator to use instead of `acc`, and the empty logs to fill
    """
    logs: List[List[Tensor]] = [[] for _ in weights]
    return _DeferredWeightGrads.apply(acc, logs, *weights), logs


def _bernoulli_mask(shape: List[int], p: float, like: Tensor) -> Tensor:
    """A dropout mask scaled by 1/(1-p), so that eval needs no rescaling."""
    return torch.empty(shape, dtype=like.dtype, device=like.device).bernoulli_(1.0 - p) / (1.0 - p)


def _affine(acc: Tensor, x: Tensor, w: Tensor) -> Tensor:
    """acc + x @ w per direction: (D, N, G) + (D, N, I) @ (D, I, G); plain 2-D GEMM for one direction."""
    if x.size(0) == 1:  # squeeze, not [0]: the backward of indexing allocates and copies every step
        return torch.addmm(acc.squeeze(0), x.squeeze(0), w.squeeze(0)).unsqueeze(0)
    return torch.baddbmm(acc, x, w)


def reverse_padded(x: Tensor, lens: Tensor) -> Tensor:
    """Reverse each sequence within its true length; padding stays where it is.

    :param x: (B, T, F)
    :param lens: (B,)
    """
    T = x.size(1)
    steps = torch.arange(T, device=x.device).unsqueeze(0)  # (1, T)
    rev = lens.unsqueeze(1) - 1 - steps  # (B, T)
    idx = torch.where(rev >= 0, rev, steps)
    return x.gather(1, idx.unsqueeze(2).expand_as(x))


class RecurrentLayer(nn.Module):
    """One layer of `num_dirs` directions (1 or 2) of one cell type, with its regularizers."""

    cell: Final[str]
    hidden: Final[int]
    num_dirs: Final[int]
    variational: Final[float]
    rnndrop: Final[float]
    weight_drop: Final[float]
    recurrent_dropout: Final[float]
    zoneout_c: Final[float]
    zoneout_h: Final[float]
    fold_bias: Final[bool]

    def __init__(self, cell: str, input_size: int, hidden: int, num_dirs: int, reg: Regularizers):
        super().__init__()
        if cell not in GATES:
            raise ValueError(f"cell: unknown cell {cell!r}; choose one of {', '.join(GATES)}")
        if num_dirs not in (1, 2):
            raise ValueError(f"num_dirs: must be 1 or 2, got {num_dirs}")
        reg.validate(cell)
        if cell == "rnn" and reg.recurrent_dropout > 0:
            raise ValueError("recurrent_dropout: applies to LSTM and GRU candidates, not to the tanh RNN")
        self.cell, self.hidden, self.num_dirs = cell, hidden, num_dirs
        self.set_rates(reg)
        # The GRU's b_hn sits inside r ⊙ (W_hn h + b_hn); the other cells' b_hh can join b_ih.
        self.fold_bias = cell != "gru"
        G = GATES[cell] * hidden
        self.weight_ih = nn.Parameter(torch.empty(num_dirs, G, input_size))
        self.weight_hh = nn.Parameter(torch.empty(num_dirs, G, hidden))
        self.bias_ih = nn.Parameter(torch.empty(num_dirs, G))
        self.bias_hh = nn.Parameter(torch.empty(num_dirs, G))
        bound = 1.0 / math.sqrt(hidden)  # torch.nn's initialization
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def set_rates(self, reg: Regularizers) -> None:
        """Replace the recurrent regularizers' rates (a training schedule, eager only: scripting
        freezes them)."""
        self.variational, self.rnndrop, self.weight_drop = reg.variational, reg.rnndrop, reg.weight_drop
        self.recurrent_dropout, self.zoneout_c, self.zoneout_h = reg.recurrent_dropout, reg.zoneout_c, reg.zoneout_h

    def sample_masks(self, batch: int, like: Tensor) -> Masks:
        """Masks fixed for one sequence (b, c) and one forward pass (d); none in eval."""
        D, H = self.num_dirs, self.hidden
        x_mask: Optional[Tensor] = None
        h_mask: Optional[Tensor] = None
        c_mask: Optional[Tensor] = None
        w_hh = self.weight_hh
        if self.training:
            if self.variational > 0:
                x_mask = _bernoulli_mask([D, batch, self.weight_ih.size(2)], self.variational, like)
                h_mask = _bernoulli_mask([D, batch, H], self.variational, like)
            if self.rnndrop > 0:
                c_mask = _bernoulli_mask([D, batch, H], self.rnndrop, like)
            if self.weight_drop > 0:
                w_hh = F.dropout(w_hh, self.weight_drop, True)
        return Masks(x_mask, h_mask, c_mask, w_hh.transpose(1, 2))

    def input_bias(self) -> Tensor:
        """The bias added to W_ih x: b_ih + b_hh, except for the GRU, whose b_hn sits inside r ⊙ (W_hn h + b_hn).
        (D, G*H)"""
        return self.bias_ih + self.bias_hh if self.fold_bias else self.bias_ih

    def project(self, x: Tensor) -> Tensor:
        """Input projections W_ih x + b of many steps at once (x already masked).

        :param x: (D, N, I)
        :return: (D, N, G*H)
        """
        return _affine(self.input_bias().unsqueeze(1), x, self.weight_ih.transpose(1, 2))

    def _zoneout(self, prev: Tensor, new: Tensor, rate: float) -> Tensor:
        # Zoneout (Krueger et al. 2017): each unit keeps its previous value with probability `rate`;
        # eval uses the expectation rate * prev + (1 - rate) * new.
        if self.training:  # uniform draws and a compare cost less than bernoulli_ on a CPU; lerp by the 0/1 mask is
            # exact (PyTorch's lerp gives `end` at weight 1) and cheaper than where on a bool mask
            return torch.lerp(new, prev, (torch.rand_like(new) < rate).to(new.dtype))
        return torch.lerp(new, prev, rate)

    def step(self, gx: Tensor, h: Tensor, c: Tensor, masks: Masks,
             hh_log: Optional[List[Tensor]] = None, hh_proj: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """One time step of every direction.

        :param gx: (D, B, G*H) input projection of x_t (from `project`)
        :param h: (D, B, H) previous hidden state; c: (D, B, H) previous cell state (LSTM) or (D, B, 0)
        :param hh_log: where the step appends the h_{t-1} it multiplies by W_hh, when W_hh's gradient is deferred
        :param hh_proj: (D, B, G*H) the product W_hh h_{t-1} already computed (the GRU's b_hh included), as a
            search with int8 weights does; None: the step computes it from masks.w_hh_t
        """
        h_mask, c_mask, w_hh_t = masks.h_mask, masks.c_mask, masks.w_hh_t
        hh = h if h_mask is None else h * h_mask  # variational dropout on h_{t-1} (Gal & Ghahramani)
        if hh_log is not None:
            hh_log.append(hh.detach())
        if self.cell == "lstm":
            gates = gx + hh_proj if hh_proj is not None else _affine(gx, hh, w_hh_t)
            i, f, g, o = gates.chunk(4, 2)
            i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
            if self.recurrent_dropout > 0:
                g = F.dropout(g, self.recurrent_dropout, self.training)  # Semeniuta et al.: d(g)
            c_new = f * c + i * g
            if c_mask is not None:
                c_new = c_new * c_mask  # RNNdrop (Moon et al.): one mask on c per sequence
            h_new = o * torch.tanh(c_new)
            if self.zoneout_c > 0:
                c_new = self._zoneout(c, c_new, self.zoneout_c)
        elif self.cell == "gru":
            gh = hh_proj if hh_proj is not None else _affine(self.bias_hh.unsqueeze(1), hh, w_hh_t)
            xr, xz, xn = gx.chunk(3, 2)
            hr, hz, hn = gh.chunk(3, 2)
            r = torch.sigmoid(xr + hr)
            z = torch.sigmoid(xz + hz)
            n = torch.tanh(xn + r * hn)
            if self.recurrent_dropout > 0:
                n = F.dropout(n, self.recurrent_dropout, self.training)
            h_new = torch.lerp(n, h, z)  # z ⊙ h + (1 − z) ⊙ n
            c_new = c
        else:
            h_new = torch.tanh(gx + hh_proj if hh_proj is not None else _affine(gx, hh, w_hh_t))
            c_new = c
        if self.zoneout_h > 0:
            h_new = self._zoneout(h, h_new, self.zoneout_h)
        return h_new, c_new

    def forward(self, x: Tensor, lens: Tensor,
                state: Optional[Tuple[Tensor, Tensor]] = None) -> Tuple[Tensor, Tensor, Tensor]:
        """Run the layer over padded sequences, packed as a PackedSequence: step t runs only the sequences
        longer than t, so a batch of mixed lengths costs what its real tokens cost; a backward direction starts
        at each sequence's true end.

        :param x: (B, T, I)
        :param lens: (B,)
        :param state: initial h (D, B, H) and c (D, B, H or 0), as this method returns them; None for zeros
        :return: outputs (B, T, D*H), zero on padding; final h (D, B, H) and c (D, B, H or 0) at each true end
        """
        B, T, D, H = x.size(0), x.size(1), self.num_dirs, self.hidden
        # Longest first, so that the sequences still running at step t are the first rows.
        lens_cpu = lens.to(device="cpu", dtype=torch.long)  # the packing needs them on the host anyway
        in_order = bool((lens_cpu[:-1] >= lens_cpu[1:]).all())  # then sorting would copy x for nothing
        order = torch.arange(B, device=x.device)
        if not in_order:
            lens, order = lens.sort(descending=True, stable=True)
            lens_cpu = lens.to(device="cpu", dtype=torch.long)
            x = x.index_select(0, order)
        xs = torch.stack([x, reverse_padded(x, lens)] if D == 2 else [x], 2)  # (B, T, D, I)
        masks = self.sample_masks(B, x)
        x_mask = masks.x_mask
        if x_mask is not None:  # variational dropout on x: one mask per sequence, the same at every step
            xs = xs * x_mask.transpose(0, 1).unsqueeze(1)
        # (N, D, I): the steps that run, step by step; batch_sizes[t] sequences run at step t.
        data, batch_sizes = torch._pack_padded_sequence(xs, lens_cpu, True)
        gx = self.project(data.transpose(0, 1))  # (D, N, G*H): one matrix product for every step
        sizes: List[int] = batch_sizes.tolist()
        if state is None:
            h = x.new_zeros(D, B, H)
            c = x.new_zeros(D, B, H if self.cell == "lstm" else 0)
        elif in_order:
            h, c = state[0], state[1]
        else:  # in the sorted order of x
            h, c = state[0].index_select(1, order), state[1].index_select(1, order)
        if self.cell == "lstm" and self.training and deferring():  # backpropagation through time by hand
            packed, h_n, c_n = self._lstm_loop(gx, h, c, masks, sizes)
        else:
            packed, h_n, c_n = self._loop(gx, h, c, masks, sizes)
        out, _ = torch._pad_packed_sequence(packed.transpose(0, 1), batch_sizes, True, 0.0, T)
        if D == 2:  # (B, T, D, H) → (B, T, 2H), the backward direction back in source order
            out = torch.cat([out[:, :, 0], reverse_padded(out[:, :, 1], lens)], 2)
        else:
            out = out[:, :, 0]
        if in_order:
            return out, h_n, c_n
        unsort = order.argsort()
        return out.index_select(0, unsort), h_n.index_select(1, unsort), c_n.index_select(1, unsort)

    def _loop(self, gx: Tensor, h: Tensor, c: Tensor, masks: Masks,
              sizes: List[int]) -> Tuple[Tensor, Tensor, Tensor]:
        """The time loop step by step (autograd records it when it records).

        :param gx: (D, N, G*H) the packed steps' input projections; h, c: (D, B, H) initial states, sorted
        :return: the packed outputs (D, N, H) and each sequence's final h and c (D, B, H)
        """
        hh_log: Optional[List[Tensor]] = None
        if self.cell != "gru" and deferring():  # the GRU's W_hh h has its own bias term, inside r ⊙ (·)
            gx, logs = defer_weight_grads(gx, [masks.w_hh_t])
            hh_log = logs[0]
            masks = Masks(masks.x_mask, masks.h_mask, masks.c_mask, masks.w_hh_t.detach())
        h_ends: List[Tensor] = []  # final states of the sequences that have ended, shortest first
        c_ends: List[Tensor] = []
        outs: List[Tensor] = []
        n = h.size(1)
        for gx_t in gx.split(sizes, 1):  # split, not gx[t]: indexing's backward would allocate a full gradient
            if gx_t.size(1) < n:  # sequences have ended: keep their final states, drop their rows
                n = gx_t.size(1)
                h_ends.append(h[:, n:])
                c_ends.append(c[:, n:])
                h, c = h[:, :n], c[:, :n]
                masks = narrow_masks(masks, n)
            h, c = self.step(gx_t, h, c, masks, hh_log)
            outs.append(h)
        h_ends.append(h)
        c_ends.append(c)
        h_ends.reverse()
        c_ends.reverse()
        return torch.cat(outs, 1), torch.cat(h_ends, 1), torch.cat(c_ends, 1)

    @torch.jit.unused
    def _lstm_loop(self, gx: Tensor, h: Tensor, c: Tensor, masks: Masks,
                   sizes: List[int]) -> Tuple[Tensor, Tensor, Tensor]:
        """`_loop` for the LSTM in training, as one autograd node (seq2seq/lstm_loop.py): the per-step masks of
        recurrent dropout and zoneout drawn for every step at once."""
        D, N, H = gx.size(0), gx.size(1), self.hidden
        g_mask: Optional[Tensor] = None
        zc: Optional[Tensor] = None
        zh: Optional[Tensor] = None
        if self.recurrent_dropout > 0:  # Semeniuta et al.: d(g), scaled by 1/(1-p) as F.dropout does
            keep = 1.0 - self.recurrent_dropout
            g_mask = (torch.rand(D, N, H, device=gx.device) < keep).to(gx.dtype) / keep
        if self.zoneout_c > 0:
            zc = (torch.rand(D, N, H, device=gx.device) < self.zoneout_c).to(gx.dtype)
        if self.zoneout_h > 0:
            zh = (torch.rand(D, N, H, device=gx.device) < self.zoneout_h).to(gx.dtype)
        return lstm_loop(gx, h, c, masks.w_hh_t.transpose(1, 2), masks.h_mask, masks.c_mask, g_mask, zc, zh, sizes)


class RecurrentStack(nn.Module):
    """`num_layers` stacked layers, uni- or bidirectional; states laid out as torch.nn's (L*D, B, H).

    Non-recurrent dropout (Zaremba et al.) goes on the vertical connections between layers.
    """

    cell: Final[str]
    input_size: Final[int]
    num_layers: Final[int]
    num_dirs: Final[int]
    hidden: Final[int]
    dropout: Final[float]
    loop_in_train: Final[bool]
    loop_in_eval: Final[bool]

    def __init__(self, cell: str, input_size: int, hidden: int, num_layers: int, bidirectional: bool,
                 reg: Regularizers):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers: must be at least 1, got {num_layers}")
        D = 2 if bidirectional else 1
        self.cell, self.num_layers, self.num_dirs, self.hidden = cell, num_layers, D, hidden
        self.input_size = input_size
        self.layers = nn.ModuleList(
            [RecurrentLayer(cell, input_size if k == 0 else D * hidden, hidden, D, reg) for k in range(num_layers)]
        )
        self.set_rates(reg)

    def set_rates(self, reg: Regularizers) -> None:
        """Replace every layer's regularizer rates; the fused kernel runs whenever none acts in the recurrence."""
        self.dropout = reg.dropout
        for layer in self.layers:
            layer.set_rates(reg)
        self.loop_in_train = reg.needs_custom_loop
        self.loop_in_eval = reg.zoneout_c > 0 or reg.zoneout_h > 0  # eval uses zoneout's expectation

    def use_loop(self) -> bool:
        return self.loop_in_train if self.training else self.loop_in_eval

    def forward(self, x: Tensor, lens: Tensor,
                state: Optional[Tuple[Tensor, Tensor]] = None) -> Tuple[Tensor, Tensor, Tensor]:
        """:param x: (B, T, I); lens: (B,) → outputs (B, T, D*H), h_n (L*D, B, H), c_n (L*D, B, H or 0)

        :param state: initial (h_0, c_0) laid out as the (h_n, c_n) this returns, so that one call's final states
            can start the next (truncated backpropagation through time: detach them first); None for zeros
        """
        if x.dim() != 3 or x.size(2) != self.input_size:
            raise ValueError(f"x: expected (B, T, {self.input_size}), got shape {list(x.shape)}")
        if lens.dim() != 1 or lens.size(0) != x.size(0):
            raise ValueError(f"lens: expected ({x.size(0)},), got shape {list(lens.shape)}")
        if lens.dtype != torch.long:
            raise ValueError("lens: lengths must be a torch.long tensor")
        if x.size(0) == 0:
            raise ValueError("x: empty batch")
        if bool((lens < 1).any()) or bool((lens > x.size(1)).any()):
            raise ValueError(f"lens: every length must be in [1, {x.size(1)}]")
        D = self.num_dirs
        if state is not None:
            LD, B, H, Hc = self.num_layers * D, x.size(0), self.hidden, self.hidden if self.cell == "lstm" else 0
            if list(state[0].shape) != [LD, B, H] or list(state[1].shape) != [LD, B, Hc]:
                raise ValueError(f"state: expected h ({LD}, {B}, {H}) and c ({LD}, {B}, {Hc}), got shapes "
                                 f"{list(state[0].shape)} and {list(state[1].shape)}")
        if not self.use_loop():
            return self._fused(x, lens, state)
        hs: List[Tensor] = []
        cs: List[Tensor] = []
        for k, layer in enumerate(self.layers):
            if k > 0:
                x = F.dropout(x, self.dropout, self.training)
            layer_state: Optional[Tuple[Tensor, Tensor]] = None
            if state is not None:  # layer k's directions: rows k*D to (k+1)*D
                layer_state = (state[0][k * D : (k + 1) * D], state[1][k * D : (k + 1) * D])
            x, h, c = layer(x, lens, layer_state)
            hs.append(h)
            cs.append(c)
        return x, torch.cat(hs, 0), torch.cat(cs, 0)

    def _fused(self, x: Tensor, lens: Tensor,
               state: Optional[Tuple[Tensor, Tensor]] = None) -> Tuple[Tensor, Tensor, Tensor]:
        """The same stack through PyTorch's fused RNN kernels on a packed sequence."""
        B, T = x.size(0), x.size(1)
        weights: List[Tensor] = []
        for layer in self.layers:
            for d in range(self.num_dirs):
                weights += [layer.weight_ih[d], layer.weight_hh[d], layer.bias_ih[d], layer.bias_hh[d]]
        sorted_lens, order = lens.sort(descending=True)
        data, batch_sizes = torch._pack_padded_sequence(x.index_select(0, order), sorted_lens.cpu(), True)
        if state is None:
            h0 = x.new_zeros(self.num_layers * self.num_dirs, B, self.hidden)
            c0 = h0
        else:  # in the sorted order of the packed batch
            h0, c0 = state[0].index_select(1, order), state[1].index_select(1, order)
        bidir = self.num_dirs == 2
        if self.cell == "lstm":
            out, h, c = torch.lstm(data, batch_sizes, [h0, c0], weights, True, self.num_layers,
                                   self.dropout, self.training, bidir)
        elif self.cell == "gru":
            out, h = torch.gru(data, batch_sizes, h0, weights, True, self.num_layers, self.dropout,
                               self.training, bidir)
            c = x.new_zeros(self.num_layers * self.num_dirs, B, 0)
        else:
            out, h = torch.rnn_tanh(data, batch_sizes, h0, weights, True, self.num_layers, self.dropout,
                                    self.training, bidir)
            c = x.new_zeros(self.num_layers * self.num_dirs, B, 0)
        padded, _ = torch._pad_packed_sequence(out, batch_sizes, True, 0.0, T)
        unsort = order.argsort()
        return padded.index_select(0, unsort), h.index_select(1, unsort), c.index_select(1, unsort)
