"""Query and form arguments of the pages, parsed strictly."""
from __future__ import annotations

from flask import abort, request

from workflow.validation import parse_int_text


def int_arg(name: str) -> int | None:
    """The integer argument `name` (query or form), None when absent or blank. Anything but plain
    ASCII digits in the database's integer range (e.g. "²", which passes str.isdigit) names no
    row a page could show, so it answers 404 rather than a 500 or a silent default."""
    raw = (request.values.get(name) or "").strip()
    if not raw:
        return None
    value = parse_int_text(raw)
    if value is None:
        abort(404)
    return value
