"""Support API (SPEC §5, issue 15): learning-difficulty files, poor-family aid and its totals, the
anonymous class survey and the teacher evaluation, the published fee schedule.

Thin: parse and validate (422 naming the field) → workflow.support service (scope 404, 403, 409)
→ respond. Money is a decimal string in yuan. Children answer the survey on the no-login phone
page (admin/views/support.py), not through this API.
"""
from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

from flask import jsonify, request, send_file
from flask_babel import gettext as _

from models import AID_KINDS
from workflow import clock
from workflow.errors import Invalid
from workflow.support import aid, fees, learning, survey
from workflow.validation import Field

from ..extensions import db
from ..security import current_actor, current_scope
from . import bp
from .openapi import DATE, ID, WRITE_ERRORS, array, integer, listing, obj, op, path_param, query, string
from .util import int_arg, json_body, validate

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TERM = Field(int, choices=(1, 2))


def _yuan(value) -> str:
    return f"{value:.2f}"


def _required_args(*names: str) -> dict:
    out = {}
    for name in names:
        raw = request.args.get(name, "")
        if not raw:
            raise Invalid(_("缺少必填字段：%(name)s", name=name), details={"field": name})
        out[name] = raw
    return out


def _of_one_school(list_rows, to_json):
    """The rows `list_rows(session, scope, school_id=...)` returns, of one school with
    ?school_id=, as the API's listing ({"items", "total"}): the shape the learning files, the
    surveys and the fee schedules share."""
    rows = list_rows(db.session, current_scope(), school_id=int_arg("school_id"))
    return jsonify({"items": [to_json(r) for r in rows], "total": len(rows)})


def _term_arg(required: bool = True) -> int | None:
    value = int_arg("term")
    if value is None and not required:
        return None
    if value not in (1, 2):
        raise Invalid(_("字段 term 必须是 1 或 2"), details={"field": "term"})
    return value


# --- serializers ------------------------------------------------------------------------------


def goal_json(g) -> dict:
    return {"id": g.id, "school_year": g.school_year, "term": g.term, "target": g.target,
            "result": g.result, "is_met": g.is_met}


def file_json(f, full: bool = True) -> dict:
    out = {"id": f.id, "student_id": f.student_id, "helper_id": f.helper_id,
           "goals": [goal_json(g) for g in f.goals]}
    if full:
        out["sessions"] = [{"id": s.id, "date": s.date.isoformat(), "notes": s.notes} for s in f.sessions]
    return out


def grant_json(g) -> dict:
    return {"id": g.id, "student_id": g.student_id, "school_id": g.school_id, "school_year": g.school_year,
            "term": g.term, "kind": g.kind, "amount": _yuan(g.amount), "granted_by_id": g.granted_by_id,
            "granted_on": g.granted_on.isoformat(), "note": g.note}


def result_json(r) -> dict:
    return {"teacher_id": r.user_id, "name": r.name, "role": r.role, "answers": r.answers, "shown": r.shown,
            "by_question": [_yuan(x) for x in r.by_question], "overall": _yuan(r.overall) if r.shown else None}


def survey_json(s, results=None, codes=None) -> dict:
    issued, used = survey.code_counts(db.session, s)
    out = {"id": s.id, "class_id": s.class_id, "school_id": s.school_id, "school_year": s.school_year,
           "term": s.term, "status": s.status, "opened_on": s.opened_on.isoformat(),
           "closed_on": s.closed_on.isoformat() if s.closed_on else None,
           "teacher_ids": [t.user_id for t in s.teachers], "codes_issued": issued, "codes_used": used}
    if results is not None:
        out["results"] = [result_json(r) for r in results]
    if codes is not None:
        out["codes"] = codes
    return out


def schedule_json(s) -> dict:
    return {"id": s.id, "school_id": s.school_id, "school_year": s.school_year, "status": s.status,
            "approved_by_id": s.approved_by_id, "approved_at": clock.local_iso(s.approved_at),
            "items": [{"name": i.name, "amount": _yuan(i.amount), "note": i.note} for i in s.items]}


# --- learning-difficulty files ----------------------------------------------------------------


@bp.post("/learning-files")
def create_learning_file():
    """Open a child's learning-difficulty file with its helping teacher."""
    body = validate(json_body(), {"student_id": Field(int), "helper_id": Field(int)})
    f = learning.open_file(db.session, current_scope(), current_actor(), **body)
    return jsonify(file_json(f)), 201


@bp.get("/learning-files")
def list_learning_files():
    """Files in scope (of one school with ?school_id=)."""
    return _of_one_school(learning.list_files, lambda f: file_json(f, full=False))


