"""Batching across requests (docs/design.md §6): sentences of concurrent requests are decoded together.

Requests put their encoded sentences into one queue and await a future per sentence. One worker task
gathers sentences until `max_tokens` source tokens are waiting or `wait_s` has passed since the oldest
arrived (after a batch, also until its clients are back or `linger_s` has passed: see `Batcher._gather`),
drops those nobody waits for any more (client gone, deadline passed), groups the rest by identical search
options, sorts each group by length, cuts it into token-budget batches and decodes each batch with
one `translate_ids` call in a single decoding thread, so the event loop stays free. Under load the queue
fills while a batch decodes, and the next batch forms at once: throughput approaches offline batching.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from seq2seq.translator import Hypothesis, SearchOptions, cut_batches
from service.metrics import Metrics

log = logging.getLogger(__name__)

DecodeFn = Callable[[list[list[int]], SearchOptions, bool], list[list[Hypothesis]]]
T = TypeVar("T")


class QueueFullError(Exception):
    """More sentences are waiting than the queue holds; the client should retry later."""

    def __init__(self, waiting: int, capacity: int, retry_after_s: int):
        super().__init__(f"server busy: {waiting} sentences queued (capacity {capacity}); retry later")
        self.retry_after_s = retry_after_s


class DeadlineExceededError(Exception):
    """The request's deadline passed before its sentence was decoded."""


class ShuttingDownError(Exception):
    """The batcher stopped before the sentence was decoded."""


@dataclass(eq=False)
class Job:
    """One sentence waiting to be decoded."""

    ids: list[int]
    opts: SearchOptions
    with_alignment: bool
    future: asyncio.Future[list[Hypothesis]]
    deadline: float  # time.monotonic() after which nobody wants the result
    request: int  # which submit() call it came from
    enqueued: float = field(default_factory=time.monotonic)

    @property
    def key(self) -> tuple[Any, ...]:
        """Sentences with equal keys can share one decode call."""
        return (self.opts, self.with_alignment)  # SearchOptions is frozen: hashable


