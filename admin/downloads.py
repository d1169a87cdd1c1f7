"""Downloads: the one Content-Disposition every file the app sends uses.

A file name is often built from what users typed (a village's name, an uploaded document's
name). A newline or quote in it must not break the header or let the name inject another
header, so the header carries two names (RFC 6266 / RFC 5987):
- `filename="..."`: an ASCII fallback for old clients — control characters, quotes,
  backslashes, path separators and non-ASCII characters become `_`;
- `filename*=UTF-8''...`: the real name, percent-encoded (control characters dropped), which
  every current browser prefers.
"""
from __future__ import annotations

import re
from urllib.parse import quote

from flask import Response

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_NOT_PLAIN_ASCII = re.compile(r'[^\x20-\x7e]|["\\/;%]')


def _clean(filename: str) -> str:
    name = _CONTROL.sub("", filename or "").replace("/", "_").replace("\\", "_").strip()
    return name or "download"


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """`attachment; filename="ascii"; filename*=UTF-8''percent-encoded` for any `filename`."""
    name = _clean(filename)
    fallback = _NOT_PLAIN_ASCII.sub("_", name)
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def attachment(data: bytes | str, filename: str, mimetype: str) -> Response:
    """`data` sent as a download named `filename`, never cached or sniffed."""
    resp = Response(data, mimetype=mimetype)
    resp.headers["Content-Disposition"] = content_disposition(filename)
    resp.headers["Cache-Control"] = "private, no-cache"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp
