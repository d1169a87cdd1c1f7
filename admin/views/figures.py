"""考核数据 (/figures): per class baseline, losses, loss rate, coefficient and recovered children
of a school's term, the students behind each number, the freeze button, and the reward/penalty
ledger (/figures/ledger), the exam import (/figures/exams/import) and a class's exam statistics
(/figures/exams/classes/<id>). Figures come from workflow.figures.losses; thresholds and amounts from the
app config `FIGURES` (admin.api.figures.settings)."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy import select

from models import Baseline, ExamScore, School, SchoolClass, Student, User
from workflow import clock
from workflow.access import permissions
from workflow.access.scope import get_in_scope, scoped
from workflow.errors import DomainError, Forbidden, Invalid, NotFound
from workflow.figures import baselines, common, exams, losses, rates
from workflow.figures import ledger as ledger_figures
from workflow.org.calendar import school_year_of

from ..api.figures import settings
from ..boundary import discard_writes
from ..extensions import db
from ..labels import EXAM_LABELS, error_text
from ..security import current_actor, current_scope
from .cases import flash_error

bp = Blueprint("figures", __name__)


def _term_for(school_id: int | None, school_year: str, today: dt.date) -> int:
    if school_id is not None:
        for term in (1, 2):
            dates = common.term_dates(db.session, [school_id], school_year, term).get(school_id)
            if dates and dates[0] <= today <= dates[1]:
                return term
    return 2 if 2 <= today.month <= 7 else 1


def _choices():
    """School, school year and term from the query string, with sensible defaults; 404 for a
    school out of scope, 400 for a malformed year or term."""
    scope = current_scope()
    schools = db.session.scalars(scoped(scope, School).where(School.kind != "county").order_by(School.name)).all()
    raw = request.args.get("school_id")
    school = None
    if raw:
        school = get_in_scope(db.session, scope, School, raw)
    elif schools:
        school = schools[0]
    today = clock.today()
    school_year = request.args.get("school_year") or school_year_of(today)
    try:
        term = int(request.args.get("term") or _term_for(school.id if school else None, school_year, today))
    except ValueError:
        abort(400)
    if term not in (1, 2) or len(school_year) != 9:
        abort(400)
    return schools, school, school_year, term


def _names(model, ids) -> dict[int, str]:
    ids = sorted(set(ids))
    if not ids:
        return {}
    return dict(db.session.execute(select(model.id, model.name).where(model.id.in_(ids))).all())


@bp.route("/figures")
@login_required
def index():
    """The class table of one school's term, the school's annual figures, the freeze button."""
    schools, school, school_year, term = _choices()
    items, summary, error = [], None, None
    if school is not None:
        try:
            items = losses.class_figures(db.session, current_scope(), school_id=school.id,
                                         school_year=school_year, term=term, settings=settings())
            if permissions.sees_school_figures(current_scope(), school):
                summary = rates.school_figures(db.session, current_scope(), school_id=school.id,
                                               school_year=school_year, settings=settings())
        except DomainError as exc:
            error = error_text(exc)
    has_term = school is not None and bool(common.term_dates(db.session, [school.id], school_year, term))
    return render_template("figures/index.html", schools=schools, school=school, school_year=school_year,
                           term=term, items=items, summary=summary, error=error, has_term=has_term,
                           cfg=settings(),
                           may_freeze=school is not None and permissions.may_freeze_baselines(current_scope(), school),
                           frozen_any=any(i["baseline"] is not None for i in items),
                           may_import=permissions.may_import_scores(current_scope()))


@bp.post("/figures/freeze")
@login_required
def freeze():
    """Freeze (or, with refreeze, freeze again) the baselines of the school's classes."""
    form = request.form
    try:
        school_id, term = int(form.get("school_id", "")), int(form.get("term", ""))
    except ValueError:
        abort(400)
    school_year = form.get("school_year", "")
    back = url_for("figures.index", school_id=school_id, school_year=school_year, term=term)
    try:
        rows = baselines.freeze_baselines(db.session, current_scope(), current_actor(), school_id=school_id,
                                          school_year=school_year, term=term, refreeze=form.get("refreeze") == "1",
                                          reason=form.get("reason") or None)
    except (NotFound, Forbidden):
        raise  # the 404/403 pages
    except DomainError as exc:
        flash_error(exc)
        return redirect(back)
    flash(_("已冻结 %(n)d 个班级的基数", n=len(rows)), "success")
    return redirect(back)


