"""Cells and layers equal torch.nn's with regularizers off; each regularizer shows its defining property."""

import pytest
import torch
from torch import nn

from seq2seq.cells import RecurrentLayer, RecurrentStack, reverse_padded
from seq2seq.config import Regularizers

REFS = {"lstm": (nn.LSTM, nn.LSTMCell), "gru": (nn.GRU, nn.GRUCell), "rnn": (nn.RNN, nn.RNNCell)}


def copy_from_torch(stack: RecurrentStack, ref: nn.RNNBase) -> None:
    with torch.no_grad():
        for k, layer in enumerate(stack.layers):
            for d in range(stack.num_dirs):
                suffix = f"_l{k}" + ("_reverse" if d else "")
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(layer, name)[d].copy_(getattr(ref, name + suffix))


def packed_reference(ref: nn.RNNBase, x: torch.Tensor, lens: torch.Tensor):
    packed = nn.utils.rnn.pack_padded_sequence(x, lens, batch_first=True, enforce_sorted=False)
    out, state = ref(packed)
    out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.size(1))
    return out, state


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("loop", [True, False])
def test_stack_equals_torch_nn_outputs_and_gradients(cell, bidirectional, loop):
    torch.manual_seed(0)
    stack = RecurrentStack(cell, 5, 7, 2, bidirectional, Regularizers()).eval()
    stack.loop_in_eval = loop  # the custom time loop and the fused path must both match
    ref = REFS[cell][0](5, 7, 2, bidirectional=bidirectional, batch_first=True).eval()
    copy_from_torch(stack, ref)
    x = torch.randn(4, 6, 5, requires_grad=True)
    lens = torch.tensor([6, 2, 4, 1])
    out, h_n, c_n = stack(x, lens)
    ref_out, ref_state = packed_reference(ref, x, lens)
    ref_h = ref_state[0] if cell == "lstm" else ref_state
    torch.testing.assert_close(out, ref_out, atol=1e-5, rtol=0)
    torch.testing.assert_close(h_n, ref_h, atol=1e-5, rtol=0)
    if cell == "lstm":
        torch.testing.assert_close(c_n, ref_state[1], atol=1e-5, rtol=0)
    # Gradients of every weight and of the input agree too.
    grad_out = torch.randn_like(out)
    ours = torch.autograd.grad((out * grad_out).sum() + h_n.sum(), [x] + list(stack.parameters()))
    theirs = torch.autograd.grad((ref_out * grad_out).sum() + ref_h.sum(), [x] + list(ref.parameters()))
    torch.testing.assert_close(ours[0], theirs[0], atol=1e-5, rtol=0)
    named = dict(zip([n for n, _ in stack.named_parameters()], ours[1:]))
    ref_named = dict(zip([n for n, _ in ref.named_parameters()], theirs[1:]))
    for k in range(2):
        for d in range(2 if bidirectional else 1):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                suffix = f"_l{k}" + ("_reverse" if d else "")
                torch.testing.assert_close(named[f"layers.{k}.{name}"][d], ref_named[name + suffix], atol=1e-5, rtol=0)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_step_equals_torch_cell(cell):
    torch.manual_seed(1)
    layer = RecurrentLayer(cell, 5, 7, 1, Regularizers()).eval()
    ref = REFS[cell][1](5, 7)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(layer, name)[0].copy_(getattr(ref, name))
    x, h, c = torch.randn(3, 5), torch.randn(3, 7), torch.randn(3, 7)
    masks = layer.sample_masks(3, x)
    gx = layer.project(x.unsqueeze(0))
    h_new, c_new = layer.step(gx, h.unsqueeze(0), c.unsqueeze(0) if cell == "lstm" else h.new_zeros(1, 3, 0), masks)
    if cell == "lstm":
        ref_h, ref_c = ref(x, (h, c))
        torch.testing.assert_close(c_new[0], ref_c, atol=1e-6, rtol=0)
    else:
        ref_h = ref(x, h)
    torch.testing.assert_close(h_new[0], ref_h, atol=1e-6, rtol=0)


def test_padding_never_leaks_into_states():
    torch.manual_seed(2)
    stack = RecurrentStack("lstm", 4, 5, 2, True, Regularizers(zoneout_c=0.3, zoneout_h=0.3)).eval()
    x = torch.randn(1, 3, 4)
    alone = stack(x, torch.tensor([3]))
    padded = torch.cat([x, torch.randn(1, 4, 4) * 100], 1)
    longer = torch.randn(1, 7, 4)
    batched = stack(torch.cat([padded, longer]), torch.tensor([3, 7]))
    torch.testing.assert_close(batched[0][0, :3], alone[0][0], atol=1e-6, rtol=0)
    assert torch.all(batched[0][0, 3:] == 0)
    torch.testing.assert_close(batched[1][:, 0], alone[1][:, 0], atol=1e-6, rtol=0)


def test_reverse_padded_keeps_padding_in_place():
    x = torch.arange(8.0).view(2, 4, 1)
    out = reverse_padded(x, torch.tensor([4, 2]))
    assert out[:, :, 0].tolist() == [[3, 2, 1, 0], [5, 4, 6, 7]]


