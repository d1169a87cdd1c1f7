"""The daily sweep (SPEC §3.1 and the timed duties of §3): escalate, close, open, flag overdue.

`sweep_schools(session, school_ids, date)` brings those schools' cases to where the attendance up
to `date` puts them, and flushes (`sweep_school` for one). `run_sweep` walks the schools (in id
order, optionally one shard `k/N` of them) in batches of `BATCH_SCHOOLS` and, given a `commit`
callable by the edge (CLI, API), commits after each batch; a sweep killed half-way is re-run
from the start and reaches the same end state (the batches already committed find nothing to do).

For each school and date D:

1. absence cases: every open case is counted (`workflow.absence.ladder.walk`) from its opening day to D;
   a `present` mark closes it (`mark_returned`, effective that day) and, if the child was
   unexcused again after that, a new case is opened from that day and counted too; otherwise it
   climbs (`escalate`, one rung per firing, effective the day the count reached the rung) to the
   highest rung the count has reached, never down. An unexcused mark of D with no case covering it
   (the attendance hook missed it) opens a case from the first day of that run. Which days
   need a case is `workflow.absence.opening`'s rule, the same one the attendance hook follows.
2. due dates and overdue flags of open absence, suspension, transfer_out and transfer_in cases
   are recomputed and written only when they change — except by a catch-up sweep: a date before
   the school's latest sweep (`models.sweeps.SchoolSweep`) moves states as of that day but leaves
   the flags, which describe the latest date.

How (docs/performance.md): a batch reads its inputs set-based, as plain rows (open cases, their
marks since opening, the class-days that lack a mark, escalation dates, visits with their
people's roles, calendars: about fifteen statements whatever the number of schools), decides in
Python, and writes only the cases that change, through `workflow.cases.bulk.fire_system_many`
(one version-checked executemany per column set, the history rows in one insert: the same rows
`fire_system` writes). Cases it opens go through `opening.open_uncovered` and so
`bulk.create_cases_system`, all of a round at once (the same rows `create_case_system` writes).

Idempotent: the end state depends only on the marks, visits and calendar up to D, and nothing is
written when it is already so (no history row, no version bump). Concurrency: on PostgreSQL each
school of a batch is locked (`workflow.absence.locks`: a transaction-scoped advisory lock,
ascending ids) before anything is read, so two sweeps of one school run one after the other and
the second finds nothing to do; every change is also made with the version read (a user's
concurrent change wins, the case is counted in `skipped` and left to the next run).
"""
from __future__ import annotations

import bisect
import datetime as dt
import gc
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from models import (
    AttendanceDay,
    AttendanceRecord,
    Case,
    CaseHistory,
    LadderPolicy,
    RoleAssignment,
    School,
    Student,
    Visit,
    VisitParticipant,
)
from models.sweeps import SchoolSweep
from workflow import clock
from workflow.absence import ladder, opening
from workflow.absence.locks import lock_schools
from workflow.access.scope import Scope, acting_roles, roles_text
from workflow.cases.bulk import SystemFire, fire_system_many
from workflow.errors import N_, Invalid, Msg
from workflow.org.calendar import SchoolCalendar
from workflow.processes.transfer_out import ARRIVAL_CONFIRM_DAYS

# schools read, written and committed together: a batch holds the advisory locks of its schools
# until its commit; reading a batch costs the same dozen statements as reading one school
BATCH_SCHOOLS = 200
# how far back the sweep looks for the start of a run it has to open a case for
OPENER_LOOKBACK_DAYS = 45
SUSPENSION_REMINDER_DAYS = 14
TIMED_PROCESSES = ("suspension", "transfer_out", "transfer_in")


