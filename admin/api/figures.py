"""Figures API (SPEC §4): baselines, class figures, the ledger, school figures, exam scores.

Each view: validate the query/body (422 naming the field) → the services of workflow/figures/
(404 out of scope, 403 role) → respond. Rates and
money are decimal strings ("0.0200", "0.98", "-50.00"). Thresholds and amounts come from the app
config `FIGURES` (see docs/figures.md).
"""
from __future__ import annotations

from decimal import Decimal

from flask import current_app, jsonify, request
from flask_babel import gettext as _

from models import EXAM_KINDS
from workflow import clock
from workflow.errors import Invalid
from workflow.figures import baselines, ledger, losses, rates
from workflow.figures import exams as exam_services
from workflow.figures.common import FigureSettings
from workflow.validation import Field

from ..extensions import db
from ..security import current_actor, current_scope
from . import bp
from .openapi import DATE, ID, WRITE_ERRORS, array, integer, obj, op, query, string
from .util import json_body, multipart_form, to_int, validate

BASELINE_SPEC = {
    "school_id": Field(int),
    "school_year": Field(str, max_len=9),
    "term": Field(int, choices=(1, 2)),
    "refreeze": Field(bool, required=False, nullable=True),
    "reason": Field(str, required=False, nullable=True, max_len=500),
}


def settings() -> FigureSettings:
    """The deployment's figure settings (config `FIGURES`, a mapping; defaults otherwise)."""
    return FigureSettings.from_mapping(current_app.config.get("FIGURES"))


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _date(value) -> str | None:
    return value.isoformat() if value is not None else None


def _query_int(name: str, required: bool = True, choices=None) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        if required:
            raise Invalid(_("缺少参数：%(name)s", name=name), details={"field": name})
        return None
    value = to_int(raw, name)
    if choices is not None and value not in choices:
        raise Invalid(_("参数 %(name)s 必须是以下之一：%(choices)s", name=name,
                        choices=", ".join(str(c) for c in choices)), details={"field": name})
    return value


def _query_year() -> str:
    raw = request.args.get("school_year")
    if not raw:
        raise Invalid(_("缺少参数：%(name)s", name="school_year"), details={"field": "school_year"})
    return raw


def _exam_arg() -> str:
    raw = request.args.get("exam") or "final"
    if raw not in EXAM_KINDS:
        raise Invalid(_("参数 %(name)s 必须是以下之一：%(choices)s", name="exam", choices=", ".join(EXAM_KINDS)),
                      details={"field": "exam"})
    return raw


def baseline_json(b) -> dict:
    return {"id": b.id, "class_id": b.class_id, "school_id": b.school_id, "school_year": b.school_year,
            "term": b.term, "count": b.count, "rule": b.rule, "counted_on": b.counted_on.isoformat(),
            "student_ids": list(b.student_ids or []), "is_current": b.is_current,
            "frozen_at": clock.local_iso(b.frozen_at), "frozen_by_id": b.frozen_by_id, "reason": b.reason,
            "replaces_id": b.replaces_id}


def class_item_json(item: dict) -> dict:
    return {
        "class_id": item["class_id"], "class_name": item["class_name"], "grade": item["grade"],
        "school_id": item["school_id"], "school_name": item["school_name"],
        "baseline": item["baseline"], "baseline_rule": item["baseline_rule"],
        "frozen_at": clock.local_iso(item["frozen_at"]),
        "losses": item["losses"], "loss_rate": _dec(item["loss_rate"]),
        "threshold": _dec(item["threshold"]), "over_threshold": item["over_threshold"],
        "coefficient": _dec(item["coefficient"]), "recovered": item["recovered"],
        "loss_student_ids": item["loss_student_ids"], "recovered_student_ids": item["recovered_student_ids"],
        "losses_detail": [{"student_id": x.student_id, "case_id": x.case_id, "date": x.date.isoformat()}
                          for x in item["loss_details"]],
        "recovered_detail": [{"student_id": r.student_id, "case_id": r.case_id, "date": r.date.isoformat()}
                             for r in item["recovery_details"]],
    }


def ledger_line_json(line: dict) -> dict:
    return {**line, "amount": _money(line["amount"]), "date": line["date"].isoformat()}


def _summary_json(s: dict) -> dict:
    return {"count": s["count"], "average": _dec(s["average"]), "pass_rate": _dec(s["pass_rate"]),
            "excellent_rate": _dec(s["excellent_rate"])}


