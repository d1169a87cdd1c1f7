"""What to do next on a case, in one line for the person who must do it (queue items and the case
page say the same thing, from `next_step`).

For an absence case it is the ladder's task rather than the state's name: a freshly reported
absence says "30 分钟内联系家长（还剩 12 分钟）" (SPEC §3.1: the homeroom teacher contacts the
guardian within 30 minutes of the report), a rung says which visit is due and with whom, a
school day without attendance says which day to fill in. Otherwise it names the steps the user
may take ("待教导处审核"; a step whose label names an outcome says its `todo` instead:
"待孩子返校后登记返校", not "待已返校"), the stand-in for a blocked approval saying whose step
it is ("教导处审核（代教导处）"), or, for someone who has no step of their own but a duty to see it done,
the process's `duty_line` (the center school about a branch school's overdue monthly report).
Lines are `Msg`s: the pages translate them.

A line never names the due date: the queue item and the case page show the case's deadline
once, next to the line, from the same `due`/`overdue` (issue 12: "…（2026-12-15 前）… 请于
2026-12-15 前办理" said it twice).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import AttendanceRecord, Case
from workflow import clock
from workflow.absence import ladder
from workflow.access.scope import ROLE_NAMES, roles_text
from workflow.cases import engine
from workflow.cases.definitions import SYSTEM_ROLE, Process, T
from workflow.cases.evidence import CONTACT_DEADLINE
from workflow.errors import LIST_SEP, N_, NAME_SEP, OR_SEP, Msg

# Steps that are not the work a case waits for (the queue leaves a case whose only steps are
# these out; the line names them only when nothing else is left).
SECONDARY = ("withdraw", "send_back", "change_class", "waive_fees", "revoke")


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


def step_text(proc: Process, name: str) -> Msg:
    """What the step is, as a thing to do: the transition's `todo` where its label names the
    outcome rather than the action (已返校 -> "孩子返校后登记返校"), else its label."""
    named = proc.named(name)
    plain = [t for t in named if t.when is None] or named
    todo = plain[0].todo if plain else ""
    return Msg(todo or proc.label_of(name))


def waiting_on(proc: Process, case: Case) -> Msg:
    """For someone who cannot act on the open case now: whose step it waits for ("等待中心校教导主任办理
    （中心校备案）"), so an approver who just signed sees where the case went. The steps by people
    (not the daily sweep's), other than the SECONDARY ones; an empty Msg when there is none."""
    if not case.is_open:
        return Msg.join(LIST_SEP, [])
    steps: dict[str, set[str]] = {}
    for t in proc.transitions:
        roles = {r for r in t.roles if r != SYSTEM_ROLE}
        if t.name in SECONDARY or not roles or not t.applies(case):
            continue
        steps.setdefault(t.name, set()).update(roles)
    if not steps:
        return Msg.join(LIST_SEP, [])
    roles = sorted({r for rs in steps.values() for r in rs}, key=lambda r: list(ROLE_NAMES).index(r)
                   if r in ROLE_NAMES else len(ROLE_NAMES))
    return Msg(N_("等待%(who)s办理（%(steps)s）"), who=roles_text(roles),
               steps=Msg.join(OR_SEP, [step_text(proc, name) for name in steps]))


def next_step(proc: Process, case: Case, *, actions: list[tuple[str, str]], held: set[str],
              facts: StepFacts | None, now: dt.datetime, duty: bool = False) -> Msg:
    """The next-step line for the user on the case (Chinese `Msg`, translated by the pages).

    `actions`: (transition, role it would be fired in) the user may take now
    (`engine.permitted_transitions`); a role not among the transition's own roles is a stand-in
    (SPEC §3). `held`: the user's roles for the case. `facts`: `step_facts` for an absence case.
    `now`: the clock, for the minutes left of the 30-minute contact. `duty`: the user holds one
    of the roles `proc.duties(case)` names (the queue knows; the line then says the duty when
    there is no step). The line never names the deadline: the page shows it once, beside the line."""
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
            parts.append(Msg(N_("补登考勤：%(days)s"), days=NAME_SEP.join(facts.missing_days)))
    if facts is not None and facts.rung is not None and held & set(facts.rung.roles):
        rung = facts.rung
        line = Msg(N_("%(rung)s：%(kind)s，须有%(who)s参加"), rung=Msg(ladder.RUNG_NAMES.get(rung.state, rung.state)),
                   kind=Msg(ladder.KIND_NAMES.get(rung.visit_kind, rung.visit_kind)), who=roles_text(rung.roles))
        parts.append(line)
    primary = [(n, r) for n, r in actions if n not in SECONDARY] or (actions if not parts else [])
    labels = []
    for name, role in primary:
        label = step_text(proc, name)
        steps = {r for t in proc.named(name) for r in t.roles}
        if role not in steps and steps:
            # the stand-in: say whose step it is
            label = Msg(N_("%(label)s（代%(role)s）"), label=label, role=Msg(ROLE_NAMES.get(sorted(steps)[0], "")))
        labels.append(label)
    if labels:
        parts.append(Msg(N_("待%(steps)s"), steps=Msg.join(OR_SEP, labels)))
    if not parts and duty and proc.duty_line is not None:
        parts.append(proc.duty_line(case))
    return Msg.join(LIST_SEP, parts)


def dated_duties(proc: Process, case: Case, today: dt.date) -> set[str]:
    """The roles `proc.duties` names for `case` on `today`, for a process whose duty starts at a
    date (the monthly report's deadline). The absence ladder's duties are read for many cases at
    once (`ladder.duty_inputs`, the queue) or come with `step_facts`."""
    return set(proc.duties(case, today=today) or ()) if proc.duties is not None else set()


def lines_for(session: Session, scope, user, case: Case, *, now: dt.datetime, held: set[str] | None = None,
              permitted: list[tuple[T, str]] | None = None) -> tuple[Msg, Msg]:
    """(next step, waiting on) of one case for `user`, as the case page and `GET /cases/{id}` show
    them: the user's own next step (`next_step`), or, when there is none, whose step the open case
    waits for (`waiting_on`). Either may be an empty Msg. A caller that has the user's roles for
    the case and the (step, role) pairs they may fire (`engine.permitted_transitions`) passes
    them, so they are not read twice."""
    proc = engine.process_of(case)
    if held is None:
        held = engine.case_roles(scope, case, proc)
    if permitted is None:
        permitted = engine.permitted_transitions(session, case, proc, held, user.id)
    facts = step_facts(session, [case]).get(case.id)
    # a duty without a step of its own (the center school on an overdue monthly report), as the
    # queue has it; the absence ladder's duties are already in `facts`
    duty = proc.duty_line is not None and bool(dated_duties(proc, case, now.astimezone(clock.SCHOOL_TZ).date()) & held)
    step = next_step(proc, case, actions=[(t.name, role) for t, role in permitted], held=held, facts=facts,
                     now=now, duty=duty)
    return step, (waiting_on(proc, case) if not str(step) else Msg.join(LIST_SEP, []))
