"""Balanced class placement of a new intake (均衡分班, SPEC §5): grade 1 or grade 7.

No key classes and no placement by scores (不设重点班, 不按成绩分班): the draw reads nothing but
the children's ids and genders. `draw` shuffles the boys and the girls separately with a seeded
random generator and deals them round the classes, the girls continuing where the boys stopped,
so class sizes differ by at most one and so does each gender's count. The seed is recorded with
the result (models.Placement): the same children, classes and seed always give the same classes,
which anyone can check by replaying it (`replay`). `place_intake` also enrols each child in the
class drawn. No Flask; never commits.
"""
from __future__ import annotations

import datetime as dt
import random
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Placement, School, SchoolClass, Student, User
from workflow import clock
from workflow.access.permissions import may_manage_school
from workflow.access.scope import Scope, get_in_scope
from workflow.errors import N_, Forbidden, Msg, NotFound, invalid_field
from workflow.org.enrolment import place_in_class
from workflow.org.services import check_school_year

INTAKE_GRADES = (1, 7)
PLACEABLE = ("active", "incoming")
MAX_SEED = 2**31 - 1


def draw(students: list[tuple[int, str]], class_ids: list[int], seed: int) -> list[dict]:
    """The assignments [{student_id, class_id}] for (student id, gender) pairs: deterministic
    for the same inputs and seed, whatever order the pairs come in."""
    rng = random.Random(seed)
    boys = sorted(sid for sid, g in students if g == "M")
    girls = sorted(sid for sid, g in students if g != "M")
    rng.shuffle(boys)
    rng.shuffle(girls)
    n = len(class_ids)
    return [{"student_id": sid, "class_id": class_ids[i % n]} for i, sid in enumerate(boys + girls)]


def _ints(field: str, values, *, empty: Msg) -> list[int]:
    """`values` as a list of distinct ids; Invalid `empty` (choose the classes, the children)
    when there are none."""
    if not isinstance(values, list) or not values:
        raise invalid_field(field, empty)
    if any(isinstance(v, bool) or not isinstance(v, int) for v in values):
        raise invalid_field(field, N_("编号必须是整数（%(field)s）"), field=field)
    if len(set(values)) != len(values):
        raise invalid_field(field, N_("有重复的编号（%(field)s）"), field=field)
    return list(values)


def place_intake(session: Session, scope: Scope, user: User | None, *, school_id, school_year, grade,
                 class_ids, student_ids, seed=None, today: dt.date | None = None) -> Placement:
    """Draw a balanced placement and enrol each child in the class drawn (from the first day of
    the school year, or today when that has passed).

    Raises Invalid (bad values; a class not of the school, year and grade; a child not of the
    school or not active/incoming), NotFound (school out of scope), Forbidden (may not manage
    the school). Flushes, never commits.
    """
    if isinstance(school_id, bool) or not isinstance(school_id, int):
        raise invalid_field("school_id", N_("字段 school_id 必须是整数"))
    check_school_year(school_year)
    if grade not in INTAKE_GRADES or isinstance(grade, bool):
        raise invalid_field("grade", N_("均衡分班只用于新生：年级必须是 1 或 7"))
    class_ids = _ints("class_ids", class_ids, empty=N_("请选择要分入的班级"))
    student_ids = _ints("student_ids", student_ids, empty=N_("请选择要分班的新生"))
    if seed is None:
        seed = secrets.randbelow(MAX_SEED)
    elif isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise invalid_field("seed", N_("随机种子必须是 0 到 %(max)d 之间的整数"), max=MAX_SEED)
    try:
        school = get_in_scope(session, scope, School, school_id)
    except NotFound:
        raise NotFound(N_("学校不存在或不在您的管辖范围内（school_id）"), details={"field": "school_id"}) from None
    classes = {k.id: k for k in session.scalars(select(SchoolClass).where(SchoolClass.id.in_(class_ids)))}
    for i, cid in enumerate(class_ids):
        k = classes.get(cid)
        if k is None or k.school_id != school.id or k.school_year != school_year or k.grade != grade:
            raise invalid_field(f"class_ids[{i}]", N_("班级 %(id)s 不是%(school)s %(year)s 学年的%(grade)d年级班级"),
                                id=cid, school=school.name, year=school_year, grade=grade)
    students = {s.id: s for s in session.scalars(select(Student).where(Student.id.in_(student_ids)))}
    for i, sid in enumerate(student_ids):
        s = students.get(sid)
        if s is None or s.school_id != school.id or s.status not in PLACEABLE:
            raise invalid_field(f"student_ids[{i}]", N_("学生 %(id)s 不是本校在校或待入学的学生"),
                                id=sid)
    if not may_manage_school(session, scope, school.id):
        raise Forbidden(N_("只有本校校长、教导处，本中心校领导或系统管理员可以分班"), code="role_forbidden")
    assignments = draw([(sid, students[sid].gender) for sid in student_ids], class_ids, seed)
    today = today or clock.today()
    start = max(dt.date(int(school_year[:4]), 8, 1), min(today, dt.date(int(school_year[:4]) + 1, 7, 31)))
    for a in assignments:
        place_in_class(session, students[a["student_id"]], classes[a["class_id"]], start, "placement")
    row = Placement(school_id=school.id, school_year=school_year, grade=grade, seed=seed, class_ids=class_ids,
                    student_ids=student_ids, assignments=assignments,
                    created_by_id=user.id if user is not None else None, created_at=clock.now())
    session.add(row)
    session.flush()
    return row


def get_placement(session: Session, scope: Scope, placement_id) -> Placement:
    """A placement of a school the user may see. Raises NotFound."""
    try:
        row = session.get(Placement, int(placement_id))
    except (TypeError, ValueError):
        row = None
    if row is None:
        raise NotFound(N_("分班记录不存在或不在您的管辖范围内"))
    get_in_scope(session, scope, School, row.school_id)
    return row


def replay(session: Session, row: Placement) -> list[dict]:
    """The draw again from the recorded inputs and seed (the children's genders as on file)."""
    genders = dict(session.execute(select(Student.id, Student.gender).where(Student.id.in_(row.student_ids))).all())
    return draw([(sid, genders.get(sid, "F")) for sid in row.student_ids], list(row.class_ids), row.seed)


def class_lists(session: Session, row: Placement) -> list[dict]:
    """Per class, in the order of the placement's classes: the class and its children (name,
    gender), sorted by name, with boy/girl counts: the printable list."""
    classes = {k.id: k for k in session.scalars(select(SchoolClass).where(SchoolClass.id.in_(row.class_ids)))}
    students = {s.id: s for s in session.scalars(select(Student).where(Student.id.in_(row.student_ids)))}
    out = []
    for cid in row.class_ids:
        kids = sorted((students[a["student_id"]] for a in row.assignments
                       if a["class_id"] == cid and a["student_id"] in students), key=lambda s: (s.name, s.id))
        out.append({"class": classes.get(cid), "students": kids,
                    "boys": sum(1 for s in kids if s.gender == "M"),
                    "girls": sum(1 for s in kids if s.gender != "M")})
    return out
