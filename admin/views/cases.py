"""The case page (/cases/<id>), the student page (/students/<id>) and their forms.

Each view: load in scope (404 otherwise) → parse the form → workflow.cases.engine /
workflow.cases.evidence → redirect back with a Chinese flash; the request boundary
(admin/boundary.py) commits. A DomainError (403 / 409 / 422) is flashed after `flash_error` has
discarded the request's writes, so nothing is written; files stored by a failed upload are deleted
with them (workflow.cases.evidence pending files).

Transition forms are derived from the process definition: every key of `T.data_spec` becomes an
input (dates → <input type=date>, class_id → the classes of the case's school, user id lists →
check boxes of the staff who work for the student, …), plus the comment, the effective date,
the case's version and the CSRF token.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload, selectinload

from models import (
    DOCUMENT_KINDS,
    RECOVERY_REASONS,
    Case,
    CaseHistory,
    Enrolment,
    RoleAssignment,
    School,
    SchoolClass,
    Student,
    User,
    Village,
    Visit,
)
from workflow import clock
from workflow.access import permissions
from workflow.access.masking import student_no_as_seen_by
from workflow.access.scope import CENTER_ROLES, case_filter, case_staff_filter, get_in_scope, village_filter
from workflow.cases import engine, nextstep
from workflow.cases import evidence as evidence_services
from workflow.cases.diagram_svg import render_svg
from workflow.cases.guards import DOCUMENT_NAMES
from workflow.cases.queue import deadlines
from workflow.cases.serialize import history_row, process_label, state_label, submitted_data, submitted_names
from workflow.errors import DomainError, Invalid
from workflow.fieldnames import field_label, page_message
from workflow.org import transfers
from workflow.org.calendar import school_year_of
from workflow.org.services import change_as_seen_by, class_label, id_card_as_seen_by, student_changes
from workflow.processes import REGISTRY, get_process
from workflow.schoolyear import verification_rows
from workflow.schoolyear.verification import DIFFERENCE_KINDS
from workflow.validation import OneOf, Req, in_date_range, int_or_text, parse_date_text, parse_int_text

from ..boundary import discard_writes
from ..extensions import db
from ..labels import (
    FLAG_LABELS,
    GENDER_LABELS,
    STUDENT_STATUS_LABELS,
    VISIT_KIND_LABELS,
    lazy_translated,
    names,
    paren,
    role_label,
    text,
)
from ..observe import note_full_id_view
from ..security import current_actor, current_scope
from ..storage import current_store

bp = Blueprint("cases", __name__)

DOCUMENT_KIND_LABELS = lazy_translated(DOCUMENT_NAMES, DOCUMENT_KINDS)
CONTACT_CHANNEL_LABELS = {"phone": _l("电话"), "wechat": _l("微信"), "sms": _l("短信"),
                          "in_person": _l("当面"), "other": _l("其他")}
# A data key's input is labelled by its name (workflow.fieldnames.FIELD_LABELS, the one table);
# these inputs say how to fill them in instead.
DATA_LABELS = {
    "destination_school_id": _l("转入学校（本系统内的学校，从列表中选择）"),
    "destination_school": _l("或填写转入学校名称（本系统以外的学校）"),
    "transfer_in_case_id": _l("对应的转入案件编号（可不填）"),
    "case_id": _l("新开的休学或转出案件编号"),
    "village_persons": _l("村里的负责人（每行一位）"),
    "measures": _l("帮扶措施（每行一条）"),
}
# Steps that end something for good or decide for others: the page asks to confirm them
# (a second button inside a <details>, no script: the CSP allows no inline handler).
CONFIRM_STEPS = ("withdraw", "confirm_dropout", "office_approve", "principal_approve", "center_file",
                 "county_accept", "exempt", "confirm_in_school", "confirm_transferred", "not_ours",
                 "confirm_elsewhere", "revoke")
# Steps shown as a secondary (danger) action, not like the step forward.
DANGER_STEPS = ("withdraw", "send_back", "revoke")
LONG_TEXT = ("reason", "notes", "measures", "village_persons")
ERROR_KINDS = {403: _l("无权操作"), 404: _l("未找到"), 409: _l("无法执行"), 422: _l("输入有误")}


def field_text(key: str) -> str:
    """A field's label in the user's language (workflow.fieldnames), else the key."""
    label = field_label(key)
    return _(label) if label else key


# --- small helpers shared by the page modules ----------------------------------------------------


def flash_error(exc: DomainError) -> None:
    """Discard whatever the request wrote (files included) and flash the Chinese message."""
    discard_writes()
    kind = ERROR_KINDS.get(exc.status, _l("操作失败"))
    # the field a message names by its key is named by its label (workflow.fieldnames)
    flash(_("%(kind)s：%(message)s", kind=kind, message=text(page_message(exc))), "danger")


def load_or_404(model, obj_id):
    """The object if the user may see it; workflow's NotFound becomes the 404 page."""
    return get_in_scope(db.session, current_scope(), model, obj_id)


