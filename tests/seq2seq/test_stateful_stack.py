"""The initial states `RecurrentStack.forward` accepts for the examples (truncated BPTT): they equal torch.nn's
h_0/c_0 on both paths, carrying the final states across two calls equals one call over the whole sequence, and a
scripted stack accepts them. (They test seq2seq/cells.py against test_cells.py's torch.nn references.)"""

import pytest
import torch
from torch import nn

from seq2seq.cells import RecurrentStack
from seq2seq.config import Regularizers
from tests.seq2seq.test_cells import REFS, copy_from_torch, packed_reference


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("loop", [True, False])
def test_initial_states_equal_torch_nn(cell, bidirectional, loop):
    torch.manual_seed(0)
    stack = RecurrentStack(cell, 5, 7, 2, bidirectional, Regularizers()).eval()
    stack.loop_in_eval = loop
    ref = REFS[cell][0](5, 7, 2, bidirectional=bidirectional, batch_first=True).eval()
    copy_from_torch(stack, ref)
    LD = 2 * (2 if bidirectional else 1)
    x, lens = torch.randn(4, 6, 5), torch.tensor([6, 2, 4, 1])
    h0 = torch.randn(LD, 4, 7, requires_grad=True)
    c0 = torch.randn(LD, 4, 7 if cell == "lstm" else 0, requires_grad=True)
    out, h_n, c_n = stack(x, lens, (h0, c0))
    packed = nn.utils.rnn.pack_padded_sequence(x, lens, batch_first=True, enforce_sorted=False)
    ref_out, ref_state = ref(packed, (h0, c0) if cell == "lstm" else h0)
    ref_out, _ = nn.utils.rnn.pad_packed_sequence(ref_out, batch_first=True, total_length=6)
    ref_h = ref_state[0] if cell == "lstm" else ref_state
    torch.testing.assert_close(out, ref_out, atol=1e-5, rtol=0)
    torch.testing.assert_close(h_n, ref_h, atol=1e-5, rtol=0)
    if cell == "lstm":
        torch.testing.assert_close(c_n, ref_state[1], atol=1e-5, rtol=0)
    ours = torch.autograd.grad(out.sum() + h_n.sum(), [h0])
    theirs = torch.autograd.grad(ref_out.sum() + ref_h.sum(), [h0])
    torch.testing.assert_close(ours[0], theirs[0], atol=1e-5, rtol=0)
    # No state and zero states are the same thing.
    zeros = (torch.zeros(LD, 4, 7), torch.zeros(LD, 4, c0.size(2)))
    torch.testing.assert_close(stack(x, lens, zeros)[0], packed_reference(ref, x, lens)[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("loop", [True, False])
def test_two_chunks_with_carried_states_equal_one_call(cell, loop):
    torch.manual_seed(0)
    stack = RecurrentStack(cell, 5, 7, 2, False, Regularizers(zoneout_h=0.1) if loop else Regularizers()).eval()
    x, full = torch.randn(3, 10, 5), torch.full((3,), 10)
    out, h, c = stack(x, full)
    out1, h1, c1 = stack(x[:, :4], torch.full((3,), 4))
    out2, h2, c2 = stack(x[:, 4:], torch.full((3,), 6), (h1, c1))
    torch.testing.assert_close(torch.cat([out1, out2], 1), out, atol=1e-6, rtol=0)
    torch.testing.assert_close((h2, c2), (h, c), atol=1e-6, rtol=0)


def test_scripted_stack_takes_states_and_refuses_bad_shapes():
    torch.manual_seed(0)
    stack = RecurrentStack("lstm", 5, 7, 2, True, Regularizers(zoneout_c=0.1)).eval()
    scripted = torch.jit.script(stack)
    x, lens = torch.randn(2, 3, 5), torch.tensor([3, 2])
    state = (torch.randn(4, 2, 7), torch.randn(4, 2, 7))
    for a, b in zip(scripted(x, lens, state), stack(x, lens, state)):
        torch.testing.assert_close(a, b)
    for a, b in zip(scripted(x, lens), stack(x, lens)):
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match=r"state: expected h \(4, 2, 7\) and c \(4, 2, 7\)"):
        stack(x, lens, (torch.zeros(2, 2, 7), torch.zeros(2, 2, 7)))