@bp.get("/learning-files/<int:file_id>")
def get_learning_file(file_id: int):
    """One file with goals and help sessions."""
    return jsonify(file_json(learning.get_file(db.session, current_scope(), file_id)))


@bp.post("/learning-files/<int:file_id>/goals")
def add_learning_goal(file_id: int):
    """A staged goal for a term."""
    body = validate(json_body(), {"school_year": Field(str, max_len=9), "term": TERM,
                                  "target": Field(str, max_len=500)})
    goal = learning.add_goal(db.session, current_scope(), current_actor(), file_id, **body)
    return jsonify(goal_json(goal)), 201


@bp.post("/learning-goals/<int:goal_id>/result")
def record_learning_result(goal_id: int):
    """The goal's result at term end and whether it was met."""
    body = validate(json_body(), {"result": Field(str, max_len=500), "is_met": Field(bool)})
    goal = learning.record_result(db.session, current_scope(), current_actor(), goal_id, **body)
    return jsonify(goal_json(goal))


@bp.post("/learning-files/<int:file_id>/sessions")
def add_help_session(file_id: int):
    """The note of a help session."""
    body = validate(json_body(), {"date": Field(dt.date), "notes": Field(str, max_len=2000)})
    row = learning.add_session(db.session, current_scope(), current_actor(), file_id, today=clock.today(), **body)
    return jsonify({"id": row.id, "date": row.date.isoformat(), "notes": row.notes}), 201


@bp.get("/reports/learning-goals")
def learning_goals_report():
    """Per school: files, goals of the year (and term), goals met."""
    args = _required_args("school_year")
    rows = learning.goals_by_school(db.session, current_scope(), school_year=args["school_year"],
                                    term=_term_arg(required=False), center_school_id=int_arg("center_school_id"))
    return jsonify({"items": [{"school_id": r.school_id, "school": r.school_name, "files": r.files,
                               "goals": r.goals, "met": r.met, "not_met": r.not_met, "open": r.open}
                              for r in rows], "total": len(rows)})


# --- aid ------------------------------------------------------------------------------------------


@bp.post("/aid-grants")
def create_aid_grant():
    """Record aid for a child of a poor family for a term."""
    body = validate(json_body(), {"student_id": Field(int), "school_year": Field(str, max_len=9), "term": TERM,
                                  "kind": Field(str, choices=AID_KINDS), "amount": Field(Decimal),
                                  "granted_on": Field(dt.date, required=False),
                                  "note": Field(str, required=False, nullable=True, max_len=200)})
    today = clock.today()
    body.setdefault("granted_on", today)
    grant = aid.grant_aid(db.session, current_scope(), current_actor(), today=today, **body)
    return jsonify(grant_json(grant)), 201


@bp.get("/aid-grants")
def list_aid_grants():
    """A child's aid, newest term first."""
    student_id = int_arg("student_id")
    if student_id is None:
        raise Invalid(_("缺少必填字段：%(name)s", name="student_id"), details={"field": "student_id"})
    grants = aid.grants_of_student(db.session, current_scope(), student_id)
    return jsonify({"items": [grant_json(g) for g in grants], "total": len(grants)})


def _totals():
    args = _required_args("school_year")
    return args["school_year"], aid.aid_totals(
        db.session, current_scope(), school_year=args["school_year"], term=_term_arg(),
        school_id=int_arg("school_id"), center_school_id=int_arg("center_school_id"))


@bp.get("/reports/aid-totals")
def aid_totals_report():
    """Per school: aid of the term by kind, total, children helped."""
    _year, rows = _totals()
    return jsonify({"items": [{"school_id": t.school_id, "school": t.school_name,
                               "by_kind": {k: _yuan(v) for k, v in t.by_kind.items()},
                               "total": _yuan(t.total), "children": t.children} for t in rows],
                    "total": len(rows)})


@bp.get("/reports/aid-totals/export")
def aid_totals_export():
    """The totals as .xlsx (with every grant when one school is asked for)."""
    year, rows = _totals()
    term = _term_arg()
    school_id = int_arg("school_id")
    grants = (aid.grant_rows(db.session, current_scope(), school_id=school_id, school_year=year, term=term)
              if school_id is not None else [])
    data = aid.totals_xlsx(rows, grants, school_year=year, term=term, names=aid_names(), headers=aid_headers())
    return send_file(io.BytesIO(data), mimetype=XLSX, as_attachment=True,
                     download_name=f"aid-{year}-{term}.xlsx", max_age=0)


def aid_names() -> dict[str, str]:
    return {k: _(v) for k, v in aid.AID_NAMES.items()}


