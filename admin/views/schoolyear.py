"""School-year pages for the academic office (SPEC §5): the roster import — the file's report
shown before anything is written, then imported whole or only its valid rows —, its template,
the school-year rollover (preview, then run) and the printable class lists of a placement.
Thin: parse → workflow.schoolyear → render; the request boundary commits."""
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
from workflow.errors import Invalid
from workflow.org.calendar import school_year_of
from workflow.schoolyear import placement, rollover
from workflow.schoolyear import roster as rosters

from ..boundary import discard_writes
from ..downloads import attachment
from ..extensions import db
from ..labels import GENDER_LABELS, error_text
from ..security import current_actor, current_scope
from .args import int_arg

bp = Blueprint("school_year", __name__)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def pages(view):
    """Login required; only the roles that manage a school's year (403 otherwise)."""

    @functools.wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if not permissions.may_manage_school_year(current_scope()):
            abort(403)
        return view(*args, **kwargs)

    return wrapper


def _schools():
    scope = current_scope()
    schools = db.session.scalars(select(School).where(school_filter(scope), School.kind.in_(("center", "branch")))
                                 .order_by(School.kind.desc(), School.name)).all()
    return [s for s in schools if permissions.may_manage_school(db.session, scope, s.id)]


def _school_id() -> int | None:
    return int_arg("school_id")


def _page(status: int = 200, **extra):
    this_year = school_year_of(clock.today())
    first = int(this_year[:4])
    defaults = {"school_id": _school_id(), "school_year": request.form.get("school_year") or this_year,
                "from_year": request.form.get("from_year") or this_year,
                "to_year": request.form.get("to_year") or f"{first + 1}-{first + 2}"}
    return render_template("school_year/index.html", schools=_schools(), headers=[h for _k, h in rosters.COLUMNS],
                           form=defaults, **extra), status


@bp.get("/school-year")
@pages
def roster():
    """The roster import form, the rollover form and the template link."""
    return _page()


@bp.get("/school-year/roster/template")
@pages
def roster_template():
    """The roster template (.xlsx)."""
    return attachment(rosters.template_bytes(), "学籍名册导入模板.xlsx", XLSX)


def _upload() -> bytes:
    """The file just chosen, else the one the report page carried (base64 in a hidden field)."""
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        return upload.read()
    carried = request.form.get("file_b64") or ""
    try:
        return base64.b64decode(carried, validate=True)
    except (binascii.Error, ValueError):
        return b""


@bp.post("/school-year/roster")
@pages
def roster_import():
    """Check the file and show its report (mode check, nothing written); with `mode` all or
    valid_only, import it."""
    mode = request.form.get("mode") or "check"
    if mode not in rosters.MODES:
        abort(400)
    data = _upload()
    school_id = _school_id()
    try:
        if school_id is None:
            raise Invalid(_("请选择学校"))
        result = rosters.import_roster(db.session, current_scope(), current_actor(), school_id,
                                      request.form.get("school_year", ""), data, mode=mode)
    except Invalid as exc:
        discard_writes()
        return _page(422, roster_error=error_text(exc), roster_errors=exc.details.get("errors", []))
    return _page(roster_result=result, roster_errors=result.check.errors,
                 file_b64=base64.b64encode(data).decode("ascii") if mode == "check" else None)


@bp.post("/school-year/rollover")
@pages
def rollover_run():
    """Preview the rollover (dry run), or run it."""
    run = request.form.get("action") == "run"
    school_id = _school_id()
    try:
        if school_id is None:
            raise Invalid(_("请选择学校"))
        result = rollover.rollover(db.session, current_scope(), current_actor(), school_id=school_id,
                                   from_year=request.form.get("from_year", ""), to_year=request.form.get("to_year", ""),
                                   dry_run=not run, include_branches=request.form.get("include_branches") == "1")
    except Invalid as exc:
        discard_writes()
        return _page(422, rollover_error=error_text(exc))
    return _page(rollover_result=result)


@bp.get("/school-year/placements/<int:placement_id>")
@pages
def placement_lists(placement_id: int):
    """The printable class lists of a placement (no scores, no ID numbers), with its seed."""
    row = placement.get_placement(db.session, current_scope(), placement_id)
    school = db.session.get(School, row.school_id)
    return render_template("school_year/placement.html", row=row, school=school,
                           lists=placement.class_lists(db.session, row), gender_labels=GENDER_LABELS)
