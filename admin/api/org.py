"""Organization API: me, schools, villages, classes, users, students, the school calendar.

Each view: validate the body (422 naming the field) → workflow.org.services (404 / 403 / 409) →
answer; the request boundary commits. Every read goes through workflow.access.scope, so what is out of scope is 404.
"""
from __future__ import annotations

import datetime as dt

from flask import g, jsonify, request
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from models import (
    GENDERS,
    ROLES,
    SCHOOL_KINDS,
    SCHOOL_LEVELS,
    STUDENT_FLAGS,
    STUDENT_STATUSES,
    School,
    SchoolClass,
    Student,
    Term,
    User,
    Village,
)
from workflow import clock
from workflow.access import permissions
from workflow.access.masking import student_no_as_seen_by
from workflow.access.scope import Scope, get_in_scope, scoped
from workflow.errors import Invalid, NotFound
from workflow.org import services, users
from workflow.org.calendar import effective_term as term_on
from workflow.validation import Field

from ..extensions import db
from ..observe import note_full_id_view
from ..security import current_scope
from . import bp
from .openapi import (
    DATE,
    PAGINATION,
    WRITE_ERRORS,
    array,
    integer,
    listing,
    obj,
    op,
    path_param,
    query,
    string,
)
from .util import int_arg, json_body, paginate_args, validate

# --- helpers -----------------------------------------------------------------------------------


def _page(stmt, serialize):
    """A scoped select → {"items", "total"} with ?limit=&offset=, ordered by id."""
    limit, offset = paginate_args()
    entity = stmt.column_descriptions[0]["entity"]
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = db.session.scalars(stmt.order_by(entity.id).limit(limit).offset(offset)).all()
    return jsonify({"items": [serialize(r) for r in rows], "total": total})


def _choice_arg(name: str, choices) -> str | None:
    raw = request.args.get(name) or None
    if raw is not None and raw not in choices:
        raise Invalid(_("参数 %(name)s 必须是以下之一：%(choices)s", name=name, choices=", ".join(choices)),
                      details={"field": name})
    return raw


def school_json(s: School) -> dict:
    return {"id": s.id, "name": s.name, "kind": s.kind, "parent_id": s.parent_id,
            "center_id": s.center_id, "county_id": s.county_id, "level": s.level}


def village_json(v: Village) -> dict:
    return {"id": v.id, "name": v.name, "center_school_id": v.center_school_id}


def class_json(k: SchoolClass) -> dict:
    return {"id": k.id, "school_id": k.school_id, "school_year": k.school_year, "grade": k.grade,
            "name": k.name}


def user_json(u: User) -> dict:
    return {"id": u.id, "username": u.username, "name": u.name, "is_active": u.is_active,
            "roles": [{"role": r.role, "school_id": r.school_id, "class_id": r.class_id,
                       "village_id": r.village_id} for r in u.roles]}


def student_json(s: Student, scope: Scope) -> dict:
    if s.id_card_no and permissions.sees_full_id_card(scope, s):
        note_full_id_view(s.id)  # the security log (admin/observe.py)
    return {
        "id": s.id, "name": s.name, "gender": s.gender, "birth_date": s.birth_date.isoformat(),
        "student_no": student_no_as_seen_by(scope, s),
        "id_card_no": services.id_card_as_seen_by(scope, s),
        "class_id": s.class_id, "school_id": s.school_id, "village_id": s.village_id,
        "status": s.status, "is_provisional": s.is_provisional, "flags": s.flags,
        "enrolled_on": _enrolled_on(s),
        "guardians": [{"name": x.name, "relation": x.relation, "phone": x.phone} for x in s.guardians],
    }


def _enrolled_on(s: Student) -> str | None:
    """The start of the student's current enrolment period (the day they joined the class)."""
    open_periods = [e for e in s.enrolments if e.end_date is None]
    return open_periods[-1].start_date.isoformat() if open_periods else None


def term_json(t: Term, school: School) -> dict:
    return {
        "school_id": school.id, "source_school_id": t.school_id, "is_inherited": t.school_id != school.id,
        "school_year": t.school_year, "term": t.term, "start": t.start.isoformat(), "end": t.end.isoformat(),
        "holidays": [d.date.isoformat() for d in t.days if d.kind == "holiday"],
        "workdays": [d.date.isoformat() for d in t.days if d.kind == "workday"],
    }