def aid_headers() -> dict[str, str]:
    return {"school": _("学校"), "school_year": _("学年"), "term": _("学期"), "total": _("合计（元）"),
            "children": _("受助学生数"), "student": _("学生"), "kind": _("资助项目"), "amount": _("金额（元）"),
            "granted_on": _("发放日期"), "granted_by": _("经办人"), "note": _("备注"), **aid_names()}


# --- survey -------------------------------------------------------------------------------------


@bp.post("/surveys")
def open_class_survey():
    """Open a class's survey for a term; answers with the one-time codes (shown only now)."""
    body = validate(json_body(), {"class_id": Field(int), "school_year": Field(str, max_len=9), "term": TERM})
    s, codes = survey.open_survey(db.session, current_scope(), current_actor(), today=clock.today(), **body)
    return jsonify(survey_json(s, codes=codes)), 201


@bp.get("/surveys")
def list_class_surveys():
    """Surveys in scope (of one school with ?school_id=)."""
    return _of_one_school(survey.list_surveys, survey_json)


@bp.get("/surveys/<int:survey_id>")
def get_class_survey(survey_id: int):
    """A survey with the results the user may see (per teacher only from 5 answers, once closed)."""
    scope = current_scope()
    s = survey.get_survey(db.session, scope, survey_id)
    return jsonify(survey_json(s, results=survey.survey_results(db.session, scope, s)))


@bp.post("/surveys/<int:survey_id>/close")
def close_class_survey(survey_id: int):
    """End the survey."""
    scope = current_scope()
    s = survey.close_survey(db.session, scope, current_actor(), survey_id, today=clock.today())
    return jsonify(survey_json(s, results=survey.survey_results(db.session, scope, s)))


@bp.post("/surveys/<int:survey_id>/codes")
def reissue_survey_codes(survey_id: int):
    """Void the unused codes and issue as many new ones."""
    s, codes = survey.reissue_codes(db.session, current_scope(), current_actor(), survey_id)
    return jsonify(survey_json(s, codes=codes))


@bp.get("/teachers/<int:teacher_id>/evaluation")
def teacher_evaluation(teacher_id: int):
    """Survey results, homeroom classes' loss rates and 评优评先 eligibility for a school year."""
    args = _required_args("school_year")
    ev = survey.teacher_evaluation(db.session, current_scope(), teacher_id, school_year=args["school_year"])
    return jsonify({
        "teacher_id": ev.teacher.id, "name": ev.teacher.name, "school_year": ev.school_year,
        "eligible": ev.eligible, "pending": ev.pending,
        "surveys": [{"survey_id": s.id, "class_id": s.class_id, "term": s.term, **result_json(r)}
                    for s, r in ev.surveys],
        "classes": [{"class_id": c["class_id"], "term": c["term"], "baseline": c["baseline"], "losses": c["losses"],
                     "loss_rate": f"{c['loss_rate']:.4f}" if c["loss_rate"] is not None else None,
                     "over_threshold": c["over_threshold"]} for c in ev.classes],
    })


# --- fee schedule -------------------------------------------------------------------------------

ITEM = Field(dict)


@bp.post("/fee-schedules")
def save_fee_schedule():
    """Create a school's draft schedule for a year, or replace its draft's items."""
    body = validate(json_body(), {"school_id": Field(int), "school_year": Field(str, max_len=9),
                                  "items": Field(list, item=ITEM)})
    s = fees.save_schedule(db.session, current_scope(), current_actor(), **body)
    return jsonify(schedule_json(s)), 201


@bp.get("/fee-schedules")
def list_fee_schedules():
    """Schedules in scope (of one school with ?school_id=)."""
    return _of_one_school(fees.list_schedules, schedule_json)


@bp.get("/fee-schedules/<int:schedule_id>")
def get_fee_schedule(schedule_id: int):
    """One schedule."""
    return jsonify(schedule_json(fees.get_schedule(db.session, current_scope(), schedule_id)))


@bp.post("/fee-schedules/<int:schedule_id>/approve")
def approve_fee_schedule(schedule_id: int):
    """The center school approves (publishes) a draft."""
    return jsonify(schedule_json(fees.approve_schedule(db.session, current_scope(), current_actor(), schedule_id)))


# --- OpenAPI ----------------------------------------------------------------------------------

MONEY = string(description="金额（元），两位小数的字符串，如 \"120.50\"")
YEAR = string(description="学年，如 2026-2027")
TERM_SCHEMA = integer(enum=[1, 2])
_GOAL = obj({"id": ID, "school_year": YEAR, "term": TERM_SCHEMA, "target": string(), "result": string(nullable=True),
             "is_met": {"type": "boolean", "nullable": True}})
