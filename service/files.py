"""`POST /translate_file` and `GET /download_file/{name}`: LibreTranslate's file translation, for .txt and .html.

A file comes in a multipart form (`file`, `source`, `target`, optional `api_key`), at most `max_file_bytes`
(413). Its text, UTF-8, takes /translate's path as one item (service/translation.py), so it is batched with
everyone's sentences: a .txt file as text, cut into lines and sentences with every line break kept; an .html
file as `format: html` (service/html.py), its markup kept. The per-item limits of /translate do not apply; the
queue's does. The translation is written to a folder (`FileStore`) and answered as `{"translatedFileUrl":
"<base url>/download_file/<name>"}`. It is served once: deleted as it is downloaded, or `file_expiry_s` later if
nobody comes for it, and with the server's folder when the server stops; in a given folder (`files_dir`), what
a killed server left there is deleted once it is older than `file_expiry_s`, at start and at every upload.

Order of checks: body (413, 408, 400 not multipart) → back-off, API key, rate limit (429, 403) → the file part,
its type, its size, UTF-8 (400, 413) → then /translate's own (languages, models ready, queue).
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import tempfile
import time
from pathlib import Path

from fastapi import Request
from fastapi.responses import Response

from service.access import client_address
from service.body import read_file_form
from service.errors import ApiError, shown
from service.schemas import TranslateFileResponse, TranslateRequest
from service.settings import Settings
from service.translation import TranslateHandler

FORMATS = {".txt": ("text", "text/plain; charset=utf-8"), ".html": ("html", "text/html; charset=utf-8")}
FORM_OVERHEAD = 65536  # the other fields and the multipart framing around the file
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_NAME = re.compile(r"[A-Za-z0-9_-]{22}\.[A-Za-z0-9._-]{1,120}")  # token.filename, as `FileStore.put` makes them


class FileStore:
    """Translated files until their one download, in `folder` (None: a temporary folder made at first use)."""

    def __init__(self, folder: str | None, expiry_s: float):
        self.folder = Path(folder) if folder else None
        self.own_folder = not folder  # a folder of our own is removed whole; a given one may be shared
        self.expiry_s = expiry_s
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self.sweep()

    def sweep(self) -> int:
        """Delete the files of this store's kind in a given folder older than `expiry_s`: what a server killed
        before it could expire or remove them left behind (each live store expires its own files in time, so
        none of theirs is that old). Called at start and at every upload; the number removed."""
        if self.folder is None or not self.folder.is_dir():
            return 0
        cutoff, removed = time.time() - self.expiry_s, 0
        for path in self.folder.iterdir():
            name = path.name[1:] if path.name.startswith(".") else path.name  # ".name": a download cut short
            if not _NAME.fullmatch(name):
                continue  # not a file this store makes: never ours to delete
            try:
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                pass  # taken or expired by another worker meanwhile
        return removed

    def put(self, filename: str, data: bytes) -> str:
        """Store `data` under a new unguessable name, deleted after `expiry_s` unless taken first; the name."""
        if self.folder is None:
            self.folder = Path(tempfile.mkdtemp(prefix="seq2seq-files-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        if not self.own_folder:
            self.sweep()
        stem, ext = os.path.splitext(os.path.basename(filename))
        name = f"{secrets.token_urlsafe(16)}.{_UNSAFE.sub('_', stem)[:100] or 'file'}{ext.lower()}"
        (self.folder / name).write_bytes(data)
        self._timers[name] = asyncio.get_running_loop().call_later(self.expiry_s, self._expire, name)
        return name

    def take(self, name: str) -> tuple[str, bytes] | None:
        """(file name to save as, bytes) of a stored file, which is deleted; None when unknown, taken or expired."""
        if self.folder is None or not _NAME.fullmatch(name):
            return None
        claimed = self.folder / f".{name}"  # no name starts with "."; a rename is atomic: one download wins
        try:
            os.rename(self.folder / name, claimed)
        except FileNotFoundError:
            return None
        try:
            data = claimed.read_bytes()
        finally:
            claimed.unlink(missing_ok=True)
        timer = self._timers.pop(name, None)
        if timer is not None:
            timer.cancel()
        return name.split(".", 1)[1], data

    def close(self) -> None:
        """Delete every file not yet downloaded: the folder if it is ours, else the files this process wrote."""
        for timer in self._timers.values():
            timer.cancel()
        if self.folder is not None and self.own_folder:
            shutil.rmtree(self.folder, ignore_errors=True)
        elif self.folder is not None:
            for name in self._timers:
                (self.folder / name).unlink(missing_ok=True)
        self._timers.clear()

    def _expire(self, name: str) -> None:
        self._timers.pop(name, None)
        if self.folder is not None:
            (self.folder / name).unlink(missing_ok=True)


class FileHandler:
    """`/translate_file` and `/download_file`: the form read, the text through `TranslateHandler`, the store."""

    def __init__(self, settings: Settings, translate: TranslateHandler):
        self.settings, self.translate = settings, translate
        self.store = FileStore(settings.files_dir or None, settings.file_expiry_s)

    async def __call__(self, request: Request) -> TranslateFileResponse:
        limit = self.settings.max_file_bytes
        fields, files = await read_file_form(request, limit + FORM_OVERHEAD, self.settings.body_timeout_s)
        key = fields.get("api_key") or request.headers.get("x-api-key")
        self.translate.access.admit(key if isinstance(key, str) else None, client_address(request.scope))
        if "file" not in files:
            raise ApiError(400, "Invalid request: missing file parameter (a form field `file` holding the file)")
        filename, data = files["file"]
        ext = os.path.splitext(filename)[1].lower()
        if ext not in FORMATS:
            raise ApiError(400, f"Invalid request: file format {shown(ext or filename)!r} not supported; send one of "
                                f"{', '.join(FORMATS)}")
        if len(data) > limit:
            raise ApiError(413, f"Invalid request: the file has {len(data)} bytes; the limit is {limit}")
        try:
            text = data.decode("utf-8-sig")  # a byte order mark, which editors on Windows write, is not text
        except UnicodeDecodeError:
            raise ApiError(400, "Invalid request: the file is not UTF-8 text") from None
        if not text.strip():
            raise ApiError(400, "Invalid request: the file is empty")
        req = TranslateRequest.model_validate({**fields, "q": text, "format": FORMATS[ext][0], "alternatives": 0,
                                               "return_scores": False, "return_alignment": False})
        response = await self.translate.translate(request, req, check_sizes=False)
        assert isinstance(response.translatedText, str)  # one item in, one out
        name = self.store.put(filename, response.translatedText.encode("utf-8"))
        return TranslateFileResponse(translatedFileUrl=f"{request.base_url}download_file/{name}")

    def download(self, name: str) -> Response:
        taken = self.store.take(name)
        if taken is None:
            raise ApiError(404, "no such file: it was downloaded already, has expired, or never was")
        filename, data = taken
        headers = {"Content-Disposition": f'attachment; filename="{filename}"',  # `put` made it ASCII, no quotes
                   "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
                   "Content-Security-Policy": "sandbox"}  # a translated page never runs on this origin
        _, media_type = FORMATS.get(os.path.splitext(filename)[1], ("", "application/octet-stream"))
        return Response(data, media_type=media_type, headers=headers)

    def close(self) -> None:
        self.store.close()
