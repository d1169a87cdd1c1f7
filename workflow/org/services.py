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

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import (
    GENDERS,
    SCHOOL_KINDS,
    SCHOOL_LEVELS,
    STUDENT_FLAGS,
    CalendarDay,
    Enrolment,
    Guardian,
    School,
    SchoolClass,
    Student,
    StudentChange,
    Term,
    User,
    Village,
    mask_id_card,
)
from workflow import clock
from workflow.access.masking import mask_student_no
from workflow.access.permissions import managed_center_ids, may_manage_school, sees_full_id_card
from workflow.access.scope import Scope, get_in_scope
from workflow.errors import Conflict, Forbidden, Msg, NotFound, invalid_field
from workflow.validation import N_, required_text

# The names of students' statuses and genders and of schools' kinds: the one table each (the
# domain's messages and sheets use them as they are, the pages translate them: N_ puts them in the
# catalogue).
STUDENT_STATUS_NAMES = {"incoming": N_("待入学"), "active": N_("在校"), "suspended": N_("休学"),
                        "transferred_out": N_("已转出"), "dropped_out": N_("辍学"), "graduated": N_("毕业"),
                        "deceased": N_("死亡")}
GENDER_NAMES = {"M": N_("男"), "F": N_("女")}
SCHOOL_KIND_NAMES = {"county": N_("县教育局"), "center": N_("中心校"), "branch": N_("村小/教学点")}
SCHOOL_LEVEL_NAMES = {"primary": N_("小学"), "junior": N_("初中"), "nine_year": N_("九年一贯制")}
# SPEC §1 flags, the one table of their Chinese names (the roster's 特殊群体 column reads them back)
FLAG_NAMES = {"left_behind": N_("留守儿童"), "poor": N_("贫困"), "disability": N_("残疾"),
              "learning_difficulty": N_("学困"), "orphan": N_("孤儿"), "unsupported": N_("事实无人抚养"),
              "hardship": N_("困境儿童"), "migrant": N_("随迁子女"), "justice_involved": N_("涉案未成年人")}
SCHOOL_YEAR_RE = re.compile(r"^(\d{4})-(\d{4})$")
ID_CARD_RE = re.compile(r"^\d{17}[\dX]$")
# GB 11643-1999: weights of the 17 digits, and the check character for sum mod 11.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# What a reference the caller cannot see is called; details.field names the key for API clients.
_NOT_FOUND = {School: N_("学校不存在或不在您的管辖范围内"), SchoolClass: N_("班级不存在或不在您的管辖范围内"),
              Village: N_("村不存在或不在您的管辖范围内"), User: N_("用户不存在或不在您的管辖范围内"),
              Student: N_("学生不存在或不在您的管辖范围内")}
# The joiner of a list of codes in a message ("county, center, branch"): not translated.
_CODES = ", "


# --- small shared checks -----------------------------------------------------------------------


def class_label(klass: SchoolClass) -> Msg:
    """A class as choosers and records name it, with its school and school year
    ("东坡村小 三年级1班（2026-2027）"): a message, so the brackets follow the language."""
    return Msg(N_("%(school)s %(klass)s（%(year)s）"), school=klass.school.name, klass=klass.name,
               year=klass.school_year)


def _load(session: Session, scope: Scope, model, obj_id, field: str):
    """The object if it exists and the scope sees it; NotFound naming `field` otherwise."""
    try:
        return get_in_scope(session, scope, model, obj_id)
    except NotFound:
        raise NotFound(_NOT_FOUND[model], details={"field": field}) from None


def check_school_year(value, field: str = "school_year") -> str:
    """A school year is written "2026-2027": two consecutive years. Raises Invalid."""
    m = SCHOOL_YEAR_RE.match(value) if isinstance(value, str) else None
    if not m or int(m.group(2)) != int(m.group(1)) + 1:
        raise invalid_field(field, N_("学年须为相邻的两年，如 2026-2027"))
    return value


def check_term(value, field: str = "term") -> int:
    """The term number, 1 or 2 (第一、第二学期). Raises Invalid naming `field`. The calendar, the
    figures and the support files share it."""
    if isinstance(value, bool) or value not in (1, 2):
        raise invalid_field(field, N_("学期必须是 1 或 2"))
    return value


