"""The home-visit ladder of an absence case (家访阶梯, SPEC §3.1): policy, counting, duties.

Policy. A center school's ladder is a list of four rungs, always the states `visit_1`,
`visit_2`, `visit_3`, `village_joint` in this order, each with the consecutive-absence `day` on
which a case reaches it, the `visit_kind` the rung's visit must be and the `roles` its
participants must hold (optionally `report_to`: roles the escalation is reported to, 备案). Saved
policies are `LadderPolicy` rows; an edit is a new row with the next version, never an update. A
center school that never saved one follows `DEFAULT_RUNGS` (the SPEC table), which is not stored:
such cases carry `ladder_policy_id = None`. A case keeps the policy it was opened under.

Counting (`walk`). From the day the case was opened to the sweep's date, over the school's school
days only: an `unexcused` mark adds a day; a `present` mark ends the run (the child returned); a
`sick_leave`/`personal_leave` mark, or a day without a mark (the class's attendance not taken, or
the child not on the roll that day), pauses it. A case opened by hand counts its opening day as
unexcused whatever the mark (the child was at roll call and then left).

Duties. A rung's visit is logged when a visit of the rung's kind, dated on or after the day the
rung was reached, has among its participants and its recorder people holding every required role
for the case. It is due the next school day after the rung was reached; a case is overdue when its
current rung's visit is not logged and that rung's due day, or the due day of an earlier rung
whose visit was never logged, has passed (the sweep for date D counts as the end of day D).

No Flask here; nothing commits.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session, object_session, selectinload

from models import (
    VISIT_KINDS,
    AttendanceDay,
    AttendanceRecord,
    Case,
    CaseHistory,
    GuardianContact,
    LadderPolicy,
    School,
    User,
    Visit,
)
from workflow.access.permissions import may_edit_ladder_policy
from workflow.access.scope import (
    ROLE_NAMES,
    Scope,
    acting_roles,
    can_see,
    is_current_ladder_policy,
    roles_text,
)
from workflow.errors import NAME_SEP, Conflict, Forbidden, Invalid, Msg, NotFound, invalid_field
from workflow.org.calendar import SchoolCalendar
from workflow.validation import N_, parse_int_text

RUNG_STATES = ("visit_1", "visit_2", "visit_3", "village_joint")
# The one table of the rungs' names, which the absence process uses as its state labels (SPEC §3.1:
# on day 3 the case is reported to the academic office for the record); N_ puts them in the
# catalogue for the pages.
RUNG_NAMES = {"visit_1": N_("第一次家访"), "visit_2": N_("第二次家访"), "visit_3": N_("第三次家访（上报备案）"),
              "village_joint": N_("村校联合家访")}
# Roles that can act for a student's case (SPEC §3 "who acts for whose student").
RUNG_ROLES = ("homeroom_teacher", "subject_teacher", "team_member", "principal", "academic_office",
              "village_liaison", "center_office", "center_head")
LEAVE_STATUSES = ("sick_leave", "personal_leave")
MAX_DAY = 60

DEFAULT_RUNGS: list[dict] = [
    {"state": "visit_1", "day": 1, "visit_kind": "home_visit", "roles": ["homeroom_teacher", "team_member"]},
    {"state": "visit_2", "day": 2, "visit_kind": "home_visit", "roles": ["homeroom_teacher", "team_member"]},
    {"state": "visit_3", "day": 3, "visit_kind": "home_visit", "roles": ["principal", "homeroom_teacher"],
     "report_to": ["academic_office"]},
    {"state": "village_joint", "day": 4, "visit_kind": "village_joint", "roles": ["village_liaison"]},
]

# The name of each visit kind (SPEC §3: the kinds of a case's visits), the one table: the case
# page, the liaison's page, the ladder screens and the registers show these; N_ puts them in the
# catalogue for the pages. (The rungs' names are RUNG_NAMES above, the roles'
# workflow.access.scope.ROLE_NAMES.)
KIND_NAMES = {"home_visit": N_("入户家访"), "in_person_at_school": N_("家长到校面谈"), "phone": N_("电话联系"),
              "village_joint": N_("村校联合家访")}


# --- policy ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rung:
    state: str
    day: int
    visit_kind: str
    roles: tuple[str, ...]
    report_to: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        out = {"state": self.state, "day": self.day, "visit_kind": self.visit_kind, "roles": list(self.roles)}
        if self.report_to:
            out["report_to"] = list(self.report_to)
        return out


@dataclass(frozen=True)
class Policy:
    """One version of a ladder. `id` None = the built-in default (SPEC table)."""

    id: int | None
    center_school_id: int | None
    version: int
    rungs: tuple[Rung, ...]

    @property
    def is_default(self) -> bool:
        return self.id is None

    def rung(self, state: str) -> Rung | None:
        return next((r for r in self.rungs if r.state == state), None)

    def target(self, count: int) -> Rung | None:
        """The highest rung whose day the count of absent days has reached."""
        reached = [r for r in self.rungs if r.day <= count]
        return reached[-1] if reached else None

    def as_dict(self) -> dict:
        return {"id": self.id, "center_school_id": self.center_school_id, "version": self.version,
                "is_default": self.is_default, "rungs": [r.as_dict() for r in self.rungs]}


def _rungs(raw: list[dict]) -> tuple[Rung, ...]:
    return tuple(Rung(state=r["state"], day=int(r["day"]), visit_kind=r["visit_kind"],
                      roles=tuple(r["roles"]), report_to=tuple(r.get("report_to") or ()))
                 for r in raw)


def default_policy(center_school_id: int | None = None) -> Policy:
    return Policy(id=None, center_school_id=center_school_id, version=0, rungs=_rungs(DEFAULT_RUNGS))


def policy_from_row(row: LadderPolicy) -> Policy:
    """A saved ladder row as a Policy."""
    return Policy(id=row.id, center_school_id=row.center_school_id, version=row.version, rungs=_rungs(row.rungs))


def current_policy(session: Session, center_school_id: int | None) -> Policy:
    """The ladder new cases of the center school's schools open under: its latest saved version,
    else the built-in default (version 0, id None)."""
    if center_school_id is None:
        return default_policy()
    row = session.scalars(select(LadderPolicy).where(LadderPolicy.center_school_id == center_school_id,
                                                     is_current_ladder_policy())).first()
    return policy_from_row(row) if row is not None else default_policy(center_school_id)


def policy_for_case(session: Session, case: Case) -> Policy:
    """The ladder the case was opened under (the default when it carries none)."""
    if case.ladder_policy_id is None:
        return default_policy()
    row = session.get(LadderPolicy, case.ladder_policy_id)
    return policy_from_row(row) if row is not None else default_policy()


def validate_rungs(raw) -> list[dict]:
    """Check a posted ladder: exactly the four rung states in order, days whole numbers 1–60 and
    strictly increasing, a known visit kind, one or more valid role codes. Raises Invalid naming
    the field (e.g. `rungs[2].day`). Returns the normalised list to store."""
    if not isinstance(raw, list):
        raise invalid_field("rungs", N_("家访阶梯必须是列表（每级一项）"))
    if len(raw) != len(RUNG_STATES):
        raise invalid_field("rungs", N_("家访阶梯必须依次包含 %(n)s 级：%(choices)s"), n=len(RUNG_STATES),
                            choices=Msg.join(NAME_SEP, [RUNG_NAMES[s] for s in RUNG_STATES]))
    out: list[dict] = []
    allowed = {"state", "day", "visit_kind", "roles", "report_to"}
    for i, (rung, state) in enumerate(zip(raw, RUNG_STATES, strict=True)):
        name = f"rungs[{i}]"
        # the message names the rung as people call it; `details.field` keeps the key
        level = Msg(RUNG_NAMES[state])
        if not isinstance(rung, dict):
            raise invalid_field(name, N_("%(rung)s的设置必须是对象"), rung=level)
        unknown = sorted(set(rung) - allowed)
        if unknown:
            raise Invalid(N_("%(rung)s的设置中有未知的项：%(unknown)s"), code="unknown_field",
                          details={"field": f"{name}.{unknown[0]}"}, rung=level, unknown=unknown[0])
        if rung.get("state") != state:
            raise invalid_field(f"{name}.state", N_("第 %(n)s 级必须是%(rung)s（各级顺序固定）"), n=i + 1, rung=level)
        day = rung.get("day")
        if isinstance(day, bool) or not isinstance(day, int) or not 1 <= day <= MAX_DAY:
            raise invalid_field(f"{name}.day", N_("%(rung)s的天数必须是 1–%(max_day)s 的整数"), rung=level, max_day=MAX_DAY)
        if out and day <= out[-1]["day"]:
            raise invalid_field(f"{name}.day", N_("%(rung)s的天数必须大于上一级的天数 %(out)s"), rung=level, out=out[-1]['day'])
        kind = rung.get("visit_kind")
        if kind not in VISIT_KINDS:
            raise invalid_field(f"{name}.visit_kind", N_("%(rung)s的家访方式必须是以下之一：%(choices)s"), rung=level,
                                choices=Msg.join(NAME_SEP, [KIND_NAMES[k] for k in VISIT_KINDS]))
        item = {"state": state, "day": day, "visit_kind": kind,
                "roles": _role_list(rung.get("roles"), f"{name}.roles", Msg(N_("%(rung)s的参加人员"), rung=level),
                                    required=True)}
        if rung.get("report_to") is not None:
            report_to = _role_list(rung.get("report_to"), f"{name}.report_to",
                                   Msg(N_("%(rung)s的上报对象"), rung=level), required=False)
            if report_to:
                item["report_to"] = report_to
        out.append(item)
    return out


def _role_list(value, field_name: str, label: Msg, *, required: bool) -> list[str]:
    if not isinstance(value, list) or (required and not value):
        raise invalid_field(field_name, N_("%(what)s必须是角色的列表，且至少有一个角色"), what=label)
    out: list[str] = []
    for code in value:
        if code not in RUNG_ROLES:
            raise invalid_field(field_name, N_("%(what)s中的角色 %(code_value)s 无效，须为：%(choices)s"), what=label,
                                code_value=repr(code), choices=Msg.join(NAME_SEP, [ROLE_NAMES[r] for r in RUNG_ROLES]))
        if code not in out:
            out.append(code)
    return out


def _center(session: Session, scope: Scope, center_school_id) -> School:
    center_school_id = parse_int_text(center_school_id)  # also NotFound beyond the database's range
    if center_school_id is None:
        raise NotFound(N_("学校不存在"))
    school = session.get(School, center_school_id)
    visible = school is not None and (scope.is_all or school.id in scope.center_ids
                                      or can_see(session, scope, School, school.id))
    if not visible or school.kind != "center":
        raise NotFound(N_("中心校不存在或不在您的管辖范围内"))
    return school


def get_policy(session: Session, scope: Scope, center_school_id) -> Policy:
    """The center school's current ladder for anyone working under it. Raises NotFound."""
    school = _center(session, scope, center_school_id)
    return current_policy(session, school.id)


