"""Cases API: open a case, list and read cases in scope, fire transitions, the work queue.

Each view: load in scope (404) → validate (422) → workflow.cases.engine (403 / 409) →
answer. The order of checks of a transition is SPEC §3's: case out of scope 404, unknown
transition 404, malformed body 422, then the engine's role, separation of duties, version,
state and guard checks. A failed call writes nothing: the request boundary (admin/boundary.py)
rolls back on any error, a failing effect included, and files stored in the failed transaction
are deleted (workflow.cases.evidence pending files).
"""
from __future__ import annotations

from flask import jsonify, request
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload

from models import Case, Student
from workflow import clock
from workflow.absence import ladder
from workflow.access.scope import case_filter, get_in_scope
from workflow.cases import engine, nextstep
from workflow.cases import evidence as evidence_services
from workflow.cases.queue import build_queue, deadlines
from workflow.cases.serialize import case_detail, case_summary, submitted_data, submitted_names
from workflow.errors import Invalid, NotFound
from workflow.processes import REGISTRY
from workflow.validation import Field

from ..extensions import db
from ..security import current_actor, current_scope
from ..views.cases import eager_load_case
from . import bp
from .evidence import contact_json, document_json, fee_json, payment_json, visit_json
from .openapi import (
    DATE,
    ID,
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

CREATE_FIELDS = {
    "process": Field(str),
    "student_id": Field(int, required=False, nullable=True),
    "data": Field(dict, required=False, nullable=True),
}
FIRE_FIELDS = {
    "version": Field(int),
    "comment": Field(str, required=False, nullable=True),
    "data": Field(dict, required=False, nullable=True),
}
TRUE_FALSE = {"true": True, "1": True, "false": False, "0": False}


def _list_options():
    return (joinedload(Case.school), selectinload(Case.student).joinedload(Student.klass),
            selectinload(Case.klass))


# --- views -------------------------------------------------------------------------------------


@bp.post("/cases")
def create_case():
    """Open a case of a process for a student (transfer_in: data.student creates the student)."""
    body = validate(json_body(), CREATE_FIELDS)
    if body["process"] not in REGISTRY:
        raise Invalid(_("字段 process 必须是以下之一：%(choices)s", choices=", ".join(REGISTRY)),
                      code="unknown_process", details={"field": "process"})
    case = engine.create_case(db.session, current_scope(), current_actor(), body["process"],
                              body.get("student_id"), body.get("data") or {}, today=clock.today())
    return jsonify({"id": case.id, "process": case.process, "state": case.state, "version": case.version,
                    "student_id": case.student_id, "school_id": case.school_id,
                    "class_id": case.class_id}), 201


@bp.get("/cases")
def list_cases():
    """Cases in scope; ?process=&state=&student_id=&school_id=&is_open= narrow the list."""
    scope = current_scope()
    limit, offset = paginate_args()
    stmt = select(Case).where(case_filter(scope))
    process = request.args.get("process") or None
    if process is not None:
        if process not in REGISTRY:
            raise Invalid(_("参数 %(name)s 必须是以下之一：%(choices)s", name="process",
                            choices=", ".join(REGISTRY)), details={"field": "process"})
        stmt = stmt.where(Case.process == process)
    state = request.args.get("state") or None
    if state is not None:
        stmt = stmt.where(Case.state == state)
    for name, column in (("student_id", Case.student_id), ("school_id", Case.school_id),
                         ("class_id", Case.class_id)):
        value = int_arg(name)
        if value is not None:
            stmt = stmt.where(column == value)
    raw_open = request.args.get("is_open")
    if raw_open not in (None, ""):
        if raw_open.lower() not in TRUE_FALSE:
            raise Invalid(_("参数 %(name)s 必须是 true 或 false", name="is_open"), details={"field": "is_open"})
        stmt = stmt.where(Case.is_open.is_(TRUE_FALSE[raw_open.lower()]))
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
    cases = list(db.session.scalars(
        stmt.options(*_list_options()).order_by(Case.opened_on.desc(), Case.id.desc())
        .limit(limit).offset(offset)).unique())
    due = deadlines(db.session, cases, today=clock.today())
    items = [case_summary(c, due=due[c.id][0], overdue=due[c.id][1]) for c in cases]
    return jsonify({"items": items, "total": total})


@bp.get("/cases/<int:case_id>")
def get_case(case_id: int):
    """One case in scope: history, evidence, what this user may do now and what is missing."""
    scope, user = current_scope(), current_actor()
    case = get_in_scope(db.session, scope, Case, case_id)
    eager_load_case(case)
    today = clock.today()
    proc = engine.process_of(case)
    held = engine.case_roles(scope, case, proc)
    permitted = engine.permitted_transitions(db.session, case, proc, held, user.id)
    available, blocked = engine.available_transitions(db.session, scope, user, case, permitted)
    due, overdue = deadlines(db.session, [case], today=today)[case.id]
    out = case_detail(case, due=due, overdue=overdue, available=available, blocked=blocked,
                      submitted=submitted_data(case, submitted_names(db.session, case)))
    balances = evidence_services.fee_balances(db.session, case)
    out.update({
        "visits": [visit_json(v) for v in case.visits],
        "documents": [document_json(d) for d in case.documents],
        "fees": [fee_json(f, *balances.get(f.id, (None, None))) for f in case.fees],
        "payments": [payment_json(p) for p in case.payments],
        "contacts": [contact_json(c) for c in case.contacts],
        # what the absence ladder expects now (guardian contact, the rung's visit, attendance)
        "duty_notes": ladder.duty_notes(db.session, case),
    })
    step, waiting = nextstep.lines_for(db.session, scope, user, case, now=clock.now(), held=held, permitted=permitted)
    out.update({"next_step": step if str(step) else None, "waiting_on": waiting if str(waiting) else None})
    return jsonify(out)


@bp.post("/cases/<int:case_id>/transitions/<name>")
def fire_transition(case_id: int, name: str):
    """Fire a transition with the version the caller last read; data.date is the effective date."""
    scope, user = current_scope(), current_actor()
    # the case's one read (404 before the body is looked at); the engine fires on this read
    read = engine.read_case(db.session, scope, case_id)
    case = read.case
    if not engine.process_of(case).named(name):
        raise NotFound(_("该流程没有名为 %(name)s 的操作", name=name), code="unknown_transition",
                       details={"transition": name})
    body = validate(json_body(), FIRE_FIELDS)
    case = engine.fire(db.session, scope, user, case.id, name, version=body["version"],
                       data=body.get("data"), comment=body.get("comment"), today=clock.today(), read=read)
    return jsonify({"id": case.id, "state": case.state, "version": case.version, "is_open": case.is_open})


@bp.get("/queue")
def queue():
    """The cases this user can act on now, most urgent first (overdue, then due date)."""
    limit, offset = paginate_args()
    items = build_queue(db.session, current_scope(), current_actor(), today=clock.today())
    return jsonify({"items": items[offset:offset + limit], "total": len(items)})


# --- OpenAPI -----------------------------------------------------------------------------------

_STUDENT = obj({"id": ID, "name": string(), "status": string(), "is_provisional": {"type": "boolean"},
                "school_id": integer(nullable=True), "class_id": integer(nullable=True),
                "class_name": string(nullable=True), "grade": integer(nullable=True)})
_SUMMARY_PROPS = {
    "id": ID, "process": string(enum=list(REGISTRY)), "process_label": string(), "state": string(),
    "state_label": string(), "version": integer(), "student_id": integer(nullable=True), "school_id": ID,
    "class_id": integer(nullable=True, description="对象是班级的案件（学年末核实）的班级"),
    "class": obj({"id": ID, "name": string(), "grade": integer(), "school_year": string()}, nullable=True),
    "subject": string(description="案件对象：学生姓名，或班级名称"),
    "school_name": string(nullable=True), "opened_on": DATE, "is_open": {"type": "boolean"},
    "due": string("date", nullable=True, description="应办理日期"),
    "overdue": {"type": "boolean", "description": "已逾期（队列与督导中标红）"},
    "student": _STUDENT | {"nullable": True},
}
_SUMMARY = obj(_SUMMARY_PROPS)
_QUEUE_ITEM = obj({**_SUMMARY_PROPS, "actions": array(string(), description="本人现在可执行的操作"),
                   "period": string(nullable=True, description="月报的月份（YYYY-MM）；其他案件为 null"),
                   "reason": string(description="现在要做什么，如「待教导处审核」；不含办理期限（见 due、overdue）")})
_HISTORY = obj({"id": ID, "transition": string(), "label": string(), "from": string(nullable=True),
                "to": string(), "by": obj({"id": ID, "name": string()}, nullable=True),
                "role": string(), "role_label": string(), "at": string("date-time"),
                "effective_date": DATE, "comment": string(nullable=True), "data": {"type": "object"},
                "stand_in_for": string(nullable=True, description="代为办理时被代替的角色（如 academic_office）"),
                "stand_in_label": string(nullable=True, description="被代替角色的中文名称")})
_DETAIL = {
    "type": "object",
    "properties": {
        **_SUMMARY_PROPS,
        "data": {"type": "object"}, "parent_case_id": integer(nullable=True),
        "submitted": array(obj({"key": string(), "label": string(description="字段的中文名称"),
                                "value": {}, "text": string(description="按人读的值（班级、学校写名称）")}),
                           description="申请时提交的内容（休学起止日期与原因、转入学校与流向、返校班级、应缴费用……）"),
        "created_by_id": integer(nullable=True),
        "available_transitions": array(string(), description="本人现在按角色、范围、回避规则和状态可执行的操作"),
        "available": array(obj({"name": string(), "label": string()})),
        "blocked": {"type": "object", "additionalProperties": array(string()),
                    "description": "可执行但条件未满足的操作 → 缺少什么（中文）"},
        "history": array(_HISTORY),
        "visits": array({"type": "object"}), "documents": array({"type": "object"}),
        "fees": array({"type": "object"}), "payments": array({"type": "object"}),
        "contacts": array({"type": "object"}),
        "diagram": string(nullable=True, description="流程图（Mermaid stateDiagram-v2 文本）"),
        "duty_notes": array(string(), description="缺勤家访案件当前应做的事（联系家长、本级家访、补登考勤）"),
        "next_step": string(nullable=True, description="本人下一步要做的事（与案件页、待办的「下一步」相同，不含截止日期）"),
        "waiting_on": string(nullable=True, description="本人无事可办时：案件在等谁办理哪一步"),
    },
}
_CASE = [path_param("case_id", "案件编号")]

OPENAPI_PATHS = {
    "/api/v1/cases": {
        "post": op(
            "立案：为学生开启一个流程", ok=201, tag="cases", errors=WRITE_ERRORS,
            response=obj({"id": ID, "process": string(), "state": string(), "version": integer(),
                          "student_id": integer(nullable=True), "school_id": ID,
                          "class_id": integer(nullable=True)}),
            body=obj({"process": string(enum=list(REGISTRY)), "student_id": integer(nullable=True),
                      "data": {"type": "object", "description": "各流程的字段见 API.md；未知字段返回 422"}},
                     ["process"]),
            description="未知流程返回 422；学生不在管辖范围内返回 404；角色不能立此案返回 403；"
                        "学生已有同类未结案件返回 409 duplicate。transfer_in 不带 student_id 时由 "
                        "data.student 新建待入学学生。roll_verification 的对象是班级：不带 student_id，"
                        "data.class_id 指定班级，每班每学年一次（重复返回 409 duplicate）。"),
        "get": op("管辖范围内的案件", response=listing(_SUMMARY), tag="cases", params=PAGINATION + [
            query("process", string(enum=list(REGISTRY))), query("state", string()), query("student_id"),
            query("school_id"), query("class_id"), query("is_open", {"type": "boolean"})]),
    },
    "/api/v1/cases/{case_id}": {"get": op(
        "查看案件：历史、材料、本人可执行的操作及缺少的条件", response=_DETAIL, params=_CASE, tag="cases",
        errors=(401, 404))},
    "/api/v1/cases/{case_id}/transitions/{name}": {"post": op(
        "执行流程操作（审批、提交、退回等）", params=_CASE + [
            {"name": "name", "in": "path", "required": True, "schema": string(), "description": "操作名，如 submit"}],
        tag="cases", errors=WRITE_ERRORS,
        response=obj({"id": ID, "state": string(), "version": integer(), "is_open": {"type": "boolean"}}),
        body=obj({"version": integer(description="最近一次读取到的版本号"), "comment": string(nullable=True),
                  "data": {"type": "object", "description": "操作的数据；data.date 为生效日期（不能晚于今天）"}},
                 ["version"]),
        description="检查顺序：案件不在管辖范围 404 → 操作名未知 404 → 请求体格式错误 422 → 角色无权 403 → "
                    "提交人不能审批 403 → 版本过期 409 stale_version → 当前状态不允许 409 invalid_state → "
                    "条件未满足 409 guard_failed（message 说明缺少什么）。失败的请求不写入任何数据。")},
    "/api/v1/queue": {"get": op(
        "我的待办：现在可以办理的案件，最紧急的在前", response=listing(_QUEUE_ITEM), tag="cases",
        params=PAGINATION, errors=(401, 422),
        description="已逾期的在前，其次按应办理日期，最后按立案日期。")},
}
