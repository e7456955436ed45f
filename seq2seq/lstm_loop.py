"""The LSTM layer's training time loop with hand-written backpropagation through time.

`RecurrentLayer` runs its time loop step by step whenever a regularizer acts inside the recurrence (docs/design.md
§2: variational dropout on h, RNNdrop on c, weight drop, recurrent dropout on g, zoneout on c and h). Recorded by
autograd, every step of that loop adds some twenty graph nodes, each a kernel and an allocation in backward too,
and the W_hh h product goes through addmm's generic backward. For the LSTM, this module gives the same forward and
the same gradients as one `torch.autograd.Function`: the forward keeps each step's activations, the backward runs
the steps in reverse with the derivatives of docs/design.md §1 written out, and the weight's gradient is one matrix
product over all steps. It is the loop the fused kernels run, with the regularizers inside.

Per step t (rows that run at t only; m_h, m_c: per-sequence masks; d_t: recurrent dropout's mask; z_c, z_h:
zoneout's keep masks, True where a unit keeps its previous value):
    a = h_{t-1} ⊙ m_h;  [i f g o] = [σ σ tanh σ](x̂_t + a W_hh^T);  g' = g ⊙ d_t
    c̃ = (f ⊙ c_{t-1} + i ⊙ g') ⊙ m_c;  h̃ = o ⊙ tanh(c̃)
    c_t = z_c ? c_{t-1} : c̃;  h_t = z_h ? h_{t-1} : h̃
Masks the caller does not use are None. The masks of a step are drawn for the whole sequence at once by the caller,
so that drawing costs one kernel per mask, not one per step.
"""

from typing import List, Optional, Tuple

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from seq2seq.native import kernels


def _mm(x: Tensor, w: Tensor) -> Tensor:
    """(D, n, K) @ (D, K, G); a plain GEMM for one direction."""
    return (x.squeeze(0) @ w.squeeze(0)).unsqueeze(0) if x.size(0) == 1 else torch.bmm(x, w)


def _addmm(acc: Tensor, x: Tensor, w: Tensor) -> Tensor:
    if x.size(0) == 1:
        return torch.addmm(acc.squeeze(0), x.squeeze(0), w.squeeze(0)).unsqueeze(0)
    return torch.baddbmm(acc, x, w)


def _autocast(device: torch.device) -> Tuple[bool, torch.dtype]:
    return torch.is_autocast_enabled(device.type), torch.get_autocast_dtype(device.type)


def _rows(t: Optional[Tensor]) -> Tuple[int, int, int]:
    """A (D, N, W) tensor as the C kernels take it, rows contiguous: its address, its direction stride (elements)
    and the bytes of one row, so that a step's rows are an address computed in Python, not a tensor slice;
    zeros for None."""
    if t is None:
        return 0, 0, 0
    assert t.stride(-1) == 1 and (t.size(1) == 1 or t.stride(1) == t.size(2)), "rows must be contiguous"
    return t.data_ptr(), t.stride(0), t.size(2) * t.element_size()


def _at(rows: Tuple[int, int, int], off: int) -> Optional[int]:
    """The address of row `off` of `_rows`' tensor (None for no tensor: NULL)."""
    return rows[0] + off * rows[2] if rows[0] else None


