"""The cross-request batcher with a fake decoder: grouping, ordering, dropping, limits, failures."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from seq2seq.translator import Hypothesis, SearchOptions
from service.batcher import Batcher, DeadlineExceededError, QueueFullError, ShuttingDownError
from service.metrics import Metrics

GREEDY, BEAM = SearchOptions(beam_size=1), SearchOptions(beam_size=4)


class FakeDecoder:
    """Records every call; 'translates' a sentence into the string of its ids."""

    def __init__(self, fail: bool = False):
        self.calls: list[tuple[list[list[int]], SearchOptions, bool]] = []
        self.fail = fail

    def __call__(self, batch: list[list[int]], opts: SearchOptions, with_alignment: bool) -> list[list[Hypothesis]]:
        self.calls.append((batch, opts, with_alignment))
        if self.fail:
            raise RuntimeError("decoder broke")
        return [[Hypothesis(" ".join(map(str, ids)), -1.0, [])] for ids in batch]


def run(test: Callable[[Batcher, FakeDecoder], Awaitable[None]], decoder: FakeDecoder | None = None,
        **kwargs: float) -> FakeDecoder:
    decoder = decoder or FakeDecoder()

    async def main() -> None:
        batcher = Batcher(decoder, Metrics(), **kwargs)
        batcher.start()
        try:
            await test(batcher, decoder)
        finally:
            await batcher.stop()

    asyncio.run(main())
    return decoder


def later(seconds: float = 10.0) -> float:
    return time.monotonic() + seconds


def test_groups_by_options_and_sorts_by_length() -> None:
    async def test(batcher: Batcher, decoder: FakeDecoder) -> None:
        a = batcher.submit([[5, 6, 7, 3], [5, 3]], GREEDY, False, later())
        b = batcher.submit([[8, 3]], BEAM, False, later())
        c = batcher.submit([[9, 9, 3]], GREEDY, False, later())
        d = batcher.submit([[4, 3]], GREEDY, True, later())
        results = await asyncio.gather(*a, *b, *c, *d)
        assert [r[0].text for r in results] == ["5 6 7 3", "5 3", "8 3", "9 9 3", "4 3"]

    decoder = run(test, wait_s=0.05)
    assert sorted((c[0], c[1].beam_size, c[2]) for c in decoder.calls) == [
        ([[4, 3]], 1, True), ([[5, 3], [9, 9, 3], [5, 6, 7, 3]], 1, False), ([[8, 3]], 4, False),
    ]


def test_token_budget_cuts_batches() -> None:
    async def test(batcher: Batcher, decoder: FakeDecoder) -> None:
        futures = batcher.submit([[7] * 5 + [3]] * 10, GREEDY, False, later())  # 10 x 6 tokens, budget 20
        await asyncio.gather(*futures)

    decoder = run(test, max_tokens=20, wait_s=0.01)
    assert all(len(batch) * 6 <= 20 for batch, _, _ in decoder.calls)
    assert sum(len(batch) for batch, _, _ in decoder.calls) == 10


def test_cancelled_and_expired_sentences_are_not_decoded() -> None:
    async def test(batcher: Batcher, decoder: FakeDecoder) -> None:
        gone = batcher.submit([[11, 3]], GREEDY, False, later())
        expired = batcher.submit([[12, 3]], GREEDY, False, time.monotonic() + 0.01)
        kept = batcher.submit([[13, 3]], GREEDY, False, later())
        gone[0].cancel()
        assert (await kept[0])[0].text == "13 3"
        with pytest.raises(DeadlineExceededError):
            await expired[0]
        metrics = batcher.metrics.render().decode()
        assert 'seq2seq_dropped_sentences_total{reason="cancelled"} 1.0' in metrics
        assert 'seq2seq_dropped_sentences_total{reason="deadline"} 1.0' in metrics

    decoder = run(test, wait_s=0.1)
    assert [batch for batch, _, _ in decoder.calls] == [[[13, 3]]]


def test_full_queue_refuses_whole_requests() -> None:
    async def test(batcher: Batcher, decoder: FakeDecoder) -> None:
        first = batcher.submit([[5, 3]] * 3, GREEDY, False, later())
        with pytest.raises(QueueFullError) as err:
            batcher.submit([[6, 3]] * 2, GREEDY, False, later())  # 3 + 2 > 4: none of them is queued
        assert err.value.retry_after_s >= 1 and batcher.depth == 3
        batcher.submit([[6, 3]], GREEDY, False, later())  # 3 + 1 fits
        await asyncio.gather(*first)

    run(test, max_queue=4, wait_s=0.05)


def test_decoder_failure_fails_the_batch_not_the_worker() -> None:
    decoder = FakeDecoder(fail=True)

    async def test(batcher: Batcher, decoder: FakeDecoder) -> None:
        with pytest.raises(RuntimeError, match="decoder broke"):
            await batcher.submit([[5, 3]], GREEDY, False, later())[0]
        decoder.fail = False
        assert (await batcher.submit([[6, 3]], GREEDY, False, later())[0])[0].text == "6 3"

    run(test, decoder, wait_s=0.0)


def test_stop_fails_waiting_sentences() -> None:
    async def main() -> None:
        batcher = Batcher(FakeDecoder(), Metrics(), wait_s=10.0)
        batcher.start()
        futures = batcher.submit([[5, 3]], GREEDY, False, later())
        await asyncio.sleep(0.01)
        await batcher.stop()
        with pytest.raises(ShuttingDownError):
            await futures[0]
        with pytest.raises(ShuttingDownError):
            batcher.submit([[5, 3]], GREEDY, False, later())

    asyncio.run(main())


def test_waits_for_company_but_not_past_the_token_budget() -> None:
    async def test(batcher: Batcher, decoder: FakeDecoder) -> None:
        start = time.monotonic()
        await asyncio.gather(*batcher.submit([[5] * 9 + [3]], GREEDY, False, later()))
        assert time.monotonic() - start < 1.0  # 10 tokens reach the budget: no 5 s wait

    run(test, max_tokens=10, wait_s=5.0)


class SlowDecoder(FakeDecoder):
    """Takes `seconds` per batch, like a real decoder (its thread sleeps, so the event loop runs meanwhile)."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds
        self.spans: list[tuple[float, float]] = []  # (start, end) of every call, time.monotonic()

    def __call__(self, batch: list[list[int]], opts: SearchOptions, with_alignment: bool) -> list[list[Hypothesis]]:
        start = time.monotonic()
        time.sleep(self.seconds)
        self.spans.append((start, time.monotonic()))
        return super().__call__(batch, opts, with_alignment)