def save_policy(session: Session, scope: Scope, user: User, center_school_id, rungs,
                version: int | None = None) -> Policy:
    """Save a new version of the center school's ladder (cases already open keep theirs).

    `version`, when given, is the version the editor started from: another edit in between is
    Conflict `stale_version`. Edits of one center are serialised by locking its school row.
    Raises NotFound (center not visible), Forbidden (not admin nor a center role of that
    center), Invalid (rungs), Conflict `stale_version`.
    """
    school = _center(session, scope, center_school_id)
    if not may_edit_ladder_policy(scope, school.id):
        raise Forbidden(N_("只有该中心校的中心校长、中心校教导主任或系统管理员可以修改家访阶梯"))
    clean = validate_rungs(rungs)
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise invalid_field("version", N_("家访阶梯的版本号必须是整数"))
    # Two editors saving at once must not both write version n+1.
    session.scalars(select(School.id).where(School.id == school.id).with_for_update()).first()
    latest = session.scalar(select(func.max(LadderPolicy.version))
                            .where(LadderPolicy.center_school_id == school.id)) or 0
    if version is not None and version != latest:
        raise Conflict(N_("家访阶梯已被他人修改，请刷新后重试"), code="stale_version", details={"version": latest})
    row = LadderPolicy(center_school_id=school.id, version=latest + 1, rungs=clean,
                       created_by_id=user.id if user is not None else None)
    session.add(row)
    session.flush()
    return policy_from_row(row)


