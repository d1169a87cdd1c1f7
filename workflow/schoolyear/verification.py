"""The rules of `roll_verification` (SPEC §3.8, 学年末核实), a process whose subject is a class.

The process itself is data (`workflow/processes/roll_verification.py:PROCESS`); this module holds
what it refers to: locating the class (the case has no student), the shape of the teacher's
differences and the office's resolutions, and the guard that every difference is resolved. One
case per class (a class belongs to one school year): a second answers 409 `duplicate`, and the
partial unique index `uq_cases_roll_verification_class` holds even in a race. No Flask, no commit.
"""
from __future__ import annotations

from sqlalchemy import select

from models import Case, SchoolClass, Student
from workflow.access.scope import get_in_scope
from workflow.errors import N_, Conflict, NotFound, invalid_field

PROCESS_NAME = "roll_verification"
DIFFERENCE_KINDS = ("absent_from_class", "not_on_roll", "details_wrong")
DIFFERENCE_KEYS = {"student_id", "name", "kind", "note"}
RESOLUTION_KEYS = {"difference", "case_id", "corrected", "note"}


def locate_class(session, scope, user, student_id, data: dict):
    """create_case's `locate` for a class subject: (no student, the class's school, the class).
    Raises Invalid (a student_id was given), NotFound (data.class_id out of scope)."""
    if student_id is not None:
        raise invalid_field("student_id", N_("学年末核实的对象是班级：请用 data.class_id，不要填 student_id"))
    try:
        klass = get_in_scope(session, scope, SchoolClass, data.get("class_id"))
    except NotFound:
        raise NotFound(N_("班级不存在或不在您的管辖范围内（data.class_id）"), details={"field": "data.class_id"}) from None
    return None, klass.school_id, klass.id


def set_class_subject(ctx) -> None:
    """Create effect: the case's subject is the class; one per class (else Conflict duplicate)."""
    class_id = ctx.data["class_id"]
    existing = ctx.session.scalar(select(Case.id).where(Case.process == PROCESS_NAME, Case.class_id == class_id))
    if existing is not None:
        raise Conflict(f"该班级本学年已有学年末核实（#{existing}）", code="duplicate",
                       details={"case_id": existing})
    ctx.case.class_id = class_id


def check_differences(ctx) -> None:
    """data.differences: a list of {student_id?, name?, kind, note}; a student_id names a child
    of the class (or of its school); a `not_on_roll` child needs a name. Raises Invalid."""
    if "differences" not in ctx.data:
        # the case page's plain submit: the teacher found the roll right (SPEC: may be empty)
        ctx.data["differences"] = []
    items = ctx.data["differences"]
    if not isinstance(items, list):
        raise invalid_field("data.differences", N_("字段 data.differences 必须是列表（没有差异时填 []）"))
    for i, item in enumerate(items):
        field = f"data.differences[{i}]"
        if not isinstance(item, dict):
            raise invalid_field(field, f"字段 {field} 必须是对象")
        unknown = sorted(set(item) - DIFFERENCE_KEYS)
        if unknown:
            raise invalid_field(f"{field}.{unknown[0]}", f"未知字段：{field}.{unknown[0]}")
        if item.get("kind") not in DIFFERENCE_KINDS:
            raise invalid_field(f"{field}.kind", f"字段 {field}.kind 必须是以下之一：{', '.join(DIFFERENCE_KINDS)}")
        note = item.get("note")
        if not isinstance(note, str) or not note.strip() or len(note) > 500:
            raise invalid_field(f"{field}.note", f"字段 {field}.note 必须填写（500 字以内）")
        sid = item.get("student_id")
        if sid is not None:
            if isinstance(sid, bool) or not isinstance(sid, int):
                raise invalid_field(f"{field}.student_id", f"字段 {field}.student_id 必须是整数")
            student = ctx.session.get(Student, sid)
            if student is None or student.school_id != ctx.case.school_id:
                raise invalid_field(f"{field}.student_id", f"字段 {field}.student_id 不是本校的学生")
        name = item.get("name")
        if name is not None and (not isinstance(name, str) or len(name) > 60):
            raise invalid_field(f"{field}.name", f"字段 {field}.name 必须是 60 字以内的文字")
        if sid is None and not (name or "").strip():
            raise invalid_field(f"{field}.name", f"字段 {field} 须有 student_id 或 name")


def check_resolutions(ctx) -> None:
    """data.resolutions: a list of {difference (index), case_id?, corrected?, note?}. Raises
    Invalid for a malformed item; whether all differences are resolved is the guard's."""
    items = ctx.data.get("resolutions", [])
    if not isinstance(items, list):
        raise invalid_field("data.resolutions", N_("字段 data.resolutions 必须是列表"))
    for i, item in enumerate(items):
        field = f"data.resolutions[{i}]"
        if not isinstance(item, dict):
            raise invalid_field(field, f"字段 {field} 必须是对象")
        unknown = sorted(set(item) - RESOLUTION_KEYS)
        if unknown:
            raise invalid_field(f"{field}.{unknown[0]}", f"未知字段：{field}.{unknown[0]}")
        for key in ("difference", "case_id"):
            v = item.get(key)
            if (key == "difference" or v is not None) and (isinstance(v, bool) or not isinstance(v, int)):
                raise invalid_field(f"{field}.{key}", f"字段 {field}.{key} 必须是整数")
        if "corrected" in item and not isinstance(item["corrected"], bool):
            raise invalid_field(f"{field}.corrected", f"字段 {field}.corrected 必须是 true 或 false")
        if item.get("note") is not None and not isinstance(item["note"], str):
            raise invalid_field(f"{field}.note", f"字段 {field}.note 必须是文字")


def differences_resolved(ctx) -> str | None:
    """每条差异都已处理：为该生开启了流程（转学、缺勤、劝返等），或已更正学籍并说明

    The guard of office_approve: each difference the teacher reported is named in
    data.resolutions by a case of the school opened for the child, or `corrected: true` with a
    note."""
    differences = (ctx.case.data or {}).get("differences") or []
    resolved: dict[int, dict] = {}
    for item in ctx.data.get("resolutions") or []:
        resolved.setdefault(item["difference"], item)
    missing = []
    for i, diff in enumerate(differences):
        res = resolved.get(i)
        who = diff.get("name") or (f"学生 #{diff['student_id']}" if diff.get("student_id") else f"第 {i + 1} 条")
        if res is None:
            missing.append(who)
            continue
        if res.get("case_id") is not None:
            case = ctx.session.get(Case, res["case_id"])
            if case is None or case.school_id != ctx.case.school_id or case.id == ctx.case.id or (
                    diff.get("student_id") is not None and case.student_id != diff["student_id"]):
                missing.append(who)
        elif not (res.get("corrected") and (res.get("note") or "").strip()):
            missing.append(who)
    if missing:
        return N_("以下差异尚未处理（须为该生开启流程或更正学籍并说明）：") + "、".join(missing)
    return None


def class_of_case(case) -> int | None:
    """The class whose homeroom teacher acts for the case: its subject."""
    return getattr(case, "class_id", None)