def check_grade(value, field: str = "grade") -> int:
    """A class's grade is an integer 1–9 (SPEC §1). Raises Invalid naming `field`. The API's
    create_class and the 档案管理 class screen's edit share it."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 9:
        raise invalid_field(field, N_("年级必须是 1 到 9 之间的整数"))
    return value


def check_village_in_catchment(village: Village | None, school: School | None, field: str = "village_id") -> None:
    """A student's village must belong to the catchment of their school's center school.
    Raises Invalid naming `field`. The 档案管理 student screen's edit uses it."""
    if village is not None and school is not None and village.center_school_id != school.center_id:
        raise invalid_field(field, N_("该村不在本校所属中心校的服务范围内"))


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
        raise invalid_field(field, N_("身份证号必须是文字"))
    value = value.strip().upper()
    if not ID_CARD_RE.match(value):
        raise invalid_field(field, N_("身份证号必须是18位（17位数字加1位数字或X）"))
    try:
        dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise invalid_field(field, N_("身份证号中的出生日期无效")) from None
    if id_card_check_char(value[:17]) != value[17]:
        raise invalid_field(field, N_("身份证号校验位不正确，请核对身份证号"))
    return value


# --- schools and villages ----------------------------------------------------------------------


def create_school(session: Session, scope: Scope, *, name: str, kind: str, parent_id: int | None,
                  level: str | None = None) -> School:
    """Create a county node, a center school or a branch school.

    A county has no parent; a center's parent is a county or nothing; a branch's parent must be
    a center school. Only admin creates counties and centers; center roles add branches to their
    own center. `level` (primary / junior / nine_year, default nine_year; none for a county) says
    which grades the school teaches and so which grade graduates at rollover (SPEC §1).
    Raises Invalid, NotFound (parent_id), Forbidden, Conflict "duplicate" (a sibling of the same
    name).
    """
    name = required_text("name", name, 120)
    if kind not in SCHOOL_KINDS:
        raise invalid_field("kind", N_("字段 kind 必须是以下之一：county, center, branch"))
    if kind == "county":
        if level is not None:
            raise invalid_field("level", N_("县教育局没有学段（level 须为空）"))
    elif level is None:
        level = "nine_year"
    elif level not in SCHOOL_LEVELS:
        raise invalid_field("level", N_("学段必须是以下之一：%(choices)s"), choices=_CODES.join(SCHOOL_LEVELS))
    parent = _load(session, scope, School, parent_id, "parent_id") if parent_id is not None else None
    if kind == "county" and parent is not None:
        raise invalid_field("parent_id", N_("县教育局不能有上级（parent_id 须为空）"))
    if kind == "center" and parent is not None and parent.kind != "county":
        raise invalid_field("parent_id", N_("中心校的上级必须是县教育局或为空（parent_id）"))
    if kind == "branch" and (parent is None or parent.kind != "center"):
        raise invalid_field("parent_id", N_("村小/教学点的上级必须是一所中心校（parent_id）"))
    if kind == "branch":
        centers = managed_center_ids(scope)
        if centers is not None and parent.id not in centers:
            raise Forbidden(N_("只有系统管理员或本中心校的中心校长、教导主任可以新建村小/教学点"))
    elif not scope.is_all:
        raise Forbidden(N_("只有系统管理员可以新建县教育局或中心校"))
    parent_filter = School.parent_id == parent.id if parent is not None else School.parent_id.is_(None)
    if session.scalar(select(School.id).where(parent_filter, School.name == name, School.kind == kind)):
        raise Conflict(N_("同一上级下已有名为“%(name)s”的学校"), code="duplicate", details={"field": "name"},
                       name=name)
    school = School(name=name, kind=kind, level=level)
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
        raise invalid_field("center_school_id", N_("村必须属于一所中心校的服务范围（center_school_id 须为中心校）"))
    centers = managed_center_ids(scope)
    if centers is not None and center.id not in centers:
        raise Forbidden(N_("只有系统管理员或本中心校的中心校长、教导主任可以新建村"))
    if session.scalar(select(Village.id).where(Village.center_school_id == center.id, Village.name == name)):
        raise Conflict(N_("该中心校已有名为“%(name)s”的村"), code="duplicate", details={"field": "name"}, name=name)
    village = Village(name=name, center_school_id=center.id)
    session.add(village)
    session.flush()
    return village