# --- counting ----------------------------------------------------------------------------------


@dataclass
class Run:
    """The outcome of counting one case's absence up to a date."""

    count: int = 0
    reached_on: dict[int, dt.date] = field(default_factory=dict)  # count n -> school day it was reached
    returned_on: dt.date | None = None
    last_absence: dt.date | None = None
    missing_days: list[dt.date] = field(default_factory=list)


def walk(school_days: Iterable[dt.date], mark: Callable[[dt.date], str | None],
         taken: Callable[[dt.date], bool], *, opened_on: dt.date, opened_by_hand: bool) -> Run:
    """Count consecutive unexcused school days from `opened_on` (see the module docstring).

    `school_days`: the school days from the opening day to the sweep's date, in order; `mark(d)`:
    the child's status that day or None; `taken(d)`: whether the class's attendance was taken.
    """
    run = Run()
    for d in school_days:
        status = mark(d)
        if opened_by_hand and d == opened_on:
            status = "unexcused"
        if status == "unexcused":
            run.count += 1
            run.reached_on[run.count] = d
            run.last_absence = d
        elif status == "present":
            run.returned_on = d
            return run
        elif status in LEAVE_STATUSES:
            continue
        elif not taken(d):
            run.missing_days.append(d)
    return run


def opened_by_hand(case: Case) -> bool:
    return case.created_by_id is not None


def case_run(session: Session, case: Case, upto: dt.date, calendar: SchoolCalendar | None = None) -> Run:
    """Count one case's absence up to `upto` (a few queries; the sweep loads in bulk instead)."""
    calendar = calendar or SchoolCalendar.load(session, case.school_id)
    days = calendar.school_days_between(case.opened_on, upto)
    marks = {d: s for d, s in session.execute(select(AttendanceRecord.date, AttendanceRecord.status).where(
        AttendanceRecord.student_id == case.student_id, AttendanceRecord.date >= case.opened_on,
        AttendanceRecord.date <= upto))}
    class_id = case.student.class_id if case.student is not None else None
    taken = set(session.scalars(select(AttendanceDay.date).where(
        AttendanceDay.class_id == class_id, AttendanceDay.date >= case.opened_on,
        AttendanceDay.date <= upto))) if class_id else set()
    return walk(days, marks.get, taken.__contains__, opened_on=case.opened_on,
                opened_by_hand=opened_by_hand(case))


def present_after(session: Session, case: Case, upto: dt.date) -> dt.date | None:
    """The first `present` mark after the case's last absence day and no later than `upto`."""
    last = session.scalar(select(func.max(AttendanceRecord.date)).where(
        AttendanceRecord.student_id == case.student_id, AttendanceRecord.status == "unexcused",
        AttendanceRecord.date >= case.opened_on, AttendanceRecord.date <= upto))
    q = select(func.min(AttendanceRecord.date)).where(
        AttendanceRecord.student_id == case.student_id, AttendanceRecord.status == "present",
        AttendanceRecord.date <= upto)
    if last is not None:
        q = q.where(AttendanceRecord.date > last)
    elif opened_by_hand(case):
        q = q.where(AttendanceRecord.date > case.opened_on)
    else:
        q = q.where(AttendanceRecord.date >= case.opened_on)
    return session.scalar(q)


# --- visits and duties -------------------------------------------------------------------------


def roles_for_case(user: User, case: Case) -> set[str]:
    """The roles `user` holds for the case's student (as `workflow.access.scope.acting_roles`)."""
    roles: dict[str, set[int]] = {}
    for a in user.roles:
        roles.setdefault(a.role, set()).update(x for x in (a.school_id, a.class_id, a.village_id) if x is not None)
    scope = Scope(user_id=user.id, roles={k: frozenset(v) for k, v in roles.items()})
    center_id = case.school.center_id if case.school is not None else None
    return acting_roles(scope, case, center_id=center_id)


def visit_people(session: Session, visit: Visit) -> list[User]:
    """The participants and the recorder (who logged it was there)."""
    people = list(visit.participants)
    if visit.created_by_id is not None and all(u.id != visit.created_by_id for u in people):
        creator = session.get(User, visit.created_by_id)
        if creator is not None:
            people.append(creator)
    return people


def visit_satisfies(session: Session, case: Case, visit: Visit, rung: Rung, since: dt.date) -> bool:
    """Whether `visit` is the rung's visit: its kind, on or after `since`, every required role held
    by a participant or the recorder."""
    if visit.kind != rung.visit_kind or visit.date < since:
        return False
    held: set[str] = set()
    for person in visit_people(session, visit):
        held |= roles_for_case(person, case)
    return set(rung.roles) <= held


def rung_dates(session: Session, case: Case) -> dict[str, dt.date]:
    """State -> effective date the case escalated into it (from the history)."""
    rows = session.execute(select(CaseHistory.to_state, CaseHistory.effective_date).where(
        CaseHistory.case_id == case.id, CaseHistory.transition == "escalate").order_by(CaseHistory.id))
    return {state: day for state, day in rows}


@dataclass
class Assessment:
    """Where a case stands on its ladder on a date."""

    due_on: dt.date | None
    is_overdue: bool


def assess_state(state: str, opened_on: dt.date, policy: Policy, on: dt.date, reached: dict[str, dt.date],
                 logged: Callable[[Rung, dt.date], bool],
                 next_school_day: Callable[[dt.date], dt.date | None]) -> Assessment:
    """Due date and overdue flag of an open absence case on `on` (module docstring, "Duties"), from
    plain values: `reached` maps rung states to the day the case reached them, `logged(rung,
    since)` tells whether the rung's visit was logged on or after `since`."""
    if state == "reported" or policy.rung(state) is None:
        return Assessment(due_on=opened_on, is_overdue=False)

    def due(day: dt.date) -> dt.date:
        return next_school_day(day) or day + dt.timedelta(days=1)

    current = policy.rung(state)
    since = reached.get(current.state, opened_on)
    if logged(current, since):
        return Assessment(due_on=None, is_overdue=False)
    # an earlier rung whose visit fell due and was never logged keeps the case overdue
    missed = any(rung.state in reached and on >= due(reached[rung.state]) and not logged(rung, reached[rung.state])
                 for rung in policy.rungs[:policy.rungs.index(current)])
    due_on = due(since)
    return Assessment(due_on=due_on, is_overdue=on >= due_on or missed)


def _missing_attendance_open(session: Session, case: Case) -> list[str]:
    days = [d for d in (case.data or {}).get("missing_attendance_days") or []]
    if not days or case.student is None or case.student.class_id is None:
        return []
    taken = {d.isoformat() for d in session.scalars(select(AttendanceDay.date).where(
        AttendanceDay.class_id == case.student.class_id,
        AttendanceDay.date.in_([dt.date.fromisoformat(d) for d in days])))}
    return [d for d in days if d not in taken]