def _retention_json(r: dict | None) -> dict | None:
    if r is None:
        return None
    return {**r, "rate": _dec(r["rate"]), "target": _dec(r["target"])}


# --- views ------------------------------------------------------------------------------------


@bp.post("/baselines")
def freeze_baselines():
    """Freeze the baselines of a school's classes for a term (refreeze=true records a new one)."""
    body = validate(json_body(), BASELINE_SPEC)
    rows = baselines.freeze_baselines(db.session, current_scope(), current_actor(), **body)
    return jsonify({"items": [baseline_json(b) for b in rows], "total": len(rows)})


@bp.get("/reports/classes")
def class_report():
    """Baseline, losses, loss rate, coefficient and recovered children per class for a term."""
    school_id = _query_int("school_id", required=False)
    term = _query_int("term", choices=(1, 2))
    items = losses.class_figures(db.session, current_scope(), school_id=school_id,
                                 school_year=_query_year(), term=term, settings=settings())
    return jsonify({"items": [class_item_json(i) for i in items], "total": len(items)})


@bp.get("/reports/ledger")
def ledger_report():
    """Reward/penalty lines of a school's term, each with its student and case."""
    school_id = _query_int("school_id")
    term = _query_int("term", choices=(1, 2))
    lines = ledger.ledger(db.session, current_scope(), school_id=school_id, school_year=_query_year(),
                          term=term, settings=settings())
    totals = [{**t, "amount": _money(t["amount"])} for t in ledger.ledger_totals(lines)]
    return jsonify({"items": [ledger_line_json(li) for li in lines], "total": len(lines), "totals": totals})


@bp.get("/reports/schools")
def school_report():
    """Annual dropout rate (with the configured definition) and retention rates of a school."""
    school_id = _query_int("school_id")
    fig = rates.school_figures(db.session, current_scope(), school_id=school_id, school_year=_query_year(),
                               settings=settings())
    out = {**fig, "dropout_rate": _dec(fig["dropout_rate"]), "dropout_target": _dec(fig["dropout_target"]),
           "year_start": fig["year_start"].isoformat(), "year_end": fig["year_end"].isoformat(),
           "retention": {k: _retention_json(v) for k, v in fig["retention"].items()},
           "classes": [{**c, "dropout_rate": _dec(c["dropout_rate"]), "target": _dec(c["target"])}
                       for c in fig["classes"]]}
    return jsonify(out)


def _form_bool(form, name: str) -> bool:
    raw = (form.get(name) or "").strip().lower()
    if raw in ("", "false", "0", "no"):
        return False
    if raw in ("true", "1", "yes", "on"):
        return True
    raise Invalid(_("字段 %(name)s 必须是 true 或 false", name=name), details={"field": name})


def _form_int(form, name: str) -> int:
    raw = (form.get(name) or "").strip()
    if not raw:
        raise Invalid(_("缺少必填字段：%(name)s", name=name), details={"field": name})
    return to_int(raw, name)


IMPORT_FIELDS = {"class_id", "school_year", "term", "subject", "exam", "only_valid"}


@bp.post("/exams/import")
def import_exam_scores():
    """Import a class's scores from an .xlsx file; every bad row is reported, nothing is
    written unless the file is clean or only_valid=true."""
    if request.mimetype != "multipart/form-data":
        raise Invalid(_("请以 multipart/form-data 上传，字段 file、class_id、school_year、term"),
                      details={"field": "file"})
    form, files = multipart_form({"file"}, IMPORT_FIELDS)
    upload = files.get("file")
    if upload is None or upload.filename == "":
        raise Invalid(_("缺少必填字段：%(name)s", name="file"), details={"field": "file"})
    class_id = _form_int(form, "class_id")
    term = _form_int(form, "term")
    school_year = (form.get("school_year") or "").strip()
    if not school_year:
        raise Invalid(_("缺少必填字段：%(name)s", name="school_year"), details={"field": "school_year"})
    data = upload.stream.read(int(current_app.config["MAX_UPLOAD_BYTES"]) + 1)
    if len(data) > int(current_app.config["MAX_UPLOAD_BYTES"]):
        raise Invalid(_("字段 file：文件过大"), details={"field": "file"})
    result = exam_services.import_scores(
        db.session, current_scope(), current_actor(), class_id=class_id, school_year=school_year, term=term,
        data=data, subject=form.get("subject"), exam=(form.get("exam") or "final").strip(),
        only_valid=_form_bool(form, "only_valid"))
    return jsonify({"imported": result.imported, "updated": result.updated, "skipped": result.skipped,
                    "errors": [e.as_dict() for e in result.errors]}), 201


