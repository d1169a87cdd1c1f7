"""`absence` — the home-visit ladder (家访阶梯, SPEC §3.1).

Opened by the system when attendance marks a student `unexcused` and no absence case covers that
day (the hook below, registered in `workflow.attendance.on_unexcused`), or by hand for a child who
left school without permission (`reason`). The daily sweep (`workflow.sweep`) climbs the rungs
(`escalate`, one rung per firing, system only) and closes the case when a `present` mark ends
the run; the rungs' days and required visitors are the center school's policy
(`workflow.ladder`).
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import exists, select

from models import RECOVERY_REASONS, Case, CaseHistory, Student
from workflow.absence import ladder
from workflow.absence.attendance import on_unexcused
from workflow.cases import effects as e
from workflow.cases import guards as g
from workflow.cases.definitions import Process, T
from workflow.validation import OneOf, Req

RUNGS = ladder.RUNG_STATES
FINAL = ("returned", "dropout_confirmed", "converted")
HAND_OPENERS = ("homeroom_teacher", "academic_office")
SYSTEM_REASON = "考勤登记旷课"

PROCESS = Process(
    name="absence",
    label="缺勤家访",
    states=("reported", *RUNGS, *FINAL),
    initial="reported",
    final_states=FINAL,
    state_labels={"reported": "已报告", "visit_1": "第一次家访", "visit_2": "第二次家访",
                  "visit_3": "第三次家访（已备案）", "village_joint": "村校联合家访",
                  "returned": "已返校", "dropout_confirmed": "确认辍学", "converted": "已转为休学/转出"},
    create_roles=HAND_OPENERS,
    create_data_spec={"reason": Req(str)},
    create_check=lambda ctx: g.student_status("active")(ctx),
    create_effects=(e.pin_ladder_policy,),
    duties=ladder.duties,
    transitions=[
        # one rung per firing, so the history shows every rung and the day it was reached
        *[T("escalate", source, dest, roles=(), label="升级")
          for source, dest in zip(("reported", *RUNGS[:-1]), RUNGS, strict=True)],
        T("mark_returned", ("reported", *RUNGS), "returned", roles=HAND_OPENERS,
          guards=(g.returned_to_class,), label="已返校"),
        T("confirm_dropout", "village_joint", "dropout_confirmed", roles=("principal",),
          data_spec={"reason_category": Req(OneOf(RECOVERY_REASONS))}, merge_keys=("reason_category",),
          guards=(g.student_status("active"), g.liaison_joint_visit),
          effects=(e.drop_out_student, e.open_recovery), label="确认辍学"),
        T("convert", ("reported", *RUNGS), "converted", roles=("academic_office",),
          data_spec={"case_id": Req(int)}, checks=(g.check_conversion_case,),
          effects=(e.link_converted_case,), label="转为休学/转出"),
    ],
)


# --- opening by attendance ---------------------------------------------------------------------


def covered(session, student_id: int, day: dt.date) -> bool:
    """Whether an absence case of the student already answers for an unexcused mark on `day`:
    an open one; a closed one opened on or before `day` and closed on or after it; or one
    converted into a suspension/transfer_out that is still open (the child's absence is that
    case's business now)."""
    if session.scalar(select(exists().where(Case.student_id == student_id, Case.process == "absence",
                                            Case.is_open.is_(True)))):
        return True
    closed_after = exists().where(CaseHistory.case_id == Case.id, CaseHistory.to_state.in_(FINAL),
                                  CaseHistory.effective_date >= day)
    if session.scalar(select(exists().where(Case.student_id == student_id, Case.process == "absence",
                                            Case.is_open.is_(False), Case.opened_on <= day, closed_after))):
        return True
    for data in session.scalars(select(Case.data).where(
            Case.student_id == student_id, Case.process == "absence", Case.state == "converted")):
        other = (data or {}).get("converted_case_id")
        if other is not None and session.scalar(select(Case.is_open).where(Case.id == other)):
            return True
    return False


def covered_many(session, pairs) -> set[tuple[int, dt.date]]:
    """`covered` for many (student id, day) pairs in three statements (the daily sweep): the
    pairs an absence case already answers for."""
    pairs = list(pairs)
    students = sorted({sid for sid, _day in pairs})
    if not students:
        return set()
    rows = session.execute(select(Case.id, Case.student_id, Case.state, Case.is_open, Case.opened_on, Case.data)
                           .where(Case.student_id.in_(students), Case.process == "absence")).all()
    open_for = {r.student_id for r in rows if r.is_open}
    closed = {r.id: r for r in rows if not r.is_open}
    closed_on: dict[int, list[tuple[dt.date, dt.date]]] = {}
    if closed:
        for case_id, day in session.execute(select(CaseHistory.case_id, CaseHistory.effective_date).where(
                CaseHistory.case_id.in_(sorted(closed)), CaseHistory.to_state.in_(FINAL))):
            r = closed[case_id]
            closed_on.setdefault(r.student_id, []).append((r.opened_on, day))
    linked = sorted({i for r in rows if r.state == "converted"
                     and isinstance(i := (r.data or {}).get("converted_case_id"), int)})
    open_linked = set(session.scalars(select(Case.id).where(Case.id.in_(linked), Case.is_open.is_(True)))) \
        if linked else set()
    out = set()
    for sid, day in pairs:
        if sid in open_for or any(opened <= day <= until for opened, until in closed_on.get(sid, ())):
            out.add((sid, day))
        elif any(r.student_id == sid and r.state == "converted"
                 and (r.data or {}).get("converted_case_id") in open_linked for r in rows):
            out.add((sid, day))
    return out


def open_for_unexcused(session, student_id: int, day: dt.date) -> Case | None:
    """Open an absence case (as the system) for an unexcused mark on `day` unless one covers it."""
    from workflow.absence.sweep import lock_school
    from workflow.cases.engine import create_case_system

    school_id = session.scalar(select(Student.school_id).where(Student.id == student_id))
    if school_id is not None:
        # the sweep opens cases too: one school's openings happen one at a time
        lock_school(session, school_id)
    if covered(session, student_id, day):
        return None
    return create_case_system(session, "absence", student_id, {"reason": SYSTEM_REASON}, effective_date=day)


def _attendance_hook(session, scope, user, student_id, day, reported_at):
    case = open_for_unexcused(session, student_id, day)
    return case.id if case is not None else None


if not any(getattr(h, "__name__", "") == "_attendance_hook" and getattr(h, "__module__", "") == __name__
           for h in on_unexcused):
    on_unexcused.append(_attendance_hook)