def unvisited_rung(session: Session, case: Case, inputs: DutyInputs | None = None) -> Rung | None:
    """The rung the case stands on when its visit (right kind, with the required roles) has not
    been logged since the case reached it; None when it has, or the state is not a rung. Reads
    the escalation dates and visits from `inputs` (`duty_inputs`) when given."""
    rung = policy_for_case(session, case).rung(case.state)
    if rung is None:
        return None
    if inputs is not None:
        reached, visits = inputs.rung_dates.get(case.id, {}), inputs.visits.get(case.id, [])
    else:
        reached, visits = rung_dates(session, case), session.scalars(select(Visit).where(Visit.case_id == case.id))
    since = reached.get(rung.state, case.opened_on)
    return None if any(visit_satisfies(session, case, v, rung, since) for v in visits) else rung


def duties(case: Case) -> set[str]:
    """The roles that must act on an open absence case now (for the queues): the homeroom teacher
    until a guardian contact is logged and while a school day of the run lacks attendance; the
    current rung's roles until its visit is logged. (`duties_from` over this one case.)"""
    if not case.is_open:
        return set()
    session = object_session(case)
    if session is None:
        return set()
    return duties_from(session, case, duty_inputs(session, [case]))


def duty_notes(session: Session, case: Case) -> list[Msg]:
    """What is due on an absence case (the liaison's pages, `duty_notes` of the case API): `Msg`s,
    which the pages and the JSON answers render in the user's language."""
    if case.process != "absence" or not case.is_open:
        return []
    notes: list[Msg] = []
    contacts = list(session.scalars(select(GuardianContact).where(GuardianContact.case_id == case.id)))
    if not contacts:
        notes.append(N_("尚未联系家长（班主任应在报告后30分钟内联系）"))
    elif all(c.is_late for c in contacts):
        notes.append(N_("家长联系晚于30分钟（已标记超时）"))
    missing = _missing_attendance_open(session, case)
    if missing:
        notes.append(Msg(N_("以下上课日未登记考勤，请班主任补登：%(days)s"), days=NAME_SEP.join(missing)))
    rung = unvisited_rung(session, case)
    if rung is not None:
        # each part a Msg of its own, so the English page reads "First home visit (Home visit, …)"
        parts = {"rung": Msg(RUNG_NAMES.get(rung.state, rung.state)),
                 "kind": Msg(KIND_NAMES.get(rung.visit_kind, rung.visit_kind)),
                 "who": roles_text(rung.roles)}
        # an overdue case's deadline is on the page's red overdue line already: named once
        if case.due_on and not case.is_overdue:
            notes.append(Msg(N_("待完成%(rung)s（%(kind)s，须有%(who)s参加，截止 %(date)s）"),
                             date=case.due_on.isoformat(), **parts))
        else:
            notes.append(Msg(N_("待完成%(rung)s（%(kind)s，须有%(who)s参加）"), **parts))
    return notes


# --- batch: the duty inputs of many cases at once (the work queue) -------------------------------
# A queue shows dozens of absence cases. `duty_inputs` reads the facts `duties` needs for all of
# them in a few grouped queries and `duties_from` decides; `duties` is the same two over one case,
# so the queue and a single case cannot disagree.


@dataclass
class DutyInputs:
    """What `duties` reads per case, read once for a list of cases."""

    contacts: dict[int, int] = field(default_factory=dict)  # case id -> guardian contacts logged
    rung_dates: dict[int, dict[str, dt.date]] = field(default_factory=dict)  # as `rung_dates`
    visits: dict[int, list[Visit]] = field(default_factory=dict)
    taken: set[tuple[int, str]] = field(default_factory=set)  # (class id, ISO day) attendance taken
    read: set[int] = field(default_factory=set)  # the case ids these inputs were read for


