"""Read a request body as LibreTranslate clients send it: JSON, or an HTML form (urlencoded or multipart).

Every body, whatever its type and whether chunked or not, is read first with one capped reader: refused (413)
as soon as it passes `max_bytes` and (408) when it is not in within `timeout_s`, so nothing larger is ever held
in memory or on disk. The fields are then parsed from those bytes. Text is UTF-8, strictly: a form that is not
is refused (400), and so is a JSON string anywhere in the body, a key or a value, that holds a lone surrogate
(`"\\ud800"`), which no tokenizer takes and no response could quote. A file part is refused, except by
`read_file_form` (`POST /translate_file`), which keeps its bytes as they came.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from service.errors import ApiError, shown

URLENCODED, MULTIPART, JSON = b"application/x-www-form-urlencoded", b"multipart/form-data", b"application/json"


async def read_body(request: Request, max_bytes: int, timeout_s: float) -> dict[str, Any]:
    """The body as a dict of fields; a repeated form field `q` becomes a list.

    :raises ApiError: 413 over `max_bytes`, 408 after `timeout_s`, 400 for a body that is not a JSON object or a
        form in UTF-8.
    :raises starlette.requests.ClientDisconnect: when the client goes away before the body is in.
    """
    body = await read_capped(request, max_bytes, timeout_s)
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    query = request.scope.get("query_string", b"")
    if content_type == URLENCODED:
        return _with_query(_fields(_urlencoded(body)), query)
    if content_type == MULTIPART:
        return _with_query(_fields(_multipart(body, options.get(b"boundary", b""))), query)
    if query and not body.strip() and content_type != JSON:  # every field in the query string of the POST
        return _fields(_urlencoded(query))
    return _json(body)


async def read_file_form(request: Request, max_bytes: int, timeout_s: float
                         ) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
    """A multipart form that carries files (`POST /translate_file`): its text fields (the query string's win, as in
    `read_body`) and its file parts, name → (file name, bytes); the first part of a name counts.

    :raises ApiError: 413 over `max_bytes`, 408 after `timeout_s`, 400 for a body that is not multipart/form-data.
    """
    body = await read_capped(request, max_bytes, timeout_s)
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type != MULTIPART:
        raise ApiError(400, "Invalid request: send the file as multipart/form-data (a form with a file field)")
    parts = _MultipartFields(files={})
    _parse_multipart(parts, body, options.get(b"boundary", b""))
    assert parts.files is not None
    return _with_query(_fields(parts.fields), request.scope.get("query_string", b"")), parts.files


def _with_query(fields: dict[str, Any], query: bytes) -> dict[str, Any]:
    """A form's fields with those of the query string, which win (LibreTranslate reads `request.values`: the
    query string first); a JSON body ignores the query string, as there."""
    return {**fields, **_fields(_urlencoded(query))} if query else fields


async def read_capped(request: Request, max_bytes: int, timeout_s: float) -> bytes:
    """The raw body, refused as soon as it grows past `max_bytes` (a chunked body has no Content-Length to check
    first) or when it has not all arrived `timeout_s` after the first read (a client trickling it in)."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise ApiError(413, f"Request body of {int(length)} bytes exceeds the limit of {max_bytes} bytes")
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_bytes:
                    raise ApiError(413, f"Request body exceeds the limit of {max_bytes} bytes")
                chunks.append(chunk)
    except TimeoutError:
        # close the connection: the rest of a trickled body is not worth waiting for
        raise ApiError(408, f"Request body not received within {timeout_s:g} s", {"Connection": "close"}) from None
    return b"".join(chunks)


