"""Record screens of baselines and exam scores."""
from __future__ import annotations

from flask_admin.contrib.sqla.filters import BooleanEqualFilter, FilterEqual, IntEqualFilter
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from models import (
    Baseline,
    ExamScore,
    SchoolClass,
)

from ..extensions import db
from ..labels import EXAM_LABELS
from .base import (
    TERM_OPTIONS,
    ScopedModelView,
    _class_options,
    _fmt_label,
    _label_options,
    _local_time_fmt,
    _school_name,
    _school_options,
)

# --- 基数 -----------------------------------------------------------------------------------------

BASELINE_RULE_LABELS = {"term_start": _l("学期初在籍"), "takeover": _l("上学期末人数（中途接班）"),
                        "grade1_enrolment": _l("一年级招生人数")}


def _class_school_fmt(view, context, model, name):
    klass = db.session.get(SchoolClass, model.class_id)
    return klass.school.name if klass is not None and klass.school is not None else ""


def _class_fmt(view, context, model, name):
    klass = db.session.get(SchoolClass, model.class_id)
    return klass.name if klass is not None else ""


def _term_fmt(view, context, model, name):
    return _("第%(n)d学期", n=model.term)


class BaselineView(ScopedModelView):
    """基数: the frozen head counts of the classes in scope, every freeze kept (read-only; freezing
    is on /figures)."""

    record = "baseline"
    can_export = True
    export_types = ["xlsx", "csv"]
    column_list = ("school_id", "klass", "school_year", "term", "count", "rule", "counted_on", "is_current",
                   "frozen_by", "frozen_at", "reason")
    column_details_list = ("id", *column_list, "student_ids")
    column_export_list = column_list
    column_labels = {"id": _l("编号"), "school_id": _l("学校"), "klass": _l("班级"), "school_year": _l("学年"),
                     "term": _l("学期"), "count": _l("基数"), "rule": _l("口径"), "counted_on": _l("计数日期"),
                     "is_current": _l("现行"), "frozen_by": _l("冻结人"), "frozen_at": _l("冻结时间"),
                     "reason": _l("理由"), "student_ids": _l("计入的学生编号")}
    column_formatters = {"school_id": lambda v, c, m, n: _school_name(m.school_id), "term": _term_fmt,
                         "rule": _fmt_label(BASELINE_RULE_LABELS), "frozen_at": _local_time_fmt}
    column_formatters_export = column_formatters
    column_sortable_list = ("school_year", "term", "count", "counted_on", "frozen_at")
    column_default_sort = [("school_year", True), ("term", True)]
    column_filters = [
        IntEqualFilter(Baseline.school_id, _l("学校"), options=_school_options),
        IntEqualFilter(Baseline.class_id, _l("班级"), options=_class_options),
        FilterEqual(Baseline.school_year, _l("学年")),
        IntEqualFilter(Baseline.term, _l("学期"), options=TERM_OPTIONS),
        BooleanEqualFilter(Baseline.is_current, _l("现行")),
    ]

    def get_export_name(self, export_type: str = "csv") -> str:
        return f"baselines.{export_type}"


# --- 考试成绩 -------------------------------------------------------------------------------------

class ExamScoreView(ScopedModelView):
    """考试成绩: imported exam scores of the classes in scope (read-only: scores come from the
    Excel import on /figures/exams/import); exported to Excel."""

    record = "exam_score"
    can_view_details = False
    can_export = True
    export_types = ["xlsx", "csv"]
    column_list = ("student", "school", "class_id", "school_year", "term", "exam", "subject", "score")
    column_export_list = column_list
    column_labels = {"student": _l("学生"), "school": _l("学校"), "class_id": _l("班级"), "school_year": _l("学年"),
                     "term": _l("学期"), "exam": _l("考试"), "subject": _l("科目"), "score": _l("分数")}
    column_formatters = {"school": _class_school_fmt, "class_id": _class_fmt, "term": _term_fmt,
                         "exam": _fmt_label(EXAM_LABELS)}
    column_formatters_export = column_formatters
    column_searchable_list = ("student.name", "subject")
    column_sortable_list = ("school_year", "term", "subject", "score")
    column_default_sort = [("school_year", True), ("term", True), ("subject", False)]
    column_filters = [
        IntEqualFilter(ExamScore.class_id, _l("班级"), options=_class_options),
        FilterEqual(ExamScore.school_year, _l("学年")),
        IntEqualFilter(ExamScore.term, _l("学期"), options=TERM_OPTIONS),
        FilterEqual(ExamScore.exam, _l("考试"), options=_label_options(EXAM_LABELS)),
        FilterEqual(ExamScore.subject, _l("科目")),
    ]

    def get_export_name(self, export_type: str = "csv") -> str:
        return f"exam-scores.{export_type}"