# --- me ----------------------------------------------------------------------------------------


@bp.get("/me")
def me():
    """The calling user and their role assignments."""
    user = g.api_user
    return jsonify({"id": user.id, "username": user.username, "name": user.name,
                    "roles": user_json(user)["roles"]})


# --- schools -----------------------------------------------------------------------------------

SCHOOL_SPEC = {
    "name": Field(str, max_len=120),
    "kind": Field(str, choices=SCHOOL_KINDS),
    "parent_id": Field(int, nullable=True),
    "level": Field(str, required=False, nullable=True, choices=SCHOOL_LEVELS),
}


@bp.post("/schools")
def create_school():
    """Create a county node, center school or branch school."""
    body = validate(json_body(), SCHOOL_SPEC)
    school = services.create_school(db.session, current_scope(), **body)
    return jsonify(school_json(school)), 201


@bp.get("/schools")
def list_schools():
    """Schools in scope; ?kind=&parent_id= narrow the list."""
    stmt = scoped(current_scope(), School)
    kind = _choice_arg("kind", SCHOOL_KINDS)
    parent_id = int_arg("parent_id")
    if kind:
        stmt = stmt.where(School.kind == kind)
    if parent_id is not None:
        stmt = stmt.where(School.parent_id == parent_id)
    return _page(stmt, school_json)


@bp.get("/schools/<int:school_id>")
def get_school(school_id: int):
    """One school in scope."""
    return jsonify(school_json(get_in_scope(db.session, current_scope(), School, school_id)))


# --- villages ----------------------------------------------------------------------------------

VILLAGE_SPEC = {"name": Field(str, max_len=80), "center_school_id": Field(int)}


@bp.post("/villages")
def create_village():
    """Add a village to a center school's catchment."""
    body = validate(json_body(), VILLAGE_SPEC)
    village = services.create_village(db.session, current_scope(), **body)
    return jsonify(village_json(village)), 201


@bp.get("/villages")
def list_villages():
    """Villages in scope; ?center_school_id= narrows the list."""
    stmt = scoped(current_scope(), Village)
    center_id = int_arg("center_school_id")
    if center_id is not None:
        stmt = stmt.where(Village.center_school_id == center_id)
    return _page(stmt, village_json)


# --- classes -----------------------------------------------------------------------------------

CLASS_SPEC = {
    "school_id": Field(int),
    "school_year": Field(str),
    "grade": Field(int),
    "name": Field(str, max_len=40),
}


@bp.post("/classes")
def create_class():
    """Create a class of a school for a school year."""
    body = validate(json_body(), CLASS_SPEC)
    klass = services.create_class(db.session, current_scope(), **body)
    return jsonify(class_json(klass)), 201


@bp.get("/classes")
def list_classes():
    """Classes in scope; ?school_id=&school_year=&grade= narrow the list."""
    stmt = scoped(current_scope(), SchoolClass)
    school_id, grade = int_arg("school_id"), int_arg("grade")
    school_year = request.args.get("school_year") or None
    if school_id is not None:
        stmt = stmt.where(SchoolClass.school_id == school_id)
    if school_year:
        stmt = stmt.where(SchoolClass.school_year == school_year)
    if grade is not None:
        stmt = stmt.where(SchoolClass.grade == grade)
    return _page(stmt, class_json)


@bp.get("/classes/<int:class_id>")
def get_class(class_id: int):
    """One class in scope."""
    return jsonify(class_json(get_in_scope(db.session, current_scope(), SchoolClass, class_id)))


# --- users -------------------------------------------------------------------------------------

ROLE_ITEM = Field({
    "role": Field(str, choices=ROLES),
    "school_id": Field(int, required=False, nullable=True),
    "class_id": Field(int, required=False, nullable=True),
    "village_id": Field(int, required=False, nullable=True),
})
USER_SPEC = {
    "username": Field(str, max_len=80),
    "password": Field(str),
    "name": Field(str, max_len=80),
    "roles": Field(list, item=ROLE_ITEM),
}