async def closed_loop(batcher: Batcher, clients: int, rounds: int) -> None:
    """`clients` clients, each sending its next sentence a little after its answer arrives."""

    async def client(i: int) -> None:
        await asyncio.sleep(0.002 * i)  # they do not all arrive together
        for _ in range(rounds):
            await batcher.submit([[5, i, 3]], GREEDY, False, later())[0]
            await asyncio.sleep(0.003 + 0.001 * (i % 4))  # network and handler time before the next one

    await asyncio.gather(*(client(i) for i in range(clients)))


def test_closed_loop_clients_share_one_batch_after_the_first_rounds() -> None:
    # 8 clients trickling in over 16 ms with a 5 ms wait: the first batch takes those already there; from then
    # on the batcher waits (up to 50 ms: a tenth of the 0.5 s decode) for the clients of the previous batch and
    # they share full batches of 8, until the clients of the first batch finish their rounds early
    decoder = run(lambda b, d: closed_loop(b, 8, 6), SlowDecoder(0.5), wait_s=0.005, linger_s=0.2)
    sizes = [len(batch) for batch, _, _ in decoder.calls]
    assert sum(sizes) == 48
    assert sizes[2:-1] == [8] * (len(sizes) - 3), sizes


def test_without_linger_closed_loop_batches_stay_split() -> None:
    # the same traffic with linger off: the counterpart that shows what the waiting buys
    decoder = run(lambda b, d: closed_loop(b, 8, 6), SlowDecoder(0.5), wait_s=0.005, linger_s=0.0)
    sizes = [len(batch) for batch, _, _ in decoder.calls]
    assert sum(sizes) == 48 and max(sizes[2:-1]) < 8, sizes


def test_linger_is_a_tenth_of_the_decoding_time_when_clients_do_not_come_back() -> None:
    async def test(batcher: Batcher, decoder: FakeDecoder) -> None:
        futures = [f for n in (1, 2, 3, 4) for f in batcher.submit([[5, 3]] * n, GREEDY, False, later())]
        await asyncio.gather(*futures)  # four requests in flight, decoded together in 0.5 s
        start = time.monotonic()
        await batcher.submit([[6, 3]], GREEDY, False, later())[0]  # only 1 of the 4 comes back
        waited = time.monotonic() - start - 0.5
        assert 0.03 <= waited < 0.3, waited  # lingered min(1 s, 0.1 x 0.5 s) = 50 ms, not 1 s

    run(test, SlowDecoder(0.5), wait_s=0.0, linger_s=1.0)


def test_the_rest_of_a_large_request_does_not_linger() -> None:
    # one request of 6 sentences over a 4-sentence budget: its second batch is the same request, in flight,
    # so it starts at once instead of waiting for five more clients
    async def test(batcher: Batcher, decoder: FakeDecoder) -> None:
        await asyncio.gather(*batcher.submit([[5, 3]] * 6, GREEDY, False, later()))

    decoder = SlowDecoder(0.5)
    run(test, decoder, max_tokens=8, wait_s=0.0, linger_s=1.0)
    assert [len(batch) for batch, _, _ in decoder.calls] == [4, 2]
    (_, first_end), (second_start, _) = decoder.spans
    assert second_start - first_end < 0.025  # a linger would be 50 ms (a tenth of the 0.5 s decode)
