"""Read a request body as LibreTranslate clients send it: JSON, or an HTML form (urlencoded or multipart)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile

from service.errors import ApiError

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def read_body(request: Request, max_bytes: int) -> dict[str, Any]:
    """The body as a dict of fields; a repeated form field `q` becomes a list.

    :raises ApiError: 413 over `max_bytes`, 400 for a body that is not a JSON object or a form.
    """
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise ApiError(413, f"Request body of {int(length)} bytes exceeds the limit of {max_bytes} bytes")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in FORM_TYPES:
        return await _read_form(request)
    body = await _read_capped(request, max_bytes)
    if not body.strip():
        raise ApiError(400, "Invalid request: empty body; send a JSON object (or a form) with q, source and target")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise ApiError(400, f"Invalid request: body is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ApiError(400, "Invalid request: the JSON body must be an object with q, source and target")
    return data


async def _read_capped(request: Request, max_bytes: int) -> bytes:
    """The raw body, refused as soon as it grows past `max_bytes` (chunked bodies have no Content-Length)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise ApiError(413, f"Request body exceeds the limit of {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _read_form(request: Request) -> dict[str, Any]:
    try:
        form = await request.form()
    except Exception as exc:  # python-multipart's errors: malformed boundaries, too many fields, ...
        raise ApiError(400, f"Invalid request: malformed form body ({exc})") from None
    data: dict[str, Any] = {}
    for key in form.keys():
        values = form.getlist(key)
        if any(isinstance(value, UploadFile) for value in values):
            raise ApiError(400, f"Invalid request: {key} must be a text field, not a file")
        data[key] = values if key == "q" and len(values) > 1 else values[0]
    return data
