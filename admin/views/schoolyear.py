"""School-year pages for the academic office (SPEC §5): the roster import — the file's report
shown before anything is written, then imported whole or only its valid rows —, its template,
the year-end roll verification of each class (opened here, worked on the case page), the
school-year rollover (preview, then run), the balanced placement of a new intake (confirmed, then
its printable class lists) and the earlier placements.
Thin: parse → workflow.schoolyear / workflow.cases.engine → render; the request boundary commits."""
from __future__ import annotations

import base64
import binascii
import functools

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy import select

from models import School, SchoolClass
from workflow import clock
from workflow.access import permissions
from workflow.access.scope import get_in_scope, school_filter
from workflow.cases import engine
from workflow.cases.serialize import state_label
from workflow.errors import DomainError, Invalid
from workflow.org.calendar import school_year_of
from workflow.schoolyear import intake, placement, rollover
from workflow.schoolyear import roster as rosters
from workflow.schoolyear.verification_rows import open_all_verifications, year_end_classes
from workflow.validation import parse_int_text

from ..boundary import discard_writes
from ..downloads import attachment
from ..extensions import db
from ..labels import GENDER_LABELS, error_text
from ..security import current_actor, current_scope
from .args import int_arg

bp = Blueprint("school_year", __name__)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def pages(view):
    """Login required; only the roles that manage a school's year (403 otherwise)."""

    @functools.wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if not permissions.may_manage_school_year(current_scope()):
            abort(403)
        return view(*args, **kwargs)

    return wrapper


def _schools():
    scope = current_scope()
    schools = db.session.scalars(select(School).where(school_filter(scope), School.kind.in_(("center", "branch")))
                                 .order_by(School.kind.desc(), School.name)).all()
    return [s for s in schools if permissions.may_manage_school(db.session, scope, s.id)]


def _school_id() -> int | None:
    return int_arg("school_id")


def _placement_form(schools: list[School], this_year: str) -> dict:
    """The placement form's state: the school and grade whose classes it lists (query or posted
    form; default the first school, grade 1), those classes, and what was ticked and typed."""
    # read leniently: a value no option has falls back to the default rather than refusing the page
    school_id = parse_int_text((request.values.get("placement_school_id") or "").strip())
    school = next((s for s in schools if s.id == school_id), schools[0] if schools else None)
    grade = parse_int_text((request.values.get("grade") or "").strip())
    grade = grade if grade in placement.INTAKE_GRADES else placement.INTAKE_GRADES[0]
    posted = request.method == "POST" and request.endpoint == "school_year.placement_run"
    return {"school": school, "grade": grade, "school_year": this_year,
            "classes": intake.grade_classes(db.session, school.id, this_year, grade) if school else [],
            "intake_ids": request.form.getlist("intake_ids") if posted else [],
            "target_ids": request.form.getlist("target_ids") if posted else [],
            "seed": request.form.get("seed", "") if posted else ""}


def _page(status: int = 200, **extra):
    this_year = school_year_of(clock.today())
    first = int(this_year[:4])
    defaults = {"school_id": _school_id(), "school_year": request.form.get("school_year") or this_year,
                "from_year": request.form.get("from_year") or this_year,
                "to_year": request.form.get("to_year") or f"{first + 1}-{first + 2}"}
    scope, schools = current_scope(), _schools()
    return render_template("school_year/index.html", schools=schools, headers=[h for _k, h in rosters.COLUMNS],
                           form=defaults, this_year=this_year,
                           verifications=year_end_classes(db.session, scope, schools, this_year),
                           placement_form=_placement_form(schools, this_year),
                           placements=intake.earlier_placements(db.session, scope), case_state_label=state_label,
                           **extra), status


@bp.get("/school-year")
@pages
def roster():
    """The roster import, the classes' year-end verification, the rollover and the placement."""
    return _page()


@bp.get("/school-year/roster/template")
@pages
def roster_template():
    """The roster template (.xlsx)."""
    return attachment(rosters.template_bytes(), "学籍名册导入模板.xlsx", XLSX)


def _upload() -> bytes:
    """The file just chosen, else the one the report page carried (base64 in a hidden field)."""
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        return upload.read()
    carried = request.form.get("file_b64") or ""
    try:
        return base64.b64decode(carried, validate=True)
    except (binascii.Error, ValueError):
        return b""


