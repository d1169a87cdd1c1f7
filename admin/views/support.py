"""Support pages (SPEC §5, issue 15): learning-difficulty files, poor-family aid and its totals,
the anonymous class survey (printable slips; the no-login phone page to answer), the teacher
evaluation, the published fee schedule (a public page) and printable payment receipts.

Thin: parse → workflow.support service (scope 404, 403) → render. A refused form (Invalid,
Conflict) discards the request's writes, flashes the Chinese message and goes back.
"""
from __future__ import annotations

import functools
import io

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy import select

from models import AID_KINDS, LearningFile, RoleAssignment, School, SchoolClass, Student, User
from workflow import clock
from workflow.access import permissions
from workflow.access.scope import class_filter, school_filter, student_filter
from workflow.errors import Conflict, Invalid, NotFound
from workflow.org.calendar import school_year_of
from workflow.support import aid, fees, learning, survey

from ..boundary import discard_writes
from ..extensions import db
from ..labels import error_text
from ..security import current_actor, current_scope

bp = Blueprint("support", __name__)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def refused_goes_back(view):
    """Login required; a refused form (Invalid, Conflict) → nothing kept, message, back."""

    @functools.wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except (Invalid, Conflict) as exc:
            discard_writes()
            flash(error_text(exc), "danger")
            return redirect(request.form.get("next") or request.referrer or url_for("support.index"))

    return wrapper


