"""Token-budget batching: the budget holds, every example once, batches fixed by (seed, epoch)."""

from __future__ import annotations

import random

import pytest
import torch

from training.batching import pad_batch, token_batches


def lengths(n: int = 2000, seed: int = 0) -> tuple[list[int], list[int]]:
    """Source lengths 1-60 and correlated target lengths, as in real parallel data."""
    rng = random.Random(seed)
    src = [rng.randint(1, 60) for _ in range(n)]
    return src, [max(1, s + rng.randint(-5, 5)) for s in src]


def padded_width(batch: list[int], src: list[int], tgt: list[int]) -> int:
    return max(max(src[i], tgt[i]) for i in batch)


@pytest.mark.parametrize("shuffle", [True, False])
def test_budget_holds_and_every_index_appears_once(shuffle):
    src, tgt = lengths()
    batches = token_batches(src, tgt, 500, shuffle, seed=1, epoch=0)
    assert sorted(i for batch in batches for i in batch) == list(range(len(src)))
    for batch in batches:
        assert len(batch) * padded_width(batch, src, tgt) <= 500


def test_example_over_budget_gets_a_batch_of_its_own():
    src, tgt = [3, 50, 4, 2], [3, 2, 60, 2]
    for shuffle in (True, False):
        batches = token_batches(src, tgt, 20, shuffle, seed=0, epoch=0)
        assert [1] in batches and [2] in batches
        assert sorted(i for b in batches for i in b) == [0, 1, 2, 3]


def test_same_seed_and_epoch_give_identical_batches():
    src, tgt = lengths()
    first = token_batches(src, tgt, 800, True, seed=7, epoch=3)
    assert token_batches(src, tgt, 800, True, seed=7, epoch=3) == first
    assert token_batches(src, tgt, 800, True, seed=7, epoch=4) != first
    assert token_batches(src, tgt, 800, True, seed=8, epoch=3) != first


def test_without_shuffle_batches_are_globally_sorted_and_deterministic():
    src, tgt = lengths()
    batches = token_batches(src, tgt, 800, False, seed=1, epoch=0)
    assert token_batches(src, tgt, 800, False, seed=2, epoch=5) == batches
    order = [i for batch in batches for i in batch]
    keys = [(tgt[i], src[i]) for i in order]
    assert keys == sorted(keys)


def test_bucketing_keeps_padding_low():
    src, tgt = lengths(5000)
    batches = token_batches(src, tgt, 1000, True, seed=0, epoch=0)
    real = sum(max(s, t) for s, t in zip(src, tgt))
    padded = sum(len(b) * padded_width(b, src, tgt) for b in batches)
    assert real / padded > 0.85
    assert len({len(b) for b in batches}) > 1  # short sentences make larger batches


def test_bad_arguments():
    with pytest.raises(ValueError, match="tgt_lens"):
        token_batches([1, 2], [1], 10, True, 0, 0)
    with pytest.raises(ValueError, match="max_tokens"):
        token_batches([1], [1], 0, True, 0, 0)
    assert token_batches([], [], 10, True, 0, 0) == []


def test_pad_batch():
    ids, lens = pad_batch([[5, 6, 7], [8], []], pad_id=9)
    assert ids.dtype == torch.long and lens.dtype == torch.long
    assert ids.tolist() == [[5, 6, 7], [8, 9, 9], [9, 9, 9]]
    assert lens.tolist() == [3, 1, 0]
    ids, lens = pad_batch([[4, 5]])
    assert ids.shape == (1, 2) and lens.tolist() == [2]
    assert pad_batch([[1], [2, 3]])[0][0, 1].item() == 0  # default pad id