def _require_manages(session: Session, scope: Scope, school_id: int, refusal: Msg) -> None:
    if not may_manage_school(session, scope, school_id):
        raise Forbidden(refusal)


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
    check_grade(grade)
    school = _load(session, scope, School, school_id, "school_id")
    if school.kind == "county":
        raise invalid_field("school_id", N_("县教育局不能开设班级（school_id 须为中心校或村小）"))
    _require_manages(session, scope, school.id, N_("您无权为该学校新建班级"))
    if session.scalar(select(SchoolClass.id).where(SchoolClass.school_id == school.id,
                                                   SchoolClass.school_year == school_year,
                                                   SchoolClass.name == name)):
        raise Conflict(N_("该校 %(year)s 学年已有名为“%(name)s”的班级"), code="duplicate",
                       details={"field": "name"}, year=school_year, name=name)
    klass = SchoolClass(school_id=school.id, school_year=school_year, grade=grade, name=name)
    session.add(klass)
    session.flush()
    return klass


# --- users -------------------------------------------------------------------------------------
# Accounts and their roles (SPEC §2 "who may grant what") live in workflow/org/users.py.


# --- students ----------------------------------------------------------------------------------


def _check_guardians(guardians: Iterable) -> list[dict]:
    out = []
    for i, g in enumerate(guardians):
        prefix = f"guardians[{i}]"
        if not isinstance(g, dict):
            raise invalid_field(prefix, N_("字段 %(name)s 必须是对象"), name=prefix)
        unknown = sorted(set(g) - {"name", "relation", "phone"})
        if unknown:
            raise invalid_field(f"{prefix}.{unknown[0]}", N_("未知字段：%(name)s"), name=f"{prefix}.{unknown[0]}")
        out.append({
            "name": required_text(f"{prefix}.name", g.get("name"), 60),
            "relation": required_text(f"{prefix}.relation", g.get("relation"), 20),
            "phone": required_text(f"{prefix}.phone", g.get("phone"), 30),
        })
    return out


def create_student(session: Session, scope: Scope, *, name: str, gender: str, birth_date: dt.date,
                   class_id: int, village_id: int, student_no: str | None = None,
                   id_card_no: str | None = None, flags: Iterable[str] = (),
                   guardians: Iterable[dict] = (), enrolled_on: dt.date | None = None) -> Student:
    """Enrol a new student (status active) in a class, with an Enrolment row starting on
    `enrolled_on` (the day the child joined the class: default today, never in the future nor
    before the birth date), so a roster typed in mid-term counts each child from their real
    joining day in baselines and figures (SPEC §1, §4).

    The household village must be in the catchment of the class's school's center school.
    Admin anywhere; center roles in their center's schools; principal and academic office in
    their own school. Raises Invalid (bad values, birth date in the future, malformed ID-card
    number, village of another catchment), NotFound (class_id, village_id), Forbidden, Conflict
    "duplicate" (student_no or id_card_no already on record).
    """
    name = required_text("name", name, 60)
    if gender not in GENDERS:
        raise invalid_field("gender", N_("字段 gender 必须是 M（男）或 F（女）"))
    if not isinstance(birth_date, dt.date) or isinstance(birth_date, dt.datetime):
        raise invalid_field("birth_date", N_("字段 birth_date 必须是有效日期（YYYY-MM-DD）"))
    if birth_date > clock.today():
        raise invalid_field("birth_date", N_("字段 birth_date 不能晚于今天"))
    enrolled_on = check_enrolled_on(enrolled_on, birth_date)
    if student_no is not None:
        if not isinstance(student_no, str):
            raise invalid_field("student_no", N_("字段 student_no 必须是字符串"))
        student_no = student_no.strip() or None
        if student_no and len(student_no) > 40:
            raise invalid_field("student_no", N_("字段 student_no 超过 40 个字符"))
    id_card_no = normalize_id_card(id_card_no)
    flags = list(flags)
    for f in flags:
        if f not in STUDENT_FLAGS:
            raise invalid_field("flags", N_("特殊群体标记只能是：%(choices)s"), choices=_CODES.join(STUDENT_FLAGS))
    guardian_rows = _check_guardians(guardians)

    klass = _load(session, scope, SchoolClass, class_id, "class_id")
    village = _load(session, scope, Village, village_id, "village_id")
    school = session.get(School, klass.school_id)
    if village.center_school_id != school.center_id:
        raise invalid_field("village_id", N_("该村不在本校所属中心校的服务范围内（village_id）"))
    _require_manages(session, scope, school.id, N_("您无权为该学校新建学生"))
    if student_no and session.scalar(select(Student.id).where(Student.student_no == student_no)):
        raise Conflict(N_("学籍号 %(no)s 已存在"), code="duplicate", details={"field": "student_no"}, no=student_no)
    if id_card_no and session.scalar(select(Student.id).where(Student.id_card_no == id_card_no)):
        raise Conflict(N_("该身份证号已登记在另一名学生名下"), code="duplicate", details={"field": "id_card_no"})

    student = Student(name=name, gender=gender, birth_date=birth_date, student_no=student_no,
                      id_card_no=id_card_no, school_id=school.id, class_id=klass.id,
                      village_id=village.id, status="active",
                      **{f: (f in flags) for f in STUDENT_FLAGS})
    for g in guardian_rows:
        student.guardians.append(Guardian(**g))
    session.add(student)
    session.flush()
    session.add(Enrolment(student_id=student.id, school_id=school.id, class_id=klass.id,
                          start_date=enrolled_on, start_reason="enrol"))
    session.flush()
    return student


