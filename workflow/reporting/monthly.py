"""The monthly report to the county (一月一报告, SPEC §3.9): a case whose subject is a school and a
month, on the one engine (`workflow/processes/monthly_report.py:PROCESS`).

This module holds what the process refers to — locating the school (the case has no student or
class), the one-per-school-and-month rule, the deadline, the guard that the month is over, the
figures compiled from cases and frozen at `submit`, the county's quarterly re-check findings — and
what the pages read: the county's roll-up (which schools are late, per month) and the report as a
workbook. No Flask; nothing commits.

The figures are compiled from the case history by effective date (SPEC §3), with the same
definitions as the weekly report and the status-change notice (`workflow/registers/reports.py`):
status changes of the month by kind, confirmed dropouts, recoveries opened and closed, and the
suspected dropouts (open absence cases at rung 3 and above, SPEC §5) and open recovery cases at
the month's end. `submit` stores them in `case.data["figures"]`; nothing recompiles a submitted
report, so later cases (a dropout recorded afterwards with an effective date in the month) do
not change what the county received. A report the county sends back is compiled again when the
school resubmits it.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from openpyxl import Workbook
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, joinedload

from models import Case, CaseHistory, Enrolment, School, SchoolClass
from workflow.access.scope import Scope, get_in_scope, school_filter
from workflow.errors import N_, NAME_SEP, Conflict, Msg, NotFound, invalid_field
from workflow.org.calendar import CalendarBook, SchoolCalendar
from workflow.processes.absence import SUSPECTED_DROPOUT_STATES
from workflow.spreadsheets import xlsx_bytes

PROCESS_NAME = "monthly_report"
# Not submitted by this school day of the next month: overdue (SPEC §3.9).
DEADLINE_SCHOOL_DAY = 5
MONTH_PATTERN = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
FINDING_KEYS = {"student_id", "verified", "note"}
NOTE_MAX = 500
# the figures' counts in the order the report page and the workbook list them, with their names
COUNT_LABELS = {
    "enrolled": N_("月末在籍学生数"),
    "suspected_dropouts": N_("疑似辍学（缺勤阶梯第3级及以上，月末未结）"),
    "confirmed_dropouts": N_("本月确认辍学"),
    "recoveries_opened": N_("本月新开劝返案件"),
    "recovered": N_("本月劝返复学"),
    "enrolled_elsewhere": N_("本月确认在外校就读"),
    "re_enrolled": N_("本月返校（补办入学手续）"),
    "open_recoveries": N_("月末未结劝返案件"),
}


# --- months and deadlines ------------------------------------------------------------------------


def month_bounds(month: str) -> tuple[dt.date, dt.date]:
    """First and last day of `month` (`YYYY-MM`). Raises Invalid (data.month) for anything else."""
    m = MONTH_PATTERN.match(month) if isinstance(month, str) else None
    if m is None:
        raise invalid_field("data.month", N_("月份必须是 YYYY-MM 格式，例如 2026-11"))
    year, mon = int(m.group(1)), int(m.group(2))
    start = dt.date(year, mon, 1)
    nxt = dt.date(year + 1, 1, 1) if mon == 12 else dt.date(year, mon + 1, 1)
    return start, nxt - dt.timedelta(days=1)


def month_of(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def previous_month(month: str) -> str:
    start, _end = month_bounds(month)
    return month_of(start - dt.timedelta(days=1))


def due_date(calendar: SchoolCalendar, month: str) -> dt.date:
    """The last day to submit the report of `month`: the 5th school day of the next month by the
    school's calendar (SPEC §3.9). A next month with fewer than 5 school days (the summer
    holiday, a term not entered yet) counts Monday–Friday of that month instead: the report is
    due early in the next month all the same, never months later when the term starts."""
    _start, end = month_bounds(month)
    first = end + dt.timedelta(days=1)
    _first, last = month_bounds(month_of(first))
    days = calendar.school_days_between(first, last)
    if len(days) < DEADLINE_SCHOOL_DAY:
        days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)
                if (first + dt.timedelta(days=i)).weekday() < 5]
    return days[DEADLINE_SCHOOL_DAY - 1]


def report_due(case) -> dt.date | None:
    """The deadline stored on the report when it was opened (`data.due`), or None."""
    value = (case.data or {}).get("due")
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def is_overdue(case, today: dt.date) -> bool:
    """Still with the school (draft: not submitted) after its deadline (SPEC §3.9)."""
    due = report_due(case)
    return case.is_open and case.state == "draft" and due is not None and today > due


# --- creating: the school subject -----------------------------------------------------------------


def locate_school(session: Session, scope: Scope, user, student_id, data: dict):
    """create_case's `locate` for a school subject: (no student, the school, no class). Raises
    Invalid (a student_id given, data.month malformed, data.school_id a county node), NotFound
    (data.school_id out of scope)."""
    if student_id is not None:
        raise invalid_field("student_id", N_("月报的对象是学校：请选择学校和月份，不要指定学生"))
    month_bounds(data.get("month"))
    try:
        school = get_in_scope(session, scope, School, data.get("school_id"))
    except NotFound:
        raise NotFound(N_("学校不存在或不在您的管辖范围内"), details={"field": "data.school_id"}) from None
    if school.kind == "county":
        raise invalid_field("data.school_id", N_("月报由学校填报：填报学校不能是县（区）教育局"))
    return None, school.id, None


def set_school_subject(ctx) -> None:
    """Create effect: the report's period is its month, one per school and month (else Conflict
    `duplicate`; the partial unique index `uq_cases_monthly_report_school_period` holds in a
    race too); its deadline is stored in `data.due`."""
    month = ctx.data["month"]
    # the new case is not flushed yet: its school is the relationship, school_id still empty
    school_id = ctx.case.school.id if ctx.case.school is not None else ctx.case.school_id
    existing = ctx.session.scalar(select(Case.id).where(
        Case.process == PROCESS_NAME, Case.school_id == school_id, Case.period == month))
    if existing is not None:
        raise Conflict(N_("该校本月的月报已经建立（#%(id)s）"), code="duplicate", details={"case_id": existing},
                       id=existing)
    ctx.case.period = month
    calendar = SchoolCalendar.load(ctx.session, school_id)
    ctx.case.data = {**(ctx.case.data or {}), "due": due_date(calendar, month).isoformat()}


# --- submit: the month is over; the figures are frozen ---------------------------------------------


def month_over(ctx):
    """本月已结束（或生效日期 data.date 是本月最后一个教学日）"""
    _start, end = month_bounds(ctx.case.period)
    day = ctx.effective_date or ctx.today
    if day is None or day > end:
        return None
    last = SchoolCalendar.load(ctx.session, ctx.case.school_id).previous_school_day(end + dt.timedelta(days=1))
    if last is not None and day == last:
        return None
    return N_("本月尚未结束：月报须在月末之后提交（或以本月最后一个教学日为生效日期）")


def freeze_figures(ctx) -> None:
    """按案件统计本月数据并冻结在月报中（data.figures），之后的案件不再改变已提交的月报

    The submit effect: the figures (`compile_figures`) and the day they were compiled. The
    submitter sees the whole school, so the figures are the school's, not a part of it."""
    school = ctx.case.school or ctx.session.get(School, ctx.case.school_id)
    figures = compile_figures(ctx.session, ctx.scope, school, ctx.case.period)
    figures["compiled_on"] = (ctx.effective_date or ctx.today).isoformat()
    ctx.case.data = {**(ctx.case.data or {}), "figures": figures}


