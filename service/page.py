"""The web page at `GET /` and its assets at `GET /static/{name}`: files of service/static/, nothing fetched from
elsewhere (the page works offline). The page speaks the public API only: /frontend/settings, /languages,
/translate (with `return_alignment` for the attention heatmap) and /translate_file.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.responses import Response

from service.errors import ApiError, shown

STATIC = Path(__file__).with_name("static")
TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
_NAME = re.compile(r"[a-z0-9_-]+\.(html|css|js|svg)")
# The page's own scripts, styles and API only; `style-src` allows the heatmap's cell colours, set from script.
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'none'; frame-ancestors 'none'")


def asset(name: str) -> Response:
    """A file of service/static/. :raises ApiError: 404 for any other name."""
    path = STATIC / name
    if not _NAME.fullmatch(name) or not path.is_file():
        raise ApiError(404, f"no such file: {shown(name)}")
    headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    if path.suffix == ".html":
        headers["Content-Security-Policy"] = CSP
    return Response(path.read_bytes(), media_type=TYPES[path.suffix], headers=headers)
