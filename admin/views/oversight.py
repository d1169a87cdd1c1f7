"""督导 (/oversight): a center school's branch schools at a glance, with drill-down to a school,
a class and a case. For center head, center office and county supervisor (and admin); other
roles get 403, a center, school or class outside the user's centers 404. Figures come from
workflow.figures.oversight; the eight-week chart is drawn here as inline SVG (no JavaScript)."""
from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_babel import gettext as _
from flask_login import login_required

from workflow import clock
from workflow.absence import sweep_runs
from workflow.cases.serialize import process_label
from workflow.figures import oversight as ov
from workflow.processes import REGISTRY

from ..api.figures import settings
from ..extensions import db
from ..security import current_scope

bp = Blueprint("oversight", __name__)


def _guard(fn, *args, **kwargs):
    """Call a workflow.figures.oversight lookup (its Forbidden/NotFound become the 403/404 pages)."""
    return fn(db.session, current_scope(), *args, **kwargs)


def _state_label(process: str, state: str) -> str:
    proc = REGISTRY.get(process)
    return (proc.state_labels.get(state) if proc else None) or state


def chart_svg(weeks: list[ov.Week]) -> str:
    """Bars: cases open at each week's end; line: unexcused absence marks of the week."""
    width, height, left, bottom, top = 560, 220, 34, 40, 16
    plot_w, plot_h = width - left - 10, height - bottom - top
    peak = max([w.open_cases for w in weeks] + [w.unexcused for w in weeks] + [1])
    step = plot_w / len(weeks)
    bar_w = step * 0.55

    def y(v: float) -> float:
        return top + plot_h - plot_h * v / peak

    # gettext outside the f-strings: pybabel does not extract calls inside them on Python 3.11
    aria_label = _("近八周进行中案件与旷课人次")
    legend_open, legend_absent = _("周末进行中的案件"), _("本周旷课人次")
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="trend-chart" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{aria_label}">']
    for frac in (0, 0.5, 1):
        v = round(peak * frac)
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#dee2e6"/>'
                     f'<text x="{left - 4}" y="{y(v) + 4:.1f}" font-size="10" text-anchor="end" fill="#6c757d">{v}</text>')
    points = []
    for i, w in enumerate(weeks):
        cx = left + step * i + step / 2
        title = _("%(a)s–%(b)s：进行中 %(n)d 件，旷课 %(u)d 人次", a=w.start.strftime("%m-%d"),
                  b=w.end.strftime("%m-%d"), n=w.open_cases, u=w.unexcused)
        parts.append(f'<rect class="bar" x="{cx - bar_w / 2:.1f}" y="{y(w.open_cases):.1f}" width="{bar_w:.1f}" '
                     f'height="{top + plot_h - y(w.open_cases):.1f}" fill="#5bc0de" data-week="{w.start.isoformat()}" '
                     f'data-open="{w.open_cases}" data-unexcused="{w.unexcused}"><title>'
                     f'{title}'
                     f'</title></rect>'
                     f'<text x="{cx:.1f}" y="{height - bottom + 14}" font-size="10" text-anchor="middle" fill="#495057">'
                     f'{w.start.strftime("%m-%d")}</text>')
        points.append(f"{cx:.1f},{y(w.unexcused):.1f}")
    parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="#d9534f" stroke-width="2"/>')
    for p in points:
        x, yy = p.split(",")
        parts.append(f'<circle cx="{x}" cy="{yy}" r="3" fill="#d9534f"/>')
    legend_y = height - 8
    parts.append(f'<rect x="{left}" y="{legend_y - 9}" width="12" height="10" fill="#5bc0de"/>'
                 f'<text x="{left + 16}" y="{legend_y}" font-size="11">{legend_open}</text>'
                 f'<line x1="{left + 150}" x2="{left + 170}" y1="{legend_y - 4}" y2="{legend_y - 4}" stroke="#d9534f" stroke-width="2"/>'
                 f'<text x="{left + 174}" y="{legend_y}" font-size="11">{legend_absent}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _threshold():
    """The loss-rate threshold of the deployment (config FIGURES class_threshold, SPEC §4)."""
    return settings().class_threshold


def _sweep(centers) -> sweep_runs.SweepStatus:
    """The last daily sweep and the school days of these centers it missed (red on the page)."""
    return sweep_runs.sweep_status(db.session, today=clock.today(), center_ids=[c.id for c in centers])


def _context(**kw) -> dict:
    return {"process_label": process_label, "state_label": _state_label, "today": clock.today(), **kw}


@bp.route("/oversight")
@login_required
def index():
    """One center's schools; for a supervisor with several centers, the centers first."""
    centers = _guard(ov.overseen_centers)
    today = clock.today()
    center_id = request.args.get("center_id")
    if center_id is None and len(centers) != 1:
        rows = ov.center_rollup(db.session, centers, today=today, threshold=_threshold())
        series = ov.weekly_series(db.session, [s.id for s in ov.schools_of_centers(db.session, [c.id for c in centers])],
                                  today=today)
        return render_template("oversight/county.html", **_context(rows=rows, chart=chart_svg(series),
                                                                    sweep=_sweep(centers)))
    center = _guard(ov.get_center, center_id) if center_id is not None else centers[0]
    schools = ov.schools_of_centers(db.session, [center.id])
    rows = ov.school_figures(db.session, schools, today=today, threshold=_threshold())
    total = ov.SchoolFigures(center.id, center.name, "center", threshold=_threshold())
    for r in rows:
        total.add(r)
    series = ov.weekly_series(db.session, [s.id for s in schools], today=today)
    return render_template("oversight/center.html", **_context(
        center=center, rows=rows, total=total, chart=chart_svg(series), several=len(centers) > 1,
        sweep=_sweep([center]),
        processes=sorted({p for r in rows for p in r.open_by_process}, key=list(REGISTRY).index)))


@bp.route("/oversight/schools/<int:school_id>")
@login_required
def school(school_id: int):
    """A school: its figures, the classes with open cases, and its eight-week chart."""
    sch = _guard(ov.get_school, school_id)
    today = clock.today()
    fig = ov.school_figures(db.session, [sch], today=today, threshold=_threshold())[0]
    classes = ov.classes_with_open_cases(db.session, sch)
    return render_template("oversight/school.html", **_context(
        school=sch, fig=fig, classes=classes, unplaced=ov.cases_without_class(db.session, sch),
        chart=chart_svg(ov.weekly_series(db.session, [sch.id], today=today))))


@bp.route("/oversight/classes/<int:class_id>")
@login_required
def klass(class_id: int):
    """A class: its students' open cases, most urgent first, each linking to the case page."""
    k = _guard(ov.get_class, class_id)
    rows = ov.class_cases(db.session, k, today=clock.today())
    return render_template("oversight/class.html", **_context(klass=k, rows=rows))