USER_PATCH_SPEC = {
    "name": Field(str, required=False, max_len=80),
    "password": Field(str, required=False),
    "is_active": Field(bool, required=False),
    "roles": Field(list, required=False, item=ROLE_ITEM),
}


@bp.post("/users")
def create_user():
    """Create a user with scoped roles (SPEC §2 "who may grant what": workflow.org.users)."""
    body = validate(json_body(), USER_SPEC)
    user = users.create_user(db.session, current_scope(), **body)
    return jsonify(user_json(user)), 201


@bp.patch("/users/<int:user_id>")
def patch_user(user_id: int):
    """Change a user's name, password, active flag or roles (SPEC §2: out of scope 404, not
    allowed 403); a new password or a deactivation ends the user's sessions and tokens."""
    scope = current_scope()
    get_in_scope(db.session, scope, User, user_id)  # out of scope: 404 before any body check
    raw = json_body()
    body = {k: v for k, v in validate(raw, USER_PATCH_SPEC).items() if k in raw}  # only the keys sent
    user = users.update_user(db.session, scope, user_id, **body)
    return jsonify(user_json(user))


@bp.get("/users")
def list_users():
    """Users in scope (the caller, and holders of roles in schools, classes, villages they see)."""
    return _page(scoped(current_scope(), User), user_json)


@bp.get("/users/<int:user_id>")
def get_user(user_id: int):
    """One user in scope."""
    return jsonify(user_json(get_in_scope(db.session, current_scope(), User, user_id)))


# --- students ----------------------------------------------------------------------------------

GUARDIAN_ITEM = Field({
    "name": Field(str, max_len=60), "relation": Field(str, max_len=20), "phone": Field(str, max_len=30),
})
STUDENT_SPEC = {
    "name": Field(str, max_len=60),
    "gender": Field(str, choices=GENDERS),
    "birth_date": Field(dt.date),
    "class_id": Field(int),
    "village_id": Field(int),
    "student_no": Field(str, required=False, nullable=True, max_len=40),
    "id_card_no": Field(str, required=False, nullable=True),
    "flags": Field(list, required=False, nullable=True, item=Field(str, choices=STUDENT_FLAGS)),
    "guardians": Field(list, item=GUARDIAN_ITEM),
    "enrolled_on": Field(dt.date, required=False, nullable=True),
}
STUDENT_PATCH_SPEC = {
    "name": Field(str, required=False, max_len=60),
    "gender": Field(str, required=False, choices=GENDERS),
    "birth_date": Field(dt.date, required=False),
    "village_id": Field(int, required=False),
    "student_no": Field(str, required=False, nullable=True, max_len=40),
    "id_card_no": Field(str, required=False, nullable=True),
    "flags": Field(list, required=False, nullable=True, item=Field(str, choices=STUDENT_FLAGS)),
    "guardians": Field(list, required=False, item=GUARDIAN_ITEM),
}


@bp.post("/students")
def create_student():
    """Enrol a new student (status active) in a class."""
    body = validate(json_body(), STUDENT_SPEC)
    body["flags"] = body.get("flags") or []
    student = services.create_student(db.session, current_scope(), **body)
    return jsonify(student_json(student, current_scope())), 201


@bp.get("/students")
def list_students():
    """Students in scope; ?class_id=&school_id=&status= narrow the list."""
    scope = current_scope()
    # enrolled_on reads each student's periods: load them for the page at once
    stmt = scoped(scope, Student).options(selectinload(Student.enrolments), selectinload(Student.guardians))
    class_id, school_id = int_arg("class_id"), int_arg("school_id")
    status = _choice_arg("status", STUDENT_STATUSES)
    if class_id is not None:
        stmt = stmt.where(Student.class_id == class_id)
    if school_id is not None:
        stmt = stmt.where(Student.school_id == school_id)
    if status:
        stmt = stmt.where(Student.status == status)
    return _page(stmt, lambda s: student_json(s, scope))


@bp.get("/students/<int:student_id>")
def get_student(student_id: int):
    """One student in scope (ID-card number masked unless the role may see it)."""
    scope = current_scope()
    return jsonify(student_json(get_in_scope(db.session, scope, Student, student_id), scope))