class Batcher:
    """Collects sentences from concurrent requests and decodes them in batches off the event loop."""

    def __init__(self, decode: DecodeFn, metrics: Metrics, max_tokens: int = 4096, wait_s: float = 0.005,
                 max_queue: int = 2048, linger_s: float = 0.1, executor: ThreadPoolExecutor | None = None,
                 pair: str = ""):
        """:param executor: the decoding thread, shared with other models' batchers (their batches then take
            turns); None: a thread of its own, shut down by `stop`
        :param pair: the model's language pair, the `pair` label of its metrics
        """
        self.decode, self.metrics, self.pair = decode, metrics, pair
        self.max_tokens, self.wait_s, self.max_queue, self.linger_s = max_tokens, wait_s, max_queue, linger_s
        # after each batch: how many requests were in flight, when it ended, how long it took to decode
        self._in_flight, self._done_at, self._took = 0, 0.0, 0.0
        self._requests = 0
        self._pending: deque[Job] = deque()
        self._pending_tokens = 0  # source tokens of the pending sentences
        self._pending_requests: Counter[int] = Counter()  # request -> its pending sentences
        self._wakeup = asyncio.Event()
        self._own_executor = executor is None
        self._executor = executor or ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode")
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._decode_rate = 50.0  # sentences/s, updated after every batch; for Retry-After

    @property
    def depth(self) -> int:
        return len(self._pending)

    async def run_in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn` in the decoding thread (model warm-up uses it, so the same thread is warm)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="batcher")

    def submit(self, sentences: list[list[int]], opts: SearchOptions, with_alignment: bool,
               deadline: float) -> list[asyncio.Future[list[Hypothesis]]]:
        """Queue a request's sentences, all or none; a future per sentence resolves to its hypotheses.

        :raises QueueFullError: the queue cannot take them all now.
        :raises ShuttingDownError: the batcher is stopping.
        """
        if self._closed:
            raise ShuttingDownError("server is shutting down")
        if self.depth + len(sentences) > self.max_queue:
            retry = max(1, round((self.depth + len(sentences)) / self._decode_rate))
            raise QueueFullError(self.depth, self.max_queue, retry)
        loop = asyncio.get_running_loop()
        self._requests += 1
        jobs = [Job(ids, opts, with_alignment, loop.create_future(), deadline, self._requests) for ids in sentences]
        self._pending.extend(jobs)
        self._pending_tokens += sum(len(ids) for ids in sentences)
        self._pending_requests[self._requests] = len(jobs)
        self.metrics.queue_depth.labels(self.pair).set(self.depth)
        self._wakeup.set()
        return [job.future for job in jobs]

    async def stop(self) -> None:
        """Stop the worker; sentences still waiting fail with ShuttingDownError."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        while self._pending:
            self._fail(self._pop(), ShuttingDownError("server is shutting down"))
        self.metrics.queue_depth.labels(self.pair).set(0)
        if self._own_executor:
            await asyncio.to_thread(self._executor.shutdown, wait=True)

    async def _run(self) -> None:
        while True:
            await self._gather()
            jobs = self._take()
            start = time.monotonic()
            try:
                await self._decode_groups(jobs)
            except Exception as exc:  # a bug here must not stop the worker: every later request would hang
                log.exception("batcher failed on %d sentences", len(jobs))
                for job in jobs:
                    self._fail(job, exc)
            self._done_at = time.monotonic()
            self._took = self._done_at - start
            self._in_flight = len({job.request for job in jobs} | self._pending_requests.keys())

    async def _decode_groups(self, jobs: list[Job]) -> None:
        """Decode jobs grouped by search options, each group sorted by length and cut by the token budget."""
        groups: dict[tuple[Any, ...], list[Job]] = {}
        for job in jobs:
            groups.setdefault(job.key, []).append(job)
        for group in groups.values():
            group.sort(key=lambda j: len(j.ids))
            for chunk in cut_batches(list(range(len(group))), [len(j.ids) for j in group], self.max_tokens):
                await self._decode([group[i] for i in chunk])

    async def _gather(self) -> None:
        """Wait until a batch is worth decoding.

        A batch starts when `max_tokens` source tokens wait, or else once the oldest sentence has waited
        `wait_s` for company and the clients of the previous batch are back. Clients that translate a text
        sentence by sentence send their next one as soon as an answer arrives; without waiting for them the
        batches split into two halves that take turns, and a half decodes less efficiently than the whole.
        So after a batch the next one also waits, for at most `linger_s` and at most a tenth of the previous
        batch's decoding time, until requests wait from as many clients as were in flight when that batch
        ended (those it answered and those queued meanwhile; a request counts once, however many of its
        sentences remain). Traffic that does not come back loses at most that tenth; a lone client loses
        nothing, its next request completes the count.
        """
        while not self._pending:
            self._wakeup.clear()
            await self._wakeup.wait()
        oldest = self._pending[0].enqueued
        linger_until = self._done_at + min(self.linger_s, 0.1 * self._took)
        while self._pending_tokens < self.max_tokens:
            deadline = oldest + self.wait_s
            if len(self._pending_requests) < self._in_flight:
                deadline = max(deadline, linger_until)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except TimeoutError:
                return

    def _take(self) -> list[Job]:
        """Take live sentences in arrival order up to max_tokens source tokens (at least one)."""
        taken: list[Job] = []
        tokens = 0
        while self._pending:
            job = self._pending[0]
            if self._is_dead(job):
                self._pop()
                continue
            if taken and tokens + len(job.ids) > self.max_tokens:
                break
            taken.append(self._pop())
            tokens += len(job.ids)
        self.metrics.queue_depth.labels(self.pair).set(self.depth)
        now = time.monotonic()
        for job in taken:
            self.metrics.queue_wait_seconds.labels(self.pair).observe(now - job.enqueued)
        return taken

    def _pop(self) -> Job:
        """Take the oldest pending sentence off the queue, keeping the queue's totals."""
        job = self._pending.popleft()
        self._pending_tokens -= len(job.ids)
        self._pending_requests[job.request] -= 1
        if not self._pending_requests[job.request]:
            del self._pending_requests[job.request]
        return job

    def _is_dead(self, job: Job) -> bool:
        """True (and the job settled) when nobody waits for the result: cancelled or past its deadline."""
        if job.future.cancelled():
            self.metrics.dropped.labels("cancelled", self.pair).inc()
            return True
        if job.future.done():
            return True
        if time.monotonic() > job.deadline:
            self.metrics.dropped.labels("deadline", self.pair).inc()
            self._fail(job, DeadlineExceededError("request deadline passed while queued"))
            return True
        return False

    async def _decode(self, batch: list[Job]) -> None:
        batch = [job for job in batch if not self._is_dead(job)]  # clients may have left during earlier batches
        if not batch:
            return
        self.metrics.batch_sentences.labels(self.pair).observe(len(batch))
        start = time.perf_counter()
        try:
            results = await self.run_in_thread(
                self.decode, [job.ids for job in batch], batch[0].opts, batch[0].with_alignment
            )
        except asyncio.CancelledError:
            for job in batch:
                self._fail(job, ShuttingDownError("server is shutting down"))
            raise
        except Exception as exc:  # a decoding failure fails the batch's requests, never the worker
            log.exception("decoding a batch of %d sentences failed", len(batch))
            for job in batch:
                self._fail(job, exc)
            return
        elapsed = time.perf_counter() - start
        self.metrics.decode_seconds.labels(self.pair).observe(elapsed)
        self.metrics.sentences.labels(self.pair).inc(len(batch))
        self._decode_rate = 0.8 * self._decode_rate + 0.2 * len(batch) / max(elapsed, 1e-6)
        for job, hyps in zip(batch, results, strict=True):
            if not job.future.done():
                job.future.set_result(hyps)

    @staticmethod
    def _fail(job: Job, exc: BaseException) -> None:
        if not job.future.done():
            job.future.set_exception(exc)