def _last_states(session: Session, school_id: int, process: str, end: dt.date):
    """(case, state at `end`) of the school's cases of `process`: each case's last history row
    effective by `end` (the state then, by effective dates)."""
    last = (select(CaseHistory.case_id, func.max(CaseHistory.id).label("hid"))
            .join(Case, Case.id == CaseHistory.case_id)
            .where(Case.process == process, Case.school_id == school_id, CaseHistory.effective_date <= end)
            .group_by(CaseHistory.case_id).subquery())
    stmt = (select(Case, CaseHistory.to_state).join(last, last.c.case_id == Case.id)
            .join(CaseHistory, CaseHistory.id == last.c.hid)
            .options(joinedload(Case.student)).order_by(Case.id))
    return session.execute(stmt).all()


def compile_figures(session: Session, scope: Scope, school: School, month: str) -> dict:
    """The month's figures of one school, from its cases by effective date (SPEC §3.9, §4):

    - `counts`: enrolled at the month's end (open enrolment periods), suspected dropouts at the
      month's end (open absence cases at rung 3 and above), dropouts confirmed in the month,
      recovery cases opened, children recovered (劝返复学) and enrolled elsewhere, returns
      re-enrolled, open recovery cases at the month's end;
    - `status_changes`: the month's status changes by kind (the status-change notice's kinds);
    - `changes`: those changes one by one (student, class, kind, date), as the notice lists them;
    - `dropouts`: the children the report names as dropouts — confirmed in the month and
      suspected at its end — each {student_id, name, class_name, kind, date}: what the county
      re-checks (一季度一复核).
    Names only, never an ID number. Raises Invalid (month), NotFound (school out of scope)."""
    # imported here, not at the top: the reports reach the engine, which imports every process,
    # this one's module among them (workflow/processes/__init__.py discovers them at import)
    from workflow.registers.reports import KIND_LABELS, status_change_notice

    start, end = month_bounds(month)
    notice_school, items = status_change_notice(session, scope, school_id=school.id, date_from=start, date_to=end)
    status_changes = {k: 0 for k in KIND_LABELS}
    for item in items:
        status_changes[item.kind] += 1
    dropouts = [{"student_id": i.student_id, "name": i.student_name, "class_name": i.class_name,
                 "kind": "confirmed", "date": i.effective_date.isoformat()}
                for i in items if i.kind == "dropout"]
    suspected = []
    for case, state in _last_states(session, school.id, "absence", end):
        if state in SUSPECTED_DROPOUT_STATES and case.student is not None:
            klass = session.get(SchoolClass, case.student.class_id) if case.student.class_id else None
            suspected.append({"student_id": case.student_id, "name": case.student.name,
                              "class_name": klass.name if klass is not None else "", "kind": "suspected",
                              "date": None, "case_id": case.id, "rung": state})
    confirmed_ids = {d["student_id"] for d in dropouts}
    dropouts += [s for s in suspected if s["student_id"] not in confirmed_ids]
    open_recoveries = sum(1 for _case, state in _last_states(session, school.id, "recovery", end) if state == "open")
    recoveries_opened = session.scalar(
        select(func.count()).select_from(CaseHistory).join(Case, Case.id == CaseHistory.case_id)
        .where(Case.process == "recovery", Case.school_id == school.id, CaseHistory.transition == "create",
               CaseHistory.effective_date.between(start, end))) or 0
    enrolled = session.scalar(
        select(func.count(func.distinct(Enrolment.student_id))).where(
            Enrolment.school_id == school.id, Enrolment.start_date <= end,
            or_(Enrolment.end_date.is_(None), Enrolment.end_date > end))) or 0
    counts = {
        "enrolled": enrolled,
        "suspected_dropouts": len(suspected),
        "confirmed_dropouts": status_changes["dropout"],
        "recoveries_opened": recoveries_opened,
        "recovered": status_changes["recovered"],
        "enrolled_elsewhere": status_changes["enrolled_elsewhere"],
        "re_enrolled": status_changes["re_enrolled"],
        "open_recoveries": open_recoveries,
    }
    return {"month": month, "school_id": notice_school.id, "school_name": notice_school.name,
            "period_start": start.isoformat(), "period_end": end.isoformat(), "counts": counts,
            "status_changes": status_changes, "changes": [i.as_dict() for i in items], "dropouts": dropouts}