@bp.patch("/students/<int:student_id>")
def patch_student(student_id: int):
    """Change a student's details; the change is kept (who, when, old, new)."""
    scope = current_scope()
    body = json_body()
    values = validate(body, STUDENT_PATCH_SPEC)
    values = {k: v for k, v in values.items() if k in body}  # only the keys sent
    student = services.update_student(db.session, scope, g.api_user, student_id, values)
    return jsonify(student_json(student, scope))


@bp.get("/students/<int:student_id>/changes")
def student_changes(student_id: int):
    """The student's detail changes, oldest first (personal numbers masked as for reading)."""
    scope = current_scope()
    student, rows = services.student_changes(db.session, scope, student_id)
    items = [services.change_as_seen_by(scope, student, r) for r in rows]
    return jsonify({"items": items, "total": len(items)})


# --- calendar ----------------------------------------------------------------------------------

CALENDAR_SPEC = {
    "school_year": Field(str),
    "term": Field(int, choices=(1, 2)),
    "start": Field(dt.date),
    "end": Field(dt.date),
    "holidays": Field(list, item=Field(dt.date)),
    "workdays": Field(list, required=False, nullable=True, item=Field(dt.date)),
}


@bp.put("/calendar/<int:school_id>")
def put_calendar(school_id: int):
    """Create or replace one term of a school's calendar."""
    body = validate(json_body(), CALENDAR_SPEC)
    body.setdefault("workdays", [])
    term = services.set_calendar(db.session, current_scope(), school_id, **body)
    school = db.session.get(School, school_id)
    return jsonify(term_json(term, school))


@bp.get("/calendar/<int:school_id>")
def get_calendar(school_id: int):
    """The calendar a school follows for one term (its own, else its center school's).

    Without ?school_year=&term= the term containing today is answered."""
    school = get_in_scope(db.session, current_scope(), School, school_id)
    school_year = request.args.get("school_year") or None
    term_no = int_arg("term")
    if (school_year is None) != (term_no is None):
        missing = "term" if term_no is None else "school_year"
        raise Invalid(_("参数 school_year 和 term 须同时给出（缺少 %(name)s）", name=missing),
                      details={"field": missing})
    if school_year is not None:
        services.check_school_year(school_year)
        if term_no not in (1, 2):
            raise Invalid(_("参数 term 必须是 1 或 2"), details={"field": "term"})
        term = services.calendar_term(db.session, school, school_year, term_no)
    else:
        term = term_on(db.session, school.id, clock.today())
    if term is None:
        raise NotFound(_("该校该学期尚未设置校历"), code="no_calendar")
    return jsonify(term_json(term, school))


# --- OpenAPI -----------------------------------------------------------------------------------

_NUMBER = integer(description="编号")
_ROLE = obj({"role": string(enum=list(ROLES)), "school_id": integer(nullable=True),
             "class_id": integer(nullable=True), "village_id": integer(nullable=True)}, ["role"])
_SCHOOL = obj({"id": _NUMBER, "name": string(), "kind": string(enum=list(SCHOOL_KINDS)),
               "parent_id": integer(nullable=True), "center_id": integer(nullable=True),
               "county_id": integer(nullable=True),
               "level": string(nullable=True, enum=list(SCHOOL_LEVELS),
                               description="学段：小学 1–6、初中 7–9、九年一贯制 1–9；县教育局为空")})
_VILLAGE = obj({"id": _NUMBER, "name": string(), "center_school_id": integer()})
_CLASS = obj({"id": _NUMBER, "school_id": integer(), "school_year": string(example="2026-2027"),
              "grade": integer(minimum=1, maximum=9), "name": string()})
_USER = obj({"id": _NUMBER, "username": string(), "name": string(), "is_active": {"type": "boolean"},
             "roles": array(_ROLE)})
