"""The cross-request batcher (service/batcher.py): with a fake decoder, grouping, ordering, dropping, limits,
failures and lingering; then on live servers, shared batches, a full queue, timeouts, clients that leave."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from seq2seq.translator import Hypothesis, SearchOptions, Translator
from service.batcher import Batcher, DeadlineExceededError, QueueFullError, ShuttingDownError
from service.metrics import Metrics
from tests.service.live import LiveServer, live_server, post_concurrently, sample_value

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
    """A request deadline `seconds` from now."""
    return time.monotonic() + seconds


HANG = 60.0  # seconds: only so that a batcher that never decodes fails the test instead of hanging it


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
        assert 'seq2seq_dropped_sentences_total{pair="",reason="cancelled"} 1.0' in metrics
        assert 'seq2seq_dropped_sentences_total{pair="",reason="deadline"} 1.0' in metrics

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
    # the batcher would wait an hour for company; 10 tokens fill the budget, so the batch is decoded at once
    async def test(batcher: Batcher, decoder: FakeDecoder) -> None:
        await asyncio.wait_for(asyncio.gather(*batcher.submit([[5] * 9 + [3]], GREEDY, False, later())), HANG)

    decoder = run(test, max_tokens=10, wait_s=3600.0)
    assert [batch for batch, _, _ in decoder.calls] == [[[5] * 9 + [3]]]


class SlowDecoder(FakeDecoder):
    """Takes `seconds` per batch, like a real decoder (its thread sleeps, so the event loop runs meanwhile)."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds

    def __call__(self, batch: list[list[int]], opts: SearchOptions, with_alignment: bool) -> list[list[Hypothesis]]:
        time.sleep(self.seconds)
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
    # four requests in flight, decoded together in 1 s; then only 2 of the 4 clients come back. The batcher
    # lingers for the others, so the two share a batch (without a linger, wait_s 0 would decode the first
    # alone), but for a tenth of the decoding time (100 ms), not linger_s (an hour): the batch comes.
    async def test(batcher: Batcher, decoder: FakeDecoder) -> None:
        futures = [f for n in (1, 2, 3, 4) for f in batcher.submit([[5, 3]] * n, GREEDY, False, later())]
        await asyncio.gather(*futures)
        first = batcher.submit([[6, 3]], GREEDY, False, later())
        await asyncio.sleep(0)  # the batcher sees the first one alone, and waits
        second = batcher.submit([[7, 3]], GREEDY, False, later())
        await asyncio.wait_for(asyncio.gather(*first, *second), HANG)

    decoder = run(test, SlowDecoder(1.0), wait_s=0.0, linger_s=3600.0)
    assert [len(batch) for batch, _, _ in decoder.calls] == [10, 2]


def test_the_rest_of_a_large_request_does_not_linger() -> None:
    # one request of 6 sentences over a 4-sentence budget: its second batch is the same request, in flight,
    # so it starts at once instead of lingering (50 ms, a tenth of the 0.5 s decode) for company. Another
    # client that arrives as the first batch is answered finds the second one decoding, and gets a third:
    # had the rest lingered, it would have joined it
    async def test(batcher: Batcher, decoder: FakeDecoder) -> None:
        request = batcher.submit([[5, 3]] * 6, GREEDY, False, later())
        await request[0]
        other = batcher.submit([[6, 3]], GREEDY, False, later())
        await asyncio.wait_for(asyncio.gather(*request, *other), HANG)

    decoder = run(test, SlowDecoder(0.5), max_tokens=8, wait_s=0.0, linger_s=1.0)
    assert [len(batch) for batch, _, _ in decoder.calls] == [4, 2, 1]


# --- on live servers over the shared artifact ----------------------------------------------------------------

DE_EN = {"source": "de", "target": "en"}


@pytest.fixture(scope="module")
def patient(artifact: Path) -> Iterator[LiveServer]:
    """Waits 200 ms for company before decoding."""
    with live_server(artifact, batch_wait_ms=200) as srv:
        yield srv


def batches_over_one(server: LiveServer) -> float:
    text = httpx.get(server.url + "/metrics").text
    return (sample_value(text, "seq2seq_batch_size_sentences_count")
            - sample_value(text, "seq2seq_batch_size_sentences_bucket", le="1.0"))


def test_concurrent_requests_share_a_batch(patient: LiveServer, translator: Translator, lines: list[str]) -> None:
    before = batches_over_one(patient)
    responses = post_concurrently(patient.url + "/translate", [{"q": line, **DE_EN} for line in lines[:8]])
    assert [r.status_code for r in responses] == [200] * 8
    assert [r.json()["translatedText"] for r in responses] == [t.text for t in translator.translate(lines[:8])]
    assert batches_over_one(patient) > before


def test_client_that_left_is_not_decoded(patient: LiveServer) -> None:
    metrics = httpx.get(patient.url + "/metrics").text
    decoded = sample_value(metrics, "seq2seq_sentences_total")
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(patient.url + "/translate", json={"q": "Ein hund läuft.", **DE_EN}, timeout=0.05)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        metrics = httpx.get(patient.url + "/metrics").text
        if sample_value(metrics, "seq2seq_dropped_sentences_total", reason="cancelled") >= 1:
            break
        time.sleep(0.05)
    assert sample_value(metrics, "seq2seq_dropped_sentences_total", reason="cancelled") == 1
    assert sample_value(metrics, "seq2seq_client_disconnects_total", stage="decode") == 1
    assert sample_value(metrics, "seq2seq_sentences_total") == decoded


def test_full_queue_is_503_with_retry_after(artifact: Path, lines: list[str]) -> None:
    with live_server(artifact, queue_max_sentences=2, batch_wait_ms=300) as srv:
        responses = post_concurrently(srv.url + "/translate", [{"q": line, **DE_EN} for line in lines[:10]])
        statuses = [r.status_code for r in responses]
        assert set(statuses) == {200, 503}, statuses
        for r in responses:
            if r.status_code == 503:
                assert int(r.headers["Retry-After"]) >= 1 and "server busy" in r.json()["error"]
        metrics = httpx.get(srv.url + "/metrics").text
        assert sample_value(metrics, "seq2seq_rejected_requests_total", reason="queue_full") == statuses.count(503)
        r = httpx.post(srv.url + "/translate", json={"q": " ".join(lines[:3]), **DE_EN})  # 3 sentences never fit
        assert r.status_code == 413 and "queues at most 2" in r.json()["error"]


def test_request_timeout_is_503(artifact: Path) -> None:
    with live_server(artifact, batch_wait_ms=1000, request_timeout_s=0.2) as srv:
        r = httpx.post(srv.url + "/translate", json={"q": "Ein hund läuft.", **DE_EN})
        assert r.status_code == 503 and "not translated within 0.2 s" in r.json()["error"]
        assert r.headers["Retry-After"]
