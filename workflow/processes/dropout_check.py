"""`dropout_check` — 疑似辍学核实, one per child and list entry (SPEC §3.10).

Opened for each child named on a suspected-dropout list from outside (the national platform's
comparisons, imported by `workflow/reporting/checks.py:import_list`) or found by the comparisons
of SPEC §5 (`workflow/reporting/comparisons.py:run_comparisons`), or by hand. The list entry is
kept in `cases.entry_key`; a partial unique index allows one check per child and entry, and the
engine one open check per child. Each check is closed with its outcome within
`DEADLINE_SCHOOL_DAYS` school days (动态销号): the queue shows the due day and, past it, overdue.

Outcomes: the child is in school; transferred (proof, or a completed transfer_out); a confirmed
dropout, which sets an active child `dropped_out` (a loss of its class, SPEC §4) and opens — or
joins — the child's `recovery`; or not ours (`reassigned`): a new check opens at the school the
child belongs to, or the comment and a document say the child is not of school age or deceased.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import exists, select

from models import RECOVERY_REASONS, AttendanceRecord, Case, Document, School, Visit
from workflow.cases import effects as e
from workflow.cases import guards as g
from workflow.cases.definitions import Process, T
from workflow.errors import NP_, invalid_field
from workflow.org.calendar import SchoolCalendar
from workflow.validation import N_, OneOf, Req

SOURCES = ("national_list", "comparison", "manual")
SOURCE_NAMES = {"national_list": N_("上级比对名单"), "comparison": N_("四查三比对"), "manual": N_("手工登记")}
# SPEC §3.10: checked and closed with its outcome within 10 school days (动态销号).
DEADLINE_SCHOOL_DAYS = 10
# confirm_in_school: a `present` mark within this many school days up to the effective date.
PRESENT_WITHIN_SCHOOL_DAYS = 5
ACTORS = ("academic_office", "principal")
OPENERS = ("academic_office", "principal", "center_office", "center_head")
TRANSFER_DONE = ("transferred", "arrival_confirmed")


def due_day(calendar: SchoolCalendar, opened_on: dt.date) -> dt.date:
    """The last day to close a check opened on `opened_on`: the 10th school day after it; with
    no calendar reaching that far, 14 calendar days (two school weeks) after it."""
    day = opened_on
    for _ in range(DEADLINE_SCHOOL_DAYS):
        nxt = calendar.next_school_day(day)
        if nxt is None:
            return opened_on + dt.timedelta(days=14)
        day = nxt
    return day


# --- guards (each returns None or the Chinese message naming what is missing) --------------------


def present_or_seen_at_school(ctx):
    """在校：近 5 个上学日内有到校记录且学籍在读，或有到校面谈记录"""
    visit = ctx.session.scalar(select(exists().where(
        Visit.case_id == ctx.case.id, Visit.kind == "in_person_at_school")))
    if visit:
        return None
    student = ctx.student
    day = ctx.effective_date
    calendar = SchoolCalendar.load(ctx.session, ctx.case.school_id)
    days = []
    if calendar.is_school_day(day):
        days.append(day)
    while len(days) < PRESENT_WITHIN_SCHOOL_DAYS:
        prev = calendar.previous_school_day(days[-1] if days else day)
        if prev is None:
            break
        days.append(prev)
    if student.status == "active" and days and ctx.session.scalar(select(exists().where(
            AttendanceRecord.student_id == student.id, AttendanceRecord.status == "present",
            AttendanceRecord.date.in_(days)))):
        return None
    return N_("需要学生在读且近 5 个上学日内有出勤记录，或一条家长到校面谈记录")


def proof_or_completed_transfer(ctx):
    """转学：上传入学证明，或该生有已完成的转出案件"""
    if ctx.session.scalar(select(exists().where(
            Document.case_id == ctx.case.id, Document.kind == "enrollment_proof"))):
        return None
    done = ctx.session.scalar(select(exists().where(
        Case.student_id == ctx.case.student_id, Case.process == "transfer_out", Case.state.in_(TRANSFER_DONE))))
    return None if done else N_("需要上传入学证明，或该生已办结的转出手续")


def any_visit(ctx):
    """已记录一次家访或面谈"""
    found = ctx.session.scalar(select(exists().where(Visit.case_id == ctx.case.id)))
    return None if found else N_("需要先记录一次家访或面谈")


def reason_for_not_ours(ctx):
    """另一学校的学生（选择其学校），或说明不在学龄/已死亡并上传证明文件"""
    if ctx.get("school_id") is not None:
        return None
    if ctx.comment and ctx.session.scalar(select(exists().where(Document.case_id == ctx.case.id))):
        return None
    return g.needs_input(N_("需要选择该生所属的学校，或填写说明（不在学龄、已死亡）并上传证明文件"), "school_id")


# --- input checks and effects --------------------------------------------------------------------


def check_other_school(ctx) -> None:
    """data.school_id names a school (not a county node) other than the case's."""
    if "school_id" not in ctx.data:
        return
    school = ctx.session.get(School, ctx.data["school_id"])
    if school is None or school.kind == "county":
        raise invalid_field("data.school_id", N_("该生所属的学校必须是本系统中的学校"))
    if school.id == ctx.case.school_id:
        raise invalid_field("data.school_id", N_("该生所属的学校必须是另一所学校"))


