"""`create_app(settings)`: the FastAPI application, its state, middleware and lifespan.

The model loads in the background once the server is up: `/health` answers at once, `/ready` and
`/translate` answer 503 until the model is loaded and warmed up. If loading fails, `/ready` says why, and
the hook `app.state.on_fatal` (set by `service.server.serve`) stops the server.

Routes of `disabled_routes` are removed (404, and gone from the OpenAPI schema); those of `key_routes` ask for a
key (service/access.py). The lifespan hands the connection limits to the server's protocol (service/connection.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from service.access import Access, KeyRoutesMiddleware, paths_of
from service.connection import LIMITS_KEY, ConnectionLimits
from service.errors import install_error_handlers
from service.files import FileHandler
from service.metrics import Metrics
from service.middleware import REQUEST_ID_HEADER, RequestContextMiddleware
from service.routes import router
from service.runtime import Runtime
from service.settings import Settings
from service.suggest import SuggestionHandler
from service.translation import TranslateHandler

log = logging.getLogger(__name__)

DESCRIPTION = """Recurrent neural machine translation, LibreTranslate-compatible.

`POST /translate` takes LibreTranslate's fields (`q`, `source`, `target`, `format`, `alternatives`,
`api_key`) as JSON or as a form, plus extensions (`beam_size`, `return_scores`, `return_alignment`).
Text is split into lines and sentences (after `.`, `!`, `?`, `…` followed by a space and no lowercase
letter); spaces and line breaks are kept. With `format: html` the text of each block is translated and the
markup comes back as it was, inline tags around the words they wrapped. Errors are `{"error": "..."}`.
`POST /translate_file` translates a .txt or .html file, to download once from `/download_file/{name}`;
`GET /` is a web page for all of it.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """A new application with its own model runtime, batcher and metrics registry."""
    settings = settings or Settings()
    metrics = Metrics()
    runtime = Runtime(settings, metrics)
    access = Access(settings)
    limits = ConnectionLimits(settings.header_timeout_s, settings.max_connections, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        loading = asyncio.create_task(runtime.start(), name="load-model")
        loading.add_done_callback(lambda task: _after_loading(app, task))
        try:
            yield {LIMITS_KEY: limits}  # uvicorn gives the lifespan state to every connection's protocol
        finally:
            loading.cancel()
            await asyncio.gather(loading, return_exceptions=True)
            await runtime.stop()
            app.state.files.close()  # the translated files nobody downloaded

    disabled = paths_of(settings.disabled_routes)
    docs = "/docs" not in settings.disabled_routes  # the pages and the schema they read go together
    app = FastAPI(title="seq2seq translation service", description=DESCRIPTION, version="1.0", lifespan=lifespan,
                  docs_url="/docs" if docs else None, redoc_url="/redoc" if docs else None,
                  openapi_url="/openapi.json" if docs else None)
    app.state.settings, app.state.metrics, app.state.runtime = settings, metrics, runtime
    app.state.translate = TranslateHandler(settings, runtime, metrics, access)
    app.state.detect = app.state.translate.detect
    app.state.files = FileHandler(settings, app.state.translate)
    app.state.suggest = SuggestionHandler(settings, app.state.translate)
    app.state.on_fatal = None
    install_error_handlers(app)
    # the shared router stays whole (every app of a process includes it); this app includes what is enabled
    app.include_router(APIRouter(routes=[route for route in router.routes
                                         if getattr(route, "path", None) not in disabled]))
    app.add_middleware(KeyRoutesMiddleware, access=access)  # inside CORS: preflights need no key
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["*"], expose_headers=[REQUEST_ID_HEADER, "Retry-After"],
        )
    app.add_middleware(RequestContextMiddleware, metrics=metrics)  # added last: outermost, sees every request
    return app


def create_app_from_env() -> FastAPI:
    """Factory for uvicorn's worker processes (`--workers` > 1): settings from `SEQ2SEQ_*` variables."""
    return create_app(Settings())


def _after_loading(app: FastAPI, task: asyncio.Task[None]) -> None:
    if task.cancelled() or task.exception() is None:
        return
    if app.state.on_fatal is not None:
        app.state.on_fatal(app.state.runtime.error)
