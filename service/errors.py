"""Every error leaves the service as `{"error": "..."}` with a meaningful status (LibreTranslate's shape).

Validation errors become 400 with a readable message (never FastAPI's 422 list), HTTP errors keep their
status, and anything unexpected becomes a logged 500 that reveals nothing of the server's internals.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error a client caused or must handle: status, message and optional headers (Retry-After)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def shown(value: object, limit: int = 40) -> str:
    """A client's value as an error message quotes it: at most `limit` characters (then '…'), and encodable
    whatever it holds (a lone surrogate becomes the text `\\ud800`), so quoting it can never fail or echo 10 KB.
    """
    text = value if isinstance(value, str) else repr(value)
    if len(text) > limit:
        text = text[:limit] + "…"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def describe_validation_errors(errors: Sequence[Any]) -> str:
    """One line from pydantic's error list: 'Invalid request: missing q parameter; alternatives: ...'."""
    missing: list[str] = []
    problems: dict[str, list[str]] = {}  # field -> messages; a union (q: str | list[str]) reports each branch
    for err in errors:
        loc = [str(part) for part in err.get("loc", ()) if part not in ("body", "query")]
        loc = [part for part in loc if not part.startswith(("str", "list[", "int", "float", "bool"))]
        name = ".".join(loc) or "body"
        if err.get("type") == "missing":
            missing.append(f"missing {name} parameter")
        else:
            problems.setdefault(name, []).append(str(err.get("msg", "invalid value")))
    parts = list(dict.fromkeys(missing))
    parts += [f"{name}: {' or '.join(dict.fromkeys(msgs))}" for name, msgs in problems.items()]
    return "Invalid request: " + "; ".join(parts)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message, exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError | ValidationError)
    return error_response(400, describe_validation_errors(exc.errors()))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return error_response(exc.status_code, str(exc.detail), dict(exc.headers or {}))


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette calls this outside every middleware, so the request id comes from the request's state."""
    request_id = getattr(request.state, "request_id", "-")
    log.error("[%s] unhandled error on %s %s", request_id, request.method, request.url.path, exc_info=exc)
    return error_response(500, "Internal server error", {"X-Request-ID": request_id} if request_id != "-" else None)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
