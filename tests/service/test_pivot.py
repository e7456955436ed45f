"""The alignment carried through a pivot (service/pivot.py): the bridge between two segmentations of one text,
and the composition of two hops' attention."""

import torch

from seq2seq.translator import Hypothesis
from service.pivot import bridge, compose


def test_the_bridge_links_pieces_by_the_characters_they_share():
    first = ["▁The", "▁dog", "▁runs"]  # 3 + 3 + 4 characters
    second = ["▁Th", "e", "▁do", "g", "▁run", "s"]
    b = bridge(first, second)
    assert b.shape == (7, 4)
    assert torch.allclose(b.sum(dim=1), torch.ones(7, dtype=torch.float64))
    assert [int(row.argmax()) for row in b] == [0, 0, 1, 1, 2, 2, 3]  # the EOS row on the EOS column
    same = bridge(first, first)
    assert torch.allclose(same, torch.eye(4, dtype=torch.float64))


def test_a_piece_across_two_is_shared_between_them():
    b = bridge(["▁ab", "cd"], ["▁abcd"])  # one piece of the second covers both of the first
    assert torch.allclose(b[0], torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64))


def test_pieces_without_characters_and_empty_texts_keep_rows_that_sum_to_one():
    b = bridge(["▁a", "b"], ["▁", "a", "b"])  # a lone word mark
    assert torch.allclose(b.sum(dim=1), torch.ones(4, dtype=torch.float64)) and int(b[0].argmax()) == 0
    empty = bridge([], ["▁a"])  # the first hop translated to nothing: the second's pieces go to EOS
    assert empty.tolist() == [[1.0], [1.0]]


def test_composition_follows_each_hop_and_stays_a_distribution():
    # source s0 s1 EOS; the first hop's x y (EOS); the second hop reads x y as one piece "xy"
    first = Hypothesis("x y", 0.0, ["▁x", "▁y"], [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    second = Hypothesis("z", 0.0, ["▁z"], [[1.0, 0.0], [0.0, 1.0]])
    out = compose(second, first, ["▁xy"], 3)
    assert out.text == "z" and out.tokens == ["▁z"]
    # z attends to "xy": half x, which attended to s1, half y, which attended to s0; the EOS row to the EOS
    assert torch.allclose(torch.tensor(out.alignment), torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]))
    apart = compose(Hypothesis("z w", 0.0, ["▁z", "▁w"], [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]),
                    first, ["▁x", "▁y"], 3)  # z reads x (→ s1), w reads y (→ s0)
    assert torch.allclose(torch.tensor(apart.alignment),
                          torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))
    lost = compose(second, None, [], 3)  # no first translation
    assert lost.alignment == [[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]
    assert compose(Hypothesis("z", 0.0, ["▁z"], None), first, ["▁x"], 3).alignment is None
