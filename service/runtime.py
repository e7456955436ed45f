"""The models' life in the service: load once, warm up, batch, stop; `/ready` reflects it; `route` finds the
model, or the two models through the pivot language, that translate a pair.

Each model (one language pair) has its own batcher, so sentences of one pair are batched together as with one
model; every batcher decodes in one shared thread, so the batches of busy pairs take turns on the CPU in the
order they formed instead of competing for its cores: a pair with steady traffic waits at most one batch of
another pair's, or with continuous batching one slice of its steps (`SLICE_S`, service/continuous.py;
docs/design.md §6).
"""

from __future__ import annotations

import asyncio
import glob
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch

from seq2seq import export
from seq2seq.translator import Translator, language_pair
from service.batcher import Batcher
from service.continuous import ContinuousBatcher
from service.detect import Detector
from service.errors import ApiError, shown
from service.metrics import Metrics
from service.settings import Settings

log = logging.getLogger(__name__)

WARM_UP_LINES = ("Warm up.", "A somewhat longer line warms up the decoder as well.")


@dataclass
class Model:
    """One loaded artifact: its file, translator and batcher."""

    path: str
    translator: Translator
    batcher: Batcher

    @property
    def pair(self) -> tuple[str, str]:
        return self.translator.src_lang.lower(), self.translator.tgt_lang.lower()


def model_files(entries: list[str]) -> list[str]:
    """The artifacts `entries` name: files as given, folders as every *.pt in them (sorted), each once.

    :raises ValueError: an entry that does not exist, or a folder without any *.pt
    """
    files: list[str] = []
    for entry in entries:
        if os.path.isdir(entry):
            found = sorted(glob.glob(os.path.join(entry, "*.pt")))
            if not found:
                raise ValueError(f"{entry}: a folder without any model (*.pt)")
            files += found
        elif os.path.isfile(entry):
            files.append(entry)
        else:
            raise ValueError(f"{entry}: no such model file or folder")
    seen: set[str] = set()
    unique = []
    for f in files:  # a file named twice (or through a link) is served once
        real = os.path.realpath(f)
        if real not in seen:
            seen.add(real)
            unique.append(f)
    return unique


def refuse_twins(pairs: list[tuple[str, tuple[str, str]]]) -> None:
    """:raises ValueError: naming the files, when two of (file, (source, target)) translate one pair"""
    by_pair: dict[tuple[str, str], list[str]] = {}
    for path, pair in pairs:
        by_pair.setdefault(pair, []).append(path)
    twice = [f"{src} → {tgt}: {', '.join(files)}" for (src, tgt), files in by_pair.items() if len(files) > 1]
    if twice:
        raise ValueError(f"models failed to load: two models for one language pair ({'; '.join(twice)})")


def check_models(paths: list[str]) -> None:
    """Read each artifact's meta.json (not its model) and refuse two for one pair: what can be known before worker
    processes start, each loading every model, where a failure would only show as a worker's /ready answering 503.

    :raises ValueError: naming the file or the files
    """
    pairs = []
    for path in paths:
        try:
            source, target = language_pair(export.read_meta(path))
        except ValueError as exc:
            raise ValueError(f"model {path} failed to load: {exc}") from None
        pairs.append((path, (source.lower(), target.lower())))
    refuse_twins(pairs)