def student_id_card(student: Student) -> str | None:
    """SPEC §1: the full ID-card number for admin, principal/academic office of the student's
    school and the center office of its center; masked for everyone else. A full number shown
    goes to the security log."""
    shown = id_card_as_seen_by(current_scope(), student)
    if shown and shown == student.id_card_no:
        note_full_id_view(student.id)
    return shown


@bp.app_template_filter("local_dt")
def local_dt(value) -> str:
    """A UTC datetime as school-local "YYYY-MM-DD HH:MM" (+08:00)."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.astimezone(clock.SCHOOL_TZ).strftime("%Y-%m-%d %H:%M")


@bp.app_template_filter("domain_text")
def domain_text(value) -> str:
    """A domain message (a queue item's next step, a `Msg`) in the user's language."""
    return text(value) if value else ""


@bp.app_template_filter("yuan")
def yuan(value) -> str:
    return "" if value is None else _("%(amount)s 元", amount=f"{value:.2f}")


# --- inputs derived from data specs ---------------------------------------------------------------


@dataclass
class Input:
    key: str
    label: str
    kind: str  # date | select | checkboxes | text | textarea | number | checkbox
    required: bool = False
    value: object = None
    options: list = field(default_factory=list)


def _class_options(case_school: School | None, process: str) -> list[tuple[str, str]]:
    if case_school is None:
        return []
    stmt = select(SchoolClass).options(joinedload(SchoolClass.school))
    if process == "recovery" and case_school.center_id is not None:
        # a recovered child may return to any school of the center (check_class_in_case_center)
        stmt = stmt.join(School, School.id == SchoolClass.school_id).where(School.center_id == case_school.center_id)
    else:
        stmt = stmt.where(SchoolClass.school_id == case_school.id)
    # only this school year's classes: the guard refuses any other (guards.class_of_the_year)
    stmt = stmt.where(SchoolClass.school_year == school_year_of(clock.today()))
    rows = db.session.scalars(stmt.order_by(SchoolClass.school_year.desc(), SchoolClass.grade, SchoolClass.name))
    return [(str(k.id), text(class_label(k))) for k in rows]


def _destination_groups(case_school: School | None) -> list[tuple[str, list[tuple[str, str]]]]:
    """The schools of this deployment a child may transfer to, grouped by center school (the
    center first in its group), the case's own school left out: (center name, [(id, name)]).
    Only names are shown: a school's name is no secret, and the family names the school."""
    rows = db.session.execute(select(School.id, School.name, School.kind, School.center_id)
                              .where(School.kind.in_(("center", "branch"))).order_by(School.name)).all()
    centers = {r.id: r.name for r in rows if r.kind == "center"}
    groups: dict[int | None, list[tuple[str, str]]] = {}
    for r in rows:
        if case_school is not None and r.id == case_school.id:
            continue
        center = r.id if r.kind == "center" else r.center_id
        entry = groups.setdefault(center, [])
        if r.kind == "center":
            entry.insert(0, (str(r.id), r.name))
        else:
            entry.append((str(r.id), r.name))
    return [(centers.get(c, _("其他学校")), items)
            for c, items in sorted(groups.items(), key=lambda kv: centers.get(kv[0], "\uffff"))]


def staff_for(case_school: School | None, student: Student | None) -> list[tuple[int, str]]:
    """(user id, "name（roles）") of the active staff of the case (scope.case_staff_filter): the
    people who can join a visit or be credited (one query). A role held at another school than
    the case's (the center school's own principal beside the branch's) names that school, so two
    "校长" in the list are told apart; the center roles say "中心校" already."""
    rows = db.session.execute(select(User.id, User.name, RoleAssignment.role, RoleAssignment.school_id, School.name)
        .join(RoleAssignment, RoleAssignment.user_id == User.id)
        .outerjoin(School, School.id == RoleAssignment.school_id)
        .where(case_staff_filter(case_school, student), User.is_active.is_(True))
        .order_by(User.name, User.id))
    people: dict[int, tuple[str, list[str]]] = {}
    for uid, name, role, school_id, school_name in rows:
        label = role_label(role)
        if (school_id is not None and case_school is not None and school_id != case_school.id
                and role not in CENTER_ROLES):
            label = _("%(school)s%(role)s", school=school_name, role=label)
        entry = people.setdefault(uid, (name, []))
        if label not in entry[1]:
            entry[1].append(label)
    return [(uid, name + paren(names(roles))) for uid, (name, roles) in people.items()]


def spec_inputs(spec: dict, *, process: str, school: School | None, student: Student | None,
                values: dict | None = None) -> list[Input]:
    """Form inputs for a data spec; nested objects are left to the API (not offered here)."""
    values = values or {}
    out = []
    for key, kind in spec.items():
        required = isinstance(kind, Req)
        inner = kind.kind if required else kind
        label = str(DATA_LABELS[key]) if key in DATA_LABELS else field_text(key)
        value = values.get(key)
        if inner is dt.date:
            out.append(Input(key, label, "date", required, value))
        elif isinstance(inner, OneOf):
            out.append(Input(key, label, "select", required, value, [(c, c) for c in inner.choices]))
        elif inner is int and key == "destination_school_id":
            out.append(Input(key, label, "grouped", required, str(value) if value else None,
                             _destination_groups(school)))
        elif inner is int and key == "class_id":
            out.append(Input(key, label, "select", required, str(value) if value else None,
                             _class_options(school, process)))
        elif inner is int:
            out.append(Input(key, label, "number", required, value))
        elif inner == list[int] and key.endswith("user_ids"):
            out.append(Input(key, label, "checkboxes", required, [str(v) for v in (value or [])],
                             [(str(i), n) for i, n in staff_for(school, student)]))
        elif inner == list[str]:
            out.append(Input(key, label, "textarea", required, "\n".join(value or [])))
        elif inner is str:
            out.append(Input(key, label, "textarea" if key in LONG_TEXT else "text", required, value))
        elif inner is bool:
            out.append(Input(key, label, "checkbox", required, bool(value)))
    return out


def parse_spec_form(form, spec: dict) -> dict:
    """The posted inputs of a data spec in the JSON shapes the engine validates (dates stay ISO
    strings; a value that is not a number is passed on so the engine names the field)."""
    data: dict = {}
    for key, kind in spec.items():
        inner = kind.kind if isinstance(kind, Req) else kind
        if inner == list[int]:
            raw = [v.strip() for v in form.getlist(key) if v.strip()]
            if raw:
                data[key] = [int_or_text(v) for v in raw]
            continue
        if inner == list[str]:
            lines = [line.strip() for line in (form.get(key) or "").splitlines() if line.strip()]
            if lines:
                data[key] = lines
            continue
        if inner is bool:
            if key in form:
                data[key] = True
            continue
        if not isinstance(inner, (type, OneOf)):
            continue  # nested objects: API only
        raw = (form.get(key) or "").strip()
        if not raw:
            continue
        if inner is int:
            data[key] = int_or_text(raw)
        else:
            data[key] = raw
    return data


# --- transitions on the page ----------------------------------------------------------------------


@dataclass
class TransitionForm:
    name: str
    label: str
    inputs: list[Input]
    needs_comment: bool
    blocked: list[str]
    # a blocked transition stays usable when what is missing is one of its own inputs
    usable: bool
    # the role whose blocked approval this user fires in its place (SPEC §3 stand-in), translated
    stand_in_for: str | None = None
    confirm: bool = False
    danger: bool = False
    # what the user posted when the step was refused: the form shows it again
    comment: str = ""
    date: str = ""


def transition_forms(case: Case, available: list[str], blocked: dict[str, list[str]],
                     stand_ins: dict[str, str] | None = None, posted: tuple[str, object] | None = None,
                     ) -> list[TransitionForm]:
    """The forms of the steps the user may take. `stand_ins`: step -> the role code it is fired
    in place of; `posted`: (step, its refused form) to fill in again."""
    proc = get_process(case.process)
    stand_ins = stand_ins or {}
    forms = []
    for name in available:
        t = proc.applicable(name, case) or proc.named(name)[0]
        form = posted[1] if posted and posted[0] == name else None
        values = dict(case.data or {})
        if form is not None:
            values.update(_posted_values(form, t.data_spec))
        inputs = spec_inputs(t.data_spec, process=case.process, school=case.school, student=case.student,
                             values=values)
        messages = blocked.get(name, [])
        # a refusal about one of the step's own inputs (guards.InputMsg) is met by filling the form,
        # so the form stays usable; older messages still naming the key in their text count too
        fixable = any(key in getattr(message, "fields", ()) or key in message
                      for message in messages for key in t.data_spec)
        forms.append(TransitionForm(
            name, text(t.label) if t.label else name, inputs, t.needs_comment, messages, usable=not messages or fixable,
            stand_in_for=role_label(stand_ins[name]) if name in stand_ins else None,
            confirm=name in CONFIRM_STEPS, danger=name in DANGER_STEPS,
            comment=(form.get("comment") or "") if form is not None else "",
            date=(form.get("date") or "") if form is not None else ""))
    return forms


def _posted_values(form, spec: dict) -> dict:
    """A refused form's inputs as `spec_inputs` values (text as typed, id lists as lists)."""
    out: dict = {}
    for key, kind in spec.items():
        inner = kind.kind if isinstance(kind, Req) else kind
        if inner == list[int]:
            out[key] = [v for v in form.getlist(key) if v.strip()]
        elif inner == list[str]:
            out[key] = [line for line in (form.get(key) or "").splitlines() if line.strip()]
        elif inner is bool:
            out[key] = key in form
        elif key in form:
            out[key] = form.get(key)
    return out


def eager_load_case(case: Case) -> None:
    """Load the case's school, student, history and evidence in a few queries rather than one per
    history row or visit (the case page and GET /api/v1/cases/<id>)."""
    db.session.scalars(select(Case).where(Case.id == case.id).options(
        joinedload(Case.school), selectinload(Case.student).joinedload(Student.klass),
        selectinload(Case.history).joinedload(CaseHistory.user),
        selectinload(Case.visits).selectinload(Visit.participants), selectinload(Case.documents),
        selectinload(Case.fees), selectinload(Case.payments), selectinload(Case.contacts))).unique().all()


@bp.route("/cases/<int:case_id>")
@login_required
def detail(case_id: int):
    """One case: student, diagram, history, evidence and what this user may do now."""
    return detail_page(case_id)


def detail_page(case_id: int, posted: tuple[str, object] | None = None, status: int = 200,
                error_rows: list[int] | None = None):
    """The case page; `posted`: (step, its refused form), shown again as typed (status 422);
    `error_rows`: the rows of a roll verification's form that the refusal named."""
    scope, user = current_scope(), current_actor()
    case = load_or_404(Case, case_id)
    eager_load_case(case)
    proc = engine.process_of(case)
    # the steps the user may take, read once for the forms and the next-step line
    held = engine.case_roles(scope, case, proc)
    permitted = engine.permitted_transitions(db.session, case, proc, held, user.id)
    available, blocked = engine.available_transitions(db.session, scope, user, case, permitted)
    due, overdue = deadlines(db.session, [case], today=clock.today())[case.id]
    staff_evidence = permissions.may_add_evidence(db.session, scope, case)
    visit_kinds = permissions.loggable_visit_kinds(db.session, scope, case)
    balances = evidence_services.fee_balances(db.session, case)
    # a step fired in a role not its own is the stand-in for a blocked approval (SPEC §3)
    stand_ins = {t.name: next(iter(proc.named(t.name)[0].roles)) for t, role in permitted
                 if role not in {r for named in proc.named(t.name) for r in named.roles}}
    # the user's next step, or whose step the case waits for (where an approval went)
    step, waiting = nextstep.lines_for(db.session, scope, user, case, now=clock.now(), held=held, permitted=permitted)
    related = list(db.session.scalars(select(Case).where(
        case_filter(scope), or_(Case.parent_case_id == case.id, Case.id == case.parent_case_id))
        .order_by(Case.id)))
    forms = transition_forms(case, available, blocked, stand_ins, posted)
    submitted = submitted_data(case, submitted_names(db.session, case))
    verification = None
    if case.process == "roll_verification":
        verification = _verification_context(case, forms, posted, error_rows)
        # the differences and resolutions are shown as a table, not as a line of raw values
        submitted = [item for item in submitted if item["key"] not in ("differences", "resolutions")]
    return render_template(
        "cases/detail.html", case=case, proc=proc, student=case.student,
        id_card=student_id_card(case.student) if case.student else None,
        state_label=state_label(case), due=due, overdue=overdue, next_step=text(step) if str(step) else "",
        waiting=text(waiting) if str(waiting) else "",
        submitted=submitted, related=related, verification=verification,
        contact_now=clock.now().astimezone(clock.SCHOOL_TZ).strftime("%Y-%m-%dT%H:%M"),
        process_label=process_label, case_state_label=state_label,
        diagram=render_svg(proc, case.state, translate=text),
        history=[history_row(h, case.process) for h in case.history],
        state_labels=proc.state_labels,
        forms=forms,
        staff_evidence=staff_evidence, visit_kinds=visit_kinds,
        staff=staff_for(case.school, case.student) if visit_kinds else [],
        balances=balances, today=clock.today(),
        visit_labels=VISIT_KIND_LABELS, document_labels=DOCUMENT_KIND_LABELS,
        document_kinds=[k for k in DOCUMENT_KINDS if k != "visit_photo"],
        channel_labels=CONTACT_CHANNEL_LABELS, status_labels=STUDENT_STATUS_LABELS,
        gender_labels=GENDER_LABELS, image_types=evidence_services.IMAGE_TYPES,
        visit_form=posted[1] if posted and posted[0] == "visit" else None,
    ), status


def _back(case_id: int, anchor: str = ""):
    return redirect(url_for("cases.detail", case_id=case_id) + (f"#{anchor}" if anchor else ""))


@bp.post("/cases/<int:case_id>/transitions/<name>")
@login_required
def fire(case_id: int, name: str):
    """Fire a transition with the version the page was rendered with; errors are flashed."""
    scope, user = current_scope(), current_actor()
    case = load_or_404(Case, case_id)
    proc = engine.process_of(case)
    named = proc.named(name)
    if not named:
        abort(404)
    label = text(proc.label_of(name))
    try:
        version = request.form.get("version", "")
        if parse_int_text(version) is None:
            raise Invalid(_("缺少案件版本号（version），请刷新页面后重试"), details={"field": "version"})
        if case.process == "roll_verification" and name in VERIFICATION_STEPS:
            data = verification_data(case, name, request.form)
        else:
            data = parse_spec_form(request.form, named[0].data_spec)
        if request.form.get("date", "").strip():
            data["date"] = request.form["date"].strip()
        case = engine.fire(db.session, scope, user, case.id, name, version=int(version), data=data,
                           comment=request.form.get("comment"), today=clock.today())
    except DomainError as exc:
        flash_error(exc)
        # the page again with what was typed, so nothing has to be typed twice
        return detail_page(case_id, posted=(name, request.form), status=422, error_rows=exc.details.get("rows"))
    flash(_("已办理「%(label)s」，案件现在是「%(state)s」。", label=label, state=_(state_label(case))), "success")
    return _back(case_id)


# --- roll verification (SPEC §3.8): the teacher's rows of differences, the office's resolutions ---

VERIFICATION_STEPS = ("submit", "office_approve")
DIFFERENCE_KIND_LABELS = lazy_translated(verification_rows.DIFFERENCE_KIND_NAMES, DIFFERENCE_KINDS)
ROW_KEYS = ("student", "name", "kind", "note")
BLANK_ROWS = 3
# far more than a class has children: a tampered row count cannot make the page build a huge form
MAX_ROWS = 200


def _difference_rows(form) -> list[dict]:
    """The teacher's posted rows as typed: diff-<n>-student/name/kind/note for n in 1..rows."""
    count = min(parse_int_text((form.get("rows") or "").strip(), 0) or 0, MAX_ROWS)
    return [{k: form.get(f"diff-{n}-{k}", "") for k in ROW_KEYS} for n in range(1, count + 1)]


def _resolution_rows(form, count: int) -> list[dict]:
    """The office's posted choice and note for each of `count` differences (res-<n>-how/note)."""
    return [{"how": form.get(f"res-{n}-how", ""), "note": form.get(f"res-{n}-note", "")}
            for n in range(1, min(count, MAX_ROWS) + 1)]


def verification_data(case: Case, name: str, form) -> dict:
    """A roll verification step's posted rows as its data; rows the domain refuses raise Invalid
    naming them (workflow/schoolyear/verification_rows.py)."""
    if name == "submit":
        return {"differences": verification_rows.differences_from_rows(
            db.session, case, _difference_rows(form), no_differences="no_differences" in form)}
    count = len((case.data or {}).get("differences") or [])
    return {"resolutions": verification_rows.resolutions_from_rows(db.session, current_scope(), case,
                                                                   _resolution_rows(form, count))}


def _roll_options(case: Case) -> list[tuple[str, str]]:
    """The class's children as choices: the name, with the birth date when two share it, and the
    status when the child is not in school (a suspended child stays on the roll)."""
    roll = verification_rows.class_roll(db.session, case.klass) if case.klass is not None else []
    named = Counter(s.name for s in roll)
    out = []
    for s in roll:
        extra = [s.birth_date.isoformat()] if named[s.name] > 1 else []
        if s.status != "active":
            extra.append(str(STUDENT_STATUS_LABELS.get(s.status, s.status)))
        out.append((str(s.id), s.name + paren(_("，").join(extra)) if extra else s.name))
    return out


def _verification_context(case: Case, forms: list[TransitionForm], posted, error_rows) -> dict:
    """What the roll verification's part of the case page shows: the recorded differences with
    their resolutions, the teacher's rows (as typed, the ones sent back, or blank), the office's
    choices for each difference, and the rows a refusal named."""
    scope = current_scope()
    diffs = verification_rows.recorded_differences(db.session, scope, case)
    step, form = posted if posted else (None, None)
    blank = dict.fromkeys(ROW_KEYS, "")
    roll = _roll_options(case)
    on_roll = {value for value, _label in roll}
    if step == "submit":
        rows = _difference_rows(form)
        if request.endpoint == "cases.verification_add_row":
            rows.append(dict(blank))
    elif diffs and case.state == "draft":
        # sent back: the teacher corrects the list submitted before rather than typing it again (a
        # child no longer on the class's roll comes back by name)
        rows = [{"student": str(d.student.id), "name": ""} if d.student and str(d.student.id) in on_roll
                else {"student": "", "name": d.name} for d in diffs]
        rows = [r | {"kind": d.kind, "note": d.note} for r, d in zip(rows, diffs, strict=True)] + [dict(blank)]
    else:
        rows = [dict(blank) for _i in range(BLANK_ROWS)]
    rows = rows or [dict(blank)]
    if any(f.name == "office_approve" for f in forms):
        verification_rows.resolution_choices(db.session, scope, case, diffs)
    resolutions = (_resolution_rows(form, len(diffs)) if step == "office_approve"
                   else [{"how": "", "note": ""} for _d in diffs])
    sent_back = any(h.transition == "send_back" for h in case.history)
    return {"differences": diffs, "rows": rows, "no_differences": step == "submit" and "no_differences" in form,
            "roll": roll, "kinds": DIFFERENCE_KIND_LABELS, "resolutions": resolutions,
            "error_rows": set(error_rows or ()), "sent_back": sent_back and case.state == "draft",
            "corrected": verification_rows.CORRECTED, "case_prefix": verification_rows.CASE_PREFIX}


@bp.post("/cases/<int:case_id>/verification-rows")
@login_required
def verification_add_row(case_id: int):
    """The roll verification's submit form again, as typed, with one more blank row: "add a row"
    without script. Writes nothing."""
    case = load_or_404(Case, case_id)
    if case.process != "roll_verification":
        abort(404)
    return detail_page(case_id, posted=("submit", request.form))


# --- evidence forms -------------------------------------------------------------------------------


def _upload_limits():
    """The configured file store and the largest accepted upload."""
    return current_store(), int(current_app.config["MAX_UPLOAD_BYTES"])


def _form_date(name: str) -> dt.date:
    raw = (request.form.get(name) or "").strip()
    try:
        if parse_date_text(raw) is None:  # also a year outside 1900–2100
            raise ValueError(raw)
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise Invalid(_("字段 %(name)s 必须是有效日期（YYYY-MM-DD）", name=name), details={"field": name}) from None


def _evidence(case_id: int, anchor: str, success: str, action):
    """Run one evidence service on the case and flash `success` (the request boundary commits),
    or flash the error."""
    case = load_or_404(Case, case_id)
    try:
        action(case)
    except DomainError as exc:
        flash_error(exc)
    else:
        flash(success, "success")
    return _back(case_id, anchor)


@bp.post("/cases/<int:case_id>/visits")
@login_required
def add_visit(case_id: int):
    """Log a visit (with an optional photo)."""
    def action(case):
        ids = [n for v in request.form.getlist("participant_ids") if (n := parse_int_text(v, 1)) is not None]
        photo = request.files.get("photo")
        upload = (evidence_services.Upload(photo.filename, photo.stream)
                  if photo is not None and photo.filename else None)
        upload_dir, max_bytes = _upload_limits()
        evidence_services.add_visit(
            db.session, current_scope(), current_actor(), case, date=_form_date("date"),
            kind=request.form.get("kind", ""), participant_ids=ids,
            guardian_present="guardian_present" in request.form, notes=request.form.get("notes"),
            outcome=request.form.get("outcome"), other_participants=request.form.get("other_participants"),
            photo=upload, upload_dir=upload_dir, max_bytes=max_bytes)
    try:
        action(load_or_404(Case, case_id))
    except DomainError as exc:
        # a refused visit (no participant, no outcome…) is shown again as typed
        flash_error(exc)
        return detail_page(case_id, posted=("visit", request.form), status=422)
    flash(_("家访记录已保存。"), "success")
    return _back(case_id, "visits")


@bp.post("/cases/<int:case_id>/documents")
@login_required
def add_document(case_id: int):
    """Upload a PDF, JPEG or PNG document of a kind."""
    def action(case):
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            raise Invalid(_("请选择要上传的文件"), details={"field": "file"})
        upload_dir, max_bytes = _upload_limits()
        evidence_services.add_document(db.session, current_scope(), current_actor(), case,
                                       kind=request.form.get("kind", ""), filename=upload.filename,
                                       stream=upload.stream, upload_dir=upload_dir, max_bytes=max_bytes)
    return _evidence(case_id, "documents", _("材料已上传。"), action)


@bp.post("/cases/<int:case_id>/fees")
@login_required
def add_fee(case_id: int):
    def action(case):
        evidence_services.add_fee(db.session, current_scope(), current_actor(), case,
                                  item=request.form.get("item", ""), amount_due=request.form.get("amount_due", ""))
    return _evidence(case_id, "fees", _("收费项目已添加。"), action)


@bp.post("/cases/<int:case_id>/payments")
@login_required
def add_payment(case_id: int):
    def action(case):
        raw = request.form.get("fee_id", "")
        evidence_services.add_payment(db.session, current_scope(), current_actor(), case,
                                      fee_id=int_or_text(raw),
                                      amount=request.form.get("amount", ""),
                                      receipt_no=request.form.get("receipt_no", ""))
    return _evidence(case_id, "fees", _("缴费已登记。"), action)


@bp.post("/cases/<int:case_id>/contacts")
@login_required
def add_contact(case_id: int):
    """Log a guardian contact; the time is entered in school time (+08:00)."""
    def action(case):
        raw = (request.form.get("contacted_at") or "").strip()
        try:
            when = dt.datetime.fromisoformat(raw).replace(tzinfo=clock.SCHOOL_TZ)
            if in_date_range(when) is None:  # a real time, not year 1 (the UTC shift would overflow)
                raise ValueError(raw)
        except ValueError:
            raise Invalid(_("联系时间必须是有效的日期和时间"), details={"field": "contacted_at"}) from None
        evidence_services.add_contact(db.session, current_scope(), current_actor(), case, contacted_at=when,
                                      channel=request.form.get("channel", ""), notes=request.form.get("notes"))
    return _evidence(case_id, "contacts", _("家长联系已登记。"), action)


# --- the student page and new cases -----------------------------------------------------------------


@dataclass
class CreateForm:
    process: str
    label: str
    inputs: list[Input]
    blocked: str | None


def _create_forms(student: Student) -> list[CreateForm]:
    """The processes the user may open for this student (by role), each with its data inputs
    and, when the student's status rules it out, the reason."""
    return [CreateForm(proc.name, text(proc.label), spec_inputs(proc.create_data_spec, process=proc.name,
                                                          school=student.school, student=student), blocked)
            for proc, blocked in engine.creatable_processes(db.session, current_scope(), student)]


# Why an enrolment period began or ended (the reasons workflow/org/enrolment.py records).
ENROLMENT_REASON_LABELS = {
    "enrol": _l("入学"), "promote": _l("升级"), "promoted": _l("升级"), "graduate": _l("毕业"),
    "graduated": _l("毕业"), "suspension": _l("休学"), "resume": _l("复学"), "transfer_out": _l("转出"),
    "transfer_in": _l("转入"), "return": _l("返校随班就读"), "return_withdrawn": _l("撤回返校"),
    "re_enroll": _l("重新入学"), "recovery_return": _l("劝返复学"), "enrolled_elsewhere": _l("已在他处入学"),
    "dropout": _l("辍学"),
}
# The kept details of a student (models.TRACKED_FIELDS, roster's enrolled_on) as the change list names them.
CHANGE_FIELD_LABELS = {
    "name": _l("姓名"), "gender": _l("性别"), "birth_date": _l("出生日期"), "village_id": _l("户籍村"),
    "student_no": _l("学籍号"), "id_card_no": _l("身份证号"), "flags": _l("关注类别"),
    "guardians": _l("监护人"), "enrolled_on": _l("入班日期"),
}


@bp.route("/students/<int:student_id>")
@login_required
def student(student_id: int):
    """A student: who they are, their cases, and the forms to open a new one."""
    scope = current_scope()
    st, changes = student_changes(db.session, scope, student_id)
    cases = list(db.session.scalars(select(Case).where(Case.student_id == st.id, case_filter(scope))
                                    .order_by(Case.opened_on.desc(), Case.id.desc())))
    periods = list(db.session.scalars(select(Enrolment).options(joinedload(Enrolment.school),
                                                                joinedload(Enrolment.klass))
                                      .where(Enrolment.student_id == st.id)
                                      .order_by(Enrolment.start_date.desc(), Enrolment.id.desc())))
    # The newest change first; personal numbers masked as for reading the student (SPEC §1).
    seen_changes = [change_as_seen_by(scope, st, c) for c in reversed(changes)]
    return render_template("cases/student.html", student=st, id_card=student_id_card(st),
                           student_no=student_no_as_seen_by(scope, st), cases=cases, periods=periods,
                           changes=seen_changes, flag_labels=FLAG_LABELS, reason_labels=ENROLMENT_REASON_LABELS,
                           field_labels=CHANGE_FIELD_LABELS,
                           create_forms=_create_forms(st), status_labels=STUDENT_STATUS_LABELS,
                           gender_labels=GENDER_LABELS, process_label=process_label,
                           state_label=state_label, recovery_reasons=RECOVERY_REASONS)


@bp.post("/students/<int:student_id>/cases")
@login_required
def create(student_id: int):
    """Open a case of a process for the student (engine.create_case)."""
    st = load_or_404(Student, student_id)
    process = request.form.get("process", "")
    proc = REGISTRY.get(process)
    if proc is None:
        flash(_("输入有误：请选择要办理的事项"), "danger")
        return redirect(url_for("cases.student", student_id=st.id))
    try:
        data = parse_spec_form(request.form, proc.create_data_spec)
        case = engine.create_case(db.session, current_scope(), current_actor(), process, st.id, data,
                                  today=clock.today())
    except DomainError as exc:
        flash_error(exc)
        return redirect(url_for("cases.student", student_id=st.id))
    flash(_("已为%(name)s立案：%(process)s。", name=st.name, process=text(proc.label)), "success")
    return redirect(url_for("cases.detail", case_id=case.id))


# --- transfer-in (SPEC §3.5): opened by the receiving school's academic office -------------------

GUARDIAN_KEYS = ("name", "relation", "phone")


def _receivable_class_options(school_ids: set[int]) -> list[tuple[str, str]]:
    today = clock.today()
    rows = db.session.scalars(select(SchoolClass).options(joinedload(SchoolClass.school)).where(
        SchoolClass.school_id.in_(sorted(school_ids)), SchoolClass.school_year == school_year_of(today))
        .order_by(SchoolClass.school_id, SchoolClass.grade, SchoolClass.name))
    return [(str(k.id), text(class_label(k))) for k in rows]


def _sister_transfers(school_ids: set[int]) -> list[tuple[str, str]]:
    """The students a sister school sent here, as select options (the rule is the process's)."""
    out = []
    for st in transfers.awaiting_transfer_in(db.session, school_ids):
        origin = st.school.name if st.school else ""
        details = [str(GENDER_LABELS.get(st.gender, st.gender)), st.birth_date.isoformat(), origin]
        out.append((st.id, st.name + paren(_("，").join(details))))
    return out


def _transfer_in_data(form) -> tuple[int | None, dict]:
    """The posted form as (student_id, data) in the shapes engine.create_case validates; empty
    inputs are left out so the engine names the missing field."""
    data: dict = {}
    for key in ("origin_school", "reason"):
        if (form.get(key) or "").strip():
            data[key] = form[key].strip()
    raw_class = (form.get("class_id") or "").strip()
    if raw_class:
        data["class_id"] = int_or_text(raw_class)
    if form.get("source") == "sister":
        raw = (form.get("student_id") or "").strip()
        if parse_int_text(raw, 1) is None:
            raise Invalid(_("请选择要转入的学生（字段 student_id）"), details={"field": "student_id"})
        return parse_int_text(raw, 1), data
    student: dict = {}
    for key in ("name", "gender", "birth_date"):
        if (form.get(key) or "").strip():
            student[key] = form[key].strip()
    raw_village = (form.get("village_id") or "").strip()
    if raw_village:
        student["village_id"] = int_or_text(raw_village)
    guardian = {k: (form.get(f"guardian_{k}") or "").strip() for k in GUARDIAN_KEYS}
    if any(guardian.values()):
        student["guardians"] = [{k: v for k, v in guardian.items() if v}]
    data["student"] = student
    return None, data


@bp.route("/cases/new/transfer-in", methods=["GET", "POST"])
@login_required
def transfer_in_new():
    """Open a transfer-in for a child a sister school sent here or for a new child (the family's
    chosen class, the origin school); only the receiving school's academic office may."""
    school_ids = permissions.transfer_in_school_ids(current_scope())
    if not school_ids:
        abort(403)
    # a GET may preselect a sister school's child (the queue's incoming item links here)
    values = request.form if request.method == "POST" else request.args
    status = 200
    if request.method == "POST":
        try:
            student_id, data = _transfer_in_data(request.form)
            case = engine.create_case(db.session, current_scope(), current_actor(), "transfer_in", student_id,
                                      data, today=clock.today())
        except DomainError as exc:
            flash_error(exc)
            status = 422
        else:
            flash(_("已为%(name)s办理转入立案，等待班主任接收入班。", name=case.student.name), "success")
            return redirect(url_for("cases.detail", case_id=case.id))
    villages = db.session.scalars(select(Village).where(village_filter(current_scope())).order_by(Village.name))
    return render_template(
        "cases/transfer_in_new.html", values=values, source=values.get("source", "new"),
        classes=_receivable_class_options(school_ids), sisters=_sister_transfers(school_ids),
        villages=[(str(v.id), v.name) for v in villages], gender_labels=GENDER_LABELS), status