@bp.route("/figures/classes/<int:class_id>")
@login_required
def klass(class_id: int):
    """The students counted in one class's figures: baseline, losses, recovered children."""
    klass = get_in_scope(db.session, current_scope(), SchoolClass, class_id)
    school_year = klass.school_year
    try:
        term = int(request.args.get("term") or _term_for(klass.school_id, school_year, clock.today()))
    except ValueError:
        abort(400)
    if term not in (1, 2):
        abort(400)
    items = losses.class_figures(db.session, current_scope(), school_id=klass.school_id,
                                 school_year=school_year, term=term, settings=settings())
    item = next((i for i in items if i["class_id"] == klass.id), None)
    if item is None:
        abort(404)
    history = list(db.session.scalars(select(Baseline).where(
        Baseline.class_id == klass.id, Baseline.school_year == school_year, Baseline.term == term)
        .order_by(Baseline.id.desc())))
    current = next((b for b in history if b.is_current), None)
    student_ids = set(item["loss_student_ids"]) | set(item["recovered_student_ids"])
    student_ids |= set(current.student_ids or []) if current else set()
    return render_template("figures/class.html", klass=klass, item=item, term=term, school_year=school_year,
                           history=history, current=current, students=_names(Student, student_ids), tz=clock.SCHOOL_TZ,
                           users=_names(User, [b.frozen_by_id for b in history if b.frozen_by_id]))


@bp.route("/figures/ledger")
@login_required
def ledger():
    """奖惩台账: each line with the person, the amount, the student and the case behind it."""
    schools, school, school_year, term = _choices()
    lines, error = [], None
    if school is not None:
        try:
            lines = ledger_figures.ledger(db.session, current_scope(), school_id=school.id, school_year=school_year,
                                          term=term, settings=settings())
        except DomainError as exc:
            error = error_text(exc)
    return render_template("figures/ledger.html", schools=schools, school=school, school_year=school_year,
                           term=term, lines=lines, totals=ledger_figures.ledger_totals(lines), error=error,
                           cfg=settings())


# --- exams --------------------------------------------------------------------------------------

def _importable_classes() -> list[SchoolClass]:
    """Classes whose scores the user may import (permissions.may_import_scores), newest year first."""
    scope = current_scope()
    rows = db.session.scalars(scoped(scope, SchoolClass).order_by(
        SchoolClass.school_year.desc(), SchoolClass.school_id, SchoolClass.grade, SchoolClass.name))
    return [k for k in rows if permissions.may_import_scores(scope, k)]


def _import_page(status: int = 200, **extra):
    classes = _importable_classes()
    if not classes:
        abort(403)
    form = request.form
    chosen = form.get("class_id") or request.args.get("class_id")
    klass = next((k for k in classes if str(k.id) == chosen), classes[0])
    term = form.get("term") or request.args.get("term") or str(_term_for(klass.school_id, klass.school_year,
                                                                         clock.today()))
    return render_template("figures/exam_import.html", classes=classes, klass=klass, term=term,
                           subject=form.get("subject", ""), exam=form.get("exam", "final"),
                           only_valid=form.get("only_valid") in ("1", "on"), exam_names=EXAM_LABELS,
                           **extra), status


@bp.route("/figures/exams/import")
@login_required
def exam_import_form():
    """Upload one class's scores (.xlsx): class, term, subject, exam."""
    return _import_page()


@bp.post("/figures/exams/import")
@login_required
def exam_import():
    """Check the whole file; list every bad row by its Excel row number and reason. Nothing is
    written unless the file is clean or 「只导入正确的行」 is ticked."""
    form = request.form
    try:
        class_id, term = int(form.get("class_id", "")), int(form.get("term", ""))
    except ValueError:
        abort(400)
    klass = next((k for k in _importable_classes() if k.id == class_id), None)
    if klass is None:
        abort(404)
    upload = request.files.get("file")
    data = upload.read() if upload is not None else b""
    try:
        result = exams.import_scores(db.session, current_scope(), current_actor(), class_id=klass.id,
                                     school_year=klass.school_year, term=term, data=data,
                                     subject=form.get("subject") or None, exam=form.get("exam") or "final",
                                     only_valid=form.get("only_valid") in ("1", "on"))
    except Forbidden:
        abort(403)
    except Invalid as exc:
        discard_writes()
        return _import_page(422, error=error_text(exc), errors=(exc.details or {}).get("errors", []))
    return _import_page(result=result, errors=[e.as_dict() for e in result.errors])


@bp.route("/figures/exams/classes/<int:class_id>")
@login_required
def exam_stats(class_id: int):
    """One class's exam: raw and accounted average, pass and excellence rates per subject; the
    students lost from the second week of term count as zero in the accounted figures."""
    klass = get_in_scope(db.session, current_scope(), SchoolClass, class_id)
    try:
        term = int(request.args.get("term") or _term_for(klass.school_id, klass.school_year, clock.today()))
    except ValueError:
        abort(400)
    held = set(db.session.scalars(select(ExamScore.exam).where(
        ExamScore.class_id == klass.id, ExamScore.school_year == klass.school_year, ExamScore.term == term)
        .distinct()))
    exam = request.args.get("exam") or ("final" if "final" in held or not held else sorted(held)[0])
    if term not in (1, 2) or exam not in EXAM_LABELS:
        abort(400)
    stats = exams.class_exam_stats(db.session, current_scope(), class_id=klass.id, school_year=klass.school_year,
                                   term=term, exam=exam, settings=settings())
    return render_template("figures/exam_stats.html", klass=klass, term=term, exam=exam, stats=stats,
                           held=held, exam_names=EXAM_LABELS,
                           may_import=permissions.may_import_scores(current_scope(), klass))