# --- the county's quarterly re-check ----------------------------------------------------------------


def reported_dropouts(case) -> list[dict]:
    """The children the submitted report names as dropouts (confirmed and suspected)."""
    return list(((case.data or {}).get("figures") or {}).get("dropouts") or [])


def check_findings(ctx) -> None:
    """data.findings: a list of {student_id, verified: bool, note?}, each naming a dropout the
    report names, at most once. Raises Invalid (422)."""
    items = ctx.data.get("findings")
    if not isinstance(items, list):
        raise invalid_field("data.findings", N_("复核结论必须是列表（每名上报的辍学学生一条）"))
    reported = {d["student_id"] for d in reported_dropouts(ctx.case)}
    seen = set()
    for i, item in enumerate(items):
        # the key goes to details.field; the message counts the findings as a person does, from 1
        name, n = f"data.findings[{i}]", i + 1
        if not isinstance(item, dict):
            raise invalid_field(name, N_("第 %(n)d 条复核结论必须是对象"), n=n)
        unknown = sorted(set(item) - FINDING_KEYS)
        if unknown:
            raise invalid_field(f"{name}.{unknown[0]}", N_("第 %(n)d 条复核结论有未知字段：%(key)s"),
                                n=n, key=unknown[0])
        sid = item.get("student_id")
        if isinstance(sid, bool) or not isinstance(sid, int) or sid not in reported:
            raise invalid_field(f"{name}.student_id", N_("第 %(n)d 条复核结论的学生不是本报告上报的辍学学生"), n=n)
        if sid in seen:
            raise invalid_field(f"{name}.student_id", N_("同一学生只能有一条复核结论（第 %(n)d 条重复）"), n=n)
        seen.add(sid)
        if not isinstance(item.get("verified"), bool):
            raise invalid_field(f"{name}.verified", N_("第 %(n)d 条复核结论须说明属实或不属实"), n=n)
        note = item.get("note")
        if note is not None and (not isinstance(note, str) or len(note) > NOTE_MAX):
            raise invalid_field(f"{name}.note", N_("第 %(n)d 条复核结论的说明必须是 500 字以内的文字"), n=n)


