"""Token-budget batches with length bucketing; the shuffle is seeded so that (seed, epoch) fixes every batch.

Bucketing examples of similar length keeps padding low; budgeting padded tokens rather than sentences keeps
memory flat across batches of short and long sentences. A resumed run rebuilds the epoch's batches from
(seed, epoch) and skips the ones already done, so the same arguments must give the same batches.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from seq2seq.translator import cut_batches, pad_batch  # noqa: F401 (pad_batch: re-exported)

BATCHES_PER_BUCKET = 100  # a shuffled chunk of about this many batches is sorted by length, then cut


def _cut(
    indices: list[int], src_lens: Sequence[int], tgt_lens: Sequence[int], max_tokens: int
) -> list[list[int]]:
    """Cut length-sorted indices into batches of at most ``max_tokens`` padded tokens each."""
    widths = {i: max(src_lens[i], tgt_lens[i]) for i in indices}
    return cut_batches(indices, widths, max_tokens)


def token_batches(
    src_lens: Sequence[int], tgt_lens: Sequence[int], max_tokens: int, shuffle: bool, seed: int, epoch: int
) -> list[list[int]]:
    """Group example indices into batches of at most ``max_tokens`` padded tokens on the longer side.

    A batch obeys ``len(batch) * max(longest source, longest target) <= max_tokens``, except that an example
    longer than the budget forms a batch of its own. Every index appears in exactly one batch.
    Without ``shuffle`` the order is a global sort by (target length, source length, index). With it, the
    indices are permuted, cut into chunks of about ``BATCHES_PER_BUCKET`` batches, each chunk is sorted and
    cut, and the batch order is shuffled, all with one ``random.Random`` seeded from (seed, epoch).

    :param src_lens: (N,) lengths as they will be padded (counting BOS/EOS if the model adds them)
    :param tgt_lens: (N,) likewise
    :returns: batches of indices into the N examples
    """
    if len(src_lens) != len(tgt_lens):
        raise ValueError(f"src_lens has {len(src_lens)} entries but tgt_lens has {len(tgt_lens)}")
    if max_tokens < 1:
        raise ValueError(f"max_tokens: must be positive, got {max_tokens}")
    n = len(src_lens)
    order = list(range(n))

    def key(i: int) -> tuple[int, int]:
        return tgt_lens[i], src_lens[i]

    if not shuffle:
        return _cut(sorted(order, key=key), src_lens, tgt_lens, max_tokens)
    rng = random.Random(seed * 1000003 + epoch)
    rng.shuffle(order)
    mean_len = sum(max(s, t) for s, t in zip(src_lens, tgt_lens)) / max(n, 1)
    chunk = max(1, round(BATCHES_PER_BUCKET * max_tokens / max(mean_len, 1.0)))
    batches: list[list[int]] = []
    for start in range(0, n, chunk):
        batches += _cut(sorted(order[start : start + chunk], key=key), src_lens, tgt_lens, max_tokens)
    rng.shuffle(batches)
    return batches
