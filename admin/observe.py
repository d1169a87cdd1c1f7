"""Observing a running service: logs with a request id, the access log, the security log, /healthz.

- Every request gets an id: the caller's `X-Request-ID` when it is a short token (nginx or a load
  balancer sets one), else a new one; it is answered in `X-Request-ID` and carried by every log
  line written while the request runs.
- `LOG_FORMAT=json` (production default) writes one JSON object per line to stderr (journald
  keeps it): `ts`, `level`, `logger`, `msg`, `request_id`, and the fields of the event.
- The access log (`baoxue.access`, `ACCESS_LOG=1`): method, path, status, duration, user id,
  remote address; never the query string (it may hold a name or an ID number).
- The security log (`baoxue.security`): logins, failed logins, password changes and role grants
  (written by workflow/access/accounts.py and the account services), plus, from here, every
  answer that showed a full ID number (`note_full_id_view`) and every export or download of a
  file (an attachment response).
- `GET /healthz` (no login): `{status, database, last_sweep, version}`; 503 when the database
  does not answer.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
import time
import uuid

from flask import Blueprint, Flask, current_app, g, has_request_context, jsonify, request
from sqlalchemy import inspect, text

from . import __version__
from .extensions import db

security_log = logging.getLogger("baoxue.security")
access_log = logging.getLogger("baoxue.access")

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# LogRecord attributes that are not event fields
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "request_id"}
FULL_ID_KEY = "full_id_student_ids"
MAX_LOGGED_IDS = 50

bp = Blueprint("observe", __name__)


class RequestIdFilter(logging.Filter):
    """Adds `request_id` (or "-") to every record, so any handler's format may use it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; fields passed with `extra=` become keys."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(app: Flask) -> None:
    """Send the app's, the access and the security loggers to stderr in the configured format.

    Testing keeps pytest's own capture (no handler added, records still propagate)."""
    if app.config.get("TESTING"):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    if app.config.get("LOG_FORMAT") == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    level = getattr(logging, str(app.config.get("LOG_LEVEL", "INFO")).upper(), logging.INFO)
    baoxue = logging.getLogger("baoxue")
    baoxue.handlers[:] = [handler]
    baoxue.setLevel(level)
    baoxue.propagate = False
    app.logger.handlers[:] = [handler]
    app.logger.setLevel(level)


def init_observe(app: Flask) -> None:
    """Request ids, the access log, the security events of responses, and /healthz."""
    configure_logging(app)
    app.register_blueprint(bp)

    @app.before_request
    def _start_request():
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        g.request_started = time.monotonic()

    @app.after_request
    def _finish_request(response):
        request_id = g.get("request_id") or uuid.uuid4().hex
        response.headers[REQUEST_ID_HEADER] = request_id
        user_id = _user_id()
        seen = g.pop(FULL_ID_KEY, None)
        if seen:
            ids = sorted(seen)
            security_log.info("full ID numbers shown: user=%s path=%s students=%s", user_id, request.path,
                              ids[:MAX_LOGGED_IDS],
                              extra={"event": "full_id_view", "user_id": user_id, "path": request.path,
                                     "student_ids": ids[:MAX_LOGGED_IDS], "count": len(ids)})
        disposition = response.headers.get("Content-Disposition", "")
        if response.status_code < 300 and disposition.startswith("attachment"):
            event = "document_download" if response.mimetype in ("application/pdf", "image/jpeg", "image/png") \
                else "export"
            security_log.info("%s: user=%s path=%s", event, user_id, request.path,
                              extra={"event": event, "user_id": user_id, "path": request.path,
                                     "mimetype": response.mimetype})
        if current_app.config.get("ACCESS_LOG"):
            started = g.get("request_started")
            ms = round((time.monotonic() - started) * 1000, 1) if started else None
            access_log.info("%s %s %s %sms", request.method, request.path, response.status_code, ms,
                            extra={"method": request.method, "path": request.path,
                                   "status": response.status_code, "duration_ms": ms,
                                   "user_id": user_id, "remote_addr": request.remote_addr})
        return response


def note_full_id_view(student_id: int) -> None:
    """Remember that this answer shows a student's full ID number (logged once per request)."""
    if has_request_context():
        g.setdefault(FULL_ID_KEY, set()).add(student_id)


def _user_id():
    actor = g.get("_login_user")
    if actor is None:
        actor = g.get("api_user")
    # The request has committed by now, which expired the user object: `actor.id` would reload
    # it (a second connection and the token's joined query again, after the answer is decided).
    # Its identity key is the id the request loaded, read without SQL.
    state = inspect(actor, raiseerr=False) if actor is not None else None
    if state is not None and state.identity:
        return state.identity[0]
    return getattr(actor, "id", None)


@bp.get("/healthz")
def healthz():
    """Liveness and readiness for a load balancer: 200 when the database answers, else 503."""
    from workflow.absence.sweep_runs import last_sweep_date

    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # any database failure means "not ready", said without a traceback
        # the request boundary rolls back on the 503
        current_app.logger.error("healthz: database unreachable: %s", exc.__class__.__name__)
        return jsonify({"status": "error", "database": "unreachable", "last_sweep": None,
                        "version": __version__}), 503
    try:
        # a savepoint: before `db upgrade` has created sweep_runs (a rolling upgrade) the host is
        # still ready; only the date is unknown
        with db.session.begin_nested():
            last = last_sweep_date(db.session)
    except Exception as exc:
        current_app.logger.warning("healthz: last sweep unknown: %s", exc.__class__.__name__)
        last = None
    return jsonify({"status": "ok", "database": "ok",
                    "last_sweep": last.isoformat() if last else None, "version": __version__})
