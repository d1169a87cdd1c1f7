"""Monthly report pages (一月一报告, SPEC §3.9) and the county supervisor's pages: the reports to
review, the roll-up of which schools are late per month, the drill-down to a school, one
report printable on A4, its Excel export. Thin: load in scope → workflow.reporting.monthly or the
engine → render; the request boundary commits once. Out of scope → 404."""
from __future__ import annotations

import functools

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from models import Case, CaseHistory, School
from workflow import clock
from workflow.access import permissions
from workflow.access.scope import school_filter
from workflow.cases import engine, nextstep
from workflow.cases.serialize import history_row, state_label
from workflow.errors import DomainError, Forbidden, Invalid
from workflow.processes import get_process
from workflow.registers.reports import KIND_LABELS
from workflow.reporting import monthly
from workflow.validation import parse_int_text

from ..downloads import attachment
from ..extensions import db
from ..labels import text
from ..security import current_actor, current_scope
from .args import int_arg
from .cases import flash_error, load_or_404

bp = Blueprint("monthly", __name__, url_prefix="/monthly")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# the steps these pages offer as buttons; the re-check has its own form (one finding per child)
BUTTON_STEPS = ("submit", "principal_approve", "county_accept", "county_send_back")


def pages(view):
    """Login required, and a role that reads monthly reports (else the 403 page)."""

    @functools.wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if not permissions.may_open_monthly_reports(current_scope()):
            raise Forbidden(_("您无权查看月报"))
        return view(*args, **kwargs)

    return wrapper




def _load_report(case_id: int) -> Case:
    case = load_or_404(Case, case_id)
    if case.process != monthly.PROCESS_NAME:
        abort(404)
    return case


@bp.route("/")
@pages
def index():
    """The roll-up: per school (all in scope, or `?school_id=` for the drill-down) and month, the
    report's state and whether it is late; the county's reports to review; the form to open a
    month's report for the academic office."""
    scope = current_scope()
    today = clock.today()
    school_id = int_arg("school_id")
    count = 12 if school_id is not None else 6
    months = monthly.recent_months(today, count)
    rows = monthly.rollup(db.session, scope, months=months, today=today, school_id=school_id)
    review = monthly.reports_to_review(db.session, scope)
    openable = [s for s in db.session.scalars(select(School).where(school_filter(scope), School.kind != "county")
                                              .order_by(School.name))
                if permissions.may_open_monthly_report_for(scope, s)]
    late_by_month = {m: sum(1 for r in rows for c in r.cells if c.month == m and c.is_late) for m in months}
    return render_template("monthly/index.html", rows=rows, months=months, review=review, openable=openable,
                           school_id=school_id, late_by_month=late_by_month,
                           drill=rows[0] if school_id is not None and rows else None,
                           state_labels=get_process(monthly.PROCESS_NAME).state_labels,
                           default_month=monthly.previous_month(monthly.month_of(today)))


@bp.post("/open")
@pages
def open_report():
    """Open (draft) a school's report of a month: engine.create_case; errors are flashed."""
    scope, user = current_scope(), current_actor()
    school_id = int_arg("school_id")
    month = (request.form.get("month") or "").strip()
    try:
        case = engine.create_case(db.session, scope, user, monthly.PROCESS_NAME, None,
                                  {"school_id": school_id, "month": month}, today=clock.today())
    except DomainError as exc:
        flash_error(exc)
        return redirect(url_for("monthly.index"))
    flash(_("已建立 %(month)s 的月报。", month=month), "success")
    return redirect(url_for("monthly.report", case_id=case.id))


@bp.route("/<int:case_id>")
@pages
def report(case_id: int):
    """One report, printable on A4: the frozen figures once submitted, the named dropouts, the
    status changes, the county's findings, who signed, and the steps this user may take."""
    scope, user = current_scope(), current_actor()
    case = _load_report(case_id)
    proc = engine.process_of(case)
    held = engine.case_roles(scope, case, proc)
    permitted = engine.permitted_transitions(db.session, case, proc, held, user.id)
    available, blocked = engine.available_transitions(db.session, scope, user, case, permitted)
    history = [history_row(h, case.process) for h in db.session.scalars(
        select(CaseHistory).where(CaseHistory.case_id == case.id).options(joinedload(CaseHistory.user))
        .order_by(CaseHistory.id))]
    figures = (case.data or {}).get("figures")
    sent_back = next((h for h in reversed(history) if h["transition"] == "county_send_back"), None)
    # the line the queue showed (the center school's "督促…", the office's "待提交月报"), or whose step it waits for
    step, waiting = nextstep.lines_for(db.session, scope, user, case, now=clock.now(), held=held, permitted=permitted)
    return render_template(
        "monthly/report.html", next_step=text(step) if str(step) else "", waiting=text(waiting) if str(waiting) else "",
        case=case, figures=figures, history=history, state_label=state_label(case),
        buttons=[n for n in available if n in BUTTON_STEPS], blocked=blocked,
        may_recheck="county_recheck" in available, count_labels=monthly.COUNT_LABELS,
        kind_labels=KIND_LABELS, due=monthly.report_due(case),
        overdue=monthly.is_overdue(case, clock.today()), sent_back=sent_back,
        rechecks=(case.data or {}).get("rechecks") or [],
        proc=proc, printed_on=clock.today().isoformat())


@bp.post("/<int:case_id>/transitions/<name>")
@pages
def fire(case_id: int, name: str):
    """Fire one of the report's steps from its page; errors are flashed, and the page shown again."""
    scope, user = current_scope(), current_actor()
    case = _load_report(case_id)
    proc = engine.process_of(case)
    if not proc.named(name):
        abort(404)
    try:
        version = parse_int_text(request.form.get("version", ""))
        if version is None:
            raise Invalid(_("缺少案件版本号（version），请刷新页面后重试"), details={"field": "version"})
        data = {}
        if name == "county_recheck":
            data["findings"] = _posted_findings(case)
        engine.fire(db.session, scope, user, case.id, name, version=version, data=data,
                    comment=request.form.get("comment"), today=clock.today())
    except DomainError as exc:
        flash_error(exc)
        return redirect(url_for("monthly.report", case_id=case_id))
    flash(_("已办理「%(label)s」，月报现在是「%(state)s」。", label=gettext(proc.label_of(name)),
            state=gettext(state_label(case))), "success")
    return redirect(url_for("monthly.report", case_id=case_id))


def _posted_findings(case: Case) -> list[dict]:
    """The re-check form: for each reported dropout `verified_<id>` (yes/no) and `note_<id>`."""
    out = []
    for d in monthly.reported_dropouts(case):
        sid = d["student_id"]
        answer = request.form.get(f"verified_{sid}", "")
        if answer not in ("yes", "no"):
            continue  # left out: the guard names the children without a finding
        note = (request.form.get(f"note_{sid}") or "").strip()
        out.append({"student_id": sid, "verified": answer == "yes", **({"note": note} if note else {})})
    return out


@bp.route("/<int:case_id>/export")
@pages
def export(case_id: int):
    """The submitted report as .xlsx (formula-safe); a draft has no figures yet (404)."""
    case = _load_report(case_id)
    if not (case.data or {}).get("figures"):
        abort(404)
    return attachment(monthly.report_workbook(case), f"月报-{case.school.name}-{case.period}.xlsx", XLSX)