@bp.post("/school-year/roster")
@pages
def roster_import():
    """Check the file and show its report (mode check, nothing written); with `mode` all or
    valid_only, import it."""
    mode = request.form.get("mode") or "check"
    if mode not in rosters.MODES:
        abort(400)
    data = _upload()
    school_id = _school_id()
    try:
        if school_id is None:
            raise Invalid(_("请选择学校"))
        result = rosters.import_roster(db.session, current_scope(), current_actor(), school_id,
                                      request.form.get("school_year", ""), data, mode=mode)
    except Invalid as exc:
        discard_writes()
        return _page(422, roster_error=error_text(exc), roster_errors=exc.details.get("errors", []))
    return _page(roster_result=result, roster_errors=result.check.errors,
                 file_b64=base64.b64encode(data).decode("ascii") if mode == "check" else None)


@bp.post("/school-year/rollover")
@pages
def rollover_run():
    """Preview the rollover (dry run), or run it."""
    run = request.form.get("action") == "run"
    school_id = _school_id()
    try:
        if school_id is None:
            raise Invalid(_("请选择学校"))
        result = rollover.rollover(db.session, current_scope(), current_actor(), school_id=school_id,
                                   from_year=request.form.get("from_year", ""), to_year=request.form.get("to_year", ""),
                                   dry_run=not run, include_branches=request.form.get("include_branches") == "1")
    except Invalid as exc:
        discard_writes()
        return _page(422, rollover_error=error_text(exc))
    return _page(rollover_result=result)


@bp.get("/school-year/placements/<int:placement_id>")
@pages
def placement_lists(placement_id: int):
    """The printable class lists of a placement (no scores, no ID numbers), with its seed."""
    row = placement.get_placement(db.session, current_scope(), placement_id)
    school = db.session.get(School, row.school_id)
    return render_template("school_year/placement.html", row=row, school=school,
                           lists=placement.class_lists(db.session, row), gender_labels=GENDER_LABELS)


@bp.post("/school-year/verifications")
@pages
def verification_open():
    """Open the roll verification of a class of the year (engine.create_case), then its page."""
    class_id = int_arg("class_id")
    if class_id is None:
        abort(404)
    klass = get_in_scope(db.session, current_scope(), SchoolClass, class_id)
    try:
        case = engine.create_case(db.session, current_scope(), current_actor(), "roll_verification", None,
                                  {"class_id": klass.id}, today=clock.today())
    except DomainError as exc:
        discard_writes()
        flash(_("无法开启学年末核实：%(message)s", message=error_text(exc)), "danger")
        return redirect(url_for("school_year.roster") + "#verification")
    flash(_("已为%(name)s开启学年末核实，等待班主任核对名单。", name=klass.name), "success")
    return redirect(url_for("cases.detail", case_id=case.id))


@bp.post("/school-year/verifications/all")
@pages
def verification_open_all():
    """Open the roll verification of every class of one school that has none yet (confirmed)."""
    school_id = int_arg("school_id")
    school = next((s for s in _schools() if s.id == school_id), None) if school_id is not None else None
    if school is None:
        abort(404)
    try:
        opened = open_all_verifications(db.session, current_scope(), current_actor(), school,
                                        school_year_of(clock.today()), today=clock.today())
    except DomainError as exc:
        discard_writes()
        flash(_("无法开启学年末核实：%(message)s", message=error_text(exc)), "danger")
        return redirect(url_for("school_year.roster") + "#verification")
    if opened:
        flash(_("已为%(school)s的 %(n)d 个班开启学年末核实，等待班主任核对名单。", school=school.name,
                n=len(opened)), "success")
    else:
        flash(_("%(school)s的各班都已开启学年末核实。", school=school.name), "info")
    return redirect(url_for("school_year.roster") + "#verification")


@bp.post("/school-year/placements")
@pages
def placement_run():
    """Run a balanced placement of the intake classes into the target classes (confirmed on the
    page), then show its printable lists."""
    try:
        row = intake.place_from_classes(
            db.session, current_scope(), current_actor(),
            school_id=parse_int_text((request.form.get("placement_school_id") or "").strip()),
            school_year=school_year_of(clock.today()), grade_text=request.form.get("grade", ""),
            intake_ids=request.form.getlist("intake_ids"), target_ids=request.form.getlist("target_ids"),
            seed_text=request.form.get("seed", ""), today=clock.today())
    except DomainError as exc:
        if exc.status == 404:
            raise
        discard_writes()
        return _page(422 if exc.status == 422 else exc.status, placement_error=error_text(exc))
    flash(_("已分班：%(n)d 名学生分入 %(k)d 个班，抽签种子 %(seed)d。", n=len(row.student_ids),
            k=len(row.class_ids), seed=row.seed), "success")
    return redirect(url_for("school_year.placement_lists", placement_id=row.id))
