"""Suspected-dropout checks page (疑似辍学核实与四查三比对, SPEC §3.10, §5): the outside list's
import (checked first, then opened whole or only its valid rows), the formerly poor households'
list, the comparisons' run with each list and its links, and the center's checks. Also the
close-watch panel the oversight pages include (`oversight/_groups.html`). Thin: parse →
workflow.reporting → render; the request boundary commits."""
from __future__ import annotations

import base64
import binascii
import functools

from flask import Blueprint, abort, render_template, request
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy import select

from models import School
from workflow import clock
from workflow.access import permissions
from workflow.access.scope import school_filter
from workflow.cases.queue import deadlines
from workflow.cases.serialize import process_label
from workflow.errors import DomainError, Invalid
from workflow.processes.dropout_check import PROCESS as DROPOUT_CHECK
from workflow.processes.dropout_check import SOURCE_NAMES
from workflow.reporting import checks, comparisons, groups
from workflow.validation import parse_int_text

from ..boundary import discard_writes
from ..extensions import db
from ..labels import error_text
from ..security import current_actor, current_scope

bp = Blueprint("checks", __name__)


def pages(view):
    """Login required; only the roles that bring lists in (403 otherwise)."""

    @functools.wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if not permissions.may_import_dropout_list(current_scope()):
            abort(403)
        return view(*args, **kwargs)

    return wrapper


@bp.app_template_global()
def may_open_checks() -> bool:
    """Whether the menu shows this page."""
    return permissions.may_import_dropout_list(current_scope())


@bp.app_template_global()
def close_watch_panel(center_ids):
    """The close-watch panel over these centers (one id or a list), or None when the user may not
    see it."""
    scope = current_scope()
    if not permissions.sees_close_watch(scope):
        return None
    ids = [center_ids] if isinstance(center_ids, int) else [int(i) for i in center_ids]
    return groups.close_watch(db.session, scope, center_ids=ids)


def _centers() -> list[School]:
    scope = current_scope()
    centers = db.session.scalars(select(School).where(school_filter(scope), School.kind == "center")
                                 .order_by(School.name)).all()
    return [c for c in centers if permissions.may_run_comparisons(scope, c)]


def _center_id(centers) -> int | None:
    raw = (request.form.get("center_id") or request.args.get("center_id") or "").strip()
    if not raw:
        return centers[0].id if centers else None
    value = parse_int_text(raw, lo=1)
    if value is None:
        abort(404)
    return value


def _page(status: int = 200, **extra):
    centers = _centers()
    center_id = _center_id(centers)
    center, cases, due = None, [], {}
    if center_id is not None:
        center, cases = comparisons.open_checks(db.session, current_scope(), center_school_id=center_id)
        due = deadlines(db.session, cases, today=clock.today())
    return render_template("checks/index.html", centers=centers, center=center, cases=cases, due=due,
                           kinds=comparisons.KIND_NAMES, sources=SOURCE_NAMES, headers=[h for _k, h in checks.COLUMNS],
                           state_label=lambda s: DROPOUT_CHECK.state_labels.get(s, s), process_label=process_label,
                           **extra), status


@bp.get("/checks")
@pages
def index():
    """The import forms, the comparisons' run and the center's checks."""
    return _page()


def _upload() -> bytes:
    """The file just chosen, else the one the report page carried (base64 in a hidden field)."""
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        return upload.read()
    try:
        return base64.b64decode(request.form.get("file_b64") or "", validate=True)
    except (binascii.Error, ValueError):
        return b""


def _checked_upload(modes, run, prefix: str, b64_key: str):
    """The two list forms' one shape: the mode (400 if unknown), the file, `run(data, mode)`; a
    refused list → the page again (422) with `<prefix>_error`/`<prefix>_errors` and nothing
    written; else its result as `<prefix>_result`, carrying the checked file on to the confirm
    form (`b64_key`) after a check."""
    mode = request.form.get("mode") or "check"
    if mode not in modes:
        abort(400)
    data = _upload()
    try:
        result = run(data, mode)
    except Invalid as exc:
        discard_writes()
        return _page(422, **{f"{prefix}_error": error_text(exc), f"{prefix}_errors": exc.details.get("errors", [])})
    carried = base64.b64encode(data).decode("ascii") if mode == "check" else None
    return _page(**{f"{prefix}_result": result, b64_key: carried})


@bp.post("/checks/import")
@pages
def import_list():
    """Check the outside list and show its report (nothing written); with mode all or valid_only, open the checks."""
    return _checked_upload(checks.MODES, lambda data, mode: checks.import_list(
        db.session, current_scope(), current_actor(), data, mode=mode), "list", "file_b64")


def _import_poor(data: bytes, mode: str):
    center_id = _center_id(_centers())
    if center_id is None:
        raise Invalid(_("请选择中心校"))
    return comparisons.import_poor_households(db.session, current_scope(), current_actor(),
                                              center_school_id=center_id, data=data, mode=mode)


@bp.post("/checks/poor-households")
@pages
def import_poor():
    """Check, or replace, the center's list of formerly poor households."""
    return _checked_upload(comparisons.POOR_MODES, _import_poor, "poor", "poor_b64")


@bp.post("/checks/run")
@pages
def run():
    """Run the comparisons for the chosen center and show each list with its links."""
    center_id = _center_id(_centers())
    if center_id is None:
        abort(404)
    try:
        result = comparisons.run_comparisons(db.session, current_scope(), current_actor(), center_school_id=center_id)
    except DomainError:
        discard_writes()
        raise
    return _page(run_result=result)