def keep_entry(ctx) -> None:
    """记录名单条目（entry_key），同一名单条目只核实一次"""
    entry = ctx.data.get("list_entry")
    if entry:
        ctx.case.entry_key = entry


# case.data key: this check's confirmed dropout is the one that took the child off the roll, so
# the figures count it as a loss (workflow/figures/common.py:DROPOUT_BY_CHECK); a child who had
# dropped out already (a poor-household hit) is not lost twice.
DROPPED_OUT_KEY = "dropped_out_by_check"


def drop_out_if_active(ctx) -> None:
    """在读学生改为辍学（计入所在班级流失）；已辍学的学生不变"""
    if ctx.student.status == "active":
        e.drop_out_student(ctx)
        e.set_case_data(ctx.case, **{DROPPED_OUT_KEY: True})


def open_check_at_school(ctx) -> None:
    """在该生所属学校开启新的疑似辍学核实"""
    school_id = ctx.get("school_id")
    if school_id is None:
        return
    case = ctx.create_case_system(
        ctx.session, "dropout_check", ctx.case.student_id,
        {"source": (ctx.case.data or {}).get("source", "manual"),
         "note": f"由 {ctx.case.school.name} 转来（原核实 #{ctx.case.id}）"},
        effective_date=ctx.effective_date, parent_case_id=ctx.case.id)
    case.school_id = int(school_id)
    case.school = ctx.session.get(School, int(school_id))
    ctx.session.flush()


PROCESS = Process(
    name="dropout_check",
    label=N_("疑似辍学核实"),
    states=("open", "in_school", "transferred", "dropout_confirmed", "reassigned"),
    initial="open",
    final_states=("in_school", "transferred", "dropout_confirmed", "reassigned"),
    state_labels={"open": N_("待核实"), "in_school": N_("在校"), "transferred": N_("已转学"), "dropout_confirmed": NP_("state", "确认辍学"),
                  "reassigned": N_("非本校学生")},
    create_roles=OPENERS,
    create_data_spec={"source": Req(OneOf(SOURCES)), "note": str, "list_entry": str, "kind": str},
    create_effects=(keep_entry,),
    transitions=[
        T("confirm_in_school", "open", "in_school", roles=ACTORS, guards=(present_or_seen_at_school,),
          label=N_("确认在校")),
        T("confirm_transferred", "open", "transferred", roles=ACTORS, guards=(proof_or_completed_transfer,),
          label=N_("确认已转学")),
        T("confirm_dropout", "open", "dropout_confirmed", roles=("principal",),
          data_spec={"reason_category": Req(OneOf(RECOVERY_REASONS))}, merge_keys=("reason_category",),
          guards=(g.student_status("active", "dropped_out"), any_visit),
          effects=(drop_out_if_active, e.open_recovery), label=NP_("action", "确认辍学")),
        T("not_ours", "open", "reassigned", roles=("academic_office",), data_spec={"school_id": int},
          checks=(check_other_school,), merge_keys=("school_id",), guards=(reason_for_not_ours,),
          effects=(open_check_at_school,), label=N_("非本校学生"), todo=N_("标为非本校学生")),
    ],
)