_FILE = obj({"id": ID, "student_id": ID, "helper_id": ID, "goals": array(_GOAL),
             "sessions": array(obj({"id": ID, "date": DATE, "notes": string()}))})
_GRANT = obj({"id": ID, "student_id": ID, "school_id": ID, "school_year": YEAR, "term": TERM_SCHEMA,
              "kind": string(enum=list(AID_KINDS)), "amount": MONEY, "granted_by_id": ID, "granted_on": DATE,
              "note": string(nullable=True)})
_RESULT = obj({"teacher_id": ID, "name": string(), "role": string(), "answers": integer(),
               "shown": {"type": "boolean", "description": "问卷结束且不少于 5 份答卷才显示"},
               "by_question": array(MONEY), "overall": string(nullable=True)})
_SURVEY = obj({"id": ID, "class_id": ID, "school_id": ID, "school_year": YEAR, "term": TERM_SCHEMA,
               "status": string(enum=["open", "closed"]), "opened_on": DATE, "closed_on": string("date", nullable=True),
               "teacher_ids": array(ID), "codes_issued": integer(), "codes_used": integer(),
               "results": array(_RESULT), "codes": array(string(), description="一次性代码，只在发起或补发时返回一次")})
_SCHEDULE = obj({"id": ID, "school_id": ID, "school_year": YEAR, "status": string(enum=["draft", "approved"]),
                 "approved_by_id": integer(nullable=True), "approved_at": string("date-time", nullable=True),
                 "items": array(obj({"name": string(), "amount": MONEY, "note": string(nullable=True)}))})
_EMPTY = obj({}, description="空对象 {}（可省略请求体）")
_YEAR_Q = query("school_year", YEAR, "学年", required=True)
_XLSX_RESPONSE = {"200": {"description": "Excel 文件", "content": {XLSX: {"schema": string("binary")}}}}

