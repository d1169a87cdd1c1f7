"""School-year rollover (学年升级, SPEC §5): the end of one school year and the start of the next.

For a school, `rollover` creates next year's classes from this year's (grade + 1, the same name
with its grade word moved on: 三年级1班 → 四年级1班, 1班 → 1班), moves every active child up with
a new enrolment period, graduates the top grade of the school's level (6 for a primary school, 9
for a junior-high or nine-year one: status `graduated`, enrolment closed with reason
`graduated`), carries suspended children over (they follow the new class, still suspended; the
suspension case is untouched) and open cases over (a transfer-in or return waiting for a class
of the old year is pointed at that class's successor), and leaves dropped-out children and their
recovery cases alone (the recovery stays open). It warns about classes whose roll was not
verified (roll_verification not `verified`, SPEC §3.8).

The day of the change is the first day of the new school year (1 August: workflow/org/calendar.py
school_year_of): the old periods end and the new ones start that day, so figures of either year
read the right class. The run is idempotent: what is already done (a class that exists, a child
already in a class of the new year, a graduate) is not done again, so a second run counts 0.
A dry run does the same work inside a SAVEPOINT and rolls it back: its counts are exactly the
run's. The center office (or center head, admin) may roll all its schools at once
(`include_branches`). No Flask; never commits.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import LEVEL_GRADES, Case, Enrolment, School, SchoolClass, Student, User
from workflow.access.permissions import managed_center_ids, may_manage_school
from workflow.access.scope import Scope, get_in_scope
from workflow.errors import N_, Forbidden, NotFound, invalid_field
from workflow.org.services import check_school_year
from workflow.processes.roll_verification import PROCESS as ROLL_VERIFICATION

_CN = "一二三四五六七八九"
# open cases whose data names the class the child will join (SPEC §3.4, §3.5)
CHOSEN_CLASS_PROCESSES = ("transfer_in", "return")


@dataclass
class RolloverResult:
    """What a rollover did (or, dry, would do), in the API's names."""

    dry_run: bool
    schools: list[int] = field(default_factory=list)
    classes_created: int = 0
    promoted: int = 0
    graduated: int = 0
    suspended_carried: int = 0
    carried_cases: int = 0
    unverified_classes: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"dry_run": self.dry_run, "schools": self.schools, "classes_created": self.classes_created,
                "promoted": self.promoted, "graduated": self.graduated,
                "suspended_carried": self.suspended_carried, "carried_cases": self.carried_cases,
                "unverified_classes": self.unverified_classes}


def year_start(school_year: str) -> dt.date:
    """The first day of a school year: 1 August of its first calendar year (the summer turn of
    workflow/org/calendar.py:school_year_of)."""
    return dt.date(int(school_year[:4]), 8, 1)


def next_class_name(name: str, grade: int) -> str:
    """The successor's name: the grade word moved on by one (3年级 / 三年级 → 4 / 四), else the
    same name (1班 stays 1班)."""
    for old, new in ((f"{grade}年级", f"{grade + 1}年级"), (f"{_CN[grade - 1]}年级", f"{_CN[grade]}年级")):
        if name.startswith(old):
            return new + name[len(old):]
    return name


def top_grade(school: School) -> int:
    """The grade that graduates: 6 in a primary school, 9 in a junior-high or nine-year one."""
    return LEVEL_GRADES.get(school.level or "nine_year", (1, 9))[1]


def _schools(session: Session, scope: Scope, school_id, include_branches: bool) -> list[School]:
    if isinstance(school_id, bool) or not isinstance(school_id, int):
        raise invalid_field("school_id", N_("字段 school_id 必须是整数"))
    try:
        school = get_in_scope(session, scope, School, school_id)
    except NotFound:
        raise NotFound(N_("学校不存在或不在您的管辖范围内（school_id）"), details={"field": "school_id"}) from None
    if school.kind == "county":
        raise invalid_field("school_id", N_("县教育局没有班级（school_id 须为中心校或村小）"))
    if include_branches:
        if school.kind != "center":
            raise invalid_field("include_branches", N_("只有中心校可以连同所属村小一起升级（include_branches）"))
        centers = managed_center_ids(scope)
        if centers is not None and school.id not in centers:
            raise Forbidden(N_("只有本中心校的中心校长、教导主任或系统管理员可以为全部学校升级"), code="role_forbidden")
        return list(session.scalars(select(School).where(School.center_id == school.id,
                                                         School.kind.in_(("center", "branch")))
                                    .order_by(School.kind.desc(), School.name, School.id)))
    if not may_manage_school(session, scope, school.id):
        raise Forbidden(N_("只有本校校长、教导处，本中心校领导或系统管理员可以进行学年升级"), code="role_forbidden")
    return [school]


