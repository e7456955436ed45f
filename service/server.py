"""`serve(settings)`: run the service under uvicorn until SIGINT or SIGTERM.

On a signal uvicorn stops accepting connections, lets in-flight requests finish (for at most
`timeout_graceful_shutdown_s`), then runs the app's shutdown, which stops the batcher.
With `workers` > 1 uvicorn starts that many processes, each loading its own model copy; they rebuild the
settings from `SEQ2SEQ_*` variables, and each has its own metrics, rate-limit counters and connection cap.

Connections are uvicorn's httptools protocol with deadlines and caps of its own (service/connection.py).
X-Forwarded-For and X-Forwarded-Proto are believed only from the proxies of `forwarded_allow_ips` (uvicorn
would believe any loopback client by default, so one client could claim any address and escape its limits).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

import uvicorn

from service.app import create_app
from service.connection import GuardedHttpToolsProtocol
from service.log import log_config
from service.runtime import check_models, model_files
from service.settings import Settings


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """uvicorn.Config keywords common to one and many workers."""
    return {
        "host": settings.host,
        "port": settings.port,
        "log_config": log_config(settings.log_level),
        "log_level": settings.log_level,
        "access_log": False,  # service.access logs every request with its id instead
        "timeout_graceful_shutdown": settings.timeout_graceful_shutdown_s,
        "server_header": False,
        "http": GuardedHttpToolsProtocol,
        "ws": "none",  # no WebSocket routes: an Upgrade would leave the guarded protocol
        "timeout_keep_alive": settings.keep_alive_s,
        "proxy_headers": bool(settings.forwarded_allow_ips),
        "forwarded_allow_ips": settings.forwarded_allow_ips,
    }


def serve(settings: Settings) -> None:
    """Serve until stopped. :raises SystemExit: when a model file is missing or fails to load."""
    try:
        paths = model_files(settings.model_entries)
    except ValueError as exc:
        raise SystemExit(f"{exc} (give -m/--model or set SEQ2SEQ_MODELS)") from None
    options = uvicorn_options(settings)
    if settings.workers > 1:
        # each worker loads every model and could only answer 503 for a bad one: check what can be known first
        try:
            check_models(paths)
        except ValueError as exc:
            raise SystemExit(str(exc)) from None
        # one folder of translated files for every worker: a download may reach another worker than the upload
        shared = "" if settings.files_dir else tempfile.mkdtemp(prefix="seq2seq-files-")
        os.environ.update(settings.model_copy(update={"files_dir": settings.files_dir or shared}).to_env())
        try:
            uvicorn.run("service.app:create_app_from_env", factory=True, workers=settings.workers, **options)
        finally:
            if shared:
                shutil.rmtree(shared, ignore_errors=True)
        return
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, **options))
    failures: list[str] = []

    def on_fatal(message: str | None) -> None:
        failures.append(message or "model failed to load")
        server.should_exit = True

    app.state.on_fatal = on_fatal
    server.run()
    if failures:
        raise SystemExit(failures[0])