def check_enrolled_on(value, birth_date: dt.date | None) -> dt.date:
    """The joining day of a new enrolment: a date, default today, not in the future, not before
    the birth date. Raises Invalid naming `enrolled_on`."""
    if value is None:
        return clock.today()
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise invalid_field("enrolled_on", N_("字段 enrolled_on 必须是有效日期（YYYY-MM-DD）"))
    if value > clock.today():
        raise invalid_field("enrolled_on", N_("入学日期（enrolled_on）不能晚于今天"))
    if birth_date is not None and value <= birth_date:
        raise invalid_field("enrolled_on", N_("入学日期（enrolled_on）不能早于出生日期"))
    return value


# --- a student's details and their change history (SPEC §5) -----------------------------------


def student_details(student: Student) -> dict:
    """The tracked details (models.TRACKED_FIELDS) as JSON values, to compare before and after."""
    return {
        "name": student.name, "gender": student.gender,
        "birth_date": student.birth_date.isoformat() if student.birth_date else None,
        "village_id": student.village_id, "student_no": student.student_no,
        "id_card_no": student.id_card_no, "flags": list(student.flags),
        "guardians": [{"name": g.name, "relation": g.relation, "phone": g.phone} for g in student.guardians],
    }


def record_changes(session: Session, student: Student, before: dict, user_id: int | None, *,
                   source: str = "edit") -> list[StudentChange]:
    """Append one StudentChange per tracked field whose value differs from `before` (a
    `student_details` snapshot). Nothing changed, nothing written. Flushes, never commits."""
    after = student_details(student)
    rows = [StudentChange(student_id=student.id, field=f, old=before.get(f), new=after[f], user_id=user_id,
                          source=source, at=clock.now())
            for f in after if before.get(f) != after[f]]
    session.add_all(rows)
    if rows:
        session.flush()
    return rows


def apply_details(session: Session, student: Student, values: dict) -> None:
    """Set already-checked details on a student (flags as a list, guardians as dicts); the caller
    has checked duplicates and the village. Guardians are replaced only when they differ, so an
    unchanged list writes nothing."""
    for key in ("name", "gender", "birth_date", "village_id", "student_no", "id_card_no"):
        if key in values:
            setattr(student, key, values[key])
    if "flags" in values:
        for f in STUDENT_FLAGS:
            setattr(student, f, f in values["flags"])
    if "guardians" in values:
        current = [{"name": g.name, "relation": g.relation, "phone": g.phone} for g in student.guardians]
        if current != values["guardians"]:
            student.guardians.clear()
            session.flush()
            for g in values["guardians"]:
                student.guardians.append(Guardian(**g))


