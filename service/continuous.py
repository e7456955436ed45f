"""Continuous batching (docs/design.md §6): sentences join the running decoding between its steps.

A `Batcher` whose sentences do not wait for the batch in flight to end. The decoding thread runs one decoding
per set of search options (seq2seq/decoding.py, through `Translator.advance`) and steps them
back to back; between two steps it starts the sentences admitted meanwhile and joins them to the decoding of
their options, and stops those nobody waits for any more; after each step it hands the sentences that ended
to the event loop, which answers their requests at once. A sentence that arrives while a long batch decodes
starts at the next step instead of after that batch, and none waits for the longest sentence of its batch; the
decoding stays as full as the traffic keeps it. A sentence's tokens do not depend on the sentences that share
its steps (tests/seq2seq/test_decoding.py): they are those `translate_ids` gives it.

The event loop keeps what `Batcher` keeps (the queue, its limits, deadlines, futures, metrics) and admits
waiting sentences in arrival order while the token budget allows: padded source tokens per decoding, as
`cut_batches` counts them. When nothing decodes, the first sentence waits `wait_s` for company; nothing
lingers after a step, since clients that come back join the running decoding. The thread steps for at most
`SLICE_S` before it gives the shared decoding thread to another model's batcher; the loop then starts it
again. A step counts as a batch in the metrics (`batch_size_sentences`: the sentences it advanced;
`decode_seconds`: its time, the starts and joins before it included).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sys
import time
from collections.abc import Callable
from typing import Any, Protocol

from seq2seq.translator import Hypothesis, SearchOptions
from service.batcher import Batcher, Job, ShuttingDownError
from service.metrics import Metrics

log = logging.getLogger(__name__)

# While a decoding runs, waiting sentences join it in groups: once they are a quarter of those decoding, or the
# oldest has waited ADMIT_HOLD_S. Each join encodes its sentences together, and the encoder's time loop costs
# about as much for four sentences as for one (benchmarks/steady.py, BENCHMARKS.md: int8 + shortlist, 32 in
# flight, 0.64x whole batches' throughput joining one at a time, 0.75x four at a time).
ADMIT_SHARE = 4
ADMIT_HOLD_S = 0.03
SLICE_S = 0.25  # the longest the decoding thread steps for one batcher while others may wait for it
# The decoding thread gives up the GIL in every call into the artifact, and a busy event loop would keep it for
# up to the interpreter's switch interval (5 ms) before handing it back: a step would wait that long. So a
# continuous batcher shortens the interval for the process (it costs a thread switch per interval only while
# both threads run Python).
SWITCH_INTERVAL_S = 0.0005
Key = tuple[Any, ...]  # `Job.key`: the search options a decoding runs with


class Stepper(Protocol):
    """Decodes step by step, as `Translator.advance` does over an artifact of format 3 or later."""

    def advance(self, running: Any | None, keep: list[int] | None, batch: list[list[int]], opts: SearchOptions,
                with_alignment: bool, ids: list[int]) -> tuple[Any | None, list[tuple[int, list[Hypothesis]]]]:
        """Keep the sentences of `running` named `keep` (all, if None), start `batch` (named `ids`) beside them,
        take one step: the decoding of those still going (None if none), and each ended sentence's hypotheses."""
        ...


