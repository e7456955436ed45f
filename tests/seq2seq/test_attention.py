"""Luong attention (seq2seq/attention.py): a distribution over the source, zero on padding; the dot score."""

import pytest
import torch

from seq2seq.attention import Attention


@pytest.mark.parametrize("kind", ["dot", "general", "concat"])
def test_attention_weights_sum_to_one_and_are_zero_on_padding(kind):
    torch.manual_seed(0)
    att = Attention(kind, 6)
    values = torch.randn(3, 5, 6)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]], dtype=torch.bool)
    context, weights = att(torch.randn(3, 6), att.keys(values), values, mask)
    torch.testing.assert_close(weights.sum(1), torch.ones(3))
    assert torch.all(weights[~mask] == 0)
    torch.testing.assert_close(context, torch.einsum("bs,bsh->bh", weights, values))


def test_dot_attention_is_luong_dot_score():
    values, query = torch.randn(2, 4, 3), torch.randn(2, 3)
    att = Attention("dot", 3)
    _, weights = att(query, att.keys(values), values, torch.ones(2, 4, dtype=torch.bool))
    torch.testing.assert_close(weights, torch.softmax(torch.einsum("bsh,bh->bs", values, query), 1))


@pytest.mark.parametrize("kind", ["dot", "general", "concat"])
def test_beams_sharing_a_source_equal_one_query_per_copy_of_it(kind):
    # a beam search keeps one row of keys per sentence for its K hypotheses (`beams`): the same as K copies
    torch.manual_seed(1)
    att, K = Attention(kind, 6), 4
    values = torch.randn(3, 5, 6)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]], dtype=torch.bool)
    query = torch.randn(3 * K, 6)
    keys = att.keys(values)
    context, weights = att(query, keys, values, mask, beams=K)
    rows = torch.arange(3).repeat_interleave(K)
    want_context, want_weights = att(query, keys[rows], values[rows], mask[rows])
    torch.testing.assert_close(context, want_context)
    torch.testing.assert_close(weights, want_weights)
    assert torch.all(weights[~mask[rows]] == 0)