@dataclass
class Summary:
    """What one run changed: cases opened, cases escalated (a case climbing several rungs in one
    run counts once), cases closed, cases that became overdue."""

    opened: int = 0
    escalated: int = 0
    closed: int = 0
    overdue: int = 0
    schools: int = 0
    skipped: int = 0  # changes left to the next run because another writer got there first
    missing_attendance: set[tuple[int, dt.date]] = field(default_factory=set)  # (class_id, day)

    def add(self, other: Summary) -> None:
        self.opened += other.opened
        self.escalated += other.escalated
        self.closed += other.closed
        self.overdue += other.overdue
        self.schools += other.schools
        self.skipped += other.skipped
        self.missing_attendance |= other.missing_attendance

    def as_dict(self) -> dict:
        return {"opened": self.opened, "escalated": self.escalated, "closed": self.closed,
                "overdue": self.overdue}


def parse_shard(value: str | None) -> tuple[int, int] | None:
    """`k/N` → (k, N) with 0 ≤ k < N; None for None. Raises Invalid."""
    if value is None:
        return None
    try:
        k, n = (int(x) for x in value.split("/"))
    except ValueError:
        raise Invalid(N_("分片须写作 k/N，例如 0/4"), details={"field": "shard"}) from None
    if n < 1 or not 0 <= k < n:
        raise Invalid(N_("分片 k/N 须满足 0 ≤ k < N"), details={"field": "shard"})
    return k, n


def schools_to_sweep(session: Session, *, school_ids=None, shard: tuple[int, int] | None = None) -> list[int]:
    """Ids of the schools (center and branch; not county nodes) to sweep, ascending; with a shard
    (k, N) only those whose id % N == k."""
    q = select(School.id).where(School.kind != "county").order_by(School.id)
    if school_ids is not None:
        q = q.where(School.id.in_(sorted(school_ids)))
    ids = list(session.scalars(q))
    if shard is not None:
        k, n = shard
        ids = [i for i in ids if i % n == k]
    return ids


def run_sweep(session: Session, *, date: dt.date, school_ids=None, progress: Callable | None = None,
              shard: tuple[int, int] | None = None, commit: Callable[[], None] | None = None) -> Summary:
    """Sweep every school (or `school_ids`, or one shard) for `date`.

    Schools are swept in batches of `BATCH_SCHOOLS` (ascending id): `commit`, when given, is
    called after each batch (the edge's transaction control; a killed run is re-run and reaches
    the same end state); without it everything stays in the caller's transaction, flushed.
    `progress(school_id, summary)` is called for each school after its batch. Each school's
    latest swept date is kept; a sweep for an earlier date (a catch-up) leaves the due dates and
    overdue flags of the later one. Raises Invalid for a date in the future.
    """
    if date > clock.today():
        raise Invalid(N_("%(date)s 尚未到来，不能清扫"), details={"field": "date"}, date=date.isoformat())
    total = Summary()
    ids = schools_to_sweep(session, school_ids=school_ids, shard=shard)
    for i in range(0, len(ids), BATCH_SCHOOLS):
        batch = ids[i:i + BATCH_SCHOOLS]
        done = sweep_schools(session, batch, date)
        if commit is not None:
            commit()
        for school_id in batch:
            total.add(done[school_id])
            if progress is not None:
                progress(school_id, done[school_id])
    return total


def sweep_school(session: Session, school_id: int, date: dt.date) -> Summary:
    """Sweep one school for `date` (see the module docstring). Flushes; never commits."""
    return sweep_schools(session, [school_id], date)[school_id]


def sweep_schools(session: Session, school_ids: list[int], date: dt.date) -> dict[int, Summary]:
    """Sweep several schools for `date` with set-based reads (a fixed number of statements
    whatever the number of schools and cases) and bulk writes of what changed only. Takes every
    school's advisory lock first (ascending ids, so two sweeps never deadlock). Flushes; never
    commits. Returns {school id: what changed there}."""
    ids = sorted(set(school_ids))
    lock_schools(session, ids)
    summaries = {sid: Summary(schools=1) for sid in ids}
    # The batch allocates some 100,000 small acyclic rows (tuples, plain records) that reference
    # counting frees when it ends; left on, the cyclic collector runs full passes over the whole
    # process heap in the middle of it (60-140 ms each, measured at county scale) and finds
    # nothing of ours to collect.
    collecting = gc.isenabled()
    gc.disable()
    try:
        if ids:
            _Batch(session, ids, date, summaries).run()
        session.flush()
    finally:
        if collecting:
            gc.enable()
    return summaries