@bp.get("/reports/exams")
def exam_report():
    """Per subject: raw and accounted average, pass rate and excellence rate of a class."""
    class_id = _query_int("class_id")
    term = _query_int("term", choices=(1, 2))
    stats = exam_services.class_exam_stats(db.session, current_scope(), class_id=class_id,
                                           school_year=_query_year(), term=term, exam=_exam_arg(),
                                           settings=settings())
    return jsonify({
        **stats, "pass_mark": _dec(stats["pass_mark"]), "excellent_mark": _dec(stats["excellent_mark"]),
        "lost_from": _date(stats["lost_from"]), "term_end": _date(stats["term_end"]),
        "lost": [{**x, "date": x["date"].isoformat()} for x in stats["lost"]],
        "subjects": [{**s, "raw": _summary_json(s["raw"]), "accounted": _summary_json(s["accounted"])}
                     for s in stats["subjects"]],
    })


# --- OpenAPI ----------------------------------------------------------------------------------

_DEC = string(nullable=True, pattern=r"^-?\d+\.\d+$")
_YEAR = query("school_year", string(example="2026-2027"), "学年", required=True)
_TERM = query("term", integer(enum=[1, 2]), "学期", required=True)
_ERRORS = (401, 403, 404, 422)
_BASELINE = obj({
    "id": ID, "class_id": ID, "school_id": ID, "school_year": string(), "term": integer(enum=[1, 2]),
    "count": integer(), "rule": string(enum=["term_start", "takeover", "grade1_enrolment"]),
    "counted_on": DATE, "student_ids": array(ID), "is_current": {"type": "boolean"},
    "frozen_at": string("date-time"), "frozen_by_id": integer(nullable=True), "reason": string(nullable=True),
    "replaces_id": integer(nullable=True, description="重新冻结时被取代的基数记录")})
_MOVE = obj({"student_id": ID, "case_id": ID, "date": DATE})
_CLASS_ITEM = obj({
    "class_id": ID, "class_name": string(), "grade": integer(), "school_id": ID, "school_name": string(),
    "baseline": integer(nullable=True, description="冻结前为 null"),
    "baseline_rule": string(nullable=True), "frozen_at": string("date-time", nullable=True),
    "losses": integer(), "loss_rate": string(nullable=True, example="0.0200", description="冻结前为 null"),
    "threshold": string(example="0.02"), "over_threshold": {"type": "boolean"},
    "coefficient": string(example="0.98"), "recovered": integer(),
    "loss_student_ids": array(ID), "recovered_student_ids": array(ID),
    "losses_detail": array(_MOVE), "recovered_detail": array(_MOVE)})
_LINE = obj({
    "user_id": ID, "user_name": string(), "role": string(enum=["homeroom_teacher", "team_member", "credited"]),
    "amount": string(example="-50.00"), "reason": string(), "student_id": ID, "student_name": string(),
    "case_id": ID, "class_id": ID, "class_name": string(), "date": DATE})
_SUMMARY = obj({"count": integer(), "average": _DEC, "pass_rate": _DEC, "excellent_rate": _DEC})
_RETENTION = {"type": "object", "nullable": True, "properties": {
    "cohort_year": string(), "cohort_grade": integer(), "cohort": integer(), "final_grade": integer(),
    "finishers": integer(), "source": string(enum=["exam", "year_end"]), "rate": _DEC, "target": _DEC,
    "meets_target": {"type": "boolean", "nullable": True}}}

