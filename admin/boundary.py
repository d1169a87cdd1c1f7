"""The request boundary: the one place where a request's transaction ends.

Every view Flask dispatches (the pages of admin/views, the JSON API of admin/api, Flask-Admin's
views and actions of admin/adminviews) runs through `BoundaryFlask.dispatch_request`, which ends
the transaction once, after the view has returned and before the response is finalised:

- the view returns a response with a status below 400 (2xx, 3xx): commit once;
- the view raises anything (a DomainError the error handlers answer 403/404/409/422, an
  `abort()`, any other exception), or returns a status of 400 or more (a page re-rendering a
  refused form at 422): roll back, then the exception goes on to the error handlers;
- the commit itself fails: roll back and raise, so the error handlers answer it like a view's
  error (the API's IntegrityError handler still says 409 `duplicate`).

Evidence files stored in a transaction that rolls back are deleted by workflow.cases.evidence's
session events. A request refused before its view (routing 404, the API's bearer 401) has
written nothing; Flask-SQLAlchemy removes the session when the app context ends.

Views never commit, and never roll back by hand: a page that answers a refused action by
rendering (a form again at 422, a flash and a redirect) first calls `discard_writes()`, so what it
renders does not show the refused writes and a redirect (a 3xx, which commits) keeps none of them.

Two named exceptions to "commit on success, roll back on error", each used in one place:
- `keep_writes_on_error()`: the login paths flush a failure count and then answer an error;
  throttling only works if that count survives the error.
- `commit_batch()`: the daily sweep commits each finished batch of schools, so a request cut off
  after batch k keeps batches 1..k (a re-run finds them done).
"""
from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Response, g

from .extensions import db

_KEEP_WRITES = "boundary_keep_writes_on_error"


def keep_writes_on_error() -> None:
    """Commit this request's writes even though its answer is an error (an exception or a status
    of 400 or more). Only for the login paths: a failed login flushes the failure count and then
    answers 401/429, and the count must persist for throttling to work."""
    setattr(g, _KEEP_WRITES, True)


def discard_writes() -> None:
    """Roll back what the request has written so far (files stored in it are deleted by
    workflow.cases.evidence's session events). For views that answer a refused action by
    rendering or redirecting rather than raising."""
    db.session.rollback()


def commit_batch() -> None:
    """Commit what the request has written so far. Only for work made of independent batches
    (the daily sweep, as `run_sweep(commit=...)`): a later failure rolls back only the batch in
    progress, and the boundary's own commit or rollback still ends the request."""
    db.session.commit()


def run_view(app: Flask, view: Callable[[], object]) -> Response:
    """Call `view` and end the request's transaction (see the module docstring): commit when
    the response's status is below 400, roll back on an exception or a status of 400 or more.
    Re-raises the view's exception, or the commit's."""
    try:
        response = app.make_response(view())
    except BaseException:
        _end(failed=True)
        raise
    _end(failed=response.status_code >= 400)
    return response


def _end(*, failed: bool) -> None:
    keep = g.pop(_KEEP_WRITES, False)
    if failed and not keep:
        db.session.rollback()
        return
    try:
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


class BoundaryFlask(Flask):
    """Flask whose every dispatched view ends at the request boundary (`run_view`)."""

    def dispatch_request(self):
        return run_view(self, super().dispatch_request)
