"""Attendance API: record a class's day (POST) and read it back (GET).

Thin: validate (422 naming the field) → workflow.absence.attendance (404 / 403 / 422); the request boundary commits.
"""
from __future__ import annotations

import datetime as dt

from flask import jsonify, request
from flask_babel import gettext as _

from models import ATTENDANCE_STATUSES
from workflow import clock
from workflow.absence import attendance as services
from workflow.errors import Invalid
from workflow.validation import Field

from ..extensions import db
from ..security import current_actor, current_scope
from . import bp
from .openapi import DATE, array, integer, obj, op, query, string
from .util import date_arg, json_body, to_int, validate

RECORD_FIELDS = {
    "class_id": Field(int),
    "date": Field(dt.date),
    "reported_at": Field(dt.datetime, required=False, nullable=True),
    "records": Field(list, item=Field({
        "student_id": Field(int),
        "status": Field(str, choices=ATTENDANCE_STATUSES),
    })),
}


@bp.post("/attendance")
def record_attendance():
    """Record a class's attendance for one school day; unlisted students are present."""
    body = validate(json_body(), RECORD_FIELDS)
    result = services.record_attendance(
        db.session, current_scope(), current_actor(), class_id=body["class_id"], date=body["date"],
        reported_at=body.get("reported_at"), records=body["records"],
    )
    return jsonify({
        "opened_case_ids": result.opened_case_ids,
        "unexcused_student_ids": result.unexcused_student_ids,
        "class_id": body["class_id"],
        "date": body["date"].isoformat(),
        "recorded": len(result.records),
    })


def _query_arg(name: str, kind: str):
    raw = request.args.get(name)
    if raw is None or raw.strip() == "":
        raise Invalid(_("缺少必填参数：%(name)s", name=name), details={"field": name})
    raw = raw.strip()
    if kind == "int":
        return to_int(raw, name)
    return date_arg(name)


@bp.get("/attendance")
def get_attendance():
    """A class's marks for one date (404 when the class is out of scope)."""
    class_id = _query_arg("class_id", "int")
    date = _query_arg("date", "date")
    klass, rows, day = services.marks_for_day(db.session, current_scope(), class_id=class_id, date=date)
    items = [{"student_id": r.student_id, "name": name, "status": r.status,
              "reported_at": clock.local_iso(r.reported_at), "recorded_by_id": r.recorded_by_id}
             for r, name in rows]
    return jsonify({
        "class_id": klass.id, "date": date.isoformat(), "taken": day is not None,
        "taken_at": clock.local_iso(day.taken_at) if day else None,
        "taken_by_id": day.taken_by_id if day else None,
        "items": items, "total": len(items),
    })


_MARK = obj({"student_id": integer(), "name": string(), "status": string(enum=list(ATTENDANCE_STATUSES)),
             "reported_at": string("date-time"), "recorded_by_id": integer(nullable=True)})

OPENAPI_PATHS = {
    "/api/v1/attendance": {
        "post": op(
            "登记某班某天的考勤", tag="attendance", errors=(400, 401, 403, 404, 422),
            body=obj({"class_id": integer(), "date": DATE,
                      "reported_at": string("date-time", nullable=True, description="默认为当前时间"),
                      "records": array(obj({"student_id": integer(),
                                            "status": string(enum=list(ATTENDANCE_STATUSES))},
                                           ["student_id", "status"]))},
                     ["class_id", "date", "records"]),
            response=obj({"opened_case_ids": array(integer()), "unexcused_student_ids": array(integer()),
                          "class_id": integer(), "date": DATE, "recorded": integer()}),
            description="未列出的在校学生记为出勤。只有本班班主任、科任教师或本校教导处、校长可以登记（403）。"
                        "日期须是该校上课日且不晚于今天（422）。重新登记同一天会替换当天的考勤；"
                        "状态改变的记录使用新的 reported_at。"),
        "get": op(
            "查看某班某天的考勤", tag="attendance", errors=(401, 404, 422),
            params=[query("class_id", integer(), "班级编号", required=True),
                    query("date", DATE, "日期 YYYY-MM-DD", required=True)],
            response=obj({"class_id": integer(), "date": DATE, "taken": {"type": "boolean"},
                          "taken_at": string("date-time", nullable=True), "taken_by_id": integer(nullable=True),
                          "items": array(_MARK), "total": integer()})),
    },
}
