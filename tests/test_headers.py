"""Security headers on every response (admin/headers.py, issue 11 item 6): no framing, no MIME
sniffing, a referrer policy, and a CSP whose script nonce changes with every request and is the
one Flask-Admin's own script tags carry. That the pages work under it: tests/browser/test_csp.py."""
from __future__ import annotations

import re

import pytest

from admin.headers import FLASK_ADMIN_HANDLERS, template_handlers


def _nonce(resp) -> str:
    return re.search(r"'nonce-([^']+)'", resp.headers["Content-Security-Policy"]).group(1)


@pytest.mark.parametrize("path", ["/login", "/api/v1/openapi.json", "/api/v1/cases", "/no-such-page",
                                  "/static/app.css", "/admin/student/"])
def test_every_response_carries_the_headers(path, client):
    resp = client.get(path)
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "same-origin"
    csp = resp.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    script_src = next(d for d in csp.split("; ") if d.startswith("script-src"))
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src


def test_the_nonce_is_new_for_every_request(client):
    assert _nonce(client.get("/login")) != _nonce(client.get("/login"))


def test_flask_admin_scripts_carry_this_responses_nonce(world, login):
    resp = login(world["principal"]).get("/admin/student/new/")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    tags = re.findall(r"<script[^>]*>", html)
    nonced = [t for t in tags if "nonce=" in t]
    assert nonced, tags
    assert all(f'nonce="{_nonce(resp)}"' in t for t in nonced)


def test_template_handlers_are_found_and_flask_admin_ones_listed():
    found = template_handlers()
    assert "this.form.submit()" in found and "window.print()" in found
    assert not any("{{" in h or "{%" in h for h in found)
    assert "return faHelpers.safeConfirm('Are you sure you want to delete this record?');" in FLASK_ADMIN_HANDLERS