def unverified_classes(session: Session, school_ids: list[int], school_year: str) -> list[dict]:
    """The classes of the schools in that year whose roll verification is missing or not yet
    `verified` (SPEC §3.8), as {class_id, school_id, name, grade, state (None: not opened)}."""
    classes = list(session.scalars(select(SchoolClass).where(
        SchoolClass.school_id.in_(school_ids), SchoolClass.school_year == school_year)
        .order_by(SchoolClass.school_id, SchoolClass.grade, SchoolClass.name)))
    states = dict(session.execute(select(Case.class_id, Case.state).where(
        Case.process == ROLL_VERIFICATION.name, Case.class_id.in_([k.id for k in classes]))).all()) if classes else {}
    return [{"class_id": k.id, "school_id": k.school_id, "name": k.name, "grade": k.grade,
             "state": states.get(k.id)} for k in classes if states.get(k.id) != "verified"]


def rollover(session: Session, scope: Scope, user: User | None, *, school_id, from_year, to_year,
             dry_run: bool = True, include_branches: bool = False) -> RolloverResult:
    """Roll a school (or a center school and its branches) from `from_year` into `to_year`.

    Raises Invalid (school years malformed or not consecutive; include_branches for a branch),
    NotFound (school out of scope), Forbidden (may not manage the school / not a center role of
    that center). See the module docstring for what is done. Flushes, never commits; a dry run
    leaves nothing behind.
    """
    check_school_year(from_year, "from_year")
    check_school_year(to_year, "to_year")
    if int(to_year[:4]) != int(from_year[:4]) + 1:
        raise invalid_field("to_year", N_("升入学年必须是 %(year)s 的下一学年"), year=from_year)
    schools = _schools(session, scope, school_id, include_branches)
    result = RolloverResult(dry_run=bool(dry_run), schools=[s.id for s in schools])
    result.unverified_classes = unverified_classes(session, result.schools, from_year)
    savepoint = session.begin_nested() if dry_run else None
    try:
        for school in schools:
            _roll_school(session, school, from_year, to_year, result)
        session.flush()
    finally:
        if savepoint is not None:
            savepoint.rollback()
            session.expire_all()
    return result


def _roll_school(session: Session, school: School, from_year: str, to_year: str, result: RolloverResult) -> None:
    day = year_start(to_year)
    top = top_grade(school)
    old_classes = list(session.scalars(select(SchoolClass).where(
        SchoolClass.school_id == school.id, SchoolClass.school_year == from_year)
        .order_by(SchoolClass.grade, SchoolClass.name, SchoolClass.id)))
    if not old_classes:
        return
    new_by_name = {k.name: k for k in session.scalars(select(SchoolClass).where(
        SchoolClass.school_id == school.id, SchoolClass.school_year == to_year))}
    successor: dict[int, SchoolClass] = {}
    for k in old_classes:
        if k.grade >= top:
            continue
        name = next_class_name(k.name, k.grade)
        nxt = new_by_name.get(name)
        if nxt is None:
            nxt = SchoolClass(school_id=school.id, school_year=to_year, grade=k.grade + 1, name=name)
            session.add(nxt)
            new_by_name[name] = nxt
            result.classes_created += 1
        successor[k.id] = nxt
    session.flush()

    old_ids = [k.id for k in old_classes]
    grade_of = {k.id: k.grade for k in old_classes}
    students = list(session.scalars(select(Student).where(
        Student.class_id.in_(old_ids), Student.status.in_(("active", "suspended")))))
    open_periods: dict[int, list[Enrolment]] = defaultdict(list)
    if students:
        for p in session.scalars(select(Enrolment).where(
                Enrolment.student_id.in_([s.id for s in students]), Enrolment.end_date.is_(None))):
            open_periods[p.student_id].append(p)
    for s in students:
        grade = grade_of[s.class_id]
        if s.status == "suspended":
            if s.class_id in successor:
                # the new homeroom teacher follows the suspended child; resume names the class
                s.class_id = successor[s.class_id].id
                result.suspended_carried += 1
            continue
        if grade >= top:
            for p in open_periods[s.id]:
                p.end_date, p.end_reason = max(day, p.start_date), "graduated"
            s.status = "graduated"
            result.graduated += 1
            continue
        nxt = successor[s.class_id]
        for p in open_periods[s.id]:
            p.end_date, p.end_reason = max(day, p.start_date), "promoted"
        session.add(Enrolment(student_id=s.id, school_id=school.id, class_id=nxt.id, start_date=day,
                              start_reason="promoted", is_provisional=s.is_provisional))
        s.class_id = nxt.id
        result.promoted += 1

    # open cases waiting for a class of the old year follow that class's successor
    for case in session.scalars(select(Case).where(
            Case.school_id == school.id, Case.is_open.is_(True), Case.process.in_(CHOSEN_CLASS_PROCESSES))):
        class_id = (case.data or {}).get("class_id")
        if isinstance(class_id, int) and class_id in successor:
            case.data = {**case.data, "class_id": successor[class_id].id}
            result.carried_cases += 1