OPENAPI_PATHS = {
    "/api/v1/learning-files": {
        "post": op("建立学困生档案（一帮一帮扶教师）", ok=201, response=_FILE, tag="support", errors=WRITE_ERRORS,
                   body=obj({"student_id": ID, "helper_id": ID}, ["student_id", "helper_id"]),
                   description="学生须标记为学困（learning_difficulty）；一人一档，重复建立返回 409 duplicate。"),
        "get": op("学困生档案列表", response=listing(_FILE), tag="support",
                  params=[query("school_id", description="学校")]),
    },
    "/api/v1/learning-files/{file_id}": {"get": op(
        "一份学困生档案：目标与帮扶记录", response=_FILE, tag="support", params=[path_param("file_id")])},
    "/api/v1/learning-files/{file_id}/goals": {"post": op(
        "为一个学期定阶段目标", ok=201, response=_GOAL, tag="support", errors=WRITE_ERRORS,
        params=[path_param("file_id")],
        body=obj({"school_year": YEAR, "term": TERM_SCHEMA, "target": string(maxLength=500)},
                 ["school_year", "term", "target"]))},
    "/api/v1/learning-goals/{goal_id}/result": {"post": op(
        "学期末登记目标达成情况", response=_GOAL, tag="support", errors=WRITE_ERRORS, params=[path_param("goal_id")],
        body=obj({"result": string(maxLength=500), "is_met": {"type": "boolean"}}, ["result", "is_met"]))},
    "/api/v1/learning-files/{file_id}/sessions": {"post": op(
        "登记一次帮扶（辅导）记录", ok=201, tag="support", errors=WRITE_ERRORS, params=[path_param("file_id")],
        response=obj({"id": ID, "date": DATE, "notes": string()}),
        body=obj({"date": DATE, "notes": string(maxLength=2000)}, ["date", "notes"]))},
    "/api/v1/reports/learning-goals": {"get": op(
        "各校学困生档案数与目标达成数", tag="support",
        response=listing(obj({"school_id": ID, "school": string(), "files": integer(), "goals": integer(),
                              "met": integer(), "not_met": integer(), "open": integer()})),
        params=[_YEAR_Q, query("term", TERM_SCHEMA, "学期（不填为全年）"),
                query("center_school_id", description="中心校")])},
    "/api/v1/aid-grants": {
        "post": op("登记贫困家庭学生资助（免杂费、免书费、生活补助）", ok=201, response=_GRANT, tag="support",
                   errors=WRITE_ERRORS,
                   body=obj({"student_id": ID, "school_year": YEAR, "term": TERM_SCHEMA,
                             "kind": string(enum=list(AID_KINDS)), "amount": MONEY, "granted_on": DATE,
                             "note": string(nullable=True, maxLength=200)},
                            ["student_id", "school_year", "term", "kind", "amount"]),
                   description="学生须标记为贫困（poor）；同一学期同一项目只登记一次（409 duplicate）。"),
        "get": op("一名学生的资助记录", response=listing(_GRANT), tag="support",
                  params=[query("student_id", required=True, description="学生")]),
    },
    "/api/v1/reports/aid-totals": {"get": op(
        "各校一个学期的资助合计", tag="support",
        response=listing(obj({"school_id": ID, "school": string(),
                              "by_kind": obj({k: MONEY for k in AID_KINDS}), "total": MONEY,
                              "children": integer()})),
        params=[_YEAR_Q, query("term", TERM_SCHEMA, "学期", required=True), query("school_id", description="学校"),
                query("center_school_id", description="中心校")], errors=(401, 403, 404, 422))},
    "/api/v1/reports/aid-totals/export": {"get": {
        **op("资助合计导出为 Excel（指定学校时含明细）", tag="support", errors=(401, 403, 404, 422),
             params=[_YEAR_Q, query("term", TERM_SCHEMA, "学期", required=True),
                     query("school_id", description="学校"), query("center_school_id", description="中心校")]),
        "responses": {**_XLSX_RESPONSE, **{str(c): {"description": d, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Error"}}}} for c, d in (
                (401, "未登录"), (403, "无权查看全校合计"), (404, "学校不在管辖范围内"), (422, "缺少学年或学期"))}},
    }},
    "/api/v1/surveys": {
        "post": op("教导处为一个班发起本学期无记名问卷", ok=201, response=_SURVEY, tag="support", errors=WRITE_ERRORS,
                   body=obj({"class_id": ID, "school_year": YEAR, "term": TERM_SCHEMA},
                            ["class_id", "school_year", "term"]),
                   description="每名在校学生一个一次性代码（codes，只返回这一次，系统只保存其散列值）。"),
        "get": op("问卷列表", response=listing(_SURVEY), tag="support", params=[query("school_id", description="学校")]),
    },
    "/api/v1/surveys/{survey_id}": {"get": op(
        "一份问卷及结果", response=_SURVEY, tag="support", params=[path_param("survey_id")],
        description="结果按教师显示，只有问卷结束且答卷不少于 5 份时才给出分数。")},
    "/api/v1/surveys/{survey_id}/close": {"post": op(
        "结束问卷", response=_SURVEY, tag="support", errors=WRITE_ERRORS, params=[path_param("survey_id")],
        body=_EMPTY)},
    "/api/v1/surveys/{survey_id}/codes": {"post": op(
        "作废未用代码并补发同样数量的新代码", response=_SURVEY, tag="support", errors=WRITE_ERRORS,
        params=[path_param("survey_id")], body=_EMPTY)},
    "/api/v1/teachers/{teacher_id}/evaluation": {"get": op(
        "教师评价：问卷结果、所带班级流失率与评优评先资格", tag="support",
        params=[path_param("teacher_id"), _YEAR_Q],
        response={"type": "object", "properties": {
            "teacher_id": ID, "name": string(), "school_year": YEAR, "eligible": {"type": "boolean"},
            "pending": {"type": "boolean", "description": "尚有班级未冻结基数"},
            "surveys": array({"type": "object"}), "classes": array({"type": "object"})}})},
    "/api/v1/fee-schedules": {
        "post": op("编制（或修改草稿）一所学校一个学年的收费标准（一费制）", ok=201, response=_SCHEDULE, tag="support",
                   errors=WRITE_ERRORS,
                   body=obj({"school_id": ID, "school_year": YEAR, "items": array(obj(
                       {"name": string(maxLength=80), "amount": MONEY, "note": string(nullable=True)},
                       ["name", "amount"]))}, ["school_id", "school_year", "items"]),
                   description="已批准的收费标准不能再改（409 invalid_state）。"),
        "get": op("收费标准列表", response=listing(_SCHEDULE), tag="support",
                  params=[query("school_id", description="学校")]),
    },
    "/api/v1/fee-schedules/{schedule_id}": {"get": op(
        "一份收费标准", response=_SCHEDULE, tag="support", params=[path_param("schedule_id")])},
    "/api/v1/fee-schedules/{schedule_id}/approve": {"post": op(
        "中心校批准（公布）收费标准", response=_SCHEDULE, tag="support", errors=WRITE_ERRORS,
        params=[path_param("schedule_id")], body=_EMPTY)},
}
