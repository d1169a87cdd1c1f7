"""What to do next on a case, in one line for the person who must do it (queue items and the case
page say the same thing, from `next_step`).

For an absence case it is the ladder's task rather than the state's name: a freshly reported
absence says "30 分钟内联系家长（还剩 12 分钟）" (SPEC §3.1: the homeroom teacher contacts the
guardian within 30 minutes of the report), a rung says which visit is due, with whom and by
when, a school day without attendance says which day to fill in. Otherwise it names the steps
the user may take ("待教导处审核"), the stand-in for a blocked approval saying whose step it is
("教导处审核（代教导处）"), and the due date. Lines are `Msg`s: the pages translate them.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import AttendanceRecord, Case
from workflow.absence import ladder
from workflow.access.scope import ROLE_NAMES
from workflow.cases.definitions import Process
from workflow.cases.evidence import CONTACT_DEADLINE
from workflow.errors import LIST_SEP, N_, Msg

# Steps that are not the work a case waits for (the queue leaves a case whose only steps are
# these out; the line names them only when nothing else is left).
SECONDARY = ("withdraw", "send_back", "change_class", "waive_fees", "revoke")
# "A or B" between the steps a user may take (in the catalogue: English says " or ").
OR_SEP = N_("或")


@dataclass
class StepFacts:
    """What the absence ladder's line needs, per case: when the absence was reported, whether a
    guardian contact is logged, the rung whose visit is still due, the days lacking attendance."""

    reported_at: dt.datetime | None = None
    contacted: bool = True
    rung: ladder.Rung | None = None
    missing_days: list[str] = field(default_factory=list)


def reported_times(session: Session, cases: list[Case]) -> dict[int, dt.datetime]:
    """case id -> when the absence that opened it was reported (the unexcused mark's
    `reported_at` on the opening day; else the case's creation time), in one query."""
    absences = [c for c in cases if c.process == "absence" and c.student_id is not None]
    if not absences:
        return {}
    marks = dict(((r.student_id, r.date), r.reported_at) for r in session.execute(
        select(AttendanceRecord.student_id, AttendanceRecord.date, AttendanceRecord.reported_at).where(
            AttendanceRecord.student_id.in_(sorted({c.student_id for c in absences})),
            AttendanceRecord.date.in_(sorted({c.opened_on for c in absences})),
            AttendanceRecord.status == "unexcused")))
    return {c.id: marks.get((c.student_id, c.opened_on)) or c.created_at for c in absences}


def step_facts(session: Session, cases: list[Case], inputs: ladder.DutyInputs | None = None) -> dict[int, StepFacts]:
    """case id -> StepFacts for the open absence cases among `cases` (others are absent).
    `inputs`: the ladder's `duty_inputs` when the caller read them already (the queue)."""
    absences = [c for c in cases if c.process == "absence" and c.is_open]
    if not absences:
        return {}
    if inputs is None:
        inputs = ladder.duty_inputs(session, absences)
    reported = reported_times(session, absences)
    out = {}
    for case in absences:
        if case.id not in inputs.read:
            continue
        klass_id = case.student.class_id if case.student is not None else None
        missing = [d for d in (case.data or {}).get("missing_attendance_days") or []
                   if klass_id is not None and (klass_id, d) not in inputs.taken]
        out[case.id] = StepFacts(reported_at=reported.get(case.id), contacted=bool(inputs.contacts.get(case.id)),
                                 rung=ladder.unvisited_rung(session, case, inputs), missing_days=missing)
    return out


def _roles(roles) -> str:
    return "、".join(ROLE_NAMES.get(r, r) for r in roles)


def next_step(proc: Process, case: Case, *, actions: list[tuple[str, str]], held: set[str],
              facts: StepFacts | None, due: dt.date | None, overdue: bool, now: dt.datetime) -> Msg:
    """The next-step line for the user on the case (Chinese `Msg`, translated by the pages).

    `actions`: (transition, role it would be fired in) the user may take now
    (`engine.permitted_transitions`); a role not among the transition's own roles is a stand-in
    (SPEC §3). `held`: the user's roles for the case. `facts`: `step_facts` for an absence case.
    `now`: the clock, for the minutes left of the 30-minute contact."""
    parts: list = []
    if facts is not None and "homeroom_teacher" in held:
        if not facts.contacted and facts.reported_at is not None:
            left = CONTACT_DEADLINE - (now - facts.reported_at)
            minutes = int(left.total_seconds() // 60)
            if left.total_seconds() > 0:
                parts.append(Msg(N_("30 分钟内联系家长（还剩 %(n)d 分钟）"), n=max(minutes, 1)))
            else:
                parts.append(Msg(N_("尽快联系家长（已超过 30 分钟）")))
        if facts.missing_days:
            parts.append(Msg(N_("补登考勤：%(days)s"), days="、".join(facts.missing_days)))
    if facts is not None and facts.rung is not None and held & set(facts.rung.roles):
        rung = facts.rung
        line = Msg(N_("%(rung)s：%(kind)s，须有%(who)s参加"), rung=Msg(ladder.RUNG_NAMES.get(rung.state, rung.state)),
                   kind=Msg(ladder.KIND_NAMES.get(rung.visit_kind, rung.visit_kind)), who=_roles(rung.roles))
        parts.append(Msg(N_("%(line)s（%(d)s 前）"), line=line, d=due.isoformat()) if due and not overdue else line)
    primary = [(n, r) for n, r in actions if n not in SECONDARY] or (actions if not parts else [])
    labels = []
    for name, role in primary:
        label = Msg(proc.label_of(name))
        steps = {r for t in proc.named(name) for r in t.roles}
        if role not in steps and steps:
            # the stand-in: say whose step it is
            label = Msg(N_("%(label)s（代%(role)s）"), label=label, role=Msg(ROLE_NAMES.get(sorted(steps)[0], "")))
        labels.append(label)
    if labels:
        parts.append(Msg(N_("待%(steps)s"), steps=Msg.join(OR_SEP, labels)))
    line = Msg.join(LIST_SEP, parts)
    if overdue and due is not None:
        return Msg(N_("已逾期（应于 %(d)s 前办理）：%(step)s"), d=due.isoformat(), step=line)
    if due is not None and facts is None and labels:
        return Msg(N_("%(step)s（%(d)s 前）"), step=line, d=due.isoformat())
    return line