def findings_complete(ctx):
    """每名上报的辍学学生都有复核结论（data.findings）"""
    if "findings" not in ctx.data:
        return None  # the case page asks before there is a request: the form collects them
    done = {f["student_id"] for f in ctx.data["findings"]}
    missing = [d["name"] for d in reported_dropouts(ctx.case) if d["student_id"] not in done]
    if missing:
        return Msg(N_("以下上报的辍学学生还没有复核结论：%(names)s"), names=NAME_SEP.join(missing))
    return None


def record_recheck(ctx) -> None:
    """记录复核结论、日期和复核人（data.rechecks；每季度复核一次，以前的结论保留）"""
    rechecks = list((ctx.case.data or {}).get("rechecks") or [])
    rechecks.append({"date": (ctx.effective_date or ctx.today).isoformat(),
                     "by_id": ctx.user.id if ctx.user is not None else None,
                     "findings": [dict(f) for f in ctx.data.get("findings") or []]})
    ctx.case.data = {**(ctx.case.data or {}), "rechecks": rechecks}


# --- the roll-up: which schools are late, per month -------------------------------------------------


@dataclass
class Cell:
    """One school's report of one month as the roll-up shows it."""

    month: str
    case_id: int | None
    state: str | None
    due: dt.date
    is_late: bool          # not submitted by the deadline (still, or it was submitted late)
    is_overdue: bool       # still not submitted, and the deadline has passed
    submitted_on: dt.date | None = None

    def as_dict(self) -> dict:
        return {"month": self.month, "case_id": self.case_id, "state": self.state, "due": self.due.isoformat(),
                "is_late": self.is_late, "is_overdue": self.is_overdue,
                "submitted_on": self.submitted_on.isoformat() if self.submitted_on else None}


@dataclass
class RollupRow:
    school_id: int
    name: str
    center_id: int | None
    cells: list[Cell] = field(default_factory=list)

    @property
    def late_count(self) -> int:
        return sum(1 for c in self.cells if c.is_late)

    def as_dict(self) -> dict:
        return {"school_id": self.school_id, "name": self.name, "center_school_id": self.center_id,
                "late": self.late_count, "months": [c.as_dict() for c in self.cells]}


def recent_months(today: dt.date, count: int) -> list[str]:
    """The `count` months before `today`'s month, oldest first (the current month's report is
    not due yet)."""
    months, month = [], month_of(today)
    for _ in range(count):
        month = previous_month(month)
        months.append(month)
    return list(reversed(months))


