"""Excel downloads of two report pages (issue 12): the weekly report (周报) and one school's
class figures (考核数据). Each answers what its page shows, for the same choices, in scope;
the workbook is laid out by workflow/exports.py and sent by admin/downloads.py:attachment."""
from __future__ import annotations

from flask import Blueprint, abort
from flask_babel import gettext as _

from workflow import clock
from workflow.errors import Invalid
from workflow.exports import table_xlsx
from workflow.figures import losses
from workflow.registers import reports

from ..api.figures import settings
from ..downloads import attachment
from ..extensions import db
from ..security import current_scope
from .args import int_arg
from .figures import _choices
from .registers import XLSX, _date, pages

bp = Blueprint("exports", __name__)


def _label(name: str) -> str:
    """A Chinese label from workflow in the user's language (unchanged if not in the catalogue)."""
    return _(name)


@bp.get("/reports/weekly/export")
@pages
def weekly():
    """The weekly report of a school (school_id) or a center's schools (center_school_id) as .xlsx."""
    week_of, date_error = _date("week_of", clock.today())
    school_id, center_id = int_arg("school_id"), int_arg("center_school_id")
    if date_error or (school_id is None) == (center_id is None):
        abort(400)
    try:
        report = reports.weekly_report(db.session, current_scope(), school_id=school_id,
                                       center_school_id=center_id, week_of=week_of)
    except Invalid:
        abort(404)
    kinds = list(reports.KIND_LABELS)
    headers = ([_("学校"), _("旷课人次"), _("旷课人数")]
               + [_label(label) for label in reports.RUNG_LABELS.values()]
               + [_("当前逾期家访")] + [_label(reports.KIND_LABELS[k]) for k in kinds]
               + [_("确认辍学"), _("劝返新开"), _("劝返返校")])

    def cells(name, r):
        return ([name, r.unexcused_marks, r.unexcused_students]
                + [r.ladder_by_rung[s] for s in reports.RUNG_LABELS] + [r.overdue_visits]
                + [r.status_changes[k] for k in kinds] + [r.dropouts, r.recoveries_opened, r.recovered])

    rows = [cells(r.name, r) for r in report.rows]
    footer = [cells(_("合计"), report.total)] if len(report.rows) > 1 else []
    title = _("控辍保学周报 %(a)s 至 %(b)s", a=report.start.isoformat(), b=report.end.isoformat())
    notes = [_("旷课：本周记为旷课的人次和人数。在办案件按周日的状态统计；逾期家访为当前状态。学籍异动按生效日期统计。")]
    data = table_xlsx(title, headers, rows, footer=footer, notes=notes)
    name = report.rows[0].name if len(report.rows) == 1 else report.total.name
    return attachment(data, _("%(name)s周报%(d)s.xlsx", name=name, d=report.start.isoformat()), XLSX)


@bp.get("/figures/export")
@pages
def class_figures():
    """One school's class figures of a term (baseline, losses, loss rate, coefficient, recovered) as .xlsx."""
    _schools, school, school_year, term = _choices()
    if school is None:
        abort(404)
    cfg = settings()
    items = losses.class_figures(db.session, current_scope(), school_id=school.id, school_year=school_year,
                                 term=term, settings=cfg)
    headers = [_("班级"), _("基数"), _("流失"), _("流失率"), _("超标"), _("系数"), _("劝返")]
    rows = [[i["class_name"], i["baseline"], i["losses"], i["loss_rate"], _("是") if i["over_threshold"] else "",
             i["coefficient"], i["recovered"]] for i in items]
    title = _("%(school)s 考核数据 %(year)s 第%(t)d学期", school=school.name, year=school_year, t=term)
    threshold = f"{cfg.class_threshold * 100:.0f}%"  # outside _(): the extractor reads only literals
    notes = [_("流失率 = 流失人数 / 基数；超过 %(t)s 的班级标红，班主任当年不得参加评优评先。系数 = 1 − %(s)s × 流失人数（不低于 0）。未冻结基数时显示“—”。",
               t=threshold, s=cfg.coefficient_step)]
    data = table_xlsx(title, headers, rows, percent_columns=(3,), notes=notes)
    return attachment(data, _("%(school)s考核数据%(year)s第%(t)d学期.xlsx", school=school.name, year=school_year, t=term),
                      XLSX)