def test_eval_is_deterministic_with_every_regularizer(all_regularizers):
    stack = RecurrentStack("lstm", 4, 5, 2, True, all_regularizers)
    x, lens = torch.randn(3, 6, 4), torch.tensor([6, 3, 5])
    stack.train()
    assert not torch.equal(stack(x, lens)[0], stack(x, lens)[0])  # training draws masks
    stack.eval()
    torch.testing.assert_close(stack(x, lens)[0], stack(x, lens)[0], atol=0, rtol=0)


def test_variational_input_mask_is_the_same_at_every_step():
    # A tanh RNN with W_hh = 0 and a constant input: h_t = tanh(W_ih (x ⊙ m)) is identical at every
    # step iff the input mask is drawn once per sequence; it must differ between sequences.
    torch.manual_seed(3)
    layer = RecurrentLayer("rnn", 16, 8, 1, Regularizers(variational=0.5)).train()
    with torch.no_grad():
        layer.weight_hh.zero_()
        layer.bias_ih.zero_()
        layer.bias_hh.zero_()
    x = torch.randn(1, 1, 16).expand(6, 10, 16).contiguous()
    out, _, _ = layer(x, torch.full((6,), 10))
    assert torch.allclose(out, out[:, :1].expand_as(out))
    assert not torch.allclose(out[0], out[1])


def test_variational_hidden_mask_is_fixed_within_a_sequence():
    torch.manual_seed(4)
    layer = RecurrentLayer("lstm", 3, 8, 1, Regularizers(variational=0.5)).train()
    masks = layer.sample_masks(2, torch.zeros(1))
    h_mask = masks[1]
    assert h_mask is not None and h_mask.shape == (1, 2, 8)
    # Units dropped from h_{t-1} have no influence on the step, whatever the step.
    for _ in range(3):
        h = torch.randn(1, 2, 8, requires_grad=True)
        gx = layer.project(torch.randn(1, 2, 3) * masks[0])
        h_new, _ = layer.step(gx, h, torch.randn(1, 2, 8), masks)
        (grad,) = torch.autograd.grad(h_new.sum(), h)
        dropped = (h_mask == 0).expand_as(grad)
        assert dropped.any()
        assert torch.all(grad[dropped] == 0) and torch.all(grad[~dropped] != 0)


def test_rnndrop_zeroes_the_same_cell_units_at_every_step():
    # mixed lengths, both directions: sequences leave the packed loop at different steps, and each keeps its
    # own mask to the end
    torch.manual_seed(5)
    layer = RecurrentLayer("lstm", 4, 16, 2, Regularizers(rnndrop=0.5)).train()
    lens = torch.tensor([6, 9, 3, 7])
    out, _, c = layer(torch.randn(4, 9, 4), lens)
    dead = out == 0  # h_t = o ⊙ tanh(c_t) is 0 exactly where the cell mask is 0
    for b, n in enumerate(lens.tolist()):
        assert torch.equal(dead[b, :n], dead[b, :1].expand(n, -1))  # same units at every step
        assert torch.all(dead[b, n:])  # padding
    assert dead[:, 0].any()
    assert not torch.equal(dead[0, 0], dead[1, 0])  # a new mask per sequence
    assert torch.all(c.permute(1, 0, 2).reshape(4, -1)[dead[:, 0]] == 0)


def test_deferred_weight_gradients_free_their_graph_and_allow_a_second_backward():
    import gc

    layer = RecurrentLayer("lstm", 3, 4, 2, Regularizers()).train()
    x, lens = torch.randn(2, 5, 3), torch.tensor([5, 3])

    def live_tensors() -> int:
        gc.collect()
        return sum(type(o) is torch.Tensor for o in gc.get_objects())

    layer(x, lens)[0].sum()  # a forward pass that is never backpropagated (a skipped batch)
    before = live_tensors()
    for _ in range(3):
        layer(x, lens)[0].sum()
    assert live_tensors() == before
    loss = layer(x, lens)[0].square().sum()
    first = torch.autograd.grad(loss, layer.weight_hh, retain_graph=True)[0]
    torch.testing.assert_close(torch.autograd.grad(loss, layer.weight_hh)[0], first, atol=0, rtol=0)


def test_weight_drop_mask_changes_between_passes_not_within():
    torch.manual_seed(6)
    layer = RecurrentLayer("lstm", 4, 16, 1, Regularizers(weight_drop=0.5)).train()
    w1 = layer.sample_masks(2, torch.zeros(1))[3]
    w2 = layer.sample_masks(2, torch.zeros(1))[3]
    full = layer.weight_hh.transpose(1, 2)
    kept1 = w1 != 0
    assert 0.4 < kept1.float().mean() < 0.6
    torch.testing.assert_close(w1[kept1], full[kept1] * 2)  # scaled by 1/(1-p)
    assert not torch.equal(kept1, w2 != 0)
    # Within one pass, every step uses the one dropped matrix: a pass with the mask applied by hand agrees.
    x, lens = torch.randn(2, 5, 4), torch.full((2,), 5)
    torch.manual_seed(7)
    out, _, _ = layer(x, lens)
    torch.manual_seed(7)
    w = layer.sample_masks(2, x)[3]
    ref = RecurrentLayer("lstm", 4, 16, 1, Regularizers()).eval()
    with torch.no_grad():
        for name in ("weight_ih", "bias_ih", "bias_hh"):
            getattr(ref, name).copy_(getattr(layer, name))
        ref.weight_hh.copy_(w.transpose(1, 2))
    torch.testing.assert_close(out, ref(x, lens)[0])


