"""`POST /translate`: check the request, split it into sentences, decode them in shared batches, reassemble.

Order of checks: body (413, 408, 400) → back-off after wrong keys, API key, rate limit (429, 403) → fields (400)
→ models ready (503) → languages: the model of the pair, or two through the pivot (400) → format (400) → sizes
(413) → HTML the parser gives up on (400) → search options (400) → queue (503). Everything
before the queue is cheap, so a refused request costs the server almost nothing. A client that goes away
before its answer (while sending its body, or waiting for the decoder) is answered 499, which nobody reads.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

from fastapi import Request
from starlette.requests import ClientDisconnect

from seq2seq.translator import Hypothesis, SearchOptions, Translator
from service import html
from service.access import Access, client_address
from service.batcher import Batcher, DeadlineExceededError, QueueFullError, ShuttingDownError
from service.body import read_body
from service.errors import ApiError, shown
from service.inline import Link, word_links
from service.metrics import Metrics
from service.pivot import compose
from service.runtime import Model, Runtime
from service.schemas import (
    DetectedLanguage,
    DetectRequest,
    ScoredText,
    SentenceDetail,
    TranslateRequest,
    TranslateResponse,
)
from service.segment import Segmented, segment
from service.settings import Settings

CLIENT_CLOSED = 499  # nginx's status for "client closed the request": shows in metrics, reaches nobody


class TranslateHandler:
    """Everything `/translate` needs: settings, the model runtime, access control, metrics."""

    def __init__(self, settings: Settings, runtime: Runtime, metrics: Metrics, access: Access):
        self.settings, self.runtime, self.metrics, self.access = settings, runtime, metrics, access
        # a JSON body may escape every character as \uXXXX; leave room for the other fields too
        self.max_body_bytes = settings.max_chars_per_request * 6 + 65536

    async def read(self, request: Request) -> dict[str, Any]:
        """The request's fields, once its client is admitted (key, rate limit)."""
        try:
            data = await read_body(request, self.max_body_bytes, self.settings.body_timeout_s)
        except ClientDisconnect:
            self.metrics.client_disconnects.labels("body").inc()
            raise ApiError(CLIENT_CLOSED, "client closed the request while sending it") from None
        key = data.get("api_key") or request.headers.get("x-api-key")
        self.access.admit(key if isinstance(key, str) else None, client_address(request.scope))
        return data

    async def detect(self, request: Request) -> list[DetectedLanguage]:
        """`POST /detect`: the languages of the server that `q` may be in, best first (at most 3, as
        LibreTranslate answers), confidence 0–100."""
        req = DetectRequest.model_validate(await self.read(request))
        if not req.q:
            raise ApiError(400, "Invalid request: missing q parameter")
        self._check_sizes([req.q])
        self.runtime.require()
        detector = self.runtime.detector
        if detector is None or not detector.codes:
            raise ApiError(400, "language identification knows none of this server's languages: "
                                f"{', '.join(self.runtime.sources())}")
        return [DetectedLanguage(language=code, confidence=conf) for code, conf in detector.detect(req.q)[:3]]

    async def __call__(self, request: Request) -> TranslateResponse:
        req = TranslateRequest.model_validate(await self.read(request))
        return await self.translate(request, req)

    async def translate(self, request: Request, req: TranslateRequest, check_sizes: bool = True) -> TranslateResponse:
        """`req` translated, for a client already admitted. `check_sizes` False: the caller has bounded the text
        itself (a file of /translate_file, by `max_file_bytes`)."""
        if not req.q:  # "" or []: LibreTranslate's answer for both
            raise ApiError(400, "Invalid request: missing q parameter")
        items = [req.q] if isinstance(req.q, str) else req.q
        self.runtime.require()  # 503 while the models load
        self._check_format(req)
        if check_sizes:
            self._check_sizes(items)
        segmented = self._split(req, items)
        detected = None
        if req.source.lower() == "auto":  # HTML by the text it would translate, never by its markup
            detected = self._detect(req, [" ".join(seg.sentences) if isinstance(seg, html.Page) else item
                                          for item, seg in zip(items, segmented, strict=True)])
        sources = [d.language for d in detected] if detected is not None else [req.source] * len(items)
        plans: dict[str, list[Model] | None] = {}  # source → its models, or None: the text stays as it is
        for source in dict.fromkeys(sources):
            plans[source] = self._plan(source, req.target)
        count = sum(len(seg.sentences) for seg in segmented)
        if count > self.settings.queue_max_sentences:  # could never be queued: not a 503 to retry
            raise ApiError(413, f"Invalid request: {count} sentences; the server queues at most "
                                f"{self.settings.queue_max_sentences}")
        responses: list[tuple[str, list[str], list[SentenceDetail]] | None] = [None] * len(items)

        async def group(source: str, hops: list[Model] | None) -> None:
            which = [i for i, s in enumerate(sources) if s == source]
            if hops is None:
                done = [_unchanged_item(req, items[i], segmented[i]) for i in which]
            else:
                done = await self._translate(request, req, hops, [segmented[i] for i in which])
            for i, response in zip(which, done, strict=True):
                responses[i] = response

        await asyncio.gather(*(group(source, hops) for source, hops in plans.items()))  # the pairs batch apart
        assert all(r is not None for r in responses)  # every item's group filled its slots
        return _shape(req, detected, responses)

    def _detect(self, req: TranslateRequest, items: list[str]) -> list[DetectedLanguage]:
        """Each item's language (`source: auto`), among those the server translates from."""
        detector = self.runtime.detector
        if detector is None or not detector.codes:  # nothing to tell apart: the one source that reaches target
            return [DetectedLanguage(language=self._only_source(req), confidence=100.0)] * len(items)
        out, sources = [], self.runtime.reachable()
        for item in items:
            language, confidence = detector.detect(item)[0]
            if language not in sources and language != req.target.lower():  # in the target language: kept as is
                raise ApiError(400, f"source 'auto': the text was detected as {language} ({confidence:.0f} %), "
                                    f"which no model translates from: this server translates {self.runtime.offer()}")
            out.append(DetectedLanguage(language=language, confidence=confidence))
        return out

    def _plan(self, source: str, target: str) -> list[Model] | None:
        """The models from source to target (`Runtime.route`), or None when source is target and a language
        the server knows: the text comes back as it is."""
        if source.lower() == target.lower():
            if source.lower() not in self.runtime.languages():
                raise ApiError(400, f"{shown(source)} is not supported as a source language: this server "
                                    f"translates {self.runtime.offer()}")
            return None
        return self.runtime.route(source, target)

    async def _translate(self, request: Request, req: TranslateRequest, hops: list[Model],
                         segmented: list[Segmented | html.Page]) -> list[tuple[str, list[str], list[SentenceDetail]]]:
        """Decode the sentences of some items of q through `hops` (one model, or two through the pivot)."""
        first, last = hops[0], hops[-1]
        opts = self._search_options(req, last.translator)
        sentences = [s for seg in segmented for s in seg.sentences]
        ids = [self._encode(first.translator, s) for s in sentences]
        aligned = req.return_alignment or req.format == "html"  # HTML places inline tags by attention
        hop_ids = ids
        if len(hops) > 1:  # the first hop's best translation is the second hop's source
            middle = await self._decode(first.batcher, request, ids, replace(first.translator.defaults, n_best=1),
                                        aligned)
            hop_ids = [last.translator.encode(h[0].text if h else "") for h in middle]
        hyps = await self._decode(last.batcher, request, hop_ids, opts, aligned)
        if len(hops) > 1 and aligned:  # each alignment carried back through the pivot to the source's pieces
            hyps = [[compose(h, m[0] if m else None, last.translator.src_tok.id_to_piece(p[:-1]), len(s))
                     for h in hs] for hs, m, p, s in zip(hyps, middle, hop_ids, ids, strict=True)]
        responses, start = [], 0
        for seg in segmented:
            count = len(seg.sentences)
            responses.append(self._item(req, first.translator, seg, ids[start : start + count],
                                        hyps[start : start + count]))
            start += count
        return responses

    def _only_source(self, req: TranslateRequest) -> str:
        """For `auto` without language identification: the one language that reaches the target."""
        reachable = self.runtime.reachable()
        candidates = [src for src, targets in reachable.items() if req.target.lower() in targets]
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            raise ApiError(400, f"{shown(req.target)} is not supported as a target language: this server "
                                f"translates {self.runtime.offer()}")
        raise ApiError(400, f"source 'auto': several languages translate to {shown(req.target)} "
                            f"({', '.join(candidates)}); give the source language")

    def _check_format(self, req: TranslateRequest) -> None:
        if req.format not in ("text", "html"):
            raise ApiError(400, f"format '{shown(req.format)}' is not supported: send format=text (plain text) or "
                                "format=html")

    @staticmethod
    def _split(req: TranslateRequest, items: list[str]) -> list[Segmented | html.Page]:
        """Each item's sentences: of its text, or of the text runs of its HTML (service/html.py)."""
        if req.format == "text":
            return [segment(item) for item in items]
        pages = []
        for i, item in enumerate(items):
            try:
                pages.append(html.parse(item))
            except ValueError as exc:  # markup the parser gives up on (none is known: service/html.py)
                where = f"q[{i}]" if len(items) > 1 else "q"
                raise ApiError(400, f"Invalid request: {where} is HTML this server cannot translate: {exc}") from None
        return pages

    def _check_sizes(self, items: list[str]) -> None:
        s = self.settings
        if len(items) > s.max_items:
            raise ApiError(413, f"Invalid request: {len(items)} items in q exceed the limit of {s.max_items}")
        for i, item in enumerate(items):
            if len(item) > s.max_chars_per_item:
                where = f"q[{i}]" if len(items) > 1 else "q"
                raise ApiError(413, f"Invalid request: {where} has {len(item)} characters; "
                                    f"the limit is {s.max_chars_per_item} per item")
        total = sum(len(item) for item in items)
        if total > s.max_chars_per_request:
            raise ApiError(413, f"Invalid request: request ({total} characters) exceeds text limit "
                                f"({s.max_chars_per_request})")

    def _search_options(self, req: TranslateRequest, translator: Translator) -> SearchOptions:
        s = self.settings
        if req.alternatives > s.max_alternatives:
            raise ApiError(400, f"alternatives: at most {s.max_alternatives}, got {req.alternatives}")
        n_best = req.alternatives + 1
        beam = req.beam_size if req.beam_size is not None else max(translator.defaults.beam_size, n_best)
        if beam < n_best:
            raise ApiError(400, f"beam_size ({beam}) must be at least alternatives + 1 ({n_best})")
        if beam * n_best > s.max_beam_times_nbest:
            raise ApiError(400, f"beam_size x (alternatives + 1) = {beam * n_best} exceeds the limit of "
                                f"{s.max_beam_times_nbest}")
        return replace(translator.defaults, beam_size=beam, n_best=n_best)  # the checks above are validate()'s

    @staticmethod
    def _encode(translator: Translator, sentence: str) -> list[int]:
        try:
            return translator.encode(sentence, cut=False)
        except ValueError as exc:
            raise ApiError(413, f"Invalid request: {exc}: '{shown(sentence, 60)}'") from None

    async def _decode(self, batcher: Batcher, request: Request, ids: list[list[int]], opts: SearchOptions,
                      with_alignment: bool) -> list[list[Hypothesis]]:
        """Queue the sentences and wait for them, the deadline, or the client going away, whichever first."""
        if not ids:
            return []
        timeout = self.settings.request_timeout_s
        overloaded = ApiError(503, f"not translated within {timeout:g} s; the server is overloaded",
                              {"Retry-After": "5"})
        futures: list[asyncio.Future[list[Hypothesis]]] = []
        client_gone: asyncio.Future[None] | None = None
        try:
            futures = batcher.submit(ids, opts, with_alignment, time.monotonic() + timeout)
            results = asyncio.gather(*futures)
            client_gone = asyncio.ensure_future(_wait_disconnect(request))
            done, _ = await asyncio.wait({results, client_gone}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if results in done:
                return results.result()
            results.cancel()
        except QueueFullError as exc:
            self.metrics.rejected.labels("queue_full").inc()
            raise ApiError(503, str(exc), {"Retry-After": str(exc.retry_after_s)}) from None
        except ShuttingDownError as exc:
            raise ApiError(503, str(exc), {"Retry-After": "1"}) from None
        except DeadlineExceededError:
            raise overloaded from None
        finally:
            # on every way out (a failure, the client gone, the deadline, the server giving up on us) the
            # request's sentences still queued are cancelled, and the batcher drops them instead of decoding
            if client_gone is not None:
                client_gone.cancel()
            _cancel(futures)
        if client_gone in done:
            self.metrics.client_disconnects.labels("decode").inc()
            raise ApiError(CLIENT_CLOSED, "client closed the request")
        self.metrics.rejected.labels("timeout").inc()
        raise overloaded

    def _item(self, req: TranslateRequest, translator: Translator, seg: Segmented | html.Page, ids: list[list[int]],
              hyps: list[list[Hypothesis]]) -> tuple[str, list[str], list[SentenceDetail]]:
        """(translation, alternatives, sentence details) of one item of q; `translator` is the first hop's, whose
        source pieces `ids` are. With HTML, the alternatives are pages too: the k-th best translation of each
        sentence with the tags put back by its own attention."""
        found = max((len(h) for h in hyps), default=1) - 1  # fewer hypotheses may finish than were asked for
        if isinstance(seg, html.Page):
            pieces = [translator.src_tok.id_to_piece(src_ids[:-1]) for src_ids in ids]  # EOS off
            text, *alternatives = [seg.render(_html_targets(pieces, hyps, k))
                                   for k in range(min(found, req.alternatives) + 1)]
        else:
            text = seg.join([h[0].text if h else "" for h in hyps])
            alternatives = [
                seg.join([h[min(k, len(h) - 1)].text if h else "" for h in hyps])
                for k in range(1, min(found, req.alternatives) + 1)
            ]
        details = []
        if req.return_scores or req.return_alignment:
            for sentence, src_ids, h in zip(seg.sentences, ids, hyps, strict=True):
                top = h[0] if h else Hypothesis("", float("-inf"), [])
                detail = SentenceDetail(source=sentence, translation=top.text)
                if req.return_scores:
                    detail.score = top.score
                    if req.alternatives:
                        detail.alternatives = [ScoredText(translation=a.text, score=a.score) for a in h[1:]]
                if req.return_alignment:
                    detail.source_tokens = translator.src_tok.id_to_piece(src_ids)
                    detail.target_tokens = top.tokens
                    detail.alignment = top.alignment
                details.append(detail)
        return text, alternatives, details


def _unchanged_item(req: TranslateRequest, item: str, seg: Segmented | html.Page
                    ) -> tuple[str, list[str], list[SentenceDetail]]:
    """An item whose source is its target, as it came."""
    details = [SentenceDetail(source=s, translation=s) for s in seg.sentences]
    return item, [item] * req.alternatives, details


def _html_targets(pieces: list[list[str]], hyps: list[list[Hypothesis]], k: int
                  ) -> list[tuple[str, list[Link] | None]]:
    """Each sentence's k-th best translation (or its last) and its word links from attention (service/inline.py;
    through a pivot, the attention composed across the two hops); None where there is no attention to read."""
    out: list[tuple[str, list[Link] | None]] = []
    for src, h in zip(pieces, hyps, strict=True):
        top = h[min(k, len(h) - 1)] if h else None
        if top is None:
            out.append(("", []))
        else:
            links = word_links(src, top.tokens, top.alignment) if top.alignment is not None else None
            out.append((top.text, links))
    return out


def _shape(req: TranslateRequest, detected: list[DetectedLanguage] | None,
           items: list[tuple[str, list[str], list[SentenceDetail]]]) -> TranslateResponse:
    """LibreTranslate's response: one value for a string q, a list for a list q; optional fields as asked."""
    single = isinstance(req.q, str)
    texts, alternatives, details = (list(column) for column in zip(*items, strict=True))
    return TranslateResponse(
        translatedText=texts[0] if single else texts,
        alternatives=(alternatives[0] if single else alternatives) if req.alternatives else None,
        detectedLanguage=(detected[0] if single else detected) if detected is not None else None,
        sentences=(details[0] if single else details) if req.return_scores or req.return_alignment else None,
    )


async def _wait_disconnect(request: Request) -> None:
    """Return when the client disconnects. The body has been read, so the server only reports that."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


def _cancel(futures: list[asyncio.Future[list[Hypothesis]]]) -> None:
    for future in futures:
        future.cancel()