OPENAPI_PATHS = {
    "/api/v1/baselines": {"post": op(
        "冻结某校各班某学期的基数", tag="figures", errors=WRITE_ERRORS,
        response={"type": "object", "properties": {"items": array(_BASELINE), "total": integer()}},
        body=obj({"school_id": ID, "school_year": string(example="2026-2027"), "term": integer(enum=[1, 2]),
                  "refreeze": {"type": "boolean", "default": False},
                  "reason": string(nullable=True, description="重新冻结的理由")},
                 ["school_id", "school_year", "term"]),
        description="系统管理员、本校校长或教导处、本中心校领导可冻结。已冻结的班级不变，除非 refreeze=true："
                    "此时写入新记录（replaces_id 指向旧记录），旧记录不再有效。该学期校历未设置返回 422。")},
    "/api/v1/reports/classes": {"get": op(
        "各班某学期的基数、流失、流失率、系数、劝返人数", tag="figures", errors=_ERRORS,
        response={"type": "object", "properties": {"items": array(_CLASS_ITEM), "total": integer()}},
        params=[query("school_id", description="不填则为管辖范围内所有学校"), _YEAR, _TERM],
        description="流失率 = 流失人数 / 基数（4 位小数），超过阈值（默认 0.02，严格大于）为 over_threshold；"
                    "系数 = 1 − 0.02 × 流失人数（不低于 0）。未冻结基数时 baseline 与 loss_rate 为 null。")},
    "/api/v1/reports/ledger": {"get": op(
        "某校某学期的奖惩台账（每行可追溯到学生和案件）", tag="figures", errors=_ERRORS,
        response={"type": "object", "properties": {
            "items": array(_LINE), "total": integer(),
            "totals": array(obj({"user_id": ID, "user_name": string(), "amount": string(), "lines": integer()}))}},
        params=[query("school_id", required=True), _YEAR, _TERM],
        description="每流失一人：班主任和本校每位控辍小组成员各 −50 元；每劝返一人：劝返记录中的每位"
                    "有功人员 +50 元（金额可配置）。")},
    "/api/v1/reports/schools": {"get": op(
        "某校学年辍学率与巩固率", tag="figures", errors=_ERRORS, params=[query("school_id", required=True), _YEAR],
        response={"type": "object", "properties": {
            "school_id": ID, "school_name": string(), "school_year": string(), "is_junior_high": {"type": "boolean"},
            "year_start": DATE, "year_end": DATE, "enrolment": integer(), "dropouts": integer(),
            "counted": {"type": "object"}, "dropout_student_ids": array(ID), "definition": {"type": "object"},
            "dropout_rate": _DEC, "dropout_target": _DEC, "meets_target": {"type": "boolean", "nullable": True},
            "retention": {"type": "object", "properties": {"junior_high": _RETENTION, "primary": _RETENTION}},
            "classes": array({"type": "object"})}},
        description="辍学率 = 学年内确认辍学人数 / 学年初在籍人数；是否计入休学、死亡、未确认到达的转出由配置"
                    "决定（默认都不计入）。初中巩固率 = 九年级参加期末考试人数 / 两学年前七年级学年初人数"
                    "（无考试记录时用学年末在籍人数）；小学 = 六年级学年末在籍 / 五学年前一年级学年初人数。")},
    "/api/v1/exams/import": {"post": {
        **op("从 Excel（.xlsx）导入一个班的考试成绩", ok=201, tag="figures", errors=(401, 403, 404, 422),
             response=obj({"imported": integer(), "updated": integer(), "skipped": integer(),
                           "errors": array(obj({"row": integer(), "reason": string()}))}),
             description="表头：学籍号 或 姓名、科目（上传时给了 subject 可省略）、分数。先检查全部行；有错误时返回 "
                         "422（code invalid_rows，details.errors 列出每行的行号和原因）且不写入任何数据，"
                         "除非 only_valid=true（只导入正确的行）。"),
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file", "class_id", "school_year", "term"],
            "properties": {"file": string("binary"), "class_id": ID, "school_year": string(example="2026-2027"),
                           "term": integer(enum=[1, 2]), "subject": string(), "exam": string(enum=list(EXAM_KINDS)),
                           "only_valid": {"type": "boolean"}}}}}},
    }},
    "/api/v1/reports/exams": {"get": op(
        "一个班某学期考试的原始与核算成绩（流失生计零分）", tag="figures", errors=_ERRORS,
        params=[query("class_id", required=True), _YEAR, _TERM,
                query("exam", string(enum=list(EXAM_KINDS), default="final"))],
        response={"type": "object", "properties": {
            "class_id": ID, "class_name": string(), "school_year": string(), "term": integer(), "exam": string(),
            "pass_mark": string(), "excellent_mark": string(), "lost_from": string("date", nullable=True),
            "term_end": string("date", nullable=True),
            "lost": array(obj({"student_id": ID, "name": string(), "date": DATE, "case_id": ID})),
            "subjects": array(obj({"subject": string(), "raw": _SUMMARY, "accounted": _SUMMARY,
                                   "zeroed_student_ids": array(ID), "excluded_student_ids": array(ID)}))}},
        description="从学期第二周（学期开始 + 7 天）起流失、学期末未返校的学生，各科按零分计入平均分、"
                    "及格率（≥60）和优秀率（≥85）；不计入考核的特殊学生不计入核算成绩。")},
}
