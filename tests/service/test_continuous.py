"""Continuous batching (service/continuous.py): with a fake step-by-step decoder, admission between steps,
budgets, clients that leave, failures and shutdown; over the shared artifact, the answers `translate_ids` gives;
on a live server, a sentence that arrives while a long one decodes comes back first."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import service.continuous as continuous_module
from seq2seq.translator import Hypothesis, SearchOptions, Translator
from service.batcher import DeadlineExceededError, ShuttingDownError
from service.continuous import ADMIT_HOLD_S, ContinuousBatcher
from service.metrics import Metrics
from tests.conftest import with_meta
from tests.service.live import live_server, sample_value
from tests.service.test_batcher import BEAM, GREEDY, HANG, later


class FakeStepper:
    """A sentence of n ids takes n steps and 'translates' into the string of its ids; logs every call."""

    def __init__(self, seconds: float = 0.0):
        self.seconds = seconds  # per step, sleeping: the event loop runs meanwhile
        self.steps: list[list[int]] = []  # the ids each step advanced
        self.started: list[list[int]] = []
        self.fail = False

    def advance(self, running: Any | None, keep: list[int] | None, batch: list[list[int]], opts: SearchOptions,
                with_alignment: bool, ids: list[int]) -> tuple[Any | None, list[tuple[int, list[Hypothesis]]]]:
        if self.fail:
            raise RuntimeError("decoder broke")
        running = [r for r in running or [] if keep is None or r[0] in keep]
        if batch:
            self.started.append(list(ids))
            running += [[i, len(src), src] for i, src in zip(ids, batch, strict=True)]
        time.sleep(self.seconds)
        self.steps.append(sorted(r[0] for r in running))
        for r in running:
            r[1] -= 1
        ended = [(r[0], [Hypothesis(" ".join(map(str, r[2])), -1.0, [])]) for r in running if r[1] == 0]
        return [r for r in running if r[1] > 0] or None, ended


def run(test: Callable[[ContinuousBatcher, FakeStepper], Awaitable[None]], stepper: FakeStepper | None = None,
        **kwargs: float) -> FakeStepper:
    stepper = stepper or FakeStepper()

    async def main() -> None:
        batcher = ContinuousBatcher(stepper, Metrics(), **kwargs)
        batcher.start()
        try:
            await test(batcher, stepper)
        finally:
            await batcher.stop()

    asyncio.run(main())
    return stepper


def same(got: list[Hypothesis], want: list[Hypothesis]) -> bool:
    """The same tokens and texts; scores and alignments equal up to rounding (a matrix product's rounding
    depends on how many rows it has, that is on the sentences that share the step)."""
    assert [(h.text, h.tokens) for h in got] == [(h.text, h.tokens) for h in want]
    for g, w in zip(got, want, strict=True):
        assert g.score == pytest.approx(w.score, abs=1e-5)
        assert (g.alignment is None) == (w.alignment is None)
        if g.alignment is not None:
            assert len(g.alignment) == len(w.alignment)
            for row, want_row in zip(g.alignment, w.alignment, strict=True):
                assert row == pytest.approx(want_row, abs=1e-5)
    return True


def sentence(steps: int, word: int = 5) -> list[int]:
    return [word] * (steps - 1) + [3]


def test_a_sentence_arriving_while_a_long_batch_decodes_joins_it_and_finishes_first() -> None:
    async def test(batcher: ContinuousBatcher, stepper: FakeStepper) -> None:
        long = batcher.submit([sentence(40), sentence(30)], GREEDY, False, later())
        while len(stepper.steps) < 5:
            await asyncio.sleep(0.001)
        short = batcher.submit([sentence(3, 6)], GREEDY, False, later())
        assert (await asyncio.wait_for(short[0], HANG))[0].text == "6 6 3"
        assert not any(f.done() for f in long)
        assert [r[0].text for r in await asyncio.gather(*long)] == [" ".join(["5"] * 39 + ["3"]),
                                                                   " ".join(["5"] * 29 + ["3"])]

    stepper = run(test, FakeStepper(0.002))
    joined = [ids for ids in stepper.steps if 3 in ids]
    assert joined == [[1, 2, 3]] * 3  # the short sentence took its 3 steps beside the long ones
    assert stepper.started == [[2, 1], [3]]  # shortest first within a start
    assert len(stepper.steps) == 40


def test_while_a_decoding_runs_sentences_join_it_in_groups() -> None:
    """One arrival waits for company (a quarter of those decoding) or for ADMIT_HOLD_S; a group joins at once."""
    starts: list[tuple[float, list[int]]] = []

    class Timed(FakeStepper):
        def advance(self, running, keep, batch, opts, with_alignment, ids):  # type: ignore[no-untyped-def]
            if batch:
                starts.append((time.monotonic(), list(ids)))
            return super().advance(running, keep, batch, opts, with_alignment, ids)

    async def test(batcher: ContinuousBatcher, stepper: FakeStepper) -> None:
        long = batcher.submit([sentence(200)] * 8, GREEDY, False, later())
        while len(stepper.steps) < 3:
            await asyncio.sleep(0.001)
        sent = time.monotonic()
        one = batcher.submit([sentence(2, 6)], GREEDY, False, later())
        assert (await asyncio.wait_for(one[0], HANG))[0].text == "6 3"
        assert starts[-1][1] == [9] and starts[-1][0] - sent >= ADMIT_HOLD_S  # it waited for company, alone
        steps = len(stepper.steps)
        pair = batcher.submit([sentence(2, 7), sentence(2, 8)], GREEDY, False, later())  # 2 x 4 >= 8 decoding
        await asyncio.wait_for(asyncio.gather(*pair), HANG)
        assert starts[-1][1] == [10, 11] and len(stepper.steps) - steps <= 4  # at once: the next step or so
        for f in long:
            f.cancel()

    run(test, Timed(0.002))


def test_a_sentence_with_options_nothing_decodes_with_starts_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Grouping holds back only sentences that would join a running decoding."""
    monkeypatch.setattr(continuous_module, "ADMIT_HOLD_S", 5.0)

    async def test(batcher: ContinuousBatcher, stepper: FakeStepper) -> None:
        long = batcher.submit([sentence(400)] * 8, GREEDY, False, later())
        while len(stepper.steps) < 3:
            await asyncio.sleep(0.001)
        other = batcher.submit([sentence(2, 6)], BEAM, False, later())  # its own decoding: not held
        assert (await asyncio.wait_for(other[0], 2.0))[0].text == "6 3"
        held = batcher.submit([sentence(2, 7)], GREEDY, False, later())  # would join the 8: held for company
        await asyncio.sleep(0.3)
        assert not held[0].done()
        for f in [*long, *held]:
            f.cancel()

    run(test, FakeStepper(0.002))