def duty_inputs(session: Session, cases: list[Case]) -> DutyInputs:
    """Load the duty inputs of the open cases among `cases` in at most seven queries: contact
    counts, escalation dates, ladder policies, visits with participants, recorders and their
    roles, and the attendance days of the days recorded as missing. Expects `case.student` and
    `case.school` loaded (the queue eager-loads them)."""
    open_cases = [c for c in cases if c.is_open and c.id is not None]
    out = DutyInputs()
    if not open_cases:
        return out
    ids = sorted(c.id for c in open_cases)
    out.read = set(ids)
    out.contacts = dict(session.execute(
        select(GuardianContact.case_id, func.count(GuardianContact.id))
        .where(GuardianContact.case_id.in_(ids)).group_by(GuardianContact.case_id)).all())
    for case_id, state, day in session.execute(
            select(CaseHistory.case_id, CaseHistory.to_state, CaseHistory.effective_date)
            .where(CaseHistory.case_id.in_(ids), CaseHistory.transition == "escalate")
            .order_by(CaseHistory.id)):
        out.rung_dates.setdefault(case_id, {})[state] = day
    policy_ids = sorted({c.ladder_policy_id for c in open_cases if c.ladder_policy_id is not None})
    if policy_ids:
        # into the identity map: `policy_for_case` then finds them without a query
        session.scalars(select(LadderPolicy).where(LadderPolicy.id.in_(policy_ids))).all()
    visits = list(session.scalars(select(Visit).where(Visit.case_id.in_(ids))
                                  .options(selectinload(Visit.participants).selectinload(User.roles))))
    for v in visits:
        out.visits.setdefault(v.case_id, []).append(v)
    # only recorders who were not among their own visit's participants are looked up there
    creators = sorted({v.created_by_id for v in visits if v.created_by_id is not None
                       and all(u.id != v.created_by_id for u in v.participants)})
    if creators:
        # `visit_people` asks `session.get(User, created_by_id)`: served from the identity map
        session.scalars(select(User).where(User.id.in_(creators)).options(selectinload(User.roles))).all()
    wanted: set[tuple[int, dt.date]] = set()
    for c in open_cases:
        days = (c.data or {}).get("missing_attendance_days") or []
        class_id = c.student.class_id if c.student is not None else None
        if days and class_id is not None:
            wanted |= {(class_id, dt.date.fromisoformat(d)) for d in days}
    if wanted:
        rows = session.execute(select(AttendanceDay.class_id, AttendanceDay.date).where(
            AttendanceDay.class_id.in_(sorted({k for k, _ in wanted})),
            AttendanceDay.date.in_(sorted({d for _, d in wanted}))))
        out.taken = {(k, d.isoformat()) for k, d in rows}
    return out


def duties_from(session: Session, case: Case, inputs: DutyInputs) -> set[str]:
    """`duties(case)` computed from `duty_inputs` (same answer, no query of its own for the
    cases `duty_inputs` was given)."""
    if not case.is_open:
        return set()
    out: set[str] = set()
    if not inputs.contacts.get(case.id):
        out.add("homeroom_teacher")
    days = (case.data or {}).get("missing_attendance_days") or []
    if days and case.student is not None and case.student.class_id is not None:
        if any((case.student.class_id, d) not in inputs.taken for d in days):
            out.add("homeroom_teacher")
    rung = unvisited_rung(session, case, inputs)
    if rung is not None:
        out |= set(rung.roles)
    return out


def possible_duties(session: Session, case: Case) -> set[str]:
    """Every role `duties(case)` could name whatever the case's contacts, visits and attendance:
    the homeroom teacher and the current rung's roles. A user holding none of them has no duty
    on the case, so its duty inputs need not be read."""
    if not case.is_open:
        return set()
    rung = policy_for_case(session, case).rung(case.state)
    return {"homeroom_teacher", *(rung.roles if rung is not None else ())}
