"""考勤 (/attendance): a teacher takes a class's attendance on a phone.

Children with an open absence case come first (workflow.absence.attendance.roster), marked with
the case's rung and with no default: the teacher must tap their mark, or the save is refused and
the roster comes back as chosen (a default 出勤 would close their case at the next sweep). Everyone
else is present by default; a tap switches a student to 旷课 / 病假 / 事假. Submitting calls
workflow.absence.attendance.record_attendance (re-recording a day replaces its marks);
the page then lists the class's open absence cases, including any the report just opened.
"""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from sqlalchemy import select

from models import ATTENDANCE_STATUSES, AttendanceDay, Case, SchoolClass, Student
from workflow import clock
from workflow.absence import attendance
from workflow.absence.attendance import day_refusal
from workflow.access.permissions import may_record_attendance
from workflow.access.scope import case_filter, class_filter
from workflow.cases import serialize
from workflow.errors import DomainError
from workflow.validation import parse_date_text, parse_int_text

from ..boundary import discard_writes
from ..extensions import db
from ..labels import error_text
from ..security import current_actor, current_scope
from .cases import flash_error

bp = Blueprint("attendance", __name__)

STATUS_LABELS = {"present": _l("出勤"), "unexcused": _l("旷课"), "sick_leave": _l("病假"),
                 "personal_leave": _l("事假")}


def _recordable_classes() -> list[SchoolClass]:
    """Classes the user may take attendance for: their own classes first, newest year first."""
    scope = current_scope()
    rows = db.session.scalars(select(SchoolClass).where(class_filter(scope))
                              .order_by(SchoolClass.school_year.desc(), SchoolClass.grade, SchoolClass.name))
    own = {c for r in ("homeroom_teacher", "subject_teacher") for c in scope.roles.get(r, frozenset())}
    classes = [k for k in rows if may_record_attendance(scope, k)]
    return sorted(classes, key=lambda k: k.id not in own)


def _parse_date(raw: str | None) -> dt.date | None:
    return parse_date_text(raw.strip()) if raw else clock.today()


@bp.route("/attendance")
@login_required
def index():
    """Choose a class and a school day; mark who is not present."""
    classes = _recordable_classes()
    wanted = request.args.get("class_id")
    if wanted is not None:
        klass = next((k for k in classes if str(k.id) == wanted), None)
        if klass is None:
            abort(404)
    elif not classes:
        return render_template("attendance/index.html", classes=[], klass=None)
    else:
        klass = classes[0]
    day = _parse_date(request.args.get("date"))
    today = clock.today()
    problem = None
    if day is None:
        problem, day = _("日期格式不正确，已改为今天。"), today
    refusal = day_refusal(db.session, klass, day)
    if refusal == "future":
        problem = _("%(d)s 尚未到来，不能登记考勤。", d=day.isoformat())
    elif refusal == "not_school_day":
        problem = _("%(d)s 不是上课日（周末、节假日或学期外），不能登记考勤。", d=day.isoformat())
    return _render(klass, day, classes=classes, problem=problem)


def _render(klass: SchoolClass, day: dt.date, *, classes: list[SchoolClass], problem: str | None = None,
            kept: dict[int, str] | None = None, status: int = 200):
    """The roster of `day`: children with an open absence case first, with the case's rung and no
    mark chosen for them until one is saved (`kept`: the marks a refused form posted)."""
    rows = attendance.roster(db.session, current_scope(), class_id=klass.id, date=day) if problem is None else []
    taken = problem is None and db.session.scalar(select(AttendanceDay.id).where(
        AttendanceDay.class_id == klass.id, AttendanceDay.date == day)) is not None
    open_absences = list(db.session.scalars(
        select(Case).join(Student, Student.id == Case.student_id)
        .where(Student.class_id == klass.id, Case.process == "absence", Case.is_open.is_(True),
               case_filter(current_scope()))
        .order_by(Case.opened_on.desc(), Case.id.desc())))
    return render_template("attendance/index.html", classes=classes, klass=klass, day=day, today=clock.today(),
                           problem=problem, rows=rows, kept=kept or {}, taken=taken,
                           statuses=ATTENDANCE_STATUSES, labels=STATUS_LABELS, open_absences=open_absences,
                           rung=lambda case: _(serialize.state_label(case))), status


@bp.post("/attendance")
@login_required
def submit():
    """Record the marks; students left on 出勤 are written present."""
    class_id = parse_int_text(request.form.get("class_id", "").strip(), 1)
    raw_date = request.form.get("date", "")
    day = _parse_date(raw_date) if raw_date else None
    back = url_for("attendance.index", class_id=class_id, date=raw_date or None)
    if class_id is None or day is None:
        flash(_("输入有误：请选择班级和日期"), "danger")
        return redirect(back)
    # every mark the form sent, present included: the roster sends a child with an open absence
    # case only when the teacher tapped a choice (no default is checked for them)
    posted: dict[int, str] = {}
    for key, value in request.form.items():
        sid = parse_int_text(key[7:], 1) if key.startswith("status-") else None
        if sid is not None:
            posted[sid] = value
    records = [{"student_id": sid, "status": st} for sid, st in posted.items() if st != "present"]
    try:
        result = attendance.record_attendance(db.session, current_scope(), current_actor(), class_id=class_id,
                                              date=day, records=records, explicit=set(posted))
        opened = list(result.opened_case_ids)
    except DomainError as exc:
        discard_writes()
        klass = next((k for k in _recordable_classes() if k.id == class_id), None)
        if klass is None or exc.details.get("field") != "records":
            flash_error(exc)
            return redirect(back)
        # the form keeps the marks the teacher chose; the alert names who is still unmarked
        flash(error_text(exc), "danger")
        return _render(klass, day, classes=_recordable_classes(), kept=posted, status=422)
    counts = {s: sum(1 for r in records if r["status"] == s) for s in ("unexcused", "sick_leave", "personal_leave")}
    flash(_("%(d)s 考勤已保存：旷课 %(u)d 人，病假 %(s)d 人，事假 %(p)d 人。", d=day.isoformat(),
            u=counts["unexcused"], s=counts["sick_leave"], p=counts["personal_leave"]), "success")
    if opened:
        flash(_("已开启缺勤案件 %(n)d 件，请在 30 分钟内联系家长。", n=len(opened)), "warning")
    return redirect(back)