def _int(name: str) -> int | None:
    raw = (request.values.get(name) or "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        abort(404)


def current_term() -> tuple[str, int]:
    """The school year and term of today: term 1 from August to January, term 2 after."""
    today = clock.today()
    return school_year_of(today), 1 if today.month >= 8 or today.month == 1 else 2


def _year_term() -> tuple[str, int]:
    year, term = current_term()
    year = (request.values.get("school_year") or year).strip()
    t = _int("term") or term
    return year, t


def _schools(scope):
    return [s for s in db.session.scalars(select(School).where(school_filter(scope), School.kind != "county")
                                          .order_by(School.kind.desc(), School.name))]


# --- the panel on the child's page and the recovery case (an includable snippet) ----------------


@bp.app_context_processor
def _panel():
    return {"support_panel": support_panel}


def support_panel(student) -> dict | None:
    """What support/_student_panel.html shows for a child: the learning file and the aid
    (measures), each only when the child is flagged or has one, and what the user may do."""
    if student is None:
        return None
    scope = current_scope()
    try:
        file = learning.file_of_student(db.session, scope, student.id)
        grants = aid.grants_of_student(db.session, scope, student.id)
    except NotFound:  # a case the user sees whose child they do not (e.g. an incoming transfer)
        return None
    if not (file or grants or student.learning_difficulty or student.poor):
        return None
    return {"file": file, "grants": grants, "names": aid.AID_NAMES,
            "may_open_file": student.learning_difficulty and file is None
            and permissions.may_keep_learning_file(scope, student),
            "may_grant": student.poor and permissions.may_grant_aid(scope, student)}


# --- hub ----------------------------------------------------------------------------------------


@bp.get("/support")
@login_required
def index():
    """帮扶与收费: the links this user may use."""
    return render_template("support/index.html")


# --- learning-difficulty files ------------------------------------------------------------------


def _staff_of(student_school_ids: set[int]):
    return list(db.session.scalars(
        select(User).where(User.is_active.is_(True), User.id.in_(select(RoleAssignment.user_id).where(
            (RoleAssignment.school_id.in_(sorted(student_school_ids)))
            | RoleAssignment.class_id.in_(select(SchoolClass.id).where(
                SchoolClass.school_id.in_(sorted(student_school_ids)))))))
        .order_by(User.name)))


@bp.get("/support/learning")
@login_required
def learning_index():
    """学困生档案: the files in scope, a form to open one, and goals met per school."""
    scope = current_scope()
    year, term = _year_term()
    files = learning.list_files(db.session, scope)
    candidates = [s for s in db.session.scalars(
        select(Student).where(student_filter(scope), Student.learning_difficulty.is_(True),
                              Student.status == "active",
                              ~Student.id.in_(select(LearningFile.student_id))).order_by(Student.name))
                  if permissions.may_keep_learning_file(scope, s)]
    helpers = _staff_of({s.school_id for s in candidates if s.school_id}) if candidates else []
    try:
        goals = learning.goals_by_school(db.session, scope, school_year=year, term=term)
    except Invalid:
        goals = []
    return render_template("support/learning.html", files=files, candidates=candidates, helpers=helpers,
                           goals=goals, school_year=year, term=term)


@bp.post("/support/learning")
@refused_goes_back
def learning_create():
    """Open a file (一帮一)."""
    f = learning.open_file(db.session, current_scope(), current_actor(), student_id=_int("student_id"),
                           helper_id=_int("helper_id"))
    flash(_("已建立学困生档案"), "success")
    return redirect(url_for("support.learning_file", file_id=f.id))


@bp.get("/support/learning/<int:file_id>")
@login_required
def learning_file(file_id: int):
    """One file: goals per term with results, help sessions, forms for who may write."""
    scope = current_scope()
    f = learning.get_file(db.session, scope, file_id)
    year, term = current_term()
    return render_template("support/learning_file.html", f=f, school_year=year, term=term, today=clock.today(),
                           may_keep=permissions.may_keep_learning_file(scope, f.student),
                           may_write=permissions.may_write_learning_file(scope, f.student, f.helper_id))


@bp.post("/support/learning/<int:file_id>/goals")
@refused_goes_back
def learning_goal(file_id: int):
    """Add a staged goal."""
    learning.add_goal(db.session, current_scope(), current_actor(), file_id,
                      school_year=request.form.get("school_year", ""), term=_int("term"),
                      target=request.form.get("target", ""))
    return redirect(url_for("support.learning_file", file_id=file_id))


@bp.post("/support/learning/goals/<int:goal_id>/result")
@refused_goes_back
def learning_result(goal_id: int):
    """Record a goal's result."""
    met = request.form.get("is_met")
    goal = learning.record_result(db.session, current_scope(), current_actor(), goal_id,
                                  result=request.form.get("result", ""),
                                  is_met={"1": True, "0": False}.get(met, met))
    return redirect(url_for("support.learning_file", file_id=goal.file_id))


@bp.post("/support/learning/<int:file_id>/sessions")
@refused_goes_back
def learning_session(file_id: int):
    """Log a help session."""
    learning.add_session(db.session, current_scope(), current_actor(), file_id, date=request.form.get("date", ""),
                         notes=request.form.get("notes", ""), today=clock.today())
    return redirect(url_for("support.learning_file", file_id=file_id))


# --- aid ----------------------------------------------------------------------------------------


@bp.get("/support/aid")
@login_required
def aid_index():
    """资助: per-school totals of a term (export), and the form to record aid."""
    scope = current_scope()
    year, term = _year_term()
    try:
        totals = aid.aid_totals(db.session, scope, school_year=year, term=term)
    except Invalid as exc:
        totals, year_error = [], error_text(exc)
    else:
        year_error = None
    children = [s for s in db.session.scalars(select(Student).where(
        student_filter(scope), Student.poor.is_(True), Student.status == "active").order_by(Student.name))
                if permissions.may_grant_aid(scope, s)]
    return render_template("support/aid.html", totals=totals, children=children, school_year=year, term=term,
                           kinds=AID_KINDS, names=aid.AID_NAMES, today=clock.today(), year_error=year_error)


@bp.post("/support/aid")
@refused_goes_back
def aid_grant():
    """Record one grant."""
    f = request.form
    aid.grant_aid(db.session, current_scope(), current_actor(), student_id=_int("student_id"),
                  school_year=f.get("school_year", ""), term=_int("term"), kind=f.get("kind", ""),
                  amount=f.get("amount", ""), granted_on=f.get("granted_on") or clock.today().isoformat(),
                  note=f.get("note") or None, today=clock.today())
    flash(_("资助已登记"), "success")
    return redirect(request.form.get("next") or url_for("support.aid_index"))


@bp.get("/support/aid/export")
@login_required
def aid_export():
    """The totals (and for one school every grant) as .xlsx."""
    from ..api.support import aid_headers, aid_names

    scope = current_scope()
    year, term = _year_term()
    school_id = _int("school_id")
    try:
        totals = aid.aid_totals(db.session, scope, school_year=year, term=term, school_id=school_id)
        grants = aid.grant_rows(db.session, scope, school_id=school_id, school_year=year, term=term) \
            if school_id is not None else []
    except Invalid:
        abort(400)
    data = aid.totals_xlsx(totals, grants, school_year=year, term=term, names=aid_names(), headers=aid_headers())
    return send_file(io.BytesIO(data), mimetype=XLSX, as_attachment=True,
                     download_name=f"aid-{year}-{term}.xlsx", max_age=0)


# --- survey (staff side) ------------------------------------------------------------------------


@bp.get("/support/surveys")
@login_required
def surveys():
    """问卷: the surveys in scope and the form to open one."""
    scope = current_scope()
    year, term = current_term()
    classes = [k for k in db.session.scalars(select(SchoolClass).where(class_filter(scope),
                                                                       SchoolClass.school_year == year)
                                             .order_by(SchoolClass.grade, SchoolClass.name))
               if permissions.may_open_survey(scope, k)]
    return render_template("support/surveys.html", surveys=survey.list_surveys(db.session, scope),
                           classes=classes, school_year=year, term=term)


@bp.post("/support/surveys")
@refused_goes_back
def survey_open():
    """Open a survey; the answer is the printable slips (the codes are shown only now)."""
    s, codes = survey.open_survey(db.session, current_scope(), current_actor(), class_id=_int("class_id"),
                                  school_year=request.form.get("school_year", ""), term=_int("term"),
                                  today=clock.today())
    return render_template("support/slips.html", s=s, codes=codes)


@bp.get("/support/surveys/<int:survey_id>")
@login_required
def survey_detail(survey_id: int):
    """A survey: codes used, results per teacher (closed and ≥ 5 answers), close and reissue."""
    scope = current_scope()
    s = survey.get_survey(db.session, scope, survey_id)
    issued, used = survey.code_counts(db.session, s)
    return render_template("support/survey.html", s=s, issued=issued, used=used,
                           results=survey.survey_results(db.session, scope, s), questions=survey.QUESTIONS,
                           min_answers=survey.MIN_ANSWERS, may_manage=permissions.may_open_survey(scope, s.klass))


@bp.post("/support/surveys/<int:survey_id>/close")
@refused_goes_back
def survey_close(survey_id: int):
    """End the survey."""
    survey.close_survey(db.session, current_scope(), current_actor(), survey_id, today=clock.today())
    return redirect(url_for("support.survey_detail", survey_id=survey_id))


@bp.post("/support/surveys/<int:survey_id>/codes")
@refused_goes_back
def survey_reissue(survey_id: int):
    """Void the unused codes and print new slips."""
    s, codes = survey.reissue_codes(db.session, current_scope(), current_actor(), survey_id)
    return render_template("support/slips.html", s=s, codes=codes)


@bp.get("/support/teachers/<int:teacher_id>")
@login_required
def evaluation(teacher_id: int):
    """教师评价: survey results, homeroom classes' loss rates, 评优评先."""
    scope = current_scope()
    year = (request.args.get("school_year") or current_term()[0]).strip()
    try:
        ev = survey.teacher_evaluation(db.session, scope, teacher_id, school_year=year)
    except Invalid:
        abort(404)
    return render_template("support/evaluation.html", ev=ev, questions=survey.QUESTIONS,
                           min_answers=survey.MIN_ANSWERS)


@bp.get("/support/teachers")
@login_required
def teachers():
    """The teachers whose evaluation the user may open."""
    return render_template("support/teachers.html", users=survey.evaluable_teachers(db.session, current_scope()))


# --- fee schedule -------------------------------------------------------------------------------


def _parse_items(text: str) -> list[dict]:
    """One item a line: name, amount, optional note, separated by spaces or a comma."""
    items = []
    for line in text.splitlines():
        parts = line.replace("，", ",").replace(",", " ").split(None, 2)
        if not parts:
            continue
        items.append({"name": parts[0], "amount": parts[1] if len(parts) > 1 else "",
                      **({"note": parts[2]} if len(parts) > 2 else {})})
    return items


@bp.get("/support/fees")
@login_required
def fee_schedules():
    """收费标准: the schedules in scope, drafting and approval."""
    scope = current_scope()
    schools = [s for s in _schools(scope) if permissions.may_edit_fee_schedule(scope, s)]
    rows = fees.list_schedules(db.session, scope)
    return render_template("support/fees.html", schedules=rows, schools=schools, school_year=current_term()[0],
                           may_approve=lambda s: permissions.may_approve_fee_schedule(scope, s.school),
                           may_edit=lambda s: permissions.may_edit_fee_schedule(scope, s.school))


@bp.post("/support/fees")
@refused_goes_back
def fee_schedule_save():
    """Save a draft."""
    fees.save_schedule(db.session, current_scope(), current_actor(), school_id=_int("school_id"),
                       school_year=request.form.get("school_year", ""),
                       items=_parse_items(request.form.get("items", "")))
    flash(_("收费标准草稿已保存，待中心校批准"), "success")
    return redirect(url_for("support.fee_schedules"))


@bp.post("/support/fees/<int:schedule_id>/approve")
@refused_goes_back
def fee_schedule_approve(schedule_id: int):
    """The center school approves (publishes)."""
    fees.approve_schedule(db.session, current_scope(), current_actor(), schedule_id)
    flash(_("收费标准已批准并公布"), "success")
    return redirect(url_for("support.fee_schedules"))


@bp.get("/support/receipts/<int:payment_id>")
@login_required
def receipt(payment_id: int):
    """A printable receipt (half A4) of one payment."""
    r = fees.receipt(db.session, current_scope(), payment_id,
                     local_date=lambda at: at.astimezone(clock.SCHOOL_TZ).date())
    return render_template("support/receipt.html", r=r)


# --- public: no login -----------------------------------------------------------------------------


@bp.get("/fees")
def public_fees():
    """The published fee schedules of every school (一费制 公示), no login."""
    return render_template("support/public_fees.html", schedules=fees.public_schedules(db.session))


@bp.route("/s", methods=["GET", "POST"])
def answer():
    """The phone page: enter the printed code, then answer; no login, nothing about the child kept.
    The code travels only in the form body, never in a URL (which proxies and logs keep)."""
    code = (request.form.get("code") or "").strip()
    if request.method == "GET" or not code:
        return render_template("support/answer_code.html", error=None if request.method == "GET"
                               else _("请输入纸条上的代码"))
    try:
        s = survey.survey_for_code(db.session, code)
    except (Invalid, Conflict) as exc:
        return render_template("support/answer_code.html", error=error_text(exc), code=code), 422
    if request.form.get("step") != "answer":
        return render_template("support/answer.html", s=s, code=code, questions=survey.QUESTIONS,
                               scale=survey.SCALE, error=None)
    scores = {}
    for t in s.teachers:
        scores[str(t.user_id)] = [_score(request.form.get(f"q_{t.user_id}_{i}")) for i in range(len(survey.QUESTIONS))]
    try:
        survey.submit_answers(db.session, code, scores)
    except Invalid as exc:
        discard_writes()
        return render_template("support/answer.html", s=s, code=code, questions=survey.QUESTIONS,
                               scale=survey.SCALE, error=error_text(exc), given=scores), 422
    except Conflict as exc:
        discard_writes()
        return render_template("support/answer_code.html", error=error_text(exc)), 409
    return render_template("support/answer_done.html")


def _score(raw) -> int | None:
    try:
        return int(raw)
    except (TypeError, ValueError):
        return None
