"""Transfers between schools of this deployment (SPEC §3.3, §3.5): which children a sister school
sent here, where a transfer-in is opened, and the new student a transfer-in creates.

The `transfer_in` process (workflow/processes/transfer_in.py) refers to these as its create hooks;
the receiving academic office's pages list `awaiting_transfer_in`.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from models import Case, Guardian, SchoolClass, Student, Village
from workflow import clock
from workflow.access.scope import can_see, class_filter
from workflow.errors import N_, Invalid, NotFound
from workflow.org.calendar import school_year_of
from workflow.validation import OneOf, Req, check_data

# The statuses a child may be received from (a new student starts as `incoming`).
RECEIVABLE = ("incoming", "transferred_out", "dropped_out")
NEW_STUDENT = {"name": Req(str), "gender": Req(OneOf(("M", "F"))), "birth_date": Req(dt.date),
               "village_id": int, "student_no": str, "guardians": list[dict]}
GUARDIAN = {"name": Req(str), "relation": Req(str), "phone": Req(str)}


def sent_to(session, school_ids, student_id: int | None = None) -> list[int]:
    """Ids of students whose `transfer_out` is `transferred` naming one of `school_ids` as
    `destination_school_id`: a sister school sent them here (SPEC §3.3), so the receiving
    academic office may take them in although they are outside its scope."""
    stmt = select(Case.student_id, Case.data).where(Case.process == "transfer_out",
                                                     Case.state == "transferred")
    if student_id is not None:
        stmt = stmt.where(Case.student_id == student_id)
    return [sid for sid, data in session.execute(stmt)
            if (data or {}).get("destination_school_id") in school_ids]


def awaiting_transfer_in(session, school_ids) -> list[Student]:
    """Students sent to these schools who are still `transferred_out` and have no open
    transfer-in yet: the ones a receiving office can open a transfer-in for now."""
    ids = sent_to(session, set(school_ids))
    if not ids:
        return []
    pending = select(Case.student_id).where(Case.process == "transfer_in", Case.is_open.is_(True))
    return list(session.scalars(select(Student).where(
        Student.id.in_(ids), Student.status == "transferred_out", Student.id.not_in(pending))
        .options(selectinload(Student.school)).order_by(Student.name, Student.id)))


def locate_transfer_in(session, scope, user, student_id, data):
    """Where a transfer-in is opened: the receiving school of the chosen class (a class the
    office sees), and the student: one of this deployment (in scope, transferred out, or sent here
    by a sister school) or, with `data.student`, a new one. Raises Invalid or NotFound."""
    klass = session.scalars(select(SchoolClass).where(
        SchoolClass.id == data["class_id"], class_filter(scope))).first()
    if klass is None:
        raise Invalid(N_("字段 data.class_id 必须是您学校的班级"), details={"field": "data.class_id"})
    # SPEC §3 "Classes and visits that make sense": only a class of the school year of the
    # effective date (a past year's class would hide the child from today's roll).
    day = data.get("date") if isinstance(data.get("date"), dt.date) else clock.today()
    if klass.school_year != school_year_of(day):
        raise Invalid(N_("所选班级“%(name)s”属于 %(year)s 学年，不是 %(current)s 学年的班级，请改选本学年的班级"), details={"field": "data.class_id"}, name=klass.name,
                      year=klass.school_year, current=school_year_of(day))
    if student_id is None:
        if "student" not in data:
            raise Invalid(N_("缺少 student_id 或 data.student（新学生信息）"), details={"field": "data.student"})
        return None, klass.school_id, klass.id
    if "student" in data:
        raise Invalid(N_("student_id 与 data.student 只能给出一个"), details={"field": "data.student"})
    student = session.get(Student, student_id)
    if student is None or not (can_see(session, scope, Student, student_id)
                               or student.status == "transferred_out"
                               or sent_to(session, {klass.school_id}, student.id)):
        raise NotFound(N_("学生不存在或不在您的管辖范围内"))
    return student, klass.school_id, klass.id


def check_new_student(ctx) -> None:
    """The new student's guardians are complete and the village exists (Invalid otherwise)."""
    info = ctx.data.get("student")
    if not info:
        return
    for i, guardian in enumerate(info.get("guardians", [])):
        check_data(guardian, GUARDIAN, prefix=f"data.student.guardians[{i}].")
    if info.get("village_id") is not None and ctx.session.get(Village, info["village_id"]) is None:
        raise Invalid(N_("字段 data.student.village_id 不存在"), details={"field": "data.student.village_id"})


def create_incoming_student(ctx) -> None:
    """The new student of a transfer-in starts as `incoming` (待入学) at the receiving school."""
    info = ctx.data.get("student")
    if not info:
        return
    student = Student(name=info["name"], gender=info["gender"], birth_date=info["birth_date"],
                      village_id=info.get("village_id"), student_no=info.get("student_no"),
                      school_id=ctx.case.school.id, class_id=None, status="incoming")
    for guardian in info.get("guardians", []):
        student.guardians.append(Guardian(name=guardian["name"].strip(), relation=guardian["relation"].strip(),
                                          phone=guardian["phone"].strip()))
    ctx.session.add(student)
    ctx.session.flush()
    ctx.case.student = student
