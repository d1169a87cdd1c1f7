"""The daily sweep (POST /sweep) and the home-visit ladder policy (GET/PUT /ladder/<center>).

Thin: validate → scope (404) and role (403) → workflow.absence.sweep / workflow.absence.ladder → the request
boundary commits (the sweep also commits after each batch of schools, `boundary.commit_batch`, so a
request cut off half-way leaves whole schools swept).
"""
from __future__ import annotations

import datetime as dt

from flask import jsonify
from flask_babel import gettext as _
from sqlalchemy import select

from models import School
from workflow.absence import ladder
from workflow.absence.sweep import run_sweep
from workflow.access import permissions
from workflow.access.scope import get_in_scope
from workflow.errors import Forbidden, Invalid
from workflow.validation import Field

from ..boundary import commit_batch
from ..extensions import db
from ..security import current_actor, current_scope
from . import bp
from .openapi import DATE, WRITE_ERRORS, array, integer, obj, op, path_param, string
from .util import json_body, validate

SWEEP_FIELDS = {"date": Field(dt.date), "school_id": Field(int, required=False, nullable=True)}
LADDER_FIELDS = {"rungs": Field(list), "version": Field(int, required=False, nullable=True)}


def _sweep_school_ids(scope, school_id):
    """The schools the caller may sweep (permissions.may_run_sweep); None: every school."""
    school = get_in_scope(db.session, scope, School, school_id) if school_id is not None else None
    if not permissions.may_run_sweep(scope):
        raise Forbidden(_("只有系统管理员、中心校长或中心校教导主任可以运行每日清扫"))
    if school is not None:
        if not permissions.may_run_sweep(scope, school):
            raise Forbidden(_("只能清扫本中心校及其下属学校"))
        if school.kind == "county":
            raise Invalid(_("字段 school_id 必须是学校（不能是县教育局）"), details={"field": "school_id"})
        return [school.id]
    centers = permissions.managed_center_ids(scope)
    if centers is None:
        return None
    return list(db.session.scalars(select(School.id).where(School.center_id.in_(sorted(centers)))))


@bp.post("/sweep")
def sweep():
    """Run the daily sweep for a date (one school, or every school the caller oversees)."""
    body = validate(json_body(), SWEEP_FIELDS)
    school_ids = _sweep_school_ids(current_scope(), body.get("school_id"))
    summary = run_sweep(db.session, date=body["date"], school_ids=school_ids, commit=commit_batch)
    return jsonify({**summary.as_dict(), "schools": summary.schools})


@bp.get("/ladder/<center_school_id>")
def get_ladder(center_school_id):
    """The center school's current home-visit ladder (the built-in default until one is saved)."""
    policy = ladder.get_policy(db.session, current_scope(), center_school_id)
    return jsonify(policy.as_dict())


@bp.put("/ladder/<center_school_id>")
def put_ladder(center_school_id):
    """Save a new version of the center school's ladder; open cases keep the version they began under."""
    body = validate(json_body(), LADDER_FIELDS)
    policy = ladder.save_policy(db.session, current_scope(), current_actor(), center_school_id, body["rungs"],
                                version=body.get("version"))
    return jsonify(policy.as_dict())


_RUNG = obj({"state": string(enum=list(ladder.RUNG_STATES)), "day": integer(minimum=1, maximum=ladder.MAX_DAY),
             "visit_kind": string(enum=list(ladder.VISIT_KINDS)),
             "roles": array(string(enum=list(ladder.RUNG_ROLES))),
             "report_to": array(string(enum=list(ladder.RUNG_ROLES)))},
            ["state", "day", "visit_kind", "roles"])
_POLICY = obj({"id": integer(nullable=True), "center_school_id": integer(nullable=True), "version": integer(),
               "is_default": {"type": "boolean"}, "rungs": array(_RUNG)})

OPENAPI_PATHS = {
    "/api/v1/sweep": {
        "post": op(
            "运行每日清扫（家访阶梯升级、返校结案、逾期标记）", tag="attendance", errors=(400, 401, 403, 404, 422),
            body=obj({"date": DATE, "school_id": integer(nullable=True)}, ["date"]),
            response=obj({"opened": integer(), "escalated": integer(), "closed": integer(),
                          "overdue": integer(), "schools": integer()}),
            description="只计本次运行所做的改变：新开案件数、升级的案件数、结案数、新变为逾期的案件数。"
                        "对同一日期重复运行不会再改变任何东西。系统管理员可清扫任何学校，中心校长、"
                        "中心校教导主任只能清扫本中心校及其下属学校；日期不能晚于今天（422）。"),
    },
    "/api/v1/ladder/{center_school_id}": {
        "get": op("查看中心校当前的家访阶梯", tag="attendance", errors=(401, 404),
                  params=[path_param("center_school_id", "中心校编号")], response=_POLICY,
                  description="未保存过的中心校使用内置默认阶梯（version 0，is_default true）。"),
        "put": op("保存中心校家访阶梯的新版本", tag="attendance", errors=WRITE_ERRORS,
                  params=[path_param("center_school_id", "中心校编号")],
                  body=obj({"rungs": array(_RUNG), "version": integer(nullable=True)}, ["rungs"]),
                  response=_POLICY,
                  description="rungs 须依次为 visit_1、visit_2、visit_3、village_joint，天数严格递增，"
                              "角色为有效代码。只有该中心校的中心校长、中心校教导主任或系统管理员可以修改（403）。"
                              "已开启的案件沿用开启时的版本。给出 version 时若已被他人修改返回 409 stale_version。"),
    },
}
