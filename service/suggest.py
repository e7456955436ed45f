"""`POST /suggest`: LibreTranslate's "suggest a better translation", when the server is set to take them.

Off by default (`suggestions`): a 403 with LibreTranslate's message. On, a suggestion (`q` the source text, `s`
the translation suggested, `source` and `target` its languages; from a JSON body, a form or the query string,
after the API key and rate limit as /translate's) is appended to `suggestions_file` as one JSON line, written with
a single `O_APPEND` write so that workers and replicas sharing the file never interleave their lines. The answer
is LibreTranslate's `{"success": true}`. The file is for the operator to review and to add to a training corpus.
"""

from __future__ import annotations

import asyncio
import json
import os
import time

from fastapi import Request

from service.errors import ApiError
from service.settings import Settings
from service.translation import TranslateHandler

FIELDS = ("q", "s", "source", "target")


class SuggestionHandler:
    def __init__(self, settings: Settings, translate: TranslateHandler):
        self.settings, self.translate = settings, translate

    async def __call__(self, request: Request) -> dict[str, bool]:
        if not self.settings.suggestions:
            raise ApiError(403, "Suggestions are disabled on this server.")
        data = await self.translate.read(request)  # the body, the key and the rate limit, as /translate's
        runtime = self.translate.runtime
        runtime.require()  # 503 while the models load: their languages are not known yet
        known = runtime.languages()
        values: dict[str, str] = {}
        for name in FIELDS:
            value = data.get(name)
            if not isinstance(value, str) or not value.strip():
                raise ApiError(400, f"Invalid request: missing {name} parameter")
            values[name] = value
        limit = self.settings.max_chars_per_item
        for name in ("q", "s"):
            if len(values[name]) > limit:
                raise ApiError(413, f"Invalid request: {name} has {len(values[name])} characters; "
                                    f"the limit is {limit} per item")  # as /translate's items
        for name in ("source", "target"):
            values[name] = values[name].strip().lower()
            if values[name] not in known:
                raise ApiError(400, f"Invalid request: {name} {values[name][:20]!r} is none of this server's "
                                    f"languages: {', '.join(sorted(known))}")
        line = json.dumps({**values, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
                          ensure_ascii=False) + "\n"
        try:
            await asyncio.to_thread(append_line, self.settings.suggestions_file, line.encode("utf-8"))
        except OSError as exc:  # the operator's disk or permissions: nothing the client did
            raise ApiError(503, f"the suggestion could not be stored: {exc.strerror or exc}") from None
        return {"success": True}


def append_line(path: str, line: bytes) -> None:
    """Append one line with one write: O_APPEND makes it land whole at the end, whoever else appends."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        written = os.write(fd, line)
        if written != len(line):  # a full disk: say so rather than leave half a line unannounced
            raise OSError(f"{path}: wrote {written} of {len(line)} bytes")
        os.fsync(fd)
    finally:
        os.close(fd)