def update_student(session: Session, scope: Scope, user: User, student_id, values: dict) -> Student:
    """Change a student's details (any of name, gender, birth_date, village_id, student_no,
    id_card_no, flags, guardians) and keep who changed what, when (SPEC §5).

    The class and status change only through the workflow. Raises NotFound (student out of
    scope; village_id), Invalid (bad values, village of another catchment), Forbidden (the
    user may not manage the student's school; an ID number the user may not see in full),
    Conflict "duplicate" (student_no / id_card_no of another student).
    """
    student = get_in_scope(session, scope, Student, student_id)
    unknown = sorted(set(values) - set(("name", "gender", "birth_date", "village_id", "student_no",
                                        "id_card_no", "flags", "guardians")))
    if unknown:
        raise invalid_field(unknown[0], N_("未知字段：%(name)s"), name=unknown[0])
    clean: dict = {}
    if "name" in values:
        clean["name"] = required_text("name", values["name"], 60)
    if "gender" in values:
        if values["gender"] not in GENDERS:
            raise invalid_field("gender", N_("字段 gender 必须是 M（男）或 F（女）"))
        clean["gender"] = values["gender"]
    if "birth_date" in values:
        bd = values["birth_date"]
        if not isinstance(bd, dt.date) or isinstance(bd, dt.datetime) or bd > clock.today():
            raise invalid_field("birth_date", N_("字段 birth_date 必须是不晚于今天的有效日期（YYYY-MM-DD）"))
        clean["birth_date"] = bd
    if "student_no" in values:
        no = values["student_no"]
        if no is not None and not isinstance(no, str):
            raise invalid_field("student_no", N_("字段 student_no 必须是字符串"))
        no = (no or "").strip() or None
        if no and len(no) > 40:
            raise invalid_field("student_no", N_("字段 student_no 超过 40 个字符"))
        clean["student_no"] = no
    if "id_card_no" in values:
        clean["id_card_no"] = normalize_id_card(values["id_card_no"])
    if "flags" in values:
        flags = values["flags"] or []
        if not isinstance(flags, list) or any(f not in STUDENT_FLAGS for f in flags):
            raise invalid_field("flags", N_("特殊群体标记只能是：%(choices)s"), choices=_CODES.join(STUDENT_FLAGS))
        clean["flags"] = flags
    if "guardians" in values:
        if not isinstance(values["guardians"], list):
            raise invalid_field("guardians", N_("字段 guardians 必须是列表"))
        clean["guardians"] = _check_guardians(values["guardians"])
    if "village_id" in values:
        village = _load(session, scope, Village, values["village_id"], "village_id")
        school = session.get(School, student.school_id) if student.school_id else None
        if school is not None and village.center_school_id != school.center_id:
            raise invalid_field("village_id", N_("该村不在本校所属中心校的服务范围内（village_id）"))
        clean["village_id"] = village.id
    if student.school_id is None or not may_manage_school(session, scope, student.school_id):
        raise Forbidden(N_("您无权修改该学生的信息"))
    if "id_card_no" in clean and not sees_full_id_card(scope, student):
        raise Forbidden(N_("您无权查看或修改完整身份证号"), details={"field": "id_card_no"})
    if clean.get("student_no") and session.scalar(select(Student.id).where(
            Student.student_no == clean["student_no"], Student.id != student.id)):
        raise Conflict(N_("学籍号 %(no)s 已存在"), code="duplicate", details={"field": "student_no"},
                       no=clean["student_no"])
    if clean.get("id_card_no") and session.scalar(select(Student.id).where(
            Student.id_card_no == clean["id_card_no"], Student.id != student.id)):
        raise Conflict(N_("该身份证号已登记在另一名学生名下"), code="duplicate", details={"field": "id_card_no"})
    before = student_details(student)
    apply_details(session, student, clean)
    session.flush()
    record_changes(session, student, before, user.id if user is not None else None)
    return student


