"""Register and report pages: the catchment register (list, import, export, cross-check), the three
ledgers, the weekly report and the status-change notice. Thin: parse → workflow.registers.catchment /
workflow.registers.reports → render. Out of scope → 404."""
from __future__ import annotations

import datetime as dt
import functools

from flask import Blueprint, abort, render_template, request
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy import select

from models import School, Village
from workflow import clock
from workflow.access import permissions
from workflow.access.scope import school_filter, village_filter
from workflow.errors import Invalid
from workflow.registers import catchment, reports
from workflow.validation import parse_date_text

from ..boundary import discard_writes
from ..downloads import attachment
from ..extensions import db
from ..labels import CATCHMENT_STATUS_LABELS, HOUSEHOLD_LABELS, error_text, rendered, text
from ..security import current_actor, current_scope
from .args import int_arg

bp = Blueprint("registers", __name__)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def pages(view):
    """Login required; Invalid → 400 (NotFound/Forbidden become the 404/403 pages app-wide)."""

    @functools.wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except Invalid:
            # a malformed request the page's own forms never send (e.g. no village_id)
            abort(400)

    return wrapper




def _date(name: str, default: dt.date) -> tuple[dt.date, str | None]:
    raw = request.args.get(name, "").strip()
    if not raw:
        return default, None
    value = parse_date_text(raw)  # a real date: 1900–2100
    if value is None:
        return default, _("日期「%(value)s」无效，请用 YYYY-MM-DD", value=raw)
    return value, None


def _villages(scope):
    return list(db.session.scalars(select(Village).where(village_filter(scope)).order_by(Village.name)))


def _schools(scope, *kinds):
    stmt = select(School).where(school_filter(scope))
    if kinds:
        stmt = stmt.where(School.kind.in_(kinds))
    return list(db.session.scalars(stmt.order_by(School.kind.desc(), School.name)))


def _xlsx(data: bytes, name: str):
    return attachment(data, name, XLSX)


# --- catchment register -----------------------------------------------------------------------


def _catchment_page(village_id, status: int = 200, **extra):
    scope = current_scope()
    villages = _villages(scope)
    village = children = None
    can_edit = can_check = full = False
    if village_id is None and villages:
        village_id = villages[0].id
    if village_id is not None:
        village = catchment.get_village(db.session, scope, village_id)
        children = catchment.list_children(db.session, scope, village.id)
        rights = permissions.catchment_rights(db.session, scope, village.center_school_id)
        can_edit, can_check, full = rights.may_edit, rights.may_crosscheck, rights.sees_full_ids
    today = clock.today()
    return render_template("registers/catchment.html", villages=villages, village=village, children=children,
                           can_edit=can_edit, can_check=can_check, full_ids=full, today=today,
                           age_on=catchment.age_on, id_as_seen=catchment.id_as_seen,
                           status_labels=CATCHMENT_STATUS_LABELS, household_labels=HOUSEHOLD_LABELS,
                           headers=[h for _k, h in catchment.COLUMNS], **extra), status


@bp.get("/registers/catchment")
@pages
def catchment_page():
    """A village's register: list, import form, export and cross-check buttons."""
    return _catchment_page(int_arg("village_id"))


@bp.post("/registers/catchment/import")
@pages
def catchment_import():
    """Import an .xlsx; the result page lists every bad row (nothing written unless clean or
    「只导入正确的行」 was ticked)."""
    village_id = int_arg("village_id")
    upload = request.files.get("file")
    data = upload.read() if upload is not None else b""
    only_valid = request.form.get("only_valid") in ("1", "on", "true")
    try:
        result = catchment.import_register(db.session, current_scope(), current_actor(), village_id, data,
                                           only_valid=only_valid)
    except Invalid as exc:
        discard_writes()
        return _catchment_page(village_id, 422, import_error=error_text(exc),
                               import_errors=exc.details.get("errors", []),
                               import_warnings=exc.details.get("warnings", []))
    return _catchment_page(village_id, import_result=result, import_errors=result.check.error_dicts(),
                           import_warnings=result.check.warning_dicts())