class LSTMLoop(torch.autograd.Function):
    """(x̂ packed step by step, h_0, c_0, W_hh, masks) → (h_t packed, h_n, c_n): the equations above."""

    @staticmethod
    def forward(ctx, gx: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor, h_mask: Optional[Tensor],
                c_mask: Optional[Tensor], g_mask: Optional[Tensor], zc: Optional[Tensor], zh: Optional[Tensor],
                sizes: List[int]):
        """:param gx: (D, N, 4H) W_ih x_t + b, the N rows of the packed steps (sizes[t] rows at step t)
        :param h0, c0: (D, B, H), B = sizes[0]; :param w_hh: (D, 4H, H)
        :param h_mask, c_mask: (D, B, H) or None; :param g_mask: (D, N, H) scaled dropout mask or None
        :param zc, zh: (D, N, H) 1 where zoneout keeps the previous value, 0 elsewhere (gx's dtype), or None
        :return: outputs (D, N, H), h_n and c_n (D, B, H): each row's state after its last step
        """
        on, low = _autocast(gx.device)
        ctx.autocast = on, low
        ctx.dtypes = gx.dtype, h0.dtype, c0.dtype, w_hh.dtype  # the gradients' dtypes
        w_t = w_hh.transpose(1, 2).contiguous()  # (D, H, 4H): the layout the forward GEMM runs fastest on
        if on:  # cast once, not at every step's product
            w_t = w_t.to(low)
        H = h0.size(2)
        lib = kernels() if gx.device.type == "cpu" and gx.dtype == torch.float32 and not on else None
        ctx.native = lib is not None
        if on:  # every step in autocast's precision, as its products are
            h0, c0 = h0.to(low), c0.to(low)
            h_mask, c_mask, g_mask, zc, zh = [None if m is None else m.to(low)
                                              for m in (h_mask, c_mask, g_mask, zc, zh)]
        if lib is not None:
            h0, c0, gx = h0.contiguous(), c0.contiguous(), gx.contiguous()
            gx_r, gm_r, cm_r, zc_r, zh_r = _rows(gx), _rows(g_mask), _rows(c_mask), _rows(zc), _rows(zh)
        h, c = h0, c0
        outs: List[Tensor] = []
        acts: List[Tensor] = []  # per step: [i f g o] after their nonlinearities (g before dropout)
        tanhs: List[Tensor] = []  # tanh(c̃)
        c_prevs: List[Tensor] = []
        hhs: List[Tensor] = []  # a = h_{t-1} ⊙ m_h, W_hh's input
        h_ends: List[Tensor] = []
        c_ends: List[Tensor] = []
        off = 0
        for n in sizes:
            if n < h.size(1):  # sequences have ended: keep their final states
                h_ends.append(h[:, n:])
                c_ends.append(c[:, n:])
                h, c = h[:, :n], c[:, :n]
            a = h if h_mask is None else h * h_mask[:, :n]
            if lib is not None:  # the pointwise part in one pass, which also adds gx (no copy into the GEMM)
                gates = _mm(a, w_t)
                c_new, tc, h_new = gates.new_empty(3, gates.size(0), n, H).unbind(0)
                lib.lstm_fwd(gates.size(0), n, H, gates.data_ptr(), gates.stride(0), _at(gx_r, off), gx_r[1],
                             c.data_ptr(), c.stride(0), h.data_ptr(), h.stride(0), _at(gm_r, off), gm_r[1],
                             _at(cm_r, 0), cm_r[1], _at(zc_r, off), zc_r[1], _at(zh_r, off), zh_r[1],
                             c_new.data_ptr(), tc.data_ptr(), h_new.data_ptr())
            else:
                gates = _addmm(gx[:, off : off + n], a, w_t)
                gates[..., : 2 * H].sigmoid_()
                gates[..., 2 * H : 3 * H].tanh_()
                gates[..., 3 * H :].sigmoid_()
                i, f, g, o = gates.chunk(4, 2)
                if g_mask is not None:
                    g = g * g_mask[:, off : off + n]
                c_new = torch.addcmul(f * c, i, g)
                if c_mask is not None:
                    c_new = c_new * c_mask[:, :n]
                tc = torch.tanh(c_new)
                h_new = o * tc
                if zc is not None:  # lerp by a 0/1 weight is exact, and on a CPU cheaper than where on a bool mask
                    c_new = torch.lerp(c_new, c, zc[:, off : off + n])
                if zh is not None:
                    h_new = torch.lerp(h_new, h, zh[:, off : off + n])
            acts.append(gates)
            tanhs.append(tc)
            c_prevs.append(c)
            hhs.append(a)
            outs.append(h_new)
            h, c = h_new, c_new
            off += n
        h_ends.append(h)
        c_ends.append(c)
        ctx.sizes = sizes
        ctx.steps = acts, tanhs, c_prevs, hhs
        ctx.save_for_backward(w_hh, h_mask, c_mask, g_mask, zc, zh)
        return torch.cat(outs, 1), torch.cat(h_ends[::-1], 1), torch.cat(c_ends[::-1], 1)

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out: Tensor, d_hn: Tensor, d_cn: Tensor):
        w_hh, h_mask, c_mask, g_mask, zc, zh = ctx.saved_tensors
        acts, tanhs, c_prevs, hhs = ctx.steps
        sizes: List[int] = ctx.sizes
        on, low = ctx.autocast
        with torch.autocast(d_out.device.type, dtype=low, enabled=on):
            w = w_hh.to(low) if on else w_hh  # (D, 4H, H), contiguous: the layout dL/da = dL/dgates W_hh runs on
            dtype = acts[0].dtype
            H = tanhs[0].size(2)
            D, N = d_out.size(0), d_out.size(1)
            lib = kernels() if ctx.native else None
            d_out = d_out.contiguous()
            if lib is not None:
                gm_r, cm_r, zc_r, zh_r, do_r = _rows(g_mask), _rows(c_mask), _rows(zc), _rows(zh), _rows(d_out)
            d_gates = d_out.new_empty(D, N, 4 * H, dtype=dtype)  # also dL/dx̂
            dg_r = _rows(d_gates)
            d_hn, d_cn = d_hn.to(dtype).contiguous(), d_cn.to(dtype).contiguous()
            dh, dc = d_hn[:, : sizes[-1]], d_cn[:, : sizes[-1]]  # dL/dh_t, dL/dc_t of the rows running at t
            off = N
            for t in range(len(sizes) - 1, -1, -1):
                n = sizes[t]
                off -= n
                if n > dh.size(1):  # going backwards, sequences start at their last step: dL/dh_n, dL/dc_n
                    dh = torch.cat([dh, d_hn[:, dh.size(1) : n]], 1)
                    dc = torch.cat([dc, d_cn[:, dc.size(1) : n]], 1)
                tc, c_prev = tanhs[t], c_prevs[t]
                dg_all = d_gates[:, off : off + n]  # this step's dL/dgates, written below
                if lib is not None:  # the pointwise part in one pass
                    buf = d_out.new_empty(2 if zh is not None else 1, D, n, H)
                    dc_prev, dh_keep = buf[0], (buf[1] if zh is not None else None)
                    lib.lstm_bwd(D, n, H, acts[t].data_ptr(), acts[t].stride(0), tc.data_ptr(), c_prev.data_ptr(),
                                 c_prev.stride(0), _at(gm_r, off), gm_r[1], _at(cm_r, 0), cm_r[1], _at(zc_r, off),
                                 zc_r[1], _at(zh_r, off), zh_r[1], dh.data_ptr(), dh.stride(0), _at(do_r, off),
                                 do_r[1], dc.data_ptr(), dc.stride(0), _at(dg_r, off), dg_r[1], dc_prev.data_ptr(),
                                 None if dh_keep is None else dh_keep.data_ptr())
                else:
                    i, f, g, o = acts[t].chunk(4, 2)
                    dh_t = dh + d_out[:, off : off + n]
                    dc_t = dc
                    dh_keep = None
                    dc_keep: Optional[Tensor] = None
                    if zh is not None:  # z ⊙ dh goes to h_{t-1}, the rest (exactly: z is 0 or 1) to h̃
                        dh_keep = dh_t * zh[:, off : off + n]
                        dh_t = dh_t - dh_keep
                    if zc is not None:
                        dc_keep = dc_t * zc[:, off : off + n]
                        dc_t = dc_t - dc_keep
                    di, df, dg, do = dg_all.chunk(4, 2)
                    # dL/dc̃ = dc + dh ⊙ o ⊙ (1 − tanh²c̃); dL/do = dh ⊙ tanh c̃
                    torch.mul(dh_t, tc, out=do)
                    dct = torch.addcmul(dc_t, dh_t * o, 1 - tc * tc)
                    if c_mask is not None:
                        dct = dct * c_mask[:, :n]
                    gd = g if g_mask is None else g * g_mask[:, off : off + n]
                    torch.mul(dct, gd, out=di)
                    torch.mul(dct, c_prev, out=df)
                    dgd = dct * i
                    if g_mask is not None:
                        dgd = dgd * g_mask[:, off : off + n]
                    dc_prev = dct * f
                    if dc_keep is not None:
                        dc_prev = dc_prev + dc_keep
                    # through the nonlinearities: σ' = σ(1 − σ), tanh' = 1 − tanh²
                    di.mul_(i * (1 - i))
                    df.mul_(f * (1 - f))
                    do.mul_(o * (1 - o))
                    torch.mul(dgd, 1 - g * g, out=dg)
                da = _mm(dg_all, w)
                dh_prev = da if h_mask is None else da * h_mask[:, :n]
                if dh_keep is not None:
                    dh_prev = dh_prev + dh_keep
                dh, dc = dh_prev, dc_prev
            # dL/dW_hh = Σ_t dL/dgates_tᵀ a_t: one product over every step
            d_w = _mm(d_gates.transpose(1, 2), torch.cat(hhs, 1).to(dtype)) if ctx.needs_input_grad[3] else None
        dt_gx, dt_h0, dt_c0, dt_w = ctx.dtypes
        return (d_gates.to(dt_gx), dh.to(dt_h0), dc.to(dt_c0), None if d_w is None else d_w.to(dt_w),
                None, None, None, None, None, None)


@torch.jit.unused
def lstm_loop(gx: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor, h_mask: Optional[Tensor], c_mask: Optional[Tensor],
              g_mask: Optional[Tensor], zc: Optional[Tensor], zh: Optional[Tensor],
              sizes: List[int]) -> Tuple[Tensor, Tensor, Tensor]:
    """`LSTMLoop` (TorchScript never runs it: exported models compute no gradients)."""
    return LSTMLoop.apply(gx, h0, c0, w_hh, h_mask, c_mask, g_mask, zc, zh, sizes)