def _ids(values):
    """An id list for IN, rendered into the statement: thousands of bound parameters cost psycopg
    more to prepare than PostgreSQL to run the query (ids are integers, nothing to escape)."""
    return bindparam("ids", [int(v) for v in values], expanding=True, literal_execute=True)


def _chunks(values: list, size: int = 5000):
    for i in range(0, len(values), size):
        yield values[i:i + size]


def _flags(row: _Row, due_on, is_overdue: bool, extra: dict | None = None) -> dict:
    """The columns to write for new due flags (and case.data keys; None removes a key), or {}
    when nothing changes."""
    data = row.data or {}
    data_changes = {k: v for k, v in (extra or {}).items() if data.get(k) != v}
    if row.due_on == due_on and bool(row.is_overdue) == is_overdue and not data_changes:
        return {}
    out = {"due_on": due_on, "is_overdue": is_overdue}
    if data_changes:
        new = dict(data)
        for k, v in data_changes.items():
            if v is None:
                new.pop(k, None)
            else:
                new[k] = v
        out["data"] = new
    return out


@dataclass
class _Row:
    """An open case as plain values (no ORM object unless it changes through the ORM)."""

    id: int
    school_id: int
    student_id: int
    process: str
    state: str
    version: int
    opened_on: dt.date
    by_hand: bool
    policy_id: int | None
    due_on: dt.date | None
    is_overdue: bool
    data: dict | None


_ROW_COLUMNS = (Case.id, Case.school_id, Case.student_id, Case.process, Case.state, Case.version, Case.opened_on,
                Case.created_by_id, Case.ladder_policy_id, Case.due_on, Case.is_overdue, Case.data)


def _row(r) -> _Row:
    return _Row(id=r[0], school_id=r[1], student_id=r[2], process=r[3], state=r[4], version=r[5], opened_on=r[6],
                by_hand=r[7] is not None, policy_id=r[8], due_on=r[9], is_overdue=bool(r[10]), data=r[11])


@dataclass
class _Change:
    """What the sweep does to one case: the engine's fire plus how to count it."""

    fire: SystemFire
    escalated: bool = False
    closed: bool = False
    became_overdue: bool = False
    again: dt.date | None = None  # returned, then unexcused again from this day: open a new case


# --- the batch ---------------------------------------------------------------------------------


