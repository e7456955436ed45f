"""The model's life in the service: load once, warm up, batch, stop; `/ready` reflects it."""

from __future__ import annotations

import asyncio
import logging
import os

import torch

from seq2seq.translator import Translator
from service.batcher import Batcher
from service.errors import ApiError
from service.metrics import Metrics
from service.settings import Settings

log = logging.getLogger(__name__)

WARM_UP_LINES = ("Warm up.", "A somewhat longer line warms up the decoder as well.")


class Runtime:
    """Holds the translator and its batcher once they are ready; `require()` hands them to requests."""

    def __init__(self, settings: Settings, metrics: Metrics):
        self.settings, self.metrics = settings, metrics
        self.translator: Translator | None = None
        self.batcher: Batcher | None = None
        self.ready = False
        self.error: str | None = None  # why loading failed, shown by /ready and /translate

    async def start(self) -> None:
        """Load the artifact (off the event loop), warm it up with one decode, start batching.

        :raises Exception: whatever loading raised; `error` keeps a one-line description.
        """
        s = self.settings
        try:
            torch.set_num_threads(decoder_threads(s.torch_threads))
            log.info("loading model %s on %s, %d decoder threads", s.model, s.device, torch.get_num_threads())
            translator = await asyncio.to_thread(Translator.load, s.model, s.device)
            batcher = Batcher(translator.translate_ids, self.metrics, s.batch_max_tokens, s.batch_wait_ms / 1000,
                              s.queue_max_sentences, s.batch_linger_ms / 1000)
            # one decode in the decoding thread: TorchScript optimizes on its first runs
            await batcher.run_in_thread(
                translator.translate_ids, [translator.encode(line) for line in WARM_UP_LINES], translator.defaults
            )
        except Exception as exc:
            self.error = f"model {s.model} failed to load: {exc}"
            log.error("%s", self.error)
            raise
        batcher.start()
        self.translator, self.batcher, self.ready = translator, batcher, True
        self.metrics.model_ready.set(1)
        log.info("model ready: %s → %s, beam %d", translator.src_lang, translator.tgt_lang,
                 translator.defaults.beam_size)

    async def stop(self) -> None:
        self.ready = False
        self.metrics.model_ready.set(0)
        if self.batcher is not None:
            await self.batcher.stop()

    def require(self, explain: bool = False) -> tuple[Translator, Batcher]:
        """The translator and batcher. :raises ApiError: 503 while loading, or after loading failed (with the
        reason when `explain`: /ready tells operators, /translate does not tell clients about the server's files).
        """
        if not self.ready or self.translator is None or self.batcher is None:
            if self.error:
                raise ApiError(503, self.error if explain else "the model is not available (it failed to load)")
            raise ApiError(503, "the model is still loading; retry shortly", {"Retry-After": "5"})
        return self.translator, self.batcher


def decoder_threads(setting: int) -> int:
    """`setting`, or for 0 one less than the cores this process may use, at least 1."""
    if setting:
        return setting
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores - 1)