def rollup(session: Session, scope: Scope, *, months: list[str], today: dt.date,
           school_id: int | None = None) -> list[RollupRow]:
    """Per school the user sees (or one school, `school_id`) and month: its report's state, its
    deadline, and whether it is late — not submitted by the 5th school day of the next month,
    whether still missing (`is_overdue`) or submitted after the deadline. A month whose deadline
    has not come yet is never late. County nodes are not schools and are left out. Raises
    NotFound (school_id out of scope), Invalid (a malformed month)."""
    for month in months:
        month_bounds(month)
    stmt = select(School).where(school_filter(scope), School.kind != "county")
    if school_id is not None:
        try:
            school = get_in_scope(session, scope, School, school_id)
        except NotFound:
            raise NotFound(N_("学校不存在或不在您的管辖范围内"), details={"field": "school_id"}) from None
        stmt = stmt.where(School.id == school.id)
    schools = sorted(session.scalars(stmt), key=lambda s: (s.center_id or 0, s.id != s.center_id, s.name))
    ids = [s.id for s in schools]
    cases = {}
    if ids and months:
        for case in session.scalars(select(Case).where(
                Case.process == PROCESS_NAME, Case.school_id.in_(ids), Case.period.in_(months))):
            cases[(case.school_id, case.period)] = case
    submitted = _first_submits(session, [c.id for c in cases.values()])
    book = CalendarBook(session)
    book.preload(ids)
    rows = []
    for school in schools:
        row = RollupRow(school.id, school.name, school.center_id)
        calendar = book.for_school(school.id)
        for month in months:
            case = cases.get((school.id, month))
            due = (report_due(case) if case is not None else None) or due_date(calendar, month)
            sent = submitted.get(case.id) if case is not None else None
            pending = case is None or case.state == "draft"
            overdue = pending and today > due
            late = overdue or (sent is not None and sent > due)
            row.cells.append(Cell(month, case.id if case else None, case.state if case else None, due, late,
                                  overdue, sent))
        rows.append(row)
    return rows


def _first_submits(session: Session, case_ids: list[int]) -> dict[int, dt.date]:
    """case id -> the day the report was first submitted (by effective date)."""
    if not case_ids:
        return {}
    return dict(session.execute(
        select(CaseHistory.case_id, func.min(CaseHistory.effective_date))
        .where(CaseHistory.case_id.in_(case_ids), CaseHistory.transition == "submit")
        .group_by(CaseHistory.case_id)).all())


def reports_to_review(session: Session, scope: Scope) -> list[Case]:
    """The county supervisor's queue (SPEC §3.9): signed reports of the schools of the user's
    county nodes, oldest month first. Empty for anyone without a county role."""
    counties = scope.roles.get("county_supervisor", frozenset())
    if not counties:
        return []
    return list(session.scalars(
        select(Case).join(School, School.id == Case.school_id)
        .where(Case.process == PROCESS_NAME, Case.state == "signed", School.county_id.in_(sorted(counties)),
               school_filter(scope))
        .options(joinedload(Case.school)).order_by(Case.period, School.name)))


# --- the workbook -----------------------------------------------------------------------------


def report_rows(case) -> list[list]:
    """The submitted report as rows of cells (the workbook and the printable page list the same)."""
    from workflow.registers.reports import KIND_LABELS  # see compile_figures

    figures = (case.data or {}).get("figures") or {}
    counts = figures.get("counts") or {}
    rows: list[list] = [["控辍保学月报（一月一报告）"], ["学校", figures.get("school_name", "")],
                        ["月份", case.period], ["统计日期", f"{figures.get('period_start', '')} 至 {figures.get('period_end', '')}"],
                        [], ["项目", "人数"]]
    rows += [[label, counts.get(key, 0)] for key, label in COUNT_LABELS.items()]
    rows += [[], ["异动类别", "人数"]]
    rows += [[label, (figures.get("status_changes") or {}).get(kind, 0)] for kind, label in KIND_LABELS.items()]
    rows += [[], ["上报辍学学生", "班级", "类别", "日期"]]
    kinds = {"confirmed": "已确认辍学", "suspected": "疑似辍学"}
    rows += [[d.get("name", ""), d.get("class_name", ""), kinds.get(d.get("kind"), ""), d.get("date") or ""]
             for d in figures.get("dropouts") or []]
    rows += [[], ["学生", "班级", "异动", "生效日期", "说明"]]
    rows += [[c.get("student_name", ""), c.get("class_name", ""), c.get("kind_label", ""),
              c.get("effective_date", ""), c.get("detail", "")] for c in figures.get("changes") or []]
    return rows


def report_workbook(case) -> bytes:
    """The report as an .xlsx (every typed text made formula-safe by the shared writer)."""
    wb = Workbook()
    ws = wb.active
    ws.title = "月报"
    for row in report_rows(case):
        ws.append(row)
    ws.column_dimensions["A"].width = 40
    return xlsx_bytes(wb)
