"""Village liaison pages (村委联络员, phone-first): the village's open absence and recovery cases,
and logging a joint home visit (村校联合家访) on one of them.

Only users holding the `village_liaison` role; a case of another village answers 404.
"""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from models import Case, Student
from workflow import clock
from workflow.absence import ladder
from workflow.access import permissions
from workflow.access.scope import liaison_case_filter
from workflow.cases.evidence import Upload, add_visit
from workflow.errors import DomainError
from workflow.processes import REGISTRY
from workflow.validation import in_date_range

from ..boundary import discard_writes
from ..extensions import db
from ..labels import error_text
from ..security import current_actor, current_scope
from ..storage import current_store
from .cases import staff_for

bp = Blueprint("liaison", __name__, url_prefix="/liaison")


def _liaison_villages():
    """The scope and the villages of the current liaison (permissions.liaison_village_ids); 403
    for anyone else."""
    scope = current_scope()
    villages = permissions.liaison_village_ids(scope)
    if not villages:
        abort(403)
    return scope, villages


def _village_cases(villages):
    return (select(Case)
            .options(selectinload(Case.student).selectinload(Student.village),
                     selectinload(Case.student).selectinload(Student.klass), selectinload(Case.school))
            .where(liaison_case_filter(villages)))


def _load_case(case_id: int):
    """One of the liaison's cases (scope.liaison_case_filter); 404 for any other."""
    scope, villages = _liaison_villages()
    case = db.session.scalars(_village_cases(villages).where(Case.id == case_id)).first()
    if case is None:
        abort(404)
    return scope, case


def _row(case: Case, today: dt.date) -> dict:
    proc = REGISTRY[case.process]
    days = ladder.case_run(db.session, case, today).count if case.process == "absence" else None
    notes = ladder.duty_notes(db.session, case) if case.process == "absence" else []
    return {"case": case, "student": case.student, "process_label": proc.label,
            "state_label": proc.state_labels.get(case.state, case.state), "days_absent": days,
            "notes": notes}


@bp.route("")
@login_required
def index():
    """Open absence and recovery cases of the liaison's village(s), overdue first."""
    _, villages = _liaison_villages()
    today = clock.today()
    cases = list(db.session.scalars(_village_cases(villages)))
    cases.sort(key=lambda c: (not c.is_overdue, c.due_on or dt.date.max, c.id))
    return render_template("liaison/index.html", rows=[_row(c, today) for c in cases], today=today)


def _render_case(case: Case, form: dict, status: int = 200):
    today = clock.today()
    return render_template("liaison/case.html", row=_row(case, today), case=case, today=today,
                           staff=staff_for(case.school, case.student), form=form, me=current_actor(),
                           kind_names=ladder.KIND_NAMES), status


@bp.route("/cases/<int:case_id>", methods=["GET", "POST"])
@login_required
def case_detail(case_id: int):
    """One case of the liaison's village and the joint-visit form."""
    scope, case = _load_case(case_id)
    if request.method == "GET":
        return _render_case(case, {"date": clock.today().isoformat(), "guardian_present": "1"})
    form = request.form
    kept = {"date": form.get("date", ""), "participant_ids": form.getlist("participant_ids"),
            "other_participants": form.get("other_participants", ""),
            "guardian_present": form.get("guardian_present", ""), "outcome": form.get("outcome", ""),
            "notes": form.get("notes", "")}
    try:
        day = dt.date.fromisoformat(kept["date"])
        if in_date_range(day) is None:
            raise ValueError(kept["date"])
    except ValueError:
        flash(_("请填写有效的家访日期（YYYY-MM-DD）"), "danger")
        return _render_case(case, kept, 422)
    try:
        ids = [int(x) for x in kept["participant_ids"]]
    except ValueError:
        abort(400)
    photo = request.files.get("photo")
    upload = Upload(photo.filename, photo.stream) if photo is not None and photo.filename else None
    try:
        add_visit(db.session, scope, current_actor(), case, date=day, kind="village_joint",
                  participant_ids=ids, guardian_present=kept["guardian_present"] == "1",
                  notes=kept["notes"] or None, outcome=kept["outcome"] or None,
                  other_participants=kept["other_participants"] or None, photo=upload,
                  upload_dir=current_store(), max_bytes=current_app.config["MAX_UPLOAD_BYTES"])
    except DomainError as exc:
        discard_writes()
        flash(error_text(exc), "danger")
        return _render_case(case, kept, exc.status if exc.status != 404 else 422)
    flash(_("联合家访已登记"), "success")
    return redirect(url_for("liaison.case_detail", case_id=case.id), code=303)
