"""Security headers on every response (issue 11, item 6).

- `X-Frame-Options: DENY` and CSP `frame-ancestors 'none'`: no page can be framed (click-jacking).
- `X-Content-Type-Options: nosniff`: an uploaded file is never run as a script or page.
- `Referrer-Policy: same-origin`: ids in our URLs do not leave for other sites.
- `Content-Security-Policy`: scripts only from this site, plus the inline `<script>` blocks the
  page marks with this request's nonce (`csp_nonce()`, also handed to Flask-Admin's templates),
  plus the inline event handlers (`onchange="..."`, `javascript:` links) written in our templates
  (read from admin/templates when the app starts) and those of Flask-Admin's templates listed in
  `FLASK_ADMIN_HANDLERS` (by hash: `'unsafe-hashes'` allows exactly those strings, never any
  other inline script, so an `onclick` injected into a page still does not run). Styles allow inline `style=` attributes (the templates and Flask-Admin use them; a style
  cannot run code). Images and fonts from this site and `data:` URLs; no plugins; forms post only
  here.

A handler in one of our templates must be plain text (no `{{ }}`) to be allowed; a handler of a
Flask-Admin template must be listed below. tests/browser/test_csp.py loads the pages, compiles
every inline handler and fails on any violation the browser reports.
"""
from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from pathlib import Path

from flask import Flask, Response, g

TEMPLATES = Path(__file__).parent / "templates"
# `onchange="..."` / `href="javascript:..."` written as plain text (no Jinja inside)
_HANDLER = re.compile(r'\son[a-z]+="([^"{}]*)"|\shref="(javascript:[^"{}]*)"')
# The inline event handlers of the Flask-Admin (bootstrap4) templates our screens use, as the
# browser sees them (after HTML unescaping), in both languages: filter menu, inline rows (监护人,
# 角色), the delete button and the delete action.
FLASK_ADMIN_HANDLERS = (
    "return false;",
    "javascript:void(0)",
    "faForm.addInlineField(this, 'guardians');",
    "faForm.addInlineField(this, 'roles');",
    "return faHelpers.safeConfirm('Are you sure you want to delete this record?');",
    "return faHelpers.safeConfirm('你确定要删除这条记录吗？');",
    "return modelActions.execute('delete');",
)


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def template_handlers(root: Path = TEMPLATES) -> set[str]:
    """The plain-text inline handlers of our templates."""
    found: set[str] = set()
    for path in sorted(root.rglob("*.html")):
        for attr, link in _HANDLER.findall(path.read_text(encoding="utf-8")):
            found.add(html.unescape(attr or link))
    return found


_HANDLER_HASHES = " ".join(sorted(_hash(h) for h in template_handlers() | set(FLASK_ADMIN_HANDLERS)))


def csp_nonce() -> str:
    """This request's nonce for inline `<script>` blocks (one per request, unguessable)."""
    nonce = g.get("csp_nonce")
    if nonce is None:
        nonce = g.csp_nonce = secrets.token_urlsafe(18)
    return nonce


def content_security_policy(nonce: str) -> str:
    """The policy of a response whose inline scripts carry `nonce`."""
    return "; ".join((
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce}' 'unsafe-hashes' {_HANDLER_HASHES} 'report-sample'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ))


def _add_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Content-Security-Policy", content_security_policy(csp_nonce()))
    return response


def init_headers(app: Flask) -> None:
    """Add the headers to every response (pages, API, Flask-Admin, static files, errors) and hand
    the nonce to templates (`csp_nonce()`) and to Flask-Admin's own inline scripts."""
    app.after_request(_add_headers)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    for admin in app.extensions.get("admin", []):
        admin.csp_nonce_generator = csp_nonce