def test_options_decode_apart_and_every_answer_reaches_its_request() -> None:
    async def test(batcher: ContinuousBatcher, stepper: FakeStepper) -> None:
        a = batcher.submit([sentence(4), sentence(2, 7)], GREEDY, False, later())
        b = batcher.submit([sentence(3, 8)], BEAM, False, later())
        c = batcher.submit([sentence(5, 9)], GREEDY, True, later())
        results = await asyncio.wait_for(asyncio.gather(*a, *b, *c), HANG)
        assert [r[0].text for r in results] == ["5 5 5 3", "7 3", "8 8 3", "9 9 9 9 3"]

    stepper = run(test, wait_s=0.05)
    assert sorted(map(sorted, stepper.started)) == [[1, 2], [3], [4]]  # one decoding per set of options
    assert max(len(ids) for ids in stepper.steps) == 2


def test_the_token_budget_holds_sentences_back_until_others_end() -> None:
    async def test(batcher: ContinuousBatcher, stepper: FakeStepper) -> None:
        futures = batcher.submit([sentence(6)] * 10, GREEDY, False, later())  # 10 x 6 tokens, budget 20
        await asyncio.wait_for(asyncio.gather(*futures), HANG)

    stepper = run(test, max_tokens=20, wait_s=0.0)
    assert max(len(ids) for ids in stepper.steps) == 3 and sum(map(len, stepper.started)) == 10


def test_a_sentence_whose_client_left_stops_decoding() -> None:
    async def test(batcher: ContinuousBatcher, stepper: FakeStepper) -> None:
        gone, kept = batcher.submit([sentence(50), sentence(20)], GREEDY, False, later())
        while len(stepper.steps) < 3:
            await asyncio.sleep(0.001)
        gone.cancel()
        await asyncio.wait_for(kept, HANG)
        assert 'seq2seq_dropped_sentences_total{pair="",reason="cancelled"} 1.0' in batcher.metrics.render().decode()

    stepper = run(test, FakeStepper(0.001))
    assert len(stepper.steps) == 20 and stepper.steps[-1] == [2] and stepper.steps.count([1, 2]) < 10


def test_expired_sentences_are_not_started() -> None:
    async def test(batcher: ContinuousBatcher, stepper: FakeStepper) -> None:
        expired = batcher.submit([sentence(2)], GREEDY, False, time.monotonic() + 0.01)
        kept = batcher.submit([sentence(2, 6)], GREEDY, False, later())
        assert (await kept[0])[0].text == "6 3"
        with pytest.raises(DeadlineExceededError):
            await expired[0]

    stepper = run(test, wait_s=0.05)
    assert stepper.started == [[1]] and stepper.steps == [[1], [1]]  # ids are given on admission


