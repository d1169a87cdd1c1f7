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
from workflow.cases.guards import needs_input
from workflow.errors import N_, NAME_SEP, Conflict, Msg, NotFound, invalid_field

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
        raise Conflict(N_("该班级本学年已有学年末核实（#%(id)s）"), code="duplicate",
                       details={"case_id": existing}, id=existing)
    ctx.case.class_id = class_id


def _row_error(field: str, row: int, problem: Msg):
    """Invalid naming the form's row (1-based) for people and the item's key in details.field."""
    return invalid_field(field, N_("第 %(row)d 行：%(problem)s"), row=row, problem=problem)


def _items(items, key: str, allowed: set, not_list: Msg, not_object: Msg):
    """(index, details.field, item) of a list of objects with only `allowed` keys (the teacher's
    differences, the office's resolutions). Raises Invalid naming the row at fault."""
    if not isinstance(items, list):
        raise invalid_field(f"data.{key}", not_list)
    for i, item in enumerate(items):
        field = f"data.{key}[{i}]"
        if not isinstance(item, dict):
            raise _row_error(field, i + 1, not_object)
        unknown = sorted(set(item) - allowed)
        if unknown:
            raise _row_error(f"{field}.{unknown[0]}", i + 1, Msg(N_("未知字段：%(name)s"), name=unknown[0]))
        yield i, field, item


def check_differences(ctx) -> None:
    """data.differences: a list of {student_id?, name?, kind, note}; a student_id names a child
    of the class (or of its school); a `not_on_roll` child needs a name. Raises Invalid naming
    the row (第 2 行：…) for people and the item in details.field."""
    if "differences" not in ctx.data:
        # the case page's plain submit: the teacher found the roll right (SPEC: may be empty)
        ctx.data["differences"] = []
    for i, field, item in _items(ctx.data["differences"], "differences", DIFFERENCE_KEYS,
                                 N_("差异须是一个列表（没有差异时为空列表）"), N_("差异须是一个对象")):
        if item.get("kind") not in DIFFERENCE_KINDS:
            raise _row_error(f"{field}.kind", i + 1, Msg(N_("差异类别须为以下之一：%(choices)s"),
                                                         choices=", ".join(DIFFERENCE_KINDS)))
        note = item.get("note")
        if not isinstance(note, str) or not note.strip() or len(note) > 500:
            raise _row_error(f"{field}.note", i + 1, N_("请填写说明（500 字以内）"))
        sid = item.get("student_id")
        if sid is not None:
            if isinstance(sid, bool) or not isinstance(sid, int):
                raise _row_error(f"{field}.student_id", i + 1, N_("学生编号必须是整数"))
            student = ctx.session.get(Student, sid)
            if student is None or student.school_id != ctx.case.school_id:
                raise _row_error(f"{field}.student_id", i + 1, N_("所选学生不是本校的学生"))
        name = item.get("name")
        if name is not None and (not isinstance(name, str) or len(name) > 60):
            raise _row_error(f"{field}.name", i + 1, N_("姓名须是 60 字以内的文字"))
        if sid is None and not (name or "").strip():
            raise _row_error(f"{field}.name", i + 1, N_("请选择学生或填写姓名"))


def check_resolutions(ctx) -> None:
    """data.resolutions: a list of {difference (index), case_id?, corrected?, note?}. Raises
    Invalid for a malformed item (naming its row); whether all differences are resolved is the
    guard's."""
    not_int = {"difference": N_("差异序号必须是整数"), "case_id": N_("案件编号必须是整数")}
    for i, field, item in _items(ctx.data.get("resolutions", []), "resolutions", RESOLUTION_KEYS,
                                 N_("处理意见须是一个列表（每条差异一项）"), N_("处理意见须是一个对象")):
        for key in ("difference", "case_id"):
            v = item.get(key)
            if (key == "difference" or v is not None) and (isinstance(v, bool) or not isinstance(v, int)):
                raise _row_error(f"{field}.{key}", i + 1, not_int[key])
        if "corrected" in item and not isinstance(item["corrected"], bool):
            raise _row_error(f"{field}.corrected", i + 1, N_("“已更正学籍”须是 true 或 false"))
        if item.get("note") is not None and not isinstance(item["note"], str):
            raise _row_error(f"{field}.note", i + 1, N_("处理说明必须是文字"))


def resolves(case: Case, other: Case | None, diff: dict) -> bool:
    """Whether `other` (a case named as the resolution of `diff`) is a case of the verification's
    school, not the verification itself, and about the difference's child when it names one."""
    return other is not None and other.school_id == case.school_id and other.id != case.id and (
        diff.get("student_id") is None or other.student_id == diff["student_id"])


def differences_resolved(ctx) -> Msg | None:
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
        who = diff.get("name") or (Msg(N_("学生 #%(id)s"), id=diff["student_id"]) if diff.get("student_id")
                                   else Msg(N_("第 %(n)d 条"), n=i + 1))
        if res is None:
            missing.append(who)
            continue
        if res.get("case_id") is not None:
            if not resolves(ctx.case, ctx.session.get(Case, res["case_id"]), diff):
                missing.append(who)
        elif not (res.get("corrected") and (res.get("note") or "").strip()):
            missing.append(who)
    if missing:
        # the resolutions are this step's own form: choosing them is how the refusal is met
        return needs_input(N_("以下差异尚未处理（须为该生开启流程或更正学籍并说明）：%(items)s"), "resolutions",
                           items=Msg.join(NAME_SEP, missing))
    return None


def class_of_case(case) -> int | None:
    """The class whose homeroom teacher acts for the case: its subject."""
    return getattr(case, "class_id", None)
