"""Close-watch groups (重点群体, SPEC §5): for each group the national rules name — orphans,
unsupported, disabled, left-behind, hardship, migrant and justice-involved children — how many
children a center school's (or a county's) schools have, how many of them have an open `absence`,
`dropout_check` or `recovery` case, and who those are.

Counted: students of the area's schools with status active, suspended or dropped out (a child who
dropped out is the one most in need of watching; graduates, transfers and deaths are not). The
flags are the students' own (`models/students.py:Student`), set on the student form, by
`PATCH /api/v1/students/{id}` and by the roster import's 特殊群体 column. Who sees the panel is
`workflow/access/permissions.py:sees_close_watch`. Two queries, whatever the number of schools.
No Flask; never writes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from models import Case, School, Student
from workflow.access.permissions import sees_close_watch
from workflow.access.scope import Scope, school_filter
from workflow.errors import N_, Forbidden
from workflow.org.services import FLAG_NAMES

GROUPS = ("orphan", "unsupported", "disability", "left_behind", "hardship", "migrant", "justice_involved")
WATCHED_STATUSES = ("active", "suspended", "dropped_out")
WATCHED_PROCESSES = ("absence", "dropout_check", "recovery")


@dataclass
class Group:
    """One group's counts, per school, and the children with an open case."""

    flag: str
    label: str
    total: int = 0
    with_open_case: int = 0
    by_school: dict[int, list[int]] = field(default_factory=dict)  # school id -> [children, with open case]
    children: list[dict] = field(default_factory=list)

    def as_dict(self, schools: dict[int, str]) -> dict:
        return {"flag": self.flag, "label": self.label, "total": self.total, "with_open_case": self.with_open_case,
                "by_school": [{"school_id": sid, "school": schools.get(sid, ""), "total": n, "with_open_case": o}
                              for sid, (n, o) in sorted(self.by_school.items())],
                "children": self.children}


@dataclass
class Panel:
    schools: dict[int, str]
    groups: list[Group]

    def as_dict(self) -> dict:
        """The API's answer: {schools: [{id, name}], groups: [...]}."""
        return {"schools": [{"id": i, "name": n} for i, n in self.schools.items()],
                "groups": [g.as_dict(self.schools) for g in self.groups]}


def close_watch(session: Session, scope: Scope, *, center_ids: list[int] | None = None) -> Panel:
    """The close-watch panel over the schools of `center_ids` (each center and its branches) that
    the user sees, or over every school they see when None. Raises Forbidden (may not see it)."""
    if not sees_close_watch(scope):
        raise Forbidden(N_("您无权查看重点群体"), code="role_forbidden")
    q = select(School.id, School.name).where(school_filter(scope), School.kind != "county")
    if center_ids is not None:
        q = q.where(School.center_id.in_(sorted(set(center_ids)) or [-1]))
    schools = dict(session.execute(q.order_by(School.center_id, School.kind.desc(), School.name)).all())
    flag_cols = [getattr(Student, f) for f in GROUPS]
    students = session.execute(
        select(Student.id, Student.name, Student.school_id, *flag_cols)
        .where(Student.school_id.in_(list(schools) or [-1]), Student.status.in_(WATCHED_STATUSES),
               or_(*(c.is_(True) for c in flag_cols)))
        .order_by(Student.school_id, Student.name, Student.id)).all()
    cases: dict[int, list[dict]] = {}
    if students:
        for case_id, student_id, process, state in session.execute(
                select(Case.id, Case.student_id, Case.process, Case.state).where(
                    Case.is_open.is_(True), Case.process.in_(WATCHED_PROCESSES),
                    Case.student_id.in_([s.id for s in students])).order_by(Case.id)):
            cases.setdefault(student_id, []).append({"id": case_id, "process": process, "state": state})
    groups = [Group(f, str(FLAG_NAMES[f])) for f in GROUPS]
    for row in students:
        open_cases = cases.get(row.id, [])
        for group in groups:
            if not getattr(row, group.flag):
                continue
            group.total += 1
            counts = group.by_school.setdefault(row.school_id, [0, 0])
            counts[0] += 1
            if open_cases:
                group.with_open_case += 1
                counts[1] += 1
                group.children.append({"student_id": row.id, "name": row.name, "school_id": row.school_id,
                                       "school": schools.get(row.school_id, ""), "cases": open_cases})
    return Panel(schools, groups)