def test_a_failed_step_fails_its_sentences_not_the_worker() -> None:
    async def test(batcher: ContinuousBatcher, stepper: FakeStepper) -> None:
        stepper.fail = True
        with pytest.raises(RuntimeError, match="decoder broke"):
            await batcher.submit([sentence(3)], GREEDY, False, later())[0]
        stepper.fail = False
        assert (await batcher.submit([sentence(2, 6)], GREEDY, False, later())[0])[0].text == "6 3"
        assert batcher.decoding == 0

    run(test, wait_s=0.0)


def test_stop_fails_decoding_and_waiting_sentences() -> None:
    async def main() -> None:
        stepper = FakeStepper(0.002)
        batcher = ContinuousBatcher(stepper, Metrics(), max_tokens=100, wait_s=0.0)
        batcher.start()
        running = batcher.submit([sentence(90)], GREEDY, False, later())
        while not stepper.steps:
            await asyncio.sleep(0.001)
        waiting = batcher.submit([sentence(90)], GREEDY, False, later())  # over the budget: it waits
        await batcher.stop()
        for future in running + waiting:
            with pytest.raises(ShuttingDownError):
                await future

    asyncio.run(main())


# --- over the shared artifact ----------------------------------------------------------------------------------


@pytest.mark.parametrize("opts, with_alignment", [(SearchOptions(beam_size=1), False),
                                                  (SearchOptions(beam_size=5), True)])
def test_requests_arriving_at_any_step_get_what_translate_ids_gives(translator: Translator, lines: list[str],
                                                                     opts: SearchOptions, with_alignment: bool) -> None:
    assert translator.can_step
    encoded = [translator.encode(line) for line in lines]

    async def test(batcher: ContinuousBatcher, stepper: Any) -> None:
        futures = []
        for ids in encoded:  # one request at a time, each while the others decode
            futures += batcher.submit([ids], opts, with_alignment, later())
            await asyncio.sleep(0.002)
        got = await asyncio.wait_for(asyncio.gather(*futures), HANG)
        for ids, hyps in zip(encoded, got, strict=True):
            assert same(hyps, translator.translate_ids([ids], opts, with_alignment)[0])

    run(test, translator, wait_s=0.0)


class Recording:
    """A translator whose steps are logged: the ids of the sentences each step advanced."""

    def __init__(self, translator: Translator):
        self.translator, self.steps = translator, []

    def advance(self, running: Any | None, keep: list[int] | None, batch: list[list[int]], opts: SearchOptions,
                with_alignment: bool, ids: list[int]) -> tuple[Any | None, list[tuple[int, list[Hypothesis]]]]:
        names = set(running.ids.tolist()) if running is not None else set()
        self.steps.append(sorted((names if keep is None else names & set(keep)) | set(ids)))
        return self.translator.advance(running, keep, batch, opts, with_alignment, ids)


def test_with_the_artifact_a_sentence_arriving_mid_batch_joins_it_and_finishes_first(translator: Translator) -> None:
    long = translator.encode(" ".join(["der mann sieht den kleinen hund und läuft"] * 6))
    short = translator.encode("ein hund")
    opts = SearchOptions(beam_size=5)
    stepper = Recording(translator)

    async def test(batcher: ContinuousBatcher, stepper: Recording) -> None:
        batch = batcher.submit([long] * 4, opts, False, later())
        while len(stepper.steps) < 2:
            await asyncio.sleep(0.0005)
        first = await asyncio.wait_for(batcher.submit([short], opts, False, later())[0], HANG)
        assert not any(f.done() for f in batch)  # the short sentence did not wait for the batch
        assert same(first, translator.translate_ids([short], opts)[0])
        for future, want in zip(batch, translator.translate_ids([long] * 4, opts), strict=True):
            assert same(await future, want)

    run(test, stepper, wait_s=0.0)  # type: ignore[arg-type]
    shared = [ids for ids in stepper.steps if 5 in ids]
    assert shared and all(ids == [1, 2, 3, 4, 5] for ids in shared)


def test_the_server_batches_continuously_unless_told_not_to_or_the_artifact_is_older(artifact: Path,
                                                                                    tmp_path: Path) -> None:
    older = with_meta(artifact, tmp_path / "format2.pt", format_version=2)  # the same artifact, said format 2
    for path, continuous, kind in ((artifact, True, ContinuousBatcher), (artifact, False, "Batcher"),
                                   (older, True, "Batcher")):
        with live_server(path, batch_continuous=continuous) as srv:
            batcher = srv.app.state.runtime.models[("de", "en")].batcher
            assert type(batcher).__name__ == kind if isinstance(kind, str) else type(batcher) is kind
            r = httpx.post(srv.url + "/translate", json={"q": "Ein Hund läuft.", "source": "de", "target": "en"})
            assert r.status_code == 200 and r.json()["translatedText"]
            assert sample_value(httpx.get(srv.url + "/metrics").text, "seq2seq_sentences_total") == 1