class ContinuousBatcher(Batcher):
    """A `Batcher` that admits sentences between the steps of the running decoding."""

    def __init__(self, stepper: Stepper, metrics: Metrics, max_tokens: int = 4096, wait_s: float = 0.005,
                 max_queue: int = 2048, executor: Any = None, pair: str = ""):
        super().__init__(_no_whole_batches, metrics, max_tokens, wait_s, max_queue, 0.0, executor, pair)
        self.stepper = stepper
        # event loop's: the sentences admitted and not yet answered, by the id their decoding knows them by
        self._live: dict[int, Job] = {}
        self._next_id = 0
        self._session: asyncio.Future[None] | None = None  # the decoding thread's run of `_serve`
        self._window = [0, 0.0]  # sentences ended, decoding seconds, since `_decode_rate` was last updated
        # loop → thread: ("start", key, [(id, ids)]) and ("stop", key, [id])
        self._inbox: queue.SimpleQueue[tuple[str, Key, list[Any]]] = queue.SimpleQueue()
        # the decoding thread's: the running decodings and the ids in each
        self._decodings: dict[Key, Any] = {}
        self._members: dict[Key, set[int]] = {}

    def start(self) -> None:
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
        super().start()

    @property
    def decoding(self) -> int:
        """Sentences admitted and not yet answered."""
        return len(self._live)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                if not self._live:
                    await self._gather()  # no linger: `_in_flight` stays 0
                self._wakeup.clear()
                self._stop_gone()
                self._admit()
                if self._live and self._session is None:
                    self._session = loop.run_in_executor(self._executor, self._serve, loop)
                    self._session.add_done_callback(self._session_ended)
                if self._live:
                    await self._wakeup.wait()  # a new sentence, an answer, or the session's end
        except asyncio.CancelledError:
            for job in self._live.values():
                self._fail(job, ShuttingDownError("server is shutting down"))
            self._live.clear()
            raise

    def _admit(self) -> None:
        """Admit live sentences in arrival order while each fits its decoding's token budget (a decoding with
        none takes one whatever its length), in groups while the oldest's decoding runs (`ADMIT_SHARE`,
        `ADMIT_HOLD_S`): they go to the decoding thread's inbox."""
        size: dict[Key, tuple[int, int]] = {}  # key -> (longest source, sentences)
        for job in self._live.values():
            longest, count = size.get(job.key, (0, 0))
            size[job.key] = (max(longest, len(job.ids)), count + 1)
        admitted: dict[Key, list[tuple[int, list[int]]]] = {}
        oldest = self._pending[0] if self._pending else None
        if oldest is not None and oldest.key in size and len(self._pending) * ADMIT_SHARE < len(self._live) \
                and time.monotonic() - oldest.enqueued < ADMIT_HOLD_S:
            self.metrics.queue_depth.labels(self.pair).set(self.depth)
            return  # too few to join yet: they wait for company, or until the oldest has waited long enough
        while self._pending:
            job = self._pending[0]
            if self._is_dead(job):
                self._pop()
                continue
            longest, count = size.get(job.key, (0, 0))
            longest = max(longest, len(job.ids))
            if count and longest * (count + 1) > self.max_tokens:
                break  # first come, first served: nothing overtakes the oldest sentence
            size[job.key] = (longest, count + 1)
            self._pop()
            self._next_id += 1
            self._live[self._next_id] = job
            admitted.setdefault(job.key, []).append((self._next_id, job.ids))
            self.metrics.queue_wait_seconds.labels(self.pair).observe(time.monotonic() - job.enqueued)
        for key, sentences in admitted.items():
            self._inbox.put(("start", key, sentences))
        self.metrics.queue_depth.labels(self.pair).set(self.depth)

    def _stop_gone(self) -> None:
        """Stop decoding the sentences nobody waits for any more (client gone, deadline passed)."""
        gone: dict[Key, list[int]] = {}
        for i, job in list(self._live.items()):
            if self._is_dead(job):
                del self._live[i]
                gone.setdefault(job.key, []).append(i)
        for key, ids in gone.items():
            self._inbox.put(("stop", key, ids))

    def _deliver(self, ended: list[tuple[int, list[Hypothesis]]], sentences: int, seconds: float) -> None:
        """On the event loop, after a step of `sentences` that took `seconds`: answer those that ended."""
        self.metrics.batch_sentences.labels(self.pair).observe(sentences)
        self.metrics.decode_seconds.labels(self.pair).observe(seconds)
        for i, hyps in ended:
            job = self._live.pop(i, None)
            if job is not None and not job.future.done():
                job.future.set_result(hyps)
        if ended:
            self.metrics.sentences.labels(self.pair).inc(len(ended))
        self._wakeup.set()  # room in the budget, maybe; and clients that left are noticed a step later at most
        self._window[0] += len(ended)
        self._window[1] += seconds
        if self._window[1] >= 0.25:  # sentences per second of decoding, for Retry-After
            self._decode_rate = 0.8 * self._decode_rate + 0.2 * self._window[0] / self._window[1]
            self._window = [0, 0.0]

    def _failed(self, ids: list[int], exc: BaseException) -> None:
        for i in ids:
            job = self._live.pop(i, None)
            if job is not None:
                self._fail(job, exc)
        self._wakeup.set()

    def _session_ended(self, session: asyncio.Future[None]) -> None:
        self._session = None
        exc = None if session.cancelled() else session.exception()
        if exc is not None:  # a bug: fail what was decoding, start afresh (else every sentence would hang)
            log.error("the decoding session failed", exc_info=exc)
            self._failed(list(self._live), exc)
            self._decodings.clear()
            self._members.clear()
            while not self._inbox.empty():
                self._inbox.get_nowait()
        self._wakeup.set()

    # --- in the decoding thread ------------------------------------------------------------------------------

    def _serve(self, loop: asyncio.AbstractEventLoop) -> None:
        """Step the decodings back to back, taking the inbox's orders between steps, until none is left or
        `SLICE_S` has passed; each step's ended sentences go to the event loop (`_deliver`). One call into
        the artifact per decoding and step (`Stepper.advance`): each call gives the event loop the GIL, and
        getting it back can wait for it."""
        until = time.monotonic() + SLICE_S

        def post(fn: Callable[..., None], *args: Any) -> None:
            try:
                loop.call_soon_threadsafe(fn, *args)
            except RuntimeError:  # the loop closed: the server stopped
                pass

        while not self._closed:
            orders = self._take_orders()
            for key in list(self._decodings.keys() | orders.keys()):
                stop, started = orders.get(key, (set(), []))
                members = self._members.setdefault(key, set())
                running, keep = self._decodings.pop(key, None), None
                if stop & members:
                    members -= stop
                    keep = sorted(members)
                started.sort(key=lambda item: len(item[1]))
                ids = [i for i, _ in started]
                members.update(ids)
                if not members:
                    del self._members[key]
                    continue
                start = time.perf_counter()
                try:
                    running, ended = self.stepper.advance(running, keep, [src for _, src in started], key[0],
                                                          key[1], ids)
                except Exception as exc:  # a failure fails this decoding's sentences, never the worker
                    log.exception("decoding a step of %d sentences failed", len(members))
                    post(self._failed, list(members), exc)
                    del self._members[key]
                    continue
                post(self._deliver, ended, len(members), time.perf_counter() - start)
                members.difference_update(i for i, _ in ended)
                if running is None:
                    del self._members[key]
                else:
                    self._decodings[key] = running
            if not self._decodings and self._inbox.empty() or time.monotonic() > until:
                return

    def _take_orders(self) -> dict[Key, tuple[set[int], list[tuple[int, list[int]]]]]:
        """The inbox's orders by decoding: the ids to stop, and the (id, source ids) to start."""
        orders: dict[Key, tuple[set[int], list[tuple[int, list[int]]]]] = {}
        while True:
            try:
                order, key, items = self._inbox.get_nowait()
            except queue.Empty:
                return orders
            stop, started = orders.setdefault(key, (set(), []))
            if order == "stop":
                stop.update(items)
                started[:] = [item for item in started if item[0] not in stop]
            else:
                started.extend(items)

    def warm_up(self, batch: list[list[int]], opts: SearchOptions) -> None:
        """Decode `batch` step by step in this thread, the second sentence on joining after the first step,
        so that the artifact's step methods are optimized before the first request (TorchScript does it on
        their first runs)."""
        running, _ = self.stepper.advance(None, None, batch[:1], opts, False, [0])
        names = list(range(len(batch)))
        if len(batch) > 1:
            running, _ = self.stepper.advance(running, None, batch[1:], opts, False, names[1:])
        while running is not None:
            running, _ = self.stepper.advance(running, names, [], opts, False, [])


def _no_whole_batches(batch: list[list[int]], opts: SearchOptions, with_alignment: bool) -> list[list[Hypothesis]]:
    raise TypeError("a ContinuousBatcher decodes step by step")