class Runtime:
    """Holds the models once they are all ready; `require()` and `route()` hand them to requests."""

    def __init__(self, settings: Settings, metrics: Metrics):
        self.settings, self.metrics = settings, metrics
        self.models: dict[tuple[str, str], Model] = {}  # (source, target), lower case → its model
        self.ready = False
        self.error: str | None = None  # why loading failed, shown by /ready and /translate
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode")  # every model's
        self.detector: Detector | None = None  # language identification over the models' languages, once ready
        self._reachable: dict[str, list[str]] = {}  # `reachable()`, once ready

    async def start(self) -> None:
        """Load every artifact (off the event loop), refuse two for one pair, warm each up, start batching.

        :raises Exception: whatever loading raised; `error` keeps a one-line description naming the file.
        """
        s = self.settings
        models: dict[tuple[str, str], Model] = {}
        try:
            paths = model_files(s.model_entries)
            torch.set_num_threads(decoder_threads(s.torch_threads))
            loaded: list[tuple[str, Translator]] = []
            for path in paths:
                log.info("loading model %s on %s, %d decoder threads", path, s.device, torch.get_num_threads())
                try:
                    loaded.append((path, await asyncio.to_thread(Translator.load, path, s.device)))
                except Exception as exc:
                    raise RuntimeError(f"model {path} failed to load: {exc}") from exc
            refuse_twins([(path, (t.src_lang.lower(), t.tgt_lang.lower())) for path, t in loaded])
            for path, translator in loaded:
                pair = (translator.src_lang.lower(), translator.tgt_lang.lower())
                label = f"{pair[0]}-{pair[1]}"
                if s.batch_continuous and translator.can_step:  # sentences join the running decoding between steps
                    batcher: Batcher = ContinuousBatcher(translator, self.metrics, s.batch_max_tokens,
                                                         s.batch_wait_ms / 1000, s.queue_max_sentences,
                                                         executor=self._executor, pair=label)
                else:  # an artifact older than format 3, or continuous batching turned off: whole batches
                    batcher = Batcher(translator.translate_ids, self.metrics, s.batch_max_tokens,
                                      s.batch_wait_ms / 1000, s.queue_max_sentences, s.batch_linger_ms / 1000,
                                      executor=self._executor, pair=label)
                # one decode in the decoding thread: TorchScript optimizes on its first runs
                warm_up = [translator.encode(line) for line in WARM_UP_LINES]
                await batcher.run_in_thread(translator.translate_ids, warm_up, translator.defaults)
                if isinstance(batcher, ContinuousBatcher):  # and one step by step, a sentence joining
                    await batcher.run_in_thread(batcher.warm_up, warm_up, translator.defaults)
                models[pair] = Model(path, translator, batcher)
            codes = sorted({code for pair in models for code in pair})
            self.detector = await asyncio.to_thread(Detector, codes)
        except Exception as exc:
            self.error = str(exc) if "failed to load" in str(exc) else f"models failed to load: {exc}"
            log.error("%s", self.error)
            raise
        for model in models.values():
            model.batcher.start()
        self.models, self._reachable = models, self._routes(models)
        self.ready = True
        self.metrics.model_ready.set(1)
        for model in models.values():
            log.info("model ready: %s → %s, beam %d, %s batching (%s)", *model.pair,
                     model.translator.defaults.beam_size,
                     "continuous" if isinstance(model.batcher, ContinuousBatcher) else "whole-batch", model.path)

    async def stop(self) -> None:
        self.ready = False
        self.metrics.model_ready.set(0)
        for model in self.models.values():
            await model.batcher.stop()
        await asyncio.to_thread(self._executor.shutdown, wait=True)

    def require(self, explain: bool = False) -> dict[tuple[str, str], Model]:
        """The models by pair. :raises ApiError: 503 while loading, or after loading failed (with the reason when
        `explain`: /ready tells operators, /translate does not tell clients about the server's files).
        """
        if not self.ready or not self.models:
            if self.error:
                raise ApiError(503, self.error if explain else "the model is not available (it failed to load)")
            raise ApiError(503, "the model is still loading; retry shortly", {"Retry-After": "5"})
        return self.models

    def reachable(self) -> dict[str, list[str]]:
        """Every source language with the targets it reaches, directly or through the pivot, sorted (worked out
        once, when the models are ready: requests ask for it at every turn)."""
        self.require()
        return self._reachable

    def languages(self) -> set[str]:
        """Every language of the loaded models, source or target."""
        return set(self.reachable()) | {t for targets in self._reachable.values() for t in targets}

    def _routes(self, models: dict[tuple[str, str], Model]) -> dict[str, list[str]]:
        pivot = self.settings.pivot.lower()
        out: dict[str, set[str]] = {}
        for src, tgt in models:
            out.setdefault(src, set()).add(tgt)
        for src, tgt in list(models):
            if tgt == pivot:
                out[src] |= {t for s, t in models if s == pivot and t != src}
        return {src: sorted(targets) for src, targets in sorted(out.items())}

    def offer(self) -> str:
        """What the server translates, for error messages: `de to en, de to fr (through en), …`."""
        models = self.require()
        return ", ".join(f"{src} to {tgt}" + ("" if (src, tgt) in models else f" (through {self.settings.pivot})")
                         for src, targets in self.reachable().items() for tgt in targets)

    def route(self, source: str, target: str) -> list[Model]:
        """The model that translates source → target, or the two through the pivot.

        :raises ApiError: 400 naming the language no model reads or reaches, and what the server offers
        """
        models = self.require()
        src, tgt = source.lower(), target.lower()
        if (src, tgt) in models:
            return [models[(src, tgt)]]
        pivot = self.settings.pivot.lower()
        if (src, pivot) in models and (pivot, tgt) in models:
            return [models[(src, pivot)], models[(pivot, tgt)]]
        reachable = self.reachable()
        offer = f"this server translates {self.offer()}"
        if src not in reachable:
            raise ApiError(400, f"{shown(source)} is not supported as a source language: {offer}")
        raise ApiError(400, f"{shown(target)} is not supported as a target language from {shown(source)}: {offer}")

    def sources(self) -> list[str]:
        """The languages some model translates from."""
        return sorted({src for src, _ in self.require()})


def decoder_threads(setting: int) -> int:
    """`setting`, or for 0 one less than the cores this process may use, at least 1."""
    if setting:
        return setting
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores - 1)
