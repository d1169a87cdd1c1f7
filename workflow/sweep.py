"""The daily sweep (SPEC §3.1 and the timed duties of §3): escalate, close, open, flag overdue.

`sweep_school(session, school_id, date)` brings one school's cases to where the attendance up to
`date` puts them, and flushes; the caller commits after each school, so a sweep that is killed
half-way is re-run from the start and reaches the same end state. `run_sweep` walks the schools
(in id order, optionally one shard `k/N` of them) and, given a `commit` callable by the edge (CLI,
API), commits after each.

For one school and date D:

1. absence cases: every open case is counted (`workflow.ladder.walk`) from its opening day to D;
   a `present` mark closes it (`mark_returned`, effective that day) and, if the child was
   unexcused again after that, a new case is opened from that day and counted too; otherwise it
   climbs (`escalate`, one rung per firing, effective the day the count reached the rung) to the
   highest rung the count has reached, never down. An unexcused mark of D with no case covering it
   (the attendance hook missed it) opens a case from the first day of that run.
2. due dates and overdue flags of open absence, suspension, transfer_out and transfer_in cases
   are recomputed and written only when they change.

Idempotent: the end state depends only on the marks, visits and calendar up to D, and nothing is
written when it is already so (no history row, no version bump). Concurrency: on PostgreSQL each
school is swept under a transaction-scoped advisory lock (`pg_advisory_xact_lock`), so two sweeps
of one school run one after the other and the second finds nothing to do; every change is also
made with the version read (a user's concurrent change wins and the case is left to the next
run), inside a savepoint so one skipped case does not undo the school's others.
"""
from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.exc import StaleDataError

from models import AttendanceDay, AttendanceRecord, Case, CaseHistory, School, Student, User, Visit

from . import clock, ladder
from .calendar import SchoolCalendar
from .effects import set_case_data
from .engine import create_case_system, fire_system
from .errors import Conflict, Invalid

# first key of pg_advisory_xact_lock(int, int); the second is the school id
LOCK_NAMESPACE = 730_101
# how far back the sweep looks for the start of a run it has to open a case for
OPENER_LOOKBACK_DAYS = 45
SUSPENSION_REMINDER_DAYS = 14
TRANSFER_CONFIRM_DAYS = 30
TIMED_PROCESSES = ("suspension", "transfer_out", "transfer_in")
SYSTEM_REASON = "考勤登记旷课（每日清扫补建）"


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


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def lock_school(session: Session, school_id: int) -> None:
    """Serialise the sweep (and absence openings) of one school until the transaction ends
    (PostgreSQL advisory lock; SQLite serialises writers by itself)."""
    if _is_postgres(session):
        session.execute(text("SELECT pg_advisory_xact_lock(:ns, :sid)"), {"ns": LOCK_NAMESPACE, "sid": school_id})


