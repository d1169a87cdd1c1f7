"""Balanced placement (均衡分班, SPEC §5) as the academic office runs it from the school-year page.

`workflow/schoolyear/placement.py:place_intake` takes ids (the API's shape). A school keeps its
new intake in classes of the grade — the roster imported into a holding class such as
「一年级新生」, or into one class to be split —, so the page asks which classes of the grade hold
the intake and which classes to place it in (a class may be both: one class split in three).
This module lists the grade's classes with their children, checks the office's choice with
messages a person understands (never a field key), and runs the placement on the children of the
intake classes. The earlier placements are listed for the page's links. No Flask; flushes, never
commits (through place_intake).
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Placement, School, SchoolClass, Student, User
from workflow.access.permissions import may_manage_school
from workflow.access.scope import Scope, school_filter
from workflow.errors import N_, Forbidden, Invalid, Msg, NotFound
from workflow.schoolyear.placement import INTAKE_GRADES, MAX_SEED, PLACEABLE, place_intake
from workflow.validation import parse_int_text


@dataclass
class GradeClass:
    """A class of the intake grade with how many children it holds who can be placed."""

    klass: SchoolClass
    boys: int
    girls: int

    @property
    def children(self) -> int:
        return self.boys + self.girls


def grade_classes(session: Session, school_id: int, school_year: str, grade: int) -> list[GradeClass]:
    """The school's classes of `grade` in `school_year`, by name, each with its children who can
    be placed (active or incoming) counted by gender. The caller has checked the school."""
    classes = list(session.scalars(select(SchoolClass).where(
        SchoolClass.school_id == school_id, SchoolClass.school_year == school_year, SchoolClass.grade == grade)
        .order_by(SchoolClass.name, SchoolClass.id)))
    if not classes:
        return []
    boys: Counter[int] = Counter()
    others: Counter[int] = Counter()
    for cid, gender, n in session.execute(
            select(Student.class_id, Student.gender, func.count()).where(
                Student.class_id.in_([k.id for k in classes]), Student.status.in_(PLACEABLE))
            .group_by(Student.class_id, Student.gender)):
        (boys if gender == "M" else others)[cid] += n
    return [GradeClass(k, boys[k.id], others[k.id]) for k in classes]


def _class_ids(raw: list[str], allowed: dict[int, SchoolClass], empty: Msg) -> list[int]:
    if not raw:
        raise Invalid(empty)
    ids = []
    for value in raw:
        cid = parse_int_text(value.strip(), 1)
        if cid not in allowed:
            raise Invalid(N_("所选班级不是该校本学年这个年级的班级，请刷新页面后重新选择"))
        if cid not in ids:
            ids.append(cid)
    return ids


def place_from_classes(session: Session, scope: Scope, user: User, *, school_id: int | None, school_year: str,
                       grade_text: str, intake_ids: list[str], target_ids: list[str], seed_text: str,
                       today: dt.date | None = None) -> Placement:
    """Place the children of the intake classes (active or incoming) in the target classes,
    balanced by gender, with the seed given (blank: one drawn and recorded), through
    `place_intake`. The form's values come as typed.

    Raises NotFound (school out of scope), Invalid (no school; grade not 1 or 7; no intake or target class, or one not of the
    school, year and grade; no child to place; a seed that is not a whole number in range),
    Forbidden (the user may not manage the school). Flushes, never commits."""
    if school_id is None:
        raise Invalid(N_("请选择学校"))
    school = session.scalar(select(School).where(School.id == school_id, school_filter(scope)))
    if school is None:
        raise NotFound(N_("学校不存在或不在您的管辖范围内"))
    if not may_manage_school(session, scope, school.id):
        raise Forbidden(N_("只有本校校长、教导处，本中心校领导或系统管理员可以分班"), code="role_forbidden")
    grade = parse_int_text((grade_text or "").strip())
    if grade not in INTAKE_GRADES:
        raise Invalid(N_("均衡分班只用于新生：请选择一年级或七年级"))
    allowed = {gc.klass.id: gc.klass for gc in grade_classes(session, school.id, school_year, grade)}
    intake = _class_ids(intake_ids, allowed, N_("请勾选新生现在所在的班级"))
    targets = _class_ids(target_ids, allowed, N_("请勾选要分入的班级"))
    seed_raw = (seed_text or "").strip()
    seed = None
    if seed_raw:
        seed = parse_int_text(seed_raw, 0, MAX_SEED)
        if seed is None:
            raise Invalid(Msg(N_("抽签种子必须是 0 到 %(max)d 之间的整数，或不填"), max=MAX_SEED))
    student_ids = list(session.scalars(select(Student.id).where(
        Student.class_id.in_(intake), Student.school_id == school.id, Student.status.in_(PLACEABLE))
        .order_by(Student.id)))
    if not student_ids:
        raise Invalid(N_("所选的新生班级里没有在校或待入学的学生"))
    return place_intake(session, scope, user, school_id=school.id, school_year=school_year, grade=grade,
                        class_ids=targets, student_ids=student_ids, seed=seed, today=today)


@dataclass
class PlacementRow:
    """An earlier placement as the page lists it."""

    placement: Placement
    school: School
    children: int
    classes: int
    by: str | None


def earlier_placements(session: Session, scope: Scope, limit: int = 50) -> list[PlacementRow]:
    """The latest placements of the schools the user sees, newest first (at most `limit`)."""
    rows = session.execute(select(Placement, School, User.name).join(School, School.id == Placement.school_id)
                           .outerjoin(User, User.id == Placement.created_by_id).where(school_filter(scope))
                           .order_by(Placement.id.desc()).limit(limit)).all()
    return [PlacementRow(p, s, len(p.student_ids or []), len(p.class_ids or []), name) for p, s, name in rows]