def _json(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise ApiError(400, "Invalid request: empty body; send a JSON object (or a form) with q, source and target")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise ApiError(400, f"Invalid request: body is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ApiError(400, "Invalid request: the JSON body must be an object with q, source and target")
    where = _lone_surrogate(data)
    if where is not None:
        raise ApiError(400, f"Invalid request: {shown(where, 80)} is not valid Unicode (it holds a lone surrogate)")
    return data


def _lone_surrogate(data: Any) -> str | None:
    """Where in the parsed JSON the first string (key or value) that UTF-8 cannot encode is; None if nowhere.

    Iterative: json.loads accepts nesting deeper than a recursive walk would.
    """
    stack: list[tuple[str, Any]] = [("body", data)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                name = shown(key, 20) if where == "body" else f"{where}.{shown(key, 20)}"
                if not _encodable(key):
                    return f"a field name ({name})"
                stack.append((name, item))
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", item) for i, item in enumerate(value))
        elif isinstance(value, str) and not _encodable(value):
            return where
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _urlencoded(body: bytes) -> list[tuple[str, str]]:
    """Fields of `a=1&b=2`, raw and percent-encoded bytes alike read as UTF-8 (Starlette reads raw bytes as
    Latin-1: `q=Größe` sent by curl arrived as 'GrÃ¶Ãe')."""
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise ApiError(400, "Invalid request: the form is not valid UTF-8") from None


def _multipart(body: bytes, boundary: bytes) -> list[tuple[str, str]]:
    parts = _MultipartFields()
    _parse_multipart(parts, body, boundary)
    return parts.fields


def _parse_multipart(parts: _MultipartFields, body: bytes, boundary: bytes) -> None:
    if not boundary:
        raise ApiError(400, "Invalid request: a multipart/form-data body needs a boundary in its Content-Type")
    try:
        parser = MultipartParser(boundary, parts.callbacks())
        parser.write(body)
        parser.finalize()
    except FormParserError as exc:
        raise ApiError(400, f"Invalid request: malformed form body ({shown(str(exc), 80)})") from None
    if not parts.ended:
        raise ApiError(400, "Invalid request: malformed form body (it ends before its closing boundary)")


class _MultipartFields:
    """python-multipart's callbacks, collecting text fields; a file part is refused as soon as its headers end,
    unless `files` is given: then file parts go there, name → (file name, bytes)."""

    def __init__(self, files: dict[str, tuple[str, bytes]] | None = None) -> None:
        self.fields: list[tuple[str, str]] = []
        self.files = files
        self._filename: str | None = None
        self.ended = False
        self._header_name, self._header_value = bytearray(), bytearray()
        self._disposition = b""
        self._name = ""
        self._data = bytearray()

    def callbacks(self) -> dict[str, Any]:
        return {"on_part_begin": self._begin, "on_header_field": self._header_field,
                "on_header_value": self._header_value_data, "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished, "on_part_data": self._part_data,
                "on_part_end": self._part_end, "on_end": self._end}

    def _begin(self) -> None:
        self._disposition, self._data, self._filename = b"", bytearray(), None

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = bytes(self._header_value)
        self._header_name, self._header_value = bytearray(), bytearray()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if b"name" not in options:
            raise ApiError(400, "Invalid request: a form part has no name (Content-Disposition: form-data; name=...)")
        self._name = _utf8(options[b"name"])
        if b"filename" in options:
            if self.files is None:
                raise ApiError(400, f"Invalid request: {shown(self._name)} must be a text field, not a file")
            self._filename = _utf8(options[b"filename"])

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        self._data += data[start:end]

    def _part_end(self) -> None:
        if self._filename is None:
            self.fields.append((self._name, _utf8(self._data)))
        elif self.files is not None:
            self.files.setdefault(self._name, (self._filename, bytes(self._data)))

    def _end(self) -> None:
        self.ended = True


def _utf8(data: bytes | bytearray) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "Invalid request: the form is not valid UTF-8") from None


def _fields(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Form pairs as the fields of a JSON body: a repeated `q` is a list, any other field its first value."""
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key == "q" and "q" in data:
            data["q"] = [*data["q"], value] if isinstance(data["q"], list) else [data["q"], value]
        else:
            data.setdefault(key, value)
    return data
