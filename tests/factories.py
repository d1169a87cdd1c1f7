"""World builders: small functions that create organization, people and students.

Each flushes so ids exist; the `api`/`login` helpers in conftest commit before any request.
"""
from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from models import (
    Enrolment,
    Guardian,
    RoleAssignment,
    School,
    SchoolClass,
    Student,
    Term,
    User,
    Village,
)

_seq = itertools.count(1)
PASSWORD = "secret-pass-1"


class Factory:
    def __init__(self, session: Session):
        self.s = session

    def school(self, name: str, kind: str = "branch", parent: School | None = None) -> School:
        school = School(name=name, kind=kind)
        self.s.add(school)
        self.s.flush()  # county/center ids refer to the row's own id
        school.place_in_tree(parent)
        self.s.flush()
        return school

    def village(self, name: str, center: School) -> Village:
        v = Village(name=name, center_school_id=center.id)
        self.s.add(v)
        self.s.flush()
        return v

    def klass(self, school: School, grade: int = 3, name: str | None = None,
              school_year: str = "2026-2027") -> SchoolClass:
        k = SchoolClass(school_id=school.id, grade=grade, name=name or f"{grade}年级{next(_seq)}班",
                        school_year=school_year)
        self.s.add(k)
        self.s.flush()
        return k

    def user(self, username: str | None = None, role: str | None = None, school: School | None = None,
             klass: SchoolClass | None = None, village: Village | None = None, name: str | None = None,
             password: str = PASSWORD, active: bool = True) -> User:
        username = username or f"u{next(_seq)}"
        u = User(username=username, name=name or username, is_active=active)
        u.set_password(password)
        if role:
            u.roles.append(RoleAssignment(role=role, school_id=school.id if school else None,
                                          class_id=klass.id if klass else None,
                                          village_id=village.id if village else None))
        self.s.add(u)
        self.s.flush()
        return u

    def grant(self, user: User, role: str, school=None, klass=None, village=None) -> RoleAssignment:
        ra = RoleAssignment(role=role, school_id=school.id if school else None,
                            class_id=klass.id if klass else None, village_id=village.id if village else None)
        user.roles.append(ra)
        self.s.flush()
        return ra

    def student(self, klass: SchoolClass, village: Village | None = None, name: str | None = None,
                status: str = "active", enrolled_on: dt.date = dt.date(2026, 9, 1), **kw) -> Student:
        n = next(_seq)
        st = Student(
            name=name or f"学生{n}", gender=kw.pop("gender", "M" if n % 2 else "F"),
            birth_date=kw.pop("birth_date", dt.date(2016, 5, 1)), school_id=klass.school_id,
            class_id=klass.id, village_id=village.id if village else None, status=status, **kw,
        )
        st.guardians.append(Guardian(name=f"家长{n}", relation="父亲", phone="13800000000"))
        self.s.add(st)
        self.s.flush()
        self.s.add(Enrolment(student_id=st.id, school_id=klass.school_id, class_id=klass.id,
                             start_date=enrolled_on, start_reason="enrol"))
        self.s.flush()
        return st

    def term(self, school: School, start=dt.date(2026, 9, 1), end=dt.date(2027, 1, 22),
             school_year="2026-2027", term=1) -> Term:
        t = Term(school_id=school.id, school_year=school_year, term=term, start=start, end=end)
        self.s.add(t)
        self.s.flush()
        return t


@dataclass
class World:
    """A county with two center schools, branches, villages, classes and one user per role."""

    county: School
    center: School
    branch: School
    branch2: School
    other_center: School
    other_branch: School
    village: Village
    village2: Village
    other_village: Village
    klass: SchoolClass  # in branch
    klass2: SchoolClass  # in branch
    center_class: SchoolClass
    other_class: SchoolClass  # in other_branch
    users: dict[str, User] = field(default_factory=dict)

    def __getitem__(self, key: str) -> User:
        return self.users[key]


def build_world(f: Factory) -> World:
    county = f.school("清水县教育局", "county")
    center = f.school("清水镇中心校", "center", county)
    branch = f.school("东坡村小", "branch", center)
    branch2 = f.school("西岭教学点", "branch", center)
    other_center = f.school("河口镇中心校", "center", county)
    other_branch = f.school("河口村小", "branch", other_center)
    village = f.village("东坡村", center)
    village2 = f.village("西岭村", center)
    other_village = f.village("河口村", other_center)
    klass = f.klass(branch, 3, "三年级1班")
    klass2 = f.klass(branch, 4, "四年级1班")
    center_class = f.klass(center, 7, "七年级1班")
    other_class = f.klass(other_branch, 3, "三年级1班")
    w = World(county, center, branch, branch2, other_center, other_branch, village, village2,
              other_village, klass, klass2, center_class, other_class)
    w.users = {
        "admin": f.user("admin", "admin"),
        "supervisor": f.user("supervisor", "county_supervisor", school=county),
        "center_head": f.user("center_head", "center_head", school=center),
        "center_office": f.user("center_office", "center_office", school=center),
        "principal": f.user("principal", "principal", school=branch),
        "office": f.user("office", "academic_office", school=branch),
        "teacher": f.user("teacher", "homeroom_teacher", klass=klass),
        "subject": f.user("subject", "subject_teacher", klass=klass),
        "team": f.user("team", "team_member", school=branch),
        "liaison": f.user("liaison", "village_liaison", village=village),
        "other_principal": f.user("other_principal", "principal", school=other_branch),
        "other_office": f.user("other_office", "academic_office", school=other_branch),
        "other_center_head": f.user("other_center_head", "center_head", school=other_center),
        "other_teacher": f.user("other_teacher", "homeroom_teacher", klass=other_class),
        "other_liaison": f.user("other_liaison", "village_liaison", village=other_village),
    }
    return w