@bp.get("/registers/catchment/export")
@pages
def catchment_export():
    """The village's register as .xlsx (re-importable)."""
    village, data = catchment.export_register(db.session, current_scope(), int_arg("village_id"))
    return _xlsx(data, f"{village.name}适龄儿童登记表.xlsx")


@bp.post("/registers/catchment/crosscheck")
@pages
def catchment_crosscheck():
    """Cross-check the village's register with the rolls; show what differs and the cases opened."""
    village_id = int_arg("village_id")
    result = catchment.crosscheck(db.session, current_scope(), current_actor(), village_id=village_id)
    return _catchment_page(village_id, crosscheck=result)


# --- the three ledgers ------------------------------------------------------------------------


def _area():
    scope = current_scope()
    try:
        area = reports.ledger_area(db.session, scope, county_id=int_arg("county_id"),
                                   center_school_id=int_arg("center_school_id"), school_id=int_arg("school_id"))
    except Invalid:
        abort(404)
    return scope, area


@bp.get("/registers/ledgers")
@pages
def ledgers():
    """三本台账: one tab each; the area is a county, a center school, a school or all in scope."""
    kind = request.args.get("kind", "children")
    if kind not in reports.LEDGER_KINDS:
        abort(404)
    scope, area = _area()
    today = clock.today()
    headers, rows = reports.ledger_rows(db.session, scope, area, kind, today=today)
    args = {k: v for k, v in request.args.items() if k in ("county_id", "center_school_id", "school_id") and v}
    return render_template("registers/ledgers.html", kind=kind, kinds=reports.LEDGER_KINDS, area=area,
                           headers=headers, rows=rows, args=args, today=today,
                           areas=_schools(scope, "county", "center", "branch"))


@bp.get("/registers/ledgers/export")
@pages
def ledgers_export():
    """One ledger as .xlsx."""
    kind = request.args.get("kind", "children")
    if kind not in reports.LEDGER_KINDS:
        abort(404)
    scope, area = _area()
    headers, rows = reports.ledger_rows(db.session, scope, area, kind, today=clock.today())
    # the file in the user's language: headers and marked cells translated, data as typed
    headers, rows, title = rendered(headers), rendered(rows), text(reports.LEDGER_KINDS[kind])
    return _xlsx(reports.ledger_xlsx(headers, rows, title), f"{rendered(area.label)}{title}.xlsx")


# --- weekly report and notice -----------------------------------------------------------------


@bp.get("/reports/weekly")
@pages
def weekly():
    """周报 of a school, or of a center school's schools with the total."""
    scope = current_scope()
    week_of, date_error = _date("week_of", clock.today())
    school_id, center_id = int_arg("school_id"), int_arg("center_school_id")
    schools = _schools(scope, "center", "branch")
    if school_id is None and center_id is None and schools:
        first = schools[0]
        center_id, school_id = (first.id, None) if first.kind == "center" else (None, first.id)
    report = None
    if school_id is not None or center_id is not None:
        try:
            report = reports.weekly_report(db.session, scope, school_id=school_id, center_school_id=center_id,
                                           week_of=week_of)
        except Invalid:
            abort(404)
    return render_template("registers/weekly.html", report=report, schools=schools, week_of=week_of,
                           date_error=date_error, school_id=school_id, center_id=center_id,
                           rungs=reports.RUNG_LABELS, kinds=reports.KIND_LABELS,
                           prev_week=week_of - dt.timedelta(days=7), next_week=week_of + dt.timedelta(days=7))


@bp.get("/reports/notice")
@pages
def notice():
    """异动公示 of a school for a period, printable on A4 (no ID numbers)."""
    scope = current_scope()
    today = clock.today()
    date_from, error_from = _date("from", today.replace(day=1))
    date_to, error_to = _date("to", today)
    schools = _schools(scope, "center", "branch")
    school_id = int_arg("school_id") or (schools[0].id if schools else None)
    school = items = None
    error = error_from or error_to
    if school_id is not None and not error:
        try:
            school, items = reports.status_change_notice(db.session, scope, school_id=school_id,
                                                         date_from=date_from, date_to=date_to)
        except Invalid as exc:
            error = error_text(exc)
    return render_template("registers/notice.html", school=school, items=items, schools=schools,
                           school_id=school_id, date_from=date_from, date_to=date_to, error=error,
                           printed_on=today)