def test_recurrent_dropout_only_drops_the_candidate():
    # Semeniuta et al.: c_t = f ⊙ c_{t-1} + i ⊙ d(g). Where d drops g, the cell state only decays.
    torch.manual_seed(8)
    layer = RecurrentLayer("lstm", 3, 32, 1, Regularizers(recurrent_dropout=0.9)).train()
    x, h, c = torch.randn(1, 4, 3), torch.randn(1, 4, 32), torch.randn(1, 4, 32)
    masks = layer.sample_masks(4, x)
    gx = layer.project(x)
    _, c_new = layer.step(gx, h, c, masks)
    gates = torch.baddbmm(gx, h, masks[3])
    i, f, g, _ = gates.chunk(4, 2)
    decay = torch.sigmoid(f) * c
    dropped = torch.isclose(c_new, decay, atol=1e-7, rtol=0)
    assert 0.8 < dropped.float().mean() < 0.98
    kept = ~dropped
    expected = decay + torch.sigmoid(i) * torch.tanh(g) / (1 - 0.9)
    torch.testing.assert_close(c_new[kept], expected[kept])


def test_zoneout_keeps_previous_values_in_training_and_uses_expectation_in_eval():
    torch.manual_seed(9)
    layer = RecurrentLayer("lstm", 3, 64, 1, Regularizers(zoneout_c=0.3, zoneout_h=0.6))
    prev, new = torch.randn(1, 8, 64), torch.randn(1, 8, 64)
    layer.train()
    mixed = layer._zoneout(prev, new, 0.3)
    from_prev = mixed == prev
    assert torch.all(from_prev | (mixed == new))
    assert 0.2 < from_prev.float().mean() < 0.4
    layer.eval()
    torch.testing.assert_close(layer._zoneout(prev, new, 0.3), 0.3 * prev + 0.7 * new)


def test_zoneout_near_one_freezes_the_state():
    torch.manual_seed(10)
    layer = RecurrentLayer("lstm", 3, 16, 1, Regularizers(zoneout_c=0.999999, zoneout_h=0.999999)).train()
    out, h, c = layer(torch.randn(2, 6, 3), torch.full((2,), 6))
    assert torch.all(out == 0) and torch.all(h == 0) and torch.all(c == 0)  # the zero initial state never changes


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(cell="tanh"), "cell"),
        (dict(reg=dict(zoneout_c=1.0)), "zoneout_c"),  # bad rates: refused by Regularizers itself
        (dict(reg=dict(dropout=-0.1)), "dropout"),
        (dict(cell="gru", reg=Regularizers(rnndrop=0.1)), "rnndrop"),
        (dict(cell="rnn", reg=Regularizers(recurrent_dropout=0.1)), "recurrent_dropout"),
    ],
)
def test_bad_construction_arguments_name_the_argument(kwargs, message):
    args = dict(cell="lstm", input_size=3, hidden=4, num_layers=1, bidirectional=True, reg=Regularizers())
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        if isinstance(args["reg"], dict):
            args["reg"] = Regularizers(**args["reg"])
        RecurrentStack(**args)


def test_bad_call_arguments_name_the_argument():
    stack = RecurrentStack("lstm", 3, 4, 1, True, Regularizers())
    with pytest.raises(ValueError, match="x"):
        stack(torch.randn(2, 3), torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="lens"):
        stack(torch.randn(2, 3, 3), torch.tensor([4, 2]))
    with pytest.raises(ValueError, match="lens"):
        stack(torch.randn(2, 3, 3), torch.tensor([2]))
    with pytest.raises(ValueError, match="empty"):
        stack(torch.randn(0, 3, 3), torch.zeros(0, dtype=torch.long))


@pytest.mark.parametrize("loop", [True, False])
def test_a_wrong_feature_size_or_float_lengths_are_refused_on_both_paths(loop):
    # the fused LSTM kernel reads whatever memory a wrong-sized input leaves it; the stack checks first
    stack = RecurrentStack("lstm", 3, 4, 1, True, Regularizers()).eval()
    stack.loop_in_eval = loop
    with pytest.raises(ValueError, match=r"^x: expected \(B, T, 3\)"):
        stack(torch.randn(2, 3, 5), torch.tensor([3, 2]))
    with pytest.raises(ValueError, match="^lens: lengths must be a torch.long"):
        stack(torch.randn(2, 3, 3), torch.tensor([3.0, 2.0]))