class _Batch:
    def __init__(self, session: Session, school_ids: list[int], date: dt.date, summaries: dict[int, Summary]):
        self.s, self.ids, self.date, self.summaries = session, school_ids, date, summaries
        self.policies: dict[int | None, ladder.Policy] = {None: ladder.default_policy()}
        self.rows: dict[int, _Row] = {}  # every case this run may change, by id
        self.days: dict[int, list[dt.date]] = {}
        self.start = date - dt.timedelta(days=OPENER_LOOKBACK_DAYS)

    def run(self) -> None:
        s, date = self.s, self.date
        self.cals = SchoolCalendar.load_many(s, self.ids)
        self.center_of = dict(s.execute(select(School.id, School.center_id).where(School.id.in_(_ids(self.ids)))).all())
        # A catch-up sweep for a day before a school's latest sweep still escalates, closes and
        # opens (effective that day), but leaves that school's due dates and overdue flags alone:
        # they describe the latest date, and this run would turn them back to an older day's.
        latest = dict(s.execute(select(SchoolSweep.school_id, SchoolSweep.last_date).where(
            SchoolSweep.school_id.in_(_ids(self.ids)))).all())
        self.behind = {sid for sid, last in latest.items() if last > date}
        # every open case of the batch in one read (through the is_open index), split here
        open_rows = [_row(r) for r in s.execute(select(*_ROW_COLUMNS).where(
            Case.school_id.in_(_ids(self.ids)), Case.is_open.is_(True)).order_by(Case.id))]
        cases = [r for r in open_rows if r.process == "absence"]
        with_case = {(c.school_id, c.student_id) for c in cases}
        candidates = sorted({(school_id, sid) for sid, school_id in s.execute(
            select(AttendanceRecord.student_id, Student.school_id).join(Student, Student.id == AttendanceRecord.student_id)
            .where(Student.school_id.in_(_ids(self.ids)), Student.status == "active",
                   AttendanceRecord.date == date, AttendanceRecord.status == "unexcused"))} - with_case)
        changes: list[_Change] = []
        self.candidates = candidates
        if cases or candidates:
            self._load(cases, [sid for _school, sid in candidates])
            changes = [c for c in (self._plan(case) for case in cases) if c is not None]
        changes += self._timed([r for r in open_rows if r.process in TIMED_PROCESSES])
        written = self._write(changes)
        # cases opened by this run (a return followed by a new run of absence; a missed mark of
        # the date), each followed like the others; rare, so through the ORM one by one
        opens = [(self.rows[c.fire.case_id].school_id, self.rows[c.fire.case_id].student_id, c.again)
                 for c in changes if c.again is not None and c.fire.case_id in written]
        if candidates:
            closed_until = dict(s.execute(select(Case.student_id, func.max(CaseHistory.effective_date)).join(
                CaseHistory, CaseHistory.case_id == Case.id).where(
                Case.student_id.in_(_ids(sorted({sid for _school, sid in candidates}))), Case.process == "absence",
                Case.is_open.is_(False)).group_by(Case.student_id)).all())
            opens += [(school_id, sid, self._missed_start(school_id, sid, closed_until.get(sid)))
                      for school_id, sid in candidates]
        while opens:
            new = self._create_all(opens)
            changes = [c for c in (self._plan(row) for row in new if row is not None) if c is not None]
            written = self._write(changes)
            opens = [(self.rows[c.fire.case_id].school_id, self.rows[c.fire.case_id].student_id, c.again)
                     for c in changes if c.again is not None and c.fire.case_id in written]
        self._record(latest)

    def _record(self, latest: dict[int, dt.date]) -> None:
        """Remember the date as each school's latest sweep, unless a later one is on record
        (written only when it changes: a second run for the same date writes nothing)."""
        now = clock.now()
        new = [{"school_id": sid, "last_date": self.date, "swept_at": now}
               for sid in sorted(self.center_of) if sid not in latest]
        later = sorted(sid for sid, last in latest.items() if last < self.date)
        if new:
            self.s.execute(insert(SchoolSweep), new)
        if later:
            self.s.execute(update(SchoolSweep).where(SchoolSweep.school_id.in_(_ids(later)))
                           .values(last_date=self.date, swept_at=now))

    # loading, set-based: the same statements for one school or a hundred
    def _load(self, cases: list[_Row], candidates: list[int]) -> None:
        s = self.s
        self.rows.update((c.id, c) for c in cases)
        self.start = min([*(c.opened_on for c in cases), self.date - dt.timedelta(days=OPENER_LOOKBACK_DAYS)])
        lookback = self.date - dt.timedelta(days=OPENER_LOOKBACK_DAYS)
        # the marks a case's count can read: from its opening day (the floor's join), and for the
        # students the date's marks may open a case for, the lookback
        self.marks: dict[tuple[int, dt.date], str] = {}
        for chunk in _chunks([c.id for c in cases]):
            for sid, day, status in s.execute(select(
                    AttendanceRecord.student_id, AttendanceRecord.date, AttendanceRecord.status).join(
                    Case, (Case.student_id == AttendanceRecord.student_id) & (AttendanceRecord.date >= Case.opened_on))
                    .where(Case.id.in_(_ids(chunk)), AttendanceRecord.date <= self.date)):
                self.marks[(sid, day)] = status
        for chunk in _chunks(sorted(set(candidates))):
            for sid, day, status in s.execute(select(
                    AttendanceRecord.student_id, AttendanceRecord.date, AttendanceRecord.status).where(
                    AttendanceRecord.student_id.in_(_ids(chunk)), AttendanceRecord.date >= lookback,
                    AttendanceRecord.date <= self.date)):
                self.marks[(sid, day)] = status
        ids = sorted({c.student_id for c in cases} | set(candidates))
        self.students: dict[int, tuple[int | None, int | None]] = {}
        for chunk in _chunks(ids):
            for sid, class_id, village_id in s.execute(select(Student.id, Student.class_id, Student.village_id)
                                                       .where(Student.id.in_(_ids(chunk)))):
                self.students[sid] = (class_id, village_id)
        # whether a class's attendance was taken matters only on a school day the child has no
        # mark: read those (class, day) pairs only, not every class-day of the range
        unmarked: set[tuple[int, dt.date]] = set()
        spans = [(c.school_id, c.student_id, c.opened_on) for c in cases]
        spans += [(school_id, sid, lookback) for school_id, sid in self.candidates]
        for school_id, sid, since in spans:
            class_id = self.students.get(sid, (None, None))[0]
            if class_id is not None:
                unmarked.update((class_id, d) for d in self._days(school_id, since) if (sid, d) not in self.marks)
        self.taken: set[tuple[int, dt.date]] = set()
        if unmarked:
            classes = sorted({c for c, _d in unmarked})
            days = sorted({d for _c, d in unmarked})
            for chunk in _chunks(classes):
                self.taken |= {(c, d) for c, d in s.execute(select(AttendanceDay.class_id, AttendanceDay.date).where(
                    AttendanceDay.class_id.in_(_ids(chunk)), AttendanceDay.date.in_(days)))}
        policy_ids = sorted({c.policy_id for c in cases if c.policy_id is not None})
        if policy_ids:
            for row in s.scalars(select(LadderPolicy).where(LadderPolicy.id.in_(_ids(policy_ids)))):
                self.policies[row.id] = ladder.policy_from_row(row)
        case_ids = [c.id for c in cases]
        self.reached: dict[int, dict[str, dt.date]] = {}
        self.visits: dict[int, list[tuple]] = {}
        people: dict[int, set[int]] = {}
        for chunk in _chunks(case_ids):
            for case_id, state, day in s.execute(select(
                    CaseHistory.case_id, CaseHistory.to_state, CaseHistory.effective_date).where(
                    CaseHistory.case_id.in_(_ids(chunk)), CaseHistory.transition == "escalate").order_by(CaseHistory.id)):
                self.reached.setdefault(case_id, {})[state] = day
            for vid, case_id, kind, day, creator in s.execute(select(
                    Visit.id, Visit.case_id, Visit.kind, Visit.date, Visit.created_by_id).where(
                    Visit.case_id.in_(_ids(chunk))).order_by(Visit.id)):
                self.visits.setdefault(case_id, []).append((vid, kind, day))
                people[vid] = {creator} if creator is not None else set()
        for chunk in _chunks(sorted(people)):
            for vid, uid in s.execute(select(VisitParticipant.visit_id, VisitParticipant.user_id)
                                      .where(VisitParticipant.visit_id.in_(_ids(chunk)))):
                people[vid].add(uid)
        self.people = people
        user_roles: dict[int, dict[str, set[int]]] = {}
        for chunk in _chunks(sorted(set().union(*people.values()))):
            for uid, role, *bound in s.execute(select(
                    RoleAssignment.user_id, RoleAssignment.role, RoleAssignment.school_id, RoleAssignment.class_id,
                    RoleAssignment.village_id).where(RoleAssignment.user_id.in_(_ids(chunk)))):
                user_roles.setdefault(uid, {}).setdefault(role, set()).update(x for x in bound if x is not None)
        # as ladder.roles_for_case builds them from user.roles
        self.scopes = {uid: Scope(user_id=uid, roles={k: frozenset(v) for k, v in roles.items()})
                       for uid, roles in user_roles.items()}

    def _days(self, school_id: int, since: dt.date) -> list[dt.date]:
        """The school's school days from `since` (never before the batch's start) to the date."""
        days = self.days.get(school_id)
        if days is None:
            days = self.days[school_id] = self.cals[school_id].school_days_between(self.start, self.date)
        return days[bisect.bisect_left(days, since):]

    def _walk(self, row: _Row) -> ladder.Run:
        sid = row.student_id
        class_id = self.students.get(sid, (None, None))[0]
        return ladder.walk(self._days(row.school_id, row.opened_on), lambda d: self.marks.get((sid, d)),
                           lambda d: (class_id, d) in self.taken, opened_on=row.opened_on, opened_by_hand=row.by_hand)

    def _plan(self, row: _Row) -> _Change | None:
        """What the attendance up to the date does to one open absence case, or None."""
        run = self._walk(row)
        fire = SystemFire(case_id=row.id, process=row.process, state=row.state, version=row.version)
        if run.returned_on is not None:
            returned_on = run.returned_on
            fire.steps.append(("mark_returned", returned_on,
                               Msg(N_("%(date)s 考勤出勤，已返校"), date=returned_on.isoformat())))
            fire.columns = _flags(row, None, False)
            again = next((d for d in self._days(row.school_id, returned_on) if d > returned_on
                          and self.marks.get((row.student_id, d)) == "unexcused"), None)
            return _Change(fire=fire, closed=True, again=again)
        policy = self.policies.get(row.policy_id) or ladder.default_policy()
        target = policy.target(run.count)
        ladder_states = ("reported", *ladder.RUNG_STATES)
        state = row.state
        reached = dict(self.reached.get(row.id, {}))
        if target is not None and state in ladder_states:
            here, there = ladder_states.index(state), ladder_states.index(target.state)
            for next_state in ladder_states[here + 1:there + 1]:  # one rung at a time, never down
                rung = policy.rung(next_state)
                day = run.reached_on[rung.day]
                # messages, so the history reads in the reader's language (engine.COMMENT_MSG_KEY)
                if rung.report_to:
                    comment = Msg(N_("连续旷课第 %(n)d 个上课日（%(date)s），已上报%(roles)s备案"), n=rung.day,
                                  date=day.isoformat(), roles=roles_text(rung.report_to))
                else:
                    comment = Msg(N_("连续旷课第 %(n)d 个上课日（%(date)s）"), n=rung.day, date=day.isoformat())
                fire.steps.append(("escalate", day, comment))
                reached[next_state] = day
                state = next_state
        a = ladder.assess_state(state, row.opened_on, policy, self.date, reached,
                                lambda rung, since: self._logged(row, rung, since),
                                self.cals[row.school_id].next_school_day)
        class_id = self.students.get(row.student_id, (None, None))[0]
        if class_id is not None:
            self.summaries[row.school_id].missing_attendance.update((class_id, d) for d in run.missing_days)
        missing = [d.isoformat() for d in run.missing_days] or None
        extra = {} if missing is None and "missing_attendance_days" not in (row.data or {}) else \
            {"missing_attendance_days": missing}
        if row.school_id not in self.behind:
            fire.columns = _flags(row, a.due_on, a.is_overdue, extra)
        if not fire.steps and not fire.columns:
            return None
        return _Change(fire=fire, escalated=bool(fire.steps),
                       became_overdue=bool(fire.columns) and a.is_overdue and not row.is_overdue)

    def _logged(self, row: _Row, rung: ladder.Rung, since: dt.date) -> bool:
        """Whether a visit of the case is the rung's visit (as ladder.visit_satisfies)."""
        class_id, village_id = self.students.get(row.student_id, (None, None))
        probe = SimpleNamespace(student=SimpleNamespace(class_id=class_id, village_id=village_id)
                                if row.student_id in self.students else None, school_id=row.school_id)
        center_id = self.center_of.get(row.school_id)
        for vid, kind, day in self.visits.get(row.id, ()):
            if kind != rung.visit_kind or day < since:
                continue
            held: set[str] = set()
            for uid in self.people.get(vid, ()):
                scope = self.scopes.get(uid)
                if scope is not None:
                    held |= acting_roles(scope, probe, center_id=center_id)
            if set(rung.roles) <= held:
                return True
        return False

    def _timed(self, rows: list[_Row]) -> list[_Change]:
        """Suspensions ending within 14 days are due (reminder), past their end overdue; a
        transfer out filed 30 days ago and not confirmed is overdue; a transfer in not accepted by
        the next school day after it was opened is overdue. Other open states of these processes
        carry no timed duty (their flags are cleared)."""
        filed_ids = [c.id for c in rows if c.process == "transfer_out" and c.state == "transferred"]
        filed: dict[int, dt.date] = {}
        for chunk in _chunks(filed_ids):
            filed.update(self.s.execute(select(CaseHistory.case_id, func.max(CaseHistory.effective_date)).where(
                CaseHistory.case_id.in_(_ids(chunk)), CaseHistory.transition == "center_file")
                .group_by(CaseHistory.case_id)).all())
        out = []
        date = self.date
        for row in rows:
            if row.school_id in self.behind:
                continue  # a catch-up sweep: the latest sweep's flags stand
            due_on, overdue = None, False
            if row.process == "suspension" and row.state == "suspended":
                end = _date((row.data or {}).get("end"))
                if end is not None:
                    if date > end:
                        due_on, overdue = end, True
                    elif (end - date).days <= SUSPENSION_REMINDER_DAYS:
                        due_on = end
            elif row.process == "transfer_out" and row.state == "transferred":
                due_on = filed.get(row.id, row.opened_on) + dt.timedelta(days=ARRIVAL_CONFIRM_DAYS)
                overdue = date >= due_on
            elif row.process == "transfer_in" and row.state == "submitted":
                cal = self.cals.get(row.school_id)
                due_on = (cal.next_school_day(row.opened_on) if cal else None) or row.opened_on + dt.timedelta(days=1)
                overdue = date >= due_on
            columns = _flags(row, due_on, overdue)
            if columns:
                out.append(_Change(fire=SystemFire(case_id=row.id, process=row.process, state=row.state,
                                                   version=row.version, columns=columns),
                                   became_overdue=overdue and not row.is_overdue))
                self.rows[row.id] = row
        return out

    def _write(self, changes: list[_Change]) -> set[int]:
        written = fire_system_many(self.s, [c.fire for c in changes])
        for c in changes:
            summary = self.summaries[self.rows[c.fire.case_id].school_id]
            if c.fire.case_id not in written:
                summary.skipped += 1
                continue
            summary.escalated += c.escalated
            summary.closed += c.closed
            summary.overdue += c.became_overdue
        return written

    def _missed_start(self, school_id: int, student_id: int, closed_until: dt.date | None) -> dt.date:
        """The first day of the run of absence that ends with the date's unexcused mark."""
        start = self.date
        days = self._days(school_id, self.start)
        for day in reversed(days[:bisect.bisect_left(days, self.date)]):
            if closed_until is not None and day <= closed_until:
                break
            status = self.marks.get((student_id, day))
            if status == "present":
                break
            if status == "unexcused":
                start = day
        return start

    def _create_all(self, opens: list[tuple[int, int, dt.date]]) -> list[_Row | None]:
        """Open the cases in order, all at once (`opening.open_uncovered`), and follow them."""
        made = opening.open_uncovered(self.s, [(sid, day) for _school, sid, day in opens])
        out: list[_Row | None] = [None] * len(opens)
        for i, case in enumerate(made):
            if case is None:
                continue
            school_id = opens[i][0]
            self.summaries[school_id].opened += 1
            row = _Row(id=case.id, school_id=case.school_id, student_id=case.student_id, process="absence",
                       state=case.state, version=case.version, opened_on=case.opened_on, by_hand=False,
                       policy_id=case.ladder_policy_id, due_on=None, is_overdue=False, data=dict(case.data))
            if row.policy_id not in self.policies:
                self.policies[row.policy_id] = ladder.policy_for_case(self.s, case)
            self.rows[row.id] = row
            out[i] = row
        return out


# --- helpers -----------------------------------------------------------------------------------


def _date(value) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