_GUARDIAN = obj({"name": string(), "relation": string(), "phone": string()}, ["name", "relation", "phone"])
_STUDENT = obj({
    "id": _NUMBER, "name": string(), "gender": string(enum=list(GENDERS)), "birth_date": DATE,
    "student_no": string(nullable=True),
    "id_card_no": string(nullable=True, description="仅管理员、本校校长/教导处、本中心校教导主任可见全号，其他人看到前6后4"),
    "class_id": integer(nullable=True), "school_id": integer(nullable=True), "village_id": integer(nullable=True),
    "status": string(enum=list(STUDENT_STATUSES)), "is_provisional": {"type": "boolean"},
    "flags": array(string(enum=list(STUDENT_FLAGS))), "guardians": array(_GUARDIAN),
    "enrolled_on": string("date", nullable=True, description="本次在班的入班日期"),
})
_TERM = obj({"school_id": integer(), "source_school_id": integer(description="校历实际所属学校（村小沿用中心校时为中心校）"),
             "is_inherited": {"type": "boolean"}, "school_year": string(), "term": integer(enum=[1, 2]),
             "start": DATE, "end": DATE, "holidays": array(DATE), "workdays": array(DATE)})

OPENAPI_PATHS = {
    "/api/v1/me": {"get": op("当前用户及其角色", response=obj({
        "id": _NUMBER, "username": string(), "name": string(), "roles": array(_ROLE)}), errors=(401,), tag="org")},
    "/api/v1/schools": {
        "post": op("新建县教育局、中心校或村小/教学点", ok=201, tag="org", errors=WRITE_ERRORS, response=_SCHOOL,
                   body=obj({"name": string(), "kind": string(enum=list(SCHOOL_KINDS)),
                             "parent_id": integer(nullable=True),
                             "level": string(nullable=True, enum=list(SCHOOL_LEVELS),
                                             description="学段，默认 nine_year；县教育局不填。决定学年升级时哪个年级毕业")},
                            ["name", "kind", "parent_id"]),
                   description="县教育局无上级；中心校的上级是县教育局或为空；村小的上级必须是中心校。"
                               "县和中心校仅系统管理员可建，村小可由本中心校的中心校长、教导主任新建。"),
        "get": op("管辖范围内的学校", response=listing(_SCHOOL), tag="org", params=PAGINATION + [
            query("kind", string(enum=list(SCHOOL_KINDS))), query("parent_id")]),
    },
    "/api/v1/schools/{school_id}": {"get": op("查看一所学校", response=_SCHOOL, tag="org",
                                               params=[path_param("school_id")])},
    "/api/v1/villages": {
        "post": op("新建村（属于某中心校的服务范围）", ok=201, tag="org", errors=WRITE_ERRORS, response=_VILLAGE,
                   body=obj({"name": string(), "center_school_id": integer()}, ["name", "center_school_id"])),
        "get": op("管辖范围内的村", response=listing(_VILLAGE), tag="org",
                  params=PAGINATION + [query("center_school_id")]),
    },
    "/api/v1/classes": {
        "post": op("新建班级", ok=201, tag="org", errors=WRITE_ERRORS, response=_CLASS,
                   body=obj({"school_id": integer(), "school_year": string(example="2026-2027"),
                             "grade": integer(minimum=1, maximum=9), "name": string()},
                            ["school_id", "school_year", "grade", "name"]),
                   description="学年写作相邻两年，如 2026-2027；同一学校同一学年班级名称不能重复（409 duplicate）。"),
        "get": op("管辖范围内的班级", response=listing(_CLASS), tag="org", params=PAGINATION + [
            query("school_id"), query("school_year", string()), query("grade")]),
    },
    "/api/v1/classes/{class_id}": {"get": op("查看一个班级", response=_CLASS, tag="org",
                                              params=[path_param("class_id")])},
    "/api/v1/users": {
        "post": op("新建用户并分配角色", ok=201, tag="org", errors=WRITE_ERRORS, response=_USER,
                   body=obj({"username": string(), "password": string(minLength=10), "name": string(),
                             "roles": array(_ROLE, minItems=1)}, ["username", "password", "name", "roles"]),
                   description="每个角色只带它所绑定的编号：学校类角色 school_id，教师 class_id，村委联络员 "
                               "village_id，管理员不带。只能授予低于您本人最高角色、且在您管辖范围内的角色（403）。"
                               "密码至少 10 位，不能是或包含用户名，不能是常见密码（422）。"),
        "get": op("管辖范围内的用户", response=listing(_USER), tag="org", params=PAGINATION),
    },
    "/api/v1/users/{user_id}": {
        "get": op("查看一个用户", response=_USER, tag="org", params=[path_param("user_id")]),
        "patch": op("修改用户：姓名、密码、启用/停用、角色", response=_USER, tag="org", errors=WRITE_ERRORS,
                    params=[path_param("user_id")],
                    body=obj({"name": string(), "password": string(minLength=10), "is_active": {"type": "boolean"},
                              "roles": array(_ROLE, minItems=1)}, []),
                    description="只改所给字段；roles 整体替换该用户的角色。只能管理在您管辖范围内、且所有角色都低于您本人"
                                "最高角色的用户（系统管理员＞教育局督导＞中心校长＞中心校教导主任＞校长＞教导处＞"
                                "教师、控辍小组成员、村委联络员），也只能授予这样的角色：超出管辖范围 404，不允许 403。"
                                "新密码至少 10 位，不能是或包含用户名，不能是常见密码（422）。改密码或停用后，"
                                "该用户所有已登录的会话和访问令牌立即失效。"),
    },
    "/api/v1/students": {
        "post": op("新建学生（在校）", ok=201, tag="org", errors=WRITE_ERRORS, response=_STUDENT,
                   body=obj({"name": string(), "gender": string(enum=list(GENDERS)), "birth_date": DATE,
                             "class_id": integer(), "village_id": integer(),
                             "student_no": string(nullable=True, description="全国学籍号"),
                             "id_card_no": string(nullable=True, description="18位身份证号，校验位须正确"),
                             "flags": array(string(enum=list(STUDENT_FLAGS))), "guardians": array(_GUARDIAN),
                             "enrolled_on": DATE | {"description": "入班日期，默认今天，不能晚于今天；基数按此日计算"}},
                            ["name", "gender", "birth_date", "class_id", "village_id", "guardians"]),
                   description="村必须属于该班所在学校的中心校服务范围；学籍号、身份证号重复返回 409 duplicate。"),
        "get": op("管辖范围内的学生", response=listing(_STUDENT), tag="org", params=PAGINATION + [
            query("class_id"), query("school_id"), query("status", string(enum=list(STUDENT_STATUSES)))]),
    },
    "/api/v1/students/{student_id}": {
        "get": op("查看一名学生", response=_STUDENT, tag="org", params=[path_param("student_id")]),
        "patch": op("修改学生信息（保留修改记录）", response=_STUDENT, tag="org", errors=WRITE_ERRORS,
                    params=[path_param("student_id")],
                    body=obj({"name": string(), "gender": string(enum=list(GENDERS)), "birth_date": DATE,
                              "village_id": integer(), "student_no": string(nullable=True),
                              "id_card_no": string(nullable=True),
                              "flags": array(string(enum=list(STUDENT_FLAGS))), "guardians": array(_GUARDIAN)}, []),
                    description="只改所给字段；班级和学籍状态只能经流程改变。每个改动的字段记一条修改记录。"),
    },
    "/api/v1/students/{student_id}/changes": {"get": op(
        "学生信息修改记录", tag="org", params=[path_param("student_id")],
        response=obj({"items": array(obj({"at": string(), "by": obj({"id": integer(), "name": string()}),
                                          "field": string(), "old": {}, "new": {}, "source": string()})),
                      "total": integer()}))},
    "/api/v1/calendar/{school_id}": {
        "put": op("设置某校某学期的校历", tag="org", errors=WRITE_ERRORS, response=_TERM,
                  params=[path_param("school_id")],
                  body=obj({"school_year": string(example="2026-2027"), "term": integer(enum=[1, 2]),
                            "start": DATE, "end": DATE, "holidays": array(DATE),
                            "workdays": array(DATE, description="周末调休上课日")},
                           ["school_year", "term", "start", "end", "holidays"]),
                  description="上课日为周一至周五，去掉节假日，加上周末调休上课日。同一学期再次提交即整体替换。"),
        "get": op("某校某学期实际执行的校历（村小未设置时沿用中心校）", response=_TERM, tag="org", params=[
            path_param("school_id"), query("school_year", string()), query("term", integer(enum=[1, 2]))]),
    },
}
