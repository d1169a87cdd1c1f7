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
from dataclasses import dataclass, field

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from models import (
    DOCUMENT_KINDS,
    RECOVERY_REASONS,
    Case,
    CaseHistory,
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
from workflow.access.scope import case_filter, case_staff_filter, get_in_scope, village_filter
from workflow.cases import engine
from workflow.cases import evidence as evidence_services
from workflow.cases.diagram_svg import render_svg
from workflow.cases.guards import DOCUMENT_NAMES
from workflow.cases.queue import deadlines
from workflow.cases.serialize import history_row, process_label, state_label
from workflow.errors import DomainError, Invalid
from workflow.org import transfers
from workflow.org.calendar import school_year_of
from workflow.org.services import id_card_as_seen_by
from workflow.processes import REGISTRY, get_process
from workflow.validation import OneOf, Req

from ..boundary import discard_writes
from ..extensions import db
from ..labels import GENDER_LABELS, STUDENT_STATUS_LABELS, VISIT_KIND_LABELS, lazy_translated, role_label
from ..security import current_actor, current_scope

bp = Blueprint("cases", __name__)

DOCUMENT_KIND_LABELS = lazy_translated(DOCUMENT_NAMES, DOCUMENT_KINDS)
CONTACT_CHANNEL_LABELS = {"phone": _l("电话"), "wechat": _l("微信"), "sms": _l("短信"),
                          "in_person": _l("当面"), "other": _l("其他")}
# Labels of the data keys the processes use (T.data_spec, Process.create_data_spec).
DATA_LABELS = {
    "start": _l("休学开始日期"),
    "end": _l("休学结束日期"),
    "reason": _l("原因"),
    "class_id": _l("班级"),
    "credited_user_ids": _l("记功人员"),
    "responsible_user_ids": _l("责任人"),
    "destination_school_id": _l("转入学校编号（本系统内的学校，可不填）"),
    "destination_school": _l("转入学校名称"),
    "destination_region": _l("流向地区"),
    "transfer_in_case_id": _l("对应的转入案件编号（可不填）"),
    "case_id": _l("新开的休学或转出案件编号"),
    "reason_category": _l("原因类别"),
    "notes": _l("备注"),
    "village_persons": _l("村里的负责人（每行一位）"),
    "measures": _l("帮扶措施（每行一条）"),
    "origin_school": _l("原学校"),
}
LONG_TEXT = ("reason", "notes", "measures", "village_persons")
ERROR_KINDS = {403: _l("无权操作"), 404: _l("未找到"), 409: _l("无法执行"), 422: _l("输入有误")}


# --- small helpers shared by the page modules ----------------------------------------------------


def flash_error(exc: DomainError) -> None:
    """Discard whatever the request wrote (files included) and flash the Chinese message."""
    discard_writes()
    kind = ERROR_KINDS.get(exc.status, _l("操作失败"))
    flash(_("%(kind)s：%(message)s", kind=kind, message=exc.message), "danger")


def load_or_404(model, obj_id):
    """The object if the user may see it; workflow's NotFound becomes the 404 page."""
    return get_in_scope(db.session, current_scope(), model, obj_id)


def student_id_card(student: Student) -> str | None:
    """SPEC §1: the full ID-card number for admin, principal/academic office of the student's
    school and the center office of its center; masked for everyone else."""
    return id_card_as_seen_by(current_scope(), student)


@bp.app_template_filter("local_dt")
def local_dt(value) -> str:
    """A UTC datetime as school-local "YYYY-MM-DD HH:MM" (+08:00)."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.astimezone(clock.SCHOOL_TZ).strftime("%Y-%m-%d %H:%M")


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
    rows = db.session.scalars(stmt.order_by(SchoolClass.school_year.desc(), SchoolClass.grade, SchoolClass.name))
    return [(str(k.id), f"{k.school.name} {k.name}（{k.school_year}）") for k in rows]


def staff_for(case_school: School | None, student: Student | None) -> list[tuple[int, str]]:
    """(user id, "name（roles）") of the active staff of the case (scope.case_staff_filter): the
    people who can join a visit or be credited (one query)."""
    rows = db.session.execute(select(User.id, User.name, RoleAssignment.role).join(
        RoleAssignment, RoleAssignment.user_id == User.id)
        .where(case_staff_filter(case_school, student), User.is_active.is_(True))
        .order_by(User.name, User.id))
    people: dict[int, tuple[str, list[str]]] = {}
    for uid, name, role in rows:
        entry = people.setdefault(uid, (name, []))
        if role_label(role) not in entry[1]:
            entry[1].append(role_label(role))
    return [(uid, f"{name}（{'、'.join(roles)}）") for uid, (name, roles) in people.items()]


def spec_inputs(spec: dict, *, process: str, school: School | None, student: Student | None,
                values: dict | None = None) -> list[Input]:
    """Form inputs for a data spec; nested objects are left to the API (not offered here)."""
    values = values or {}
    out = []
    for key, kind in spec.items():
        required = isinstance(kind, Req)
        inner = kind.kind if required else kind
        label = str(DATA_LABELS.get(key, key))
        value = values.get(key)
        if inner is dt.date:
            out.append(Input(key, label, "date", required, value))
        elif isinstance(inner, OneOf):
            out.append(Input(key, label, "select", required, value, [(c, c) for c in inner.choices]))
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
                data[key] = [int(v) if v.isdigit() else v for v in raw]
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
            data[key] = int(raw) if raw.lstrip("-").isdigit() else raw
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


def transition_forms(case: Case, available: list[str], blocked: dict[str, list[str]]) -> list[TransitionForm]:
    proc = get_process(case.process)
    forms = []
    for name in available:
        t = proc.applicable(name, case) or proc.named(name)[0]
        inputs = spec_inputs(t.data_spec, process=case.process, school=case.school, student=case.student,
                             values=case.data or {})
        messages = blocked.get(name, [])
        fixable = any(key in message for message in messages for key in t.data_spec)
        forms.append(TransitionForm(name, t.label or name, inputs, t.needs_comment, messages,
                                    usable=not messages or fixable))
    return forms


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
    scope, user = current_scope(), current_actor()
    case = load_or_404(Case, case_id)
    eager_load_case(case)
    proc = engine.process_of(case)
    available, blocked = engine.available_transitions(db.session, scope, user, case)
    due, overdue = deadlines(db.session, [case], today=clock.today())[case.id]
    staff_evidence = permissions.may_add_evidence(db.session, scope, case)
    visit_kinds = permissions.loggable_visit_kinds(db.session, scope, case)
    balances = evidence_services.fee_balances(db.session, case)
    return render_template(
        "cases/detail.html", case=case, proc=proc, student=case.student,
        id_card=student_id_card(case.student) if case.student else None,
        state_label=state_label(case), due=due, overdue=overdue,
        diagram=render_svg(proc, case.state),
        history=[history_row(h, case.process) for h in case.history],
        state_labels=proc.state_labels, forms=transition_forms(case, available, blocked),
        staff_evidence=staff_evidence, visit_kinds=visit_kinds,
        staff=staff_for(case.school, case.student) if visit_kinds else [],
        balances=balances, today=clock.today(),
        visit_labels=VISIT_KIND_LABELS, document_labels=DOCUMENT_KIND_LABELS,
        document_kinds=[k for k in DOCUMENT_KINDS if k != "visit_photo"],
        channel_labels=CONTACT_CHANNEL_LABELS, status_labels=STUDENT_STATUS_LABELS,
        gender_labels=GENDER_LABELS, image_types=evidence_services.IMAGE_TYPES,
    )


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
    label = proc.label_of(name)
    try:
        version = request.form.get("version", "")
        if not version.isdigit():
            raise Invalid(_("缺少案件版本号（version），请刷新页面后重试"), details={"field": "version"})
        data = parse_spec_form(request.form, named[0].data_spec)
        if request.form.get("date", "").strip():
            data["date"] = request.form["date"].strip()
        case = engine.fire(db.session, scope, user, case.id, name, version=int(version), data=data,
                           comment=request.form.get("comment"), today=clock.today())
    except DomainError as exc:
        flash_error(exc)
        return _back(case_id, "actions")
    flash(_("已办理「%(label)s」，案件现在是「%(state)s」。", label=label, state=state_label(case)), "success")
    return _back(case_id)


# --- evidence forms -------------------------------------------------------------------------------


def _upload_limits() -> tuple[str, int]:
    return current_app.config["UPLOAD_DIR"], int(current_app.config["MAX_UPLOAD_BYTES"])


def _form_date(name: str) -> dt.date:
    raw = (request.form.get(name) or "").strip()
    try:
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
        ids = [int(v) for v in request.form.getlist("participant_ids") if v.isdigit()]
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
    return _evidence(case_id, "visits", _("家访记录已保存。"), action)


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
                                      fee_id=int(raw) if raw.isdigit() else raw,
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
        except ValueError:
            raise Invalid(_("字段 contacted_at 必须是有效的日期和时间"), details={"field": "contacted_at"}) from None
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
    return [CreateForm(proc.name, proc.label, spec_inputs(proc.create_data_spec, process=proc.name,
                                                          school=student.school, student=student), blocked)
            for proc, blocked in engine.creatable_processes(db.session, current_scope(), student)]


@bp.route("/students/<int:student_id>")
@login_required
def student(student_id: int):
    """A student: who they are, their cases, and the forms to open a new one."""
    st = load_or_404(Student, student_id)
    cases = list(db.session.scalars(select(Case).where(Case.student_id == st.id, case_filter(current_scope()))
                                    .order_by(Case.opened_on.desc(), Case.id.desc())))
    return render_template("cases/student.html", student=st, id_card=student_id_card(st), cases=cases,
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
    flash(_("已为%(name)s立案：%(process)s。", name=st.name, process=proc.label), "success")
    return redirect(url_for("cases.detail", case_id=case.id))


# --- transfer-in (SPEC §3.5): opened by the receiving school's academic office -------------------

GUARDIAN_KEYS = ("name", "relation", "phone")


def _receivable_class_options(school_ids: set[int]) -> list[tuple[str, str]]:
    today = clock.today()
    rows = db.session.scalars(select(SchoolClass).options(joinedload(SchoolClass.school)).where(
        SchoolClass.school_id.in_(sorted(school_ids)), SchoolClass.school_year == school_year_of(today))
        .order_by(SchoolClass.school_id, SchoolClass.grade, SchoolClass.name))
    return [(str(k.id), f"{k.school.name} {k.name}（{k.school_year}）") for k in rows]


def _sister_transfers(school_ids: set[int]) -> list[tuple[str, str]]:
    """The students a sister school sent here, as select options (the rule is the process's)."""
    out = []
    for st in transfers.awaiting_transfer_in(db.session, school_ids):
        origin = st.school.name if st.school else ""
        out.append((st.id, f"{st.name}（{GENDER_LABELS.get(st.gender, st.gender)}，{st.birth_date.isoformat()}，{origin}）"))
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
        data["class_id"] = int(raw_class) if raw_class.isdigit() else raw_class
    if form.get("source") == "sister":
        raw = (form.get("student_id") or "").strip()
        if not raw.isdigit():
            raise Invalid(_("请选择要转入的学生（字段 student_id）"), details={"field": "student_id"})
        return int(raw), data
    student: dict = {}
    for key in ("name", "gender", "birth_date"):
        if (form.get(key) or "").strip():
            student[key] = form[key].strip()
    raw_village = (form.get("village_id") or "").strip()
    if raw_village:
        student["village_id"] = int(raw_village) if raw_village.isdigit() else raw_village
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
    values = request.form if request.method == "POST" else {}
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