def parse_shard(value: str | None) -> tuple[int, int] | None:
    """`k/N` → (k, N) with 0 ≤ k < N; None for None. Raises Invalid."""
    if value is None:
        return None
    try:
        k, n = (int(x) for x in value.split("/"))
    except ValueError:
        raise Invalid("分片须写作 k/N，例如 0/4", details={"field": "shard"}) from None
    if n < 1 or not 0 <= k < n:
        raise Invalid("分片 k/N 须满足 0 ≤ k < N", details={"field": "shard"})
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

    `commit`, when given, is called after each school (the edge's transaction control); without
    it everything stays in the caller's transaction, flushed. `progress(school_id, summary)` is
    called after each school. Raises Invalid for a date in the future.
    """
    if date > clock.today():
        raise Invalid(f"字段 date：{date.isoformat()} 尚未到来，不能清扫", details={"field": "date"})
    total = Summary()
    for school_id in schools_to_sweep(session, school_ids=school_ids, shard=shard):
        one = sweep_school(session, school_id, date)
        if commit is not None:
            commit()
        total.add(one)
        if progress is not None:
            progress(school_id, one)
    return total


def sweep_school(session: Session, school_id: int, date: dt.date) -> Summary:
    """Sweep one school for `date` (see the module docstring). Flushes; never commits."""
    lock_school(session, school_id)
    summary = Summary(schools=1)
    calendar = SchoolCalendar.load(session, school_id)
    _AbsenceSweep(session, school_id, date, calendar, summary).run()
    _sweep_timed(session, school_id, date, calendar, summary)
    session.flush()
    return summary


# --- writing safely ------------------------------------------------------------------------------


def _guarded(session: Session, summary: Summary, change: Callable[[], None]) -> bool:
    """Run one case's change; a concurrent writer (stale version) skips it instead of failing
    the school. Savepoints only on PostgreSQL (pysqlite's SAVEPOINT handling is unreliable, and
    SQLite has a single writer anyway)."""
    if not _is_postgres(session):
        change()
        session.flush()
        return True
    try:
        with session.begin_nested():
            change()
            session.flush()
    except Conflict as exc:
        if exc.code != "stale_version":
            raise
        summary.skipped += 1
        return False
    except StaleDataError:  # a plain column write (due_on, is_overdue) lost to another writer
        summary.skipped += 1
        return False
    return True


def _set_flags(session: Session, summary: Summary, case: Case, due_on, is_overdue: bool,
               extra_data: dict | None = None) -> None:
    """Write due_on / is_overdue (and case.data keys) only if they change."""
    data = case.data or {}
    data_changes = {k: v for k, v in (extra_data or {}).items() if data.get(k) != v}
    if case.due_on == due_on and bool(case.is_overdue) == is_overdue and not data_changes:
        return
    became_overdue = is_overdue and not case.is_overdue

    def change():
        case.due_on = due_on
        case.is_overdue = is_overdue
        if data_changes:
            set_case_data(case, **data_changes)

    if _guarded(session, summary, change) and became_overdue:
        summary.overdue += 1


# --- absence -----------------------------------------------------------------------------------


class _AbsenceSweep:
    def __init__(self, session: Session, school_id: int, date: dt.date, calendar: SchoolCalendar,
                 summary: Summary):
        self.s, self.school_id, self.date, self.cal, self.summary = session, school_id, date, calendar, summary
        self.policies: dict[int | None, ladder.Policy] = {}
        self.runs: dict[int, ladder.Run] = {}

    # loading, set-based: a handful of queries per school whatever the number of students
    def _load(self, cases: list[Case], candidates: list[int]) -> None:
        opened = [c.opened_on for c in cases]
        self.start = min([*opened, self.date - dt.timedelta(days=OPENER_LOOKBACK_DAYS)])
        ids = sorted({c.student_id for c in cases} | set(candidates))
        self.marks: dict[tuple[int, dt.date], str] = {}
        for sid, day, status in self.s.execute(select(
                AttendanceRecord.student_id, AttendanceRecord.date, AttendanceRecord.status).where(
                AttendanceRecord.student_id.in_(ids), AttendanceRecord.date >= self.start,
                AttendanceRecord.date <= self.date)):
            self.marks[(sid, day)] = status
        self.students = {s.id: s for s in self.s.scalars(select(Student).where(Student.id.in_(ids)))}
        class_ids = sorted({s.class_id for s in self.students.values() if s.class_id is not None})
        self.taken = {(c, d) for c, d in self.s.execute(select(AttendanceDay.class_id, AttendanceDay.date).where(
            AttendanceDay.class_id.in_(class_ids), AttendanceDay.date >= self.start,
            AttendanceDay.date <= self.date))} if class_ids else set()
        self.days = self.cal.school_days_between(self.start, self.date)

    def run(self) -> None:
        cases = list(self.s.scalars(select(Case).options(selectinload(Case.student), selectinload(Case.school))
                                    .where(Case.school_id == self.school_id, Case.process == "absence",
                                           Case.is_open.is_(True)).order_by(Case.id)))
        with_case = {c.student_id for c in cases}
        candidates = sorted(set(self.s.scalars(
            select(AttendanceRecord.student_id).join(Student, Student.id == AttendanceRecord.student_id)
            .where(Student.school_id == self.school_id, Student.status == "active",
                   AttendanceRecord.date == self.date, AttendanceRecord.status == "unexcused"))) - with_case)
        if not cases and not candidates:
            return
        self._load(cases, candidates)
        open_cases: list[Case] = []
        for case in cases:
            open_cases += self._follow(case)
        for sid in candidates:
            case = self._open_missed(sid)
            if case is not None:
                open_cases += self._follow(case)
        self._assess(open_cases)

    def _policy(self, case: Case) -> ladder.Policy:
        if case.ladder_policy_id not in self.policies:
            self.policies[case.ladder_policy_id] = ladder.policy_for_case(self.s, case)
        return self.policies[case.ladder_policy_id]

    def _walk(self, case: Case) -> ladder.Run:
        sid = case.student_id
        student = self.students.get(sid) or case.student
        class_id = student.class_id if student is not None else None
        days = self.days[bisect.bisect_left(self.days, case.opened_on):]
        return ladder.walk(days, lambda d: self.marks.get((sid, d)), lambda d: (class_id, d) in self.taken,
                           opened_on=case.opened_on, opened_by_hand=ladder.opened_by_hand(case))

    def _follow(self, case: Case) -> list[Case]:
        """Close or escalate one case; returns the case(s) left open."""
        while True:
            run = self._walk(case)
            if run.returned_on is None:
                self._escalate(case, run)
                self.runs[case.id] = run
                return [case] if case.is_open else []
            returned_on = run.returned_on
            if not self._fire(case, "mark_returned", returned_on, f"{returned_on.isoformat()} 考勤出勤，已返校"):
                return []
            self.summary.closed += 1
            _set_flags(self.s, self.summary, case, None, False)
            again = next((d for d in self.days if d > returned_on
                          and self.marks.get((case.student_id, d)) == "unexcused"), None)
            if again is None:
                return []
            case = self._create(case.student_id, again)
            if case is None:
                return []

    def _escalate(self, case: Case, run: ladder.Run) -> None:
        policy = self._policy(case)
        target = policy.target(run.count)
        ladder_states = ("reported", *ladder.RUNG_STATES)
        if target is None or case.state not in ladder_states:
            return
        here, there = ladder_states.index(case.state), ladder_states.index(target.state)
        fired = False
        for state in ladder_states[here + 1:there + 1]:  # one rung at a time, never down
            rung = policy.rung(state)
            day = run.reached_on[rung.day]
            comment = f"连续旷课第 {rung.day} 个上课日（{day.isoformat()}）"
            if rung.report_to:
                comment += "，已上报" + "、".join(ladder.ROLE_NAMES.get(r, r) for r in rung.report_to) + "备案"
            if not self._fire(case, "escalate", day, comment):
                break
            fired = True
        if fired:
            self.summary.escalated += 1

    def _fire(self, case: Case, name: str, day: dt.date, comment: str) -> bool:
        version = case.version
        return _guarded(self.s, self.summary, lambda: fire_system(
            self.s, case, name, effective_date=day, comment=comment, version=version))

    def _create(self, student_id: int, day: dt.date) -> Case | None:
        from .processes.absence import covered

        if covered(self.s, student_id, day):
            return None
        box: list[Case] = []

        def change():
            box.append(create_case_system(self.s, "absence", student_id, {"reason": SYSTEM_REASON},
                                          effective_date=day))

        if not _guarded(self.s, self.summary, change):
            return None
        self.summary.opened += 1
        return box[0]

    def _open_missed(self, student_id: int) -> Case | None:
        """A case for an unexcused mark of the date that none covers, from the start of its run."""
        closed_until = self.s.scalar(select(func.max(CaseHistory.effective_date)).join(
            Case, Case.id == CaseHistory.case_id).where(
            Case.student_id == student_id, Case.process == "absence", Case.is_open.is_(False)))
        start = self.date
        for day in reversed(self.days[:bisect.bisect_left(self.days, self.date)]):
            if closed_until is not None and day <= closed_until:
                break
            status = self.marks.get((student_id, day))
            if status == "present":
                break
            if status == "unexcused":
                start = day
        return self._create(student_id, start)

    def _assess(self, cases: list[Case]) -> None:
        cases = [c for c in cases if c.is_open]
        if not cases:
            return
        ids = [c.id for c in cases]
        visits: dict[int, list[Visit]] = {i: [] for i in ids}
        rows = list(self.s.scalars(select(Visit).options(selectinload(Visit.participants))
                                   .where(Visit.case_id.in_(ids)).order_by(Visit.id)))
        creators = {v.created_by_id for v in rows if v.created_by_id is not None}
        if creators:  # into the identity map, so the visit checks find them without a query each
            list(self.s.scalars(select(User).where(User.id.in_(sorted(creators)))))
        for v in rows:
            visits[v.case_id].append(v)
        reached: dict[int, dict[str, dt.date]] = {i: {} for i in ids}
        for case_id, state, day in self.s.execute(select(
                CaseHistory.case_id, CaseHistory.to_state, CaseHistory.effective_date).where(
                CaseHistory.case_id.in_(ids), CaseHistory.transition == "escalate").order_by(CaseHistory.id)):
            reached[case_id][state] = day
        for case in cases:
            a = ladder.assess(self.s, case, self._policy(case), self.date, reached[case.id], visits[case.id],
                              self.cal.next_school_day)
            run = self.runs.get(case.id) or self._walk(case)
            student = self.students.get(case.student_id) or case.student
            for day in run.missing_days:
                if student is not None and student.class_id is not None:
                    self.summary.missing_attendance.add((student.class_id, day))
            missing = [d.isoformat() for d in run.missing_days] or None
            if missing is None and "missing_attendance_days" not in (case.data or {}):
                extra = {}
            else:
                extra = {"missing_attendance_days": missing}
            _set_flags(self.s, self.summary, case, a.due_on, a.is_overdue, extra)


# --- timed duties of other processes -----------------------------------------------------------


def _sweep_timed(session: Session, school_id: int, date: dt.date, calendar: SchoolCalendar,
                 summary: Summary) -> None:
    """Suspensions ending within 14 days are due (reminder), past their end overdue; a transfer
    out filed 30 days ago and not confirmed is overdue; a transfer in not accepted by the next
    school day after it was opened is overdue. Other open states of these processes carry no
    timed duty (their flags are cleared)."""
    cases = list(session.scalars(select(Case).where(
        Case.school_id == school_id, Case.is_open.is_(True), Case.process.in_(TIMED_PROCESSES))
        .order_by(Case.id)))
    if not cases:
        return
    filed = dict(session.execute(select(CaseHistory.case_id, func.max(CaseHistory.effective_date)).where(
        CaseHistory.case_id.in_([c.id for c in cases if c.state == "transferred"]),
        CaseHistory.transition == "center_file").group_by(CaseHistory.case_id)).all())
    for case in cases:
        due_on, overdue = None, False
        if case.process == "suspension" and case.state == "suspended":
            end = _date((case.data or {}).get("end"))
            if end is not None:
                if date > end:
                    due_on, overdue = end, True
                elif (end - date).days <= SUSPENSION_REMINDER_DAYS:
                    due_on = end
        elif case.process == "transfer_out" and case.state == "transferred":
            due_on = filed.get(case.id, case.opened_on) + dt.timedelta(days=TRANSFER_CONFIRM_DAYS)
            overdue = date >= due_on
        elif case.process == "transfer_in" and case.state == "submitted":
            due_on = calendar.next_school_day(case.opened_on) or case.opened_on + dt.timedelta(days=1)
            overdue = date >= due_on
        _set_flags(session, summary, case, due_on, overdue)


def _date(value) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