def change_as_seen_by(scope: Scope, student: Student, change: StudentChange) -> dict:
    """One change row for reading: personal numbers (ID number, 学籍号) masked as for reading
    the student (SPEC §1)."""
    old, new = change.old, change.new
    if change.field in ("id_card_no", "student_no") and not sees_full_id_card(scope, student):
        mask = mask_student_no if change.field == "student_no" else mask_id_card
        old, new = mask(old), mask(new)
    return {"at": clock.local_iso(change.at), "by": ({"id": change.user.id, "name": change.user.name}
                                                     if change.user is not None else None),
            "field": change.field, "old": old, "new": new, "source": change.source}


def student_changes(session: Session, scope: Scope, student_id) -> tuple[Student, list[StudentChange]]:
    """A visible student and their detail changes, oldest first. Raises NotFound."""
    student = get_in_scope(session, scope, Student, student_id)
    rows = session.scalars(select(StudentChange).where(StudentChange.student_id == student.id)
                           .order_by(StudentChange.id)).all()
    return student, list(rows)


def id_card_as_seen_by(scope: Scope, student: Student) -> str | None:
    """The ID-card number in full, or masked as first 6 + last 4, as this user may see it."""
    return student.id_card_no if sees_full_id_card(scope, student) else mask_id_card(student.id_card_no)


# --- the school calendar -----------------------------------------------------------------------


# The calendar's lists of dates, as staff call them: (not a date, outside the term).
_DATE_KIND = {
    "holidays": (N_("第 %(n)d 个节假日不是有效日期（YYYY-MM-DD）"), N_("节假日 %(date)s 不在学期起止日期之内")),
    "workdays": (N_("第 %(n)d 个调休上课日不是有效日期（YYYY-MM-DD）"), N_("调休上课日 %(date)s 不在学期起止日期之内")),
}
_TERM_BOUND = {"start": N_("学期开始日期"), "end": N_("学期结束日期")}


def _check_dates(field: str, values, start: dt.date, end: dt.date) -> list[dt.date]:
    out = []
    for i, d in enumerate(values):
        if not isinstance(d, dt.date) or isinstance(d, dt.datetime):
            raise invalid_field(f"{field}[{i}]", _DATE_KIND[field][0], n=i + 1)
        if not start <= d <= end:
            raise invalid_field(f"{field}[{i}]", _DATE_KIND[field][1], date=d.isoformat())
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
    check_term(term)
    for field, value in (("start", start), ("end", end)):
        if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
            raise invalid_field(field, N_("%(what)s必须是有效日期（YYYY-MM-DD）"), what=_TERM_BOUND[field])
    if start > end:
        raise invalid_field("end", N_("学期结束日期不能早于开始日期"))
    first_year = int(school_year[:4])
    for field, value in (("start", start), ("end", end)):
        if value.year not in (first_year, first_year + 1):
            raise invalid_field(field, N_("%(what)s不在 %(year)s 学年之内"), what=_TERM_BOUND[field],
                                year=school_year)
    holidays = _check_dates("holidays", holidays, start, end)
    workdays = _check_dates("workdays", workdays, start, end)
    for i, d in enumerate(workdays):
        if d.weekday() < 5:
            raise invalid_field(f"workdays[{i}]", N_("调休上课日 %(date)s 是周一至周五，本来就上课；只能填周六或周日"),
                                date=d.isoformat())
    both = sorted(set(holidays) & set(workdays))
    if both:
        raise invalid_field("workdays", N_("日期 %(date)s 不能同时是节假日和调休上课日"), date=both[0].isoformat())

    school = _load(session, scope, School, school_id, "school_id")
    if school.kind == "county":
        raise invalid_field("school_id", N_("县教育局没有校历（school_id 须为中心校或村小）"))
    _require_manages(session, scope, school.id, N_("您无权为该学校设置校历"))

    other = session.scalars(select(Term).where(Term.school_id == school.id, Term.school_year == school_year,
                                               Term.term != term)).first()
    if other is not None and start <= other.end and other.start <= end:
        raise invalid_field("start", N_("与第%(term)d学期（%(start)s—%(end)s）的日期重叠"), term=other.term,
                            start=other.start.isoformat(), end=other.end.isoformat())

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

