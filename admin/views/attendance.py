"""考勤 (/attendance): a teacher takes a class's attendance on a phone.

Everyone is present by default; a tap switches a student to 旷课 / 病假 / 事假. Submitting calls
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

from models import ATTENDANCE_STATUSES, AttendanceDay, AttendanceRecord, Case, SchoolClass, Student
from workflow import clock
from workflow.absence.attendance import day_refusal, record_attendance
from workflow.access.permissions import may_record_attendance
from workflow.access.scope import case_filter, class_filter
from workflow.errors import DomainError

from ..extensions import db
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
    try:
        return dt.date.fromisoformat(raw) if raw else clock.today()
    except ValueError:
        return None


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
    students = list(db.session.scalars(select(Student).where(Student.class_id == klass.id, Student.status == "active")
                                       .order_by(Student.name, Student.id)))
    marks = {}
    taken = False
    if problem is None:
        marks = dict(db.session.execute(select(AttendanceRecord.student_id, AttendanceRecord.status).where(
            AttendanceRecord.class_id == klass.id, AttendanceRecord.date == day)).all())
        taken = db.session.scalar(select(AttendanceDay.id).where(
            AttendanceDay.class_id == klass.id, AttendanceDay.date == day)) is not None
    open_absences = list(db.session.scalars(
        select(Case).join(Student, Student.id == Case.student_id)
        .where(Student.class_id == klass.id, Case.process == "absence", Case.is_open.is_(True),
               case_filter(current_scope()))
        .order_by(Case.opened_on.desc(), Case.id.desc())))
    return render_template("attendance/index.html", classes=classes, klass=klass, day=day, today=today,
                           problem=problem, students=students, marks=marks, taken=taken,
                           statuses=ATTENDANCE_STATUSES, labels=STATUS_LABELS, open_absences=open_absences)


@bp.post("/attendance")
@login_required
def submit():
    """Record the marks; students left on 出勤 are written present."""
    class_id = request.form.get("class_id", type=int)
    raw_date = request.form.get("date", "")
    day = _parse_date(raw_date) if raw_date else None
    back = url_for("attendance.index", class_id=class_id, date=raw_date or None)
    if class_id is None or day is None:
        flash(_("输入有误：请选择班级和日期"), "danger")
        return redirect(back)
    records = []
    for key, value in request.form.items():
        if key.startswith("status-") and key[7:].isdigit() and value != "present":
            records.append({"student_id": int(key[7:]), "status": value})
    try:
        result = record_attendance(db.session, current_scope(), current_actor(), class_id=class_id, date=day,
                                   records=records)
        opened = list(result.opened_case_ids)
    except DomainError as exc:
        flash_error(exc)
        return redirect(back)
    counts = {s: sum(1 for r in records if r["status"] == s) for s in ("unexcused", "sick_leave", "personal_leave")}
    flash(_("%(d)s 考勤已保存：旷课 %(u)d 人，病假 %(s)d 人，事假 %(p)d 人。", d=day.isoformat(),
            u=counts["unexcused"], s=counts["sick_leave"], p=counts["personal_leave"]), "success")
    if opened:
        flash(_("已开启缺勤案件 %(n)d 件，请在 30 分钟内联系家长。", n=len(opened)), "warning")
    return redirect(back)
