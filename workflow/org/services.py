"""Organization services: schools, villages, classes, users, students and the school calendar.

Each function checks, in this order (API.md, SPEC §3): malformed values → Invalid (422);
referenced ids unknown or out of the caller's scope → NotFound (404, naming the field);
inconsistent references (a branch under a county, a village of another catchment) → Invalid;
the caller's role may not create there → Forbidden (403); a duplicate → Conflict "duplicate"
(409). They add rows and flush; they never commit.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import (
    GENDERS,
    ROLE_SCOPE,
    ROLES,
    SCHOOL_KINDS,
    STUDENT_FLAGS,
    CalendarDay,
    Enrolment,
    Guardian,
    RoleAssignment,
    School,
    SchoolClass,
    Student,
    Term,
    User,
    Village,
    mask_id_card,
)
from workflow import clock
from workflow.access.permissions import managed_center_ids, may_grant, may_manage_school, sees_full_id_card
from workflow.access.scope import Scope, get_in_scope
from workflow.errors import Conflict, Forbidden, NotFound, invalid_field
from workflow.validation import N_, required_text

# The names of students' statuses and genders and of schools' kinds: the one table each (the
# domain's messages and sheets use them as they are, the pages translate them: N_ puts them in the
# catalogue).
STUDENT_STATUS_NAMES = {"incoming": N_("待入学"), "active": N_("在校"), "suspended": N_("休学"),
                        "transferred_out": N_("已转出"), "dropped_out": N_("辍学"), "graduated": N_("毕业"),
                        "deceased": N_("死亡")}
GENDER_NAMES = {"M": N_("男"), "F": N_("女")}
SCHOOL_KIND_NAMES = {"county": N_("县教育局"), "center": N_("中心校"), "branch": N_("村小/教学点")}
MIN_PASSWORD_LENGTH = 8
SCHOOL_YEAR_RE = re.compile(r"^(\d{4})-(\d{4})$")
ID_CARD_RE = re.compile(r"^\d{17}[\dX]$")
# GB 11643-1999: weights of the 17 digits, and the check character for sum mod 11.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# Which kind of school each school-bound role must be bound to.
_ROLE_SCHOOL_KINDS = {
    "county_supervisor": ("county",),
    "center_head": ("center",),
    "center_office": ("center",),
    "principal": ("center", "branch"),
    "academic_office": ("center", "branch"),
    "team_member": ("center", "branch"),
}
_SCOPE_FIELDS = {"school": "school_id", "class": "class_id", "village": "village_id"}
_LABELS = {School: "学校", SchoolClass: "班级", Village: "村", User: "用户", Student: "学生"}


# --- small shared checks -----------------------------------------------------------------------


def _load(session: Session, scope: Scope, model, obj_id, field: str):
    """The object if it exists and the scope sees it; NotFound naming `field` otherwise."""
    try:
        return get_in_scope(session, scope, model, obj_id)
    except NotFound:
        raise NotFound(f"{_LABELS[model]}不存在或不在您的管辖范围内（{field}）",
                       details={"field": field}) from None


def check_school_year(value, field: str = "school_year") -> str:
    """A school year is written "2026-2027": two consecutive years. Raises Invalid."""
    m = SCHOOL_YEAR_RE.match(value) if isinstance(value, str) else None
    if not m or int(m.group(2)) != int(m.group(1)) + 1:
        raise invalid_field(field, f"字段 {field} 必须是相邻两年的学年，如 2026-2027")
    return value


def id_card_check_char(first17: str) -> str:
    """The check character (0-9 or X) of a resident ID number's first 17 digits."""
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def normalize_id_card(value: str | None, field: str = "id_card_no") -> str | None:
    """Upper-case and check an 18-character resident ID number (身份证号): 17 digits, then a
    digit or X; the birth date inside must be a real date and the check character must match
    (a mistyped digit is caught at entry, not months later at the county sync). Raises Invalid."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise invalid_field(field, f"字段 {field} 必须是字符串")
    value = value.strip().upper()
    if not ID_CARD_RE.match(value):
        raise invalid_field(field, f"字段 {field} 必须是18位身份证号（17位数字加1位数字或X）")
    try:
        dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise invalid_field(field, f"字段 {field} 中的出生日期无效") from None
    if id_card_check_char(value[:17]) != value[17]:
        raise invalid_field(field, f"字段 {field} 校验位不正确，请核对身份证号")
    return value


# --- schools and villages ----------------------------------------------------------------------


def create_school(session: Session, scope: Scope, *, name: str, kind: str, parent_id: int | None) -> School:
    """Create a county node, a center school or a branch school.

    A county has no parent; a center's parent is a county or nothing; a branch's parent must be
    a center school. Only admin creates counties and centers; center roles add branches to their
    own center. Raises Invalid, NotFound (parent_id), Forbidden, Conflict "duplicate" (a sibling
    of the same name).
    """
    name = required_text("name", name, 120)
    if kind not in SCHOOL_KINDS:
        raise invalid_field("kind", "字段 kind 必须是以下之一：county, center, branch")
    parent = _load(session, scope, School, parent_id, "parent_id") if parent_id is not None else None
    if kind == "county" and parent is not None:
        raise invalid_field("parent_id", "县教育局不能有上级（parent_id 须为空）")
    if kind == "center" and parent is not None and parent.kind != "county":
        raise invalid_field("parent_id", "中心校的上级必须是县教育局或为空（parent_id）")
    if kind == "branch" and (parent is None or parent.kind != "center"):
        raise invalid_field("parent_id", "村小/教学点的上级必须是一所中心校（parent_id）")
    if kind == "branch":
        centers = managed_center_ids(scope)
        if centers is not None and parent.id not in centers:
            raise Forbidden("只有系统管理员或本中心校的中心校长、教导主任可以新建村小/教学点")
    elif not scope.is_all:
        raise Forbidden("只有系统管理员可以新建县教育局或中心校")
    parent_filter = School.parent_id == parent.id if parent is not None else School.parent_id.is_(None)
    if session.scalar(select(School.id).where(parent_filter, School.name == name, School.kind == kind)):
        raise Conflict(f"同一上级下已有名为“{name}”的学校", code="duplicate", details={"field": "name"})
    school = School(name=name, kind=kind)
    session.add(school)
    session.flush()  # a county's county_id is its own id
    school.place_in_tree(parent)
    session.flush()
    return school


def create_village(session: Session, scope: Scope, *, name: str, center_school_id: int) -> Village:
    """Add a village to a center school's catchment (admin, or center roles of that center).
    Raises Invalid, NotFound (center_school_id), Forbidden, Conflict "duplicate"."""
    name = required_text("name", name, 80)
    center = _load(session, scope, School, center_school_id, "center_school_id")
    if center.kind != "center":
        raise invalid_field("center_school_id", "村必须属于一所中心校的服务范围（center_school_id 须为中心校）")
    centers = managed_center_ids(scope)
    if centers is not None and center.id not in centers:
        raise Forbidden("只有系统管理员或本中心校的中心校长、教导主任可以新建村")
    if session.scalar(select(Village.id).where(Village.center_school_id == center.id, Village.name == name)):
        raise Conflict(f"该中心校已有名为“{name}”的村", code="duplicate", details={"field": "name"})
    village = Village(name=name, center_school_id=center.id)
    session.add(village)
    session.flush()
    return village


def _require_manages(session: Session, scope: Scope, school_id: int, what: str) -> None:
    if not may_manage_school(session, scope, school_id):
        raise Forbidden(f"您无权为该学校{what}")


# --- classes -----------------------------------------------------------------------------------


def create_class(session: Session, scope: Scope, *, school_id: int, school_year: str, grade: int,
                 name: str) -> SchoolClass:
    """Create a class of a school for a school year ("2026-2027") and grade 1–9.

    Admin anywhere; center roles in their center's schools; principal and academic office in
    their own school. Raises Invalid, NotFound (school_id), Forbidden, Conflict "duplicate"
    (same name in the same school and year).
    """
    name = required_text("name", name, 40)
    check_school_year(school_year)
    if isinstance(grade, bool) or not isinstance(grade, int) or not 1 <= grade <= 9:
        raise invalid_field("grade", "字段 grade 必须是 1 到 9 之间的整数")
    school = _load(session, scope, School, school_id, "school_id")
    if school.kind == "county":
        raise invalid_field("school_id", "县教育局不能开设班级（school_id 须为中心校或村小）")
    _require_manages(session, scope, school.id, "新建班级")
    if session.scalar(select(SchoolClass.id).where(SchoolClass.school_id == school.id,
                                                   SchoolClass.school_year == school_year,
                                                   SchoolClass.name == name)):
        raise Conflict(f"该校 {school_year} 学年已有名为“{name}”的班级", code="duplicate",
                       details={"field": "name"})
    klass = SchoolClass(school_id=school.id, school_year=school_year, grade=grade, name=name)
    session.add(klass)
    session.flush()
    return klass


# --- users -------------------------------------------------------------------------------------


def _check_role_shape(i: int, item) -> tuple[str, dict[str, int | None]]:
    """The role code and its ids, or Invalid: the id given must be the one ROLE_SCOPE names."""
    prefix = f"roles[{i}]"
    if not isinstance(item, dict):
        raise invalid_field(prefix, f"字段 {prefix} 必须是对象")
    unknown = sorted(set(item) - {"role", "school_id", "class_id", "village_id"})
    if unknown:
        raise invalid_field(f"{prefix}.{unknown[0]}", f"未知字段：{prefix}.{unknown[0]}")
    role = item.get("role")
    if role not in ROLES:
        raise invalid_field(f"{prefix}.role", f"字段 {prefix}.role 必须是以下之一：{', '.join(ROLES)}")
    ids = {k: item.get(k) for k in ("school_id", "class_id", "village_id")}
    for k, v in ids.items():
        if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
            raise invalid_field(f"{prefix}.{k}", f"字段 {prefix}.{k} 必须是整数")
    wanted = _SCOPE_FIELDS.get(ROLE_SCOPE[role])
    for k, v in ids.items():
        if k != wanted and v is not None:
            raise invalid_field(f"{prefix}.{k}", f"角色 {role} 不绑定 {k}（{prefix}.{k} 须为空）")
    if wanted is not None and ids[wanted] is None:
        raise invalid_field(f"{prefix}.{wanted}", f"角色 {role} 必须指定 {wanted}（{prefix}.{wanted}）")
    return role, ids


def create_user(session: Session, scope: Scope, *, username: str, password: str, name: str,
                roles: list[dict]) -> User:
    """Create an active user with one or more scoped roles.

    Each role item is {role, school_id?, class_id?, village_id?} carrying exactly the id its role
    is bound to (models.ROLE_SCOPE). Nobody grants a role wider than their own scope
    (workflow.access.permissions.may_grant). Raises Invalid (bad values, password under 8
    characters, a role bound to the wrong kind of school), NotFound (roles[i].school_id etc.),
    Forbidden, Conflict "duplicate" (username taken).
    """
    username = required_text("username", username, 80)
    name = required_text("name", name, 80)
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise invalid_field("password", f"字段 password 至少需要 {MIN_PASSWORD_LENGTH} 个字符")
    if not isinstance(roles, list) or not roles:
        raise invalid_field("roles", "字段 roles 至少需要一个角色")
    shaped = [_check_role_shape(i, item) for i, item in enumerate(roles)]
    models_by_field = {"school_id": School, "class_id": SchoolClass, "village_id": Village}
    for i, (role, ids) in enumerate(shaped):
        for k, v in ids.items():
            if v is None:
                continue
            obj = _load(session, scope, models_by_field[k], v, f"roles[{i}].{k}")
            kinds = _ROLE_SCHOOL_KINDS.get(role)
            if k == "school_id" and kinds and obj.kind not in kinds:
                raise invalid_field(f"roles[{i}].school_id",
                               f"角色 {role} 须绑定到{'、'.join(SCHOOL_KIND_NAMES[x] for x in kinds)}（roles[{i}].school_id）")
    for i, (role, ids) in enumerate(shaped):
        if not may_grant(session, scope, role, ids["school_id"], ids["class_id"], ids["village_id"]):
            raise Forbidden(f"您不能授予超出自己管辖范围的角色（roles[{i}]：{role}）",
                            details={"field": f"roles[{i}]"})
    if session.scalar(select(User.id).where(func.lower(User.username) == username.lower())):
        raise Conflict(f"用户名“{username}”已被使用", code="duplicate", details={"field": "username"})
    user = User(username=username, name=name, is_active=True)
    user.set_password(password)
    seen = set()
    for role, ids in shaped:
        key = (role, ids["school_id"], ids["class_id"], ids["village_id"])
        if key in seen:  # the same grant twice adds nothing
            continue
        seen.add(key)
        user.roles.append(RoleAssignment(role=role, **ids))
    session.add(user)
    session.flush()
    return user


# --- students ----------------------------------------------------------------------------------


def _check_guardians(guardians: Iterable) -> list[dict]:
    out = []
    for i, g in enumerate(guardians):
        prefix = f"guardians[{i}]"
        if not isinstance(g, dict):
            raise invalid_field(prefix, f"字段 {prefix} 必须是对象")
        unknown = sorted(set(g) - {"name", "relation", "phone"})
        if unknown:
            raise invalid_field(f"{prefix}.{unknown[0]}", f"未知字段：{prefix}.{unknown[0]}")
        out.append({
            "name": required_text(f"{prefix}.name", g.get("name"), 60),
            "relation": required_text(f"{prefix}.relation", g.get("relation"), 20),
            "phone": required_text(f"{prefix}.phone", g.get("phone"), 30),
        })
    return out


def create_student(session: Session, scope: Scope, *, name: str, gender: str, birth_date: dt.date,
                   class_id: int, village_id: int, student_no: str | None = None,
                   id_card_no: str | None = None, flags: Iterable[str] = (),
                   guardians: Iterable[dict] = ()) -> Student:
    """Enrol a new student (status active) in a class, with an Enrolment row starting today.

    The household village must be in the catchment of the class's school's center school.
    Admin anywhere; center roles in their center's schools; principal and academic office in
    their own school. Raises Invalid (bad values, birth date in the future, malformed ID-card
    number, village of another catchment), NotFound (class_id, village_id), Forbidden, Conflict
    "duplicate" (student_no or id_card_no already on record).
    """
    name = required_text("name", name, 60)
    if gender not in GENDERS:
        raise invalid_field("gender", "字段 gender 必须是 M（男）或 F（女）")
    if not isinstance(birth_date, dt.date) or isinstance(birth_date, dt.datetime):
        raise invalid_field("birth_date", "字段 birth_date 必须是有效日期（YYYY-MM-DD）")
    if birth_date > clock.today():
        raise invalid_field("birth_date", "字段 birth_date 不能晚于今天")
    if student_no is not None:
        if not isinstance(student_no, str):
            raise invalid_field("student_no", "字段 student_no 必须是字符串")
        student_no = student_no.strip() or None
        if student_no and len(student_no) > 40:
            raise invalid_field("student_no", "字段 student_no 超过 40 个字符")
    id_card_no = normalize_id_card(id_card_no)
    flags = list(flags)
    for f in flags:
        if f not in STUDENT_FLAGS:
            raise invalid_field("flags", f"字段 flags 只能包含：{', '.join(STUDENT_FLAGS)}")
    guardian_rows = _check_guardians(guardians)

    klass = _load(session, scope, SchoolClass, class_id, "class_id")
    village = _load(session, scope, Village, village_id, "village_id")
    school = session.get(School, klass.school_id)
    if village.center_school_id != school.center_id:
        raise invalid_field("village_id", "该村不在本校所属中心校的服务范围内（village_id）")
    _require_manages(session, scope, school.id, "新建学生")
    if student_no and session.scalar(select(Student.id).where(Student.student_no == student_no)):
        raise Conflict(f"学籍号 {student_no} 已存在", code="duplicate", details={"field": "student_no"})
    if id_card_no and session.scalar(select(Student.id).where(Student.id_card_no == id_card_no)):
        raise Conflict("该身份证号已登记在另一名学生名下", code="duplicate", details={"field": "id_card_no"})

    student = Student(name=name, gender=gender, birth_date=birth_date, student_no=student_no,
                      id_card_no=id_card_no, school_id=school.id, class_id=klass.id,
                      village_id=village.id, status="active",
                      **{f: (f in flags) for f in STUDENT_FLAGS})
    for g in guardian_rows:
        student.guardians.append(Guardian(**g))
    session.add(student)
    session.flush()
    session.add(Enrolment(student_id=student.id, school_id=school.id, class_id=klass.id,
                          start_date=clock.today(), start_reason="enrol"))
    session.flush()
    return student


def id_card_as_seen_by(scope: Scope, student: Student) -> str | None:
    """The ID-card number in full, or masked as first 6 + last 4, as this user may see it."""
    return student.id_card_no if sees_full_id_card(scope, student) else mask_id_card(student.id_card_no)


# --- the school calendar -----------------------------------------------------------------------


def _check_dates(field: str, values, start: dt.date, end: dt.date) -> list[dt.date]:
    out = []
    for i, d in enumerate(values):
        if not isinstance(d, dt.date) or isinstance(d, dt.datetime):
            raise invalid_field(f"{field}[{i}]", f"字段 {field}[{i}] 必须是有效日期（YYYY-MM-DD）")
        if not start <= d <= end:
            raise invalid_field(f"{field}[{i}]", f"字段 {field}[{i}] 的日期 {d.isoformat()} 不在学期起止日期之内")
        out.append(d)
    return sorted(set(out))


def set_calendar(session: Session, scope: Scope, school_id: int, *, school_year: str, term: int,
                 start: dt.date, end: dt.date, holidays: Iterable[dt.date],
                 workdays: Iterable[dt.date] = ()) -> Term:
    """Create or replace one term of a school's calendar (SPEC §1).

    School days are Monday–Friday minus `holidays`, plus `workdays` (make-up school days on a
    weekend, 调休). A holiday that falls on a weekend is accepted and kept, so an official
    range such as 10-01..10-07 can be entered as published; it changes nothing. A workday must
    fall on a Saturday or Sunday, and no date may be both. Dates must lie within start..end,
    which must lie within the school year's two calendar years, and not overlap the other term.
    Admin anywhere; center roles for their center's schools; principal and academic office for
    their own school. Raises Invalid, NotFound (school_id), Forbidden.
    """
    check_school_year(school_year)
    if isinstance(term, bool) or term not in (1, 2):
        raise invalid_field("term", "字段 term 必须是 1 或 2")
    for field, value in (("start", start), ("end", end)):
        if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
            raise invalid_field(field, f"字段 {field} 必须是有效日期（YYYY-MM-DD）")
    if start > end:
        raise invalid_field("end", "学期结束日期（end）不能早于开始日期（start）")
    first_year = int(school_year[:4])
    for field, value in (("start", start), ("end", end)):
        if value.year not in (first_year, first_year + 1):
            raise invalid_field(field, f"字段 {field} 不在 {school_year} 学年之内")
    holidays = _check_dates("holidays", holidays, start, end)
    workdays = _check_dates("workdays", workdays, start, end)
    for i, d in enumerate(workdays):
        if d.weekday() < 5:
            raise invalid_field(f"workdays[{i}]",
                           f"字段 workdays[{i}] 的调休上课日 {d.isoformat()} 是周一至周五，本来就上课；只能填周六或周日")
    both = sorted(set(holidays) & set(workdays))
    if both:
        raise invalid_field("workdays", f"日期 {both[0].isoformat()} 不能同时是节假日（holidays）和调休上课日（workdays）")

    school = _load(session, scope, School, school_id, "school_id")
    if school.kind == "county":
        raise invalid_field("school_id", "县教育局没有校历（school_id 须为中心校或村小）")
    _require_manages(session, scope, school.id, "设置校历")

    other = session.scalars(select(Term).where(Term.school_id == school.id, Term.school_year == school_year,
                                               Term.term != term)).first()
    if other is not None and start <= other.end and other.start <= end:
        raise invalid_field("start", f"与第{other.term}学期（{other.start}—{other.end}）的日期重叠")

    row = session.scalars(select(Term).where(Term.school_id == school.id, Term.school_year == school_year,
                                             Term.term == term)).first()
    if row is None:
        row = Term(school_id=school.id, school_year=school_year, term=term, start=start, end=end)
        session.add(row)
    else:
        row.start, row.end = start, end
        row.days.clear()
        session.flush()  # delete the old days before inserting new ones on the same dates
    row.days.extend([CalendarDay(date=d, kind="holiday") for d in holidays]
                    + [CalendarDay(date=d, kind="workday") for d in workdays])
    session.flush()
    return row


def calendar_term(session: Session, school: School, school_year: str, term: int) -> Term | None:
    """The calendar a school follows for one term of a school year: its own, else its center
    school's (as workflow.org.calendar reads it for dates), else None."""
    for sid in (school.id, school.center_id):
        if sid is None:
            continue
        row = session.scalars(select(Term).where(Term.school_id == sid, Term.school_year == school_year,
                                                 Term.term == term)).first()
        if row is not None:
            return row
    return None

