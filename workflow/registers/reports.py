"""Weekly report (周报), status-change notice (异动公示) and the three ledgers (三本台账), SPEC §4–§5.

Status changes are read from the case history by effective date (SPEC §3): the transitions that
change a student's status (`STATUS_CHANGES`). Figures are grouped queries over all the schools at
once, never one query per school. Everything is limited to what the user's scope can see.
No Flask here; nothing commits.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from openpyxl import Workbook
from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session, aliased, joinedload, selectinload

from models import (
    AttendanceRecord,
    Case,
    CaseHistory,
    CatchmentChild,
    Enrolment,
    School,
    SchoolClass,
    Student,
    Village,
    Visit,
)
from workflow.absence import ladder
from workflow.access import permissions
from workflow.access.scope import Scope, case_filter, get_in_scope, school_filter, village_filter
from workflow.errors import N_, Invalid, Msg, NotFound
from workflow.org.services import GENDER_NAMES, STUDENT_STATUS_NAMES
from workflow.processes.absence import PROCESS as ABSENCE
from workflow.processes.absence import SUSPECTED_DROPOUT_STATES
from workflow.processes.recovery import PROCESS as RECOVERY
from workflow.registers import catchment
from workflow.spreadsheets import xlsx_bytes

# (process, transition) -> kind of status change. A suspension's `center_file` counts only the
# first time (an extension's filing leaves the child suspended), and a recovery closed by the
# system as `returned` is the echo of a return's `re_enroll`, which is already counted.
STATUS_CHANGES = {
    ("suspension", "center_file"): "suspended",
    ("suspension", "resume"): "resumed",
    ("transfer_out", "center_file"): "transferred_out",
    ("transfer_in", "accept"): "transferred_in",
    ("return", "re_enroll"): "re_enrolled",
    ("absence", "confirm_dropout"): "dropout",
    ("recovery", "mark_returned"): "recovered",
    ("recovery", "confirm_elsewhere"): "enrolled_elsewhere",
}
KIND_LABELS = {
    "suspended": N_("休学"), "resumed": N_("复学"), "transferred_out": N_("转出"), "transferred_in": N_("转入"),
    "re_enrolled": N_("返校（补办入学手续）"), "dropout": N_("辍学"), "recovered": N_("劝返复学"),
    "enrolled_elsewhere": N_("确认在外校就读"),
}
# kinds whose class is the one the child joins (the others: the class the child left)
JOINING = ("resumed", "transferred_in", "re_enrolled", "recovered")
LADDER_STATES = ("reported", "visit_1", "visit_2", "visit_3", "village_joint")
# the ladder columns, named by the absence process's state labels (the one table)
RUNG_LABELS = {s: ABSENCE.state_labels[s] for s in LADDER_STATES}


def week_bounds(day: dt.date) -> tuple[dt.date, dt.date]:
    """Monday and Sunday of the week containing `day`."""
    monday = day - dt.timedelta(days=day.weekday())
    return monday, monday + dt.timedelta(days=6)


def _school(session: Session, scope: Scope, school_id, field_name: str = "school_id") -> School:
    try:
        school = get_in_scope(session, scope, School, school_id)
    except NotFound:
        raise NotFound(N_("学校不存在或不在您的管辖范围内"), details={"field": field_name}) from None
    return school


def _center_schools(session: Session, scope: Scope, center_school_id) -> tuple[School, list[School]]:
    center = _school(session, scope, center_school_id, "center_school_id")
    if center.kind != "center":
        raise Invalid(N_("字段 center_school_id 必须是中心校"), details={"field": "center_school_id"})
    schools = list(session.scalars(select(School).where(School.center_id == center.id, School.kind != "county",
                                                        school_filter(scope))))
    schools.sort(key=lambda s: (s.id != center.id, s.name))
    return center, schools


def _change_rows(session: Session, scope: Scope, school_ids: list[int], start: dt.date, end: dt.date):
    """History rows of STATUS_CHANGES effective in [start, end] for cases of `school_ids` that the
    scope sees: (history, case, kind)."""
    earlier = aliased(CaseHistory)
    first_filing = ~exists().where(earlier.case_id == CaseHistory.case_id, earlier.transition == "center_file",
                                   earlier.id < CaseHistory.id)
    wanted = [and_(Case.process == p, CaseHistory.transition == t) for (p, t) in STATUS_CHANGES]
    stmt = (select(CaseHistory, Case).join(Case, Case.id == CaseHistory.case_id)
            .where(Case.school_id.in_(school_ids or [-1]), case_filter(scope),
                   CaseHistory.effective_date.between(start, end), or_(*wanted))
            .where(~((Case.process == "suspension") & (CaseHistory.transition == "center_file")) | first_filing)
            .where(~((Case.process == "recovery") & (CaseHistory.transition == "mark_returned")
                     & (CaseHistory.role == "system")))
            .options(joinedload(Case.student))
            .order_by(CaseHistory.effective_date, CaseHistory.id))
    for history, case in session.execute(stmt):
        yield history, case, STATUS_CHANGES[(case.process, history.transition)]


# --- weekly report --------------------------------------------------------------------------------


@dataclass
class WeeklyRow:
    """One school's week (or, `school_id` None, the center's total)."""

    school_id: int | None
    name: str
    unexcused_marks: int = 0
    unexcused_students: int = 0
    ladder_by_rung: dict[str, int] = field(default_factory=lambda: {s: 0 for s in LADDER_STATES})
    overdue_visits: int = 0
    status_changes: dict[str, int] = field(default_factory=lambda: {k: 0 for k in KIND_LABELS})
    dropouts: int = 0
    recoveries_opened: int = 0
    recovered: int = 0

    @property
    def open_ladder_cases(self) -> int:
        return sum(self.ladder_by_rung.values())

    def add(self, other: WeeklyRow) -> None:
        self.unexcused_marks += other.unexcused_marks
        self.unexcused_students += other.unexcused_students
        for k, n in other.ladder_by_rung.items():
            self.ladder_by_rung[k] += n
        self.overdue_visits += other.overdue_visits
        for k, n in other.status_changes.items():
            self.status_changes[k] += n
        self.dropouts += other.dropouts
        self.recoveries_opened += other.recoveries_opened
        self.recovered += other.recovered

    def as_dict(self) -> dict:
        return {"school_id": self.school_id, "name": self.name,
                "absences": {"unexcused_marks": self.unexcused_marks, "students": self.unexcused_students},
                "open_ladder_cases": self.open_ladder_cases, "ladder_by_rung": dict(self.ladder_by_rung),
                "overdue_visits": self.overdue_visits, "status_changes": dict(self.status_changes),
                "dropouts": self.dropouts, "recoveries_opened": self.recoveries_opened,
                "recovered": self.recovered}


@dataclass
class WeeklyReport:
    start: dt.date
    end: dt.date
    rows: list[WeeklyRow]
    total: WeeklyRow
    center_school_id: int | None = None

    def as_dict(self) -> dict:
        return {"week_start": self.start.isoformat(), "week_end": self.end.isoformat(),
                "center_school_id": self.center_school_id,
                "schools": [r.as_dict() for r in self.rows], "total": self.total.as_dict()}


def weekly_report(session: Session, scope: Scope, *, school_id=None, center_school_id=None,
                  week_of: dt.date) -> WeeklyReport:
    """The week (Monday–Sunday containing `week_of`) of one school, or of every school of a
    center school with the center's total.

    Per school: unexcused absence marks of the week and the students they concern; open absence
    cases by rung at the end of the week (rebuilt from the history by effective date); absence
    cases flagged overdue now (the sweep's flag: a snapshot, not rebuilt for past weeks); status
    changes effective in the week by kind; dropouts confirmed; recovery cases opened, and
    recoveries closed as returned (by hand or by a return's re_enroll).
    Raises NotFound (school out of scope), Invalid (neither or both of school_id and
    center_school_id; center_school_id not a center school).
    """
    if (school_id is None) == (center_school_id is None):
        raise Invalid(N_("请指定 school_id 或 center_school_id（二选一）"), details={"field": "school_id"})
    start, end = week_bounds(week_of)
    if center_school_id is not None:
        center, schools = _center_schools(session, scope, center_school_id)
        total_name, center_id = center.name, center.id
    else:
        school = _school(session, scope, school_id)
        schools, total_name, center_id = [school], school.name, None
    rows = {s.id: WeeklyRow(s.id, s.name) for s in schools}
    ids = sorted(rows)

    for sid, marks, students in session.execute(
            select(SchoolClass.school_id, func.count(AttendanceRecord.id),
                   func.count(func.distinct(AttendanceRecord.student_id)))
            .join(SchoolClass, SchoolClass.id == AttendanceRecord.class_id)
            .where(SchoolClass.school_id.in_(ids), AttendanceRecord.status == "unexcused",
                   AttendanceRecord.date.between(start, end))
            .group_by(SchoolClass.school_id)):
        rows[sid].unexcused_marks, rows[sid].unexcused_students = marks, students

    # the state of each absence case at the end of the week: its last history row by then
    last = (select(CaseHistory.case_id, func.max(CaseHistory.id).label("hid"))
            .join(Case, Case.id == CaseHistory.case_id)
            .where(Case.process == "absence", Case.school_id.in_(ids), CaseHistory.effective_date <= end)
            .group_by(CaseHistory.case_id).subquery())
    for sid, state, n in session.execute(
            select(Case.school_id, CaseHistory.to_state, func.count())
            .join(last, last.c.case_id == Case.id).join(CaseHistory, CaseHistory.id == last.c.hid)
            .where(CaseHistory.to_state.in_(LADDER_STATES), case_filter(scope))
            .group_by(Case.school_id, CaseHistory.to_state)):
        rows[sid].ladder_by_rung[state] = n

    for sid, n in session.execute(
            select(Case.school_id, func.count()).where(
                Case.process == "absence", Case.is_open.is_(True), Case.is_overdue.is_(True),
                Case.school_id.in_(ids), case_filter(scope)).group_by(Case.school_id)):
        rows[sid].overdue_visits = n

    for _history, case, kind in _change_rows(session, scope, ids, start, end):
        rows[case.school_id].status_changes[kind] += 1
        if kind == "dropout":
            rows[case.school_id].dropouts += 1

    for sid, n in session.execute(
            select(Case.school_id, func.count()).join(CaseHistory, CaseHistory.case_id == Case.id)
            .where(Case.process == "recovery", CaseHistory.transition == "create", Case.school_id.in_(ids),
                   CaseHistory.effective_date.between(start, end), case_filter(scope))
            .group_by(Case.school_id)):
        rows[sid].recoveries_opened = n
    for sid, n in session.execute(
            select(Case.school_id, func.count()).join(CaseHistory, CaseHistory.case_id == Case.id)
            .where(Case.process == "recovery", CaseHistory.transition == "mark_returned",
                   Case.school_id.in_(ids), CaseHistory.effective_date.between(start, end), case_filter(scope))
            .group_by(Case.school_id)):
        rows[sid].recovered = n

    ordered = [rows[s.id] for s in schools]
    total = WeeklyRow(None, total_name)
    for r in ordered:
        total.add(r)
    return WeeklyReport(start, end, ordered, total, center_id)


# --- status-change notice ---------------------------------------------------------------------------


@dataclass
class NoticeItem:
    student_id: int
    student_name: str
    class_name: str
    kind: str
    kind_label: Msg
    effective_date: dt.date
    case_id: int
    detail: Msg | str = ""

    def as_dict(self) -> dict:
        return {"student_id": self.student_id, "student_name": self.student_name, "class_name": self.class_name,
                "kind": self.kind, "kind_label": self.kind_label,
                "effective_date": self.effective_date.isoformat(), "case_id": self.case_id, "detail": self.detail}


def status_change_notice(session: Session, scope: Scope, *, school_id, date_from: dt.date,
                         date_to: dt.date) -> tuple[School, list[NoticeItem]]:
    """Every transfer, suspension, dropout and return of the school that took effect between
    `date_from` and `date_to` (inclusive, by effective date), for a staff meeting: student name,
    class, kind, effective date — never an ID number. The class is the one the child joined (复学,
    转入, 返校) or left (休学, 转出, 辍学). Raises NotFound, Invalid (from after to).
    """
    if date_from > date_to:
        raise Invalid(N_("开始日期不能晚于结束日期"), details={"field": "from"})
    school = _school(session, scope, school_id)
    rows = list(_change_rows(session, scope, [school.id], date_from, date_to))
    left = {}
    student_ids = sorted({case.student_id for _, case, kind in rows if kind not in JOINING})
    if student_ids:
        for e in session.scalars(select(Enrolment).where(Enrolment.student_id.in_(student_ids),
                                                         Enrolment.end_date.is_not(None))
                                 .order_by(Enrolment.id)):
            left[(e.student_id, e.end_date)] = e.class_id
    class_ids = set()
    picked = []
    for history, case, kind in rows:
        data = {**(case.data or {}), **(history.data or {})}
        if kind in JOINING:
            class_id = data.get("class_id") or case.student.class_id
        else:
            class_id = left.get((case.student_id, history.effective_date)) or case.student.class_id
        class_ids.add(class_id)
        picked.append((history, case, kind, class_id, data))
    names = dict(session.execute(select(SchoolClass.id, SchoolClass.name).where(
        SchoolClass.id.in_(sorted(i for i in class_ids if i) or [-1]))).all())
    items = []
    for history, case, kind, class_id, data in picked:
        detail: Msg | str = ""
        if kind == "transferred_out":
            # the places as typed, joined as the school writes them
            place = "，".join(x for x in (data.get("destination_school"), data.get("destination_region")) if x)
            detail = Msg(N_("转往：%(place)s"), place=place) if place else ""
        elif kind == "transferred_in" and data.get("origin_school"):
            detail = Msg(N_("转自：%(school)s"), school=data["origin_school"])
        elif kind == "dropout" and data.get("reason_category"):
            detail = Msg(N_("原因：%(reason)s"), reason=data["reason_category"])
        elif kind == "suspended" and data.get("end"):
            detail = Msg(N_("休学至 %(date)s"), date=data["end"])
        elif kind == "enrolled_elsewhere" and data.get("destination_school"):
            detail = Msg(N_("就读学校：%(school)s"), school=data["destination_school"])
        items.append(NoticeItem(case.student_id, case.student.name, names.get(class_id, ""), kind,
                                KIND_LABELS[kind], history.effective_date, case.id, detail))
    items.sort(key=lambda i: (i.effective_date, list(KIND_LABELS).index(i.kind), i.class_name, i.student_name))
    return school, items


# --- the three ledgers --------------------------------------------------------------------------------


@dataclass
class Area:
    """What a ledger covers: a label, schools and villages (all within the user's scope)."""

    label: Msg | str  # a school's name, or N_("全部")
    school_ids: list[int]
    village_ids: list[int]


def ledger_area(session: Session, scope: Scope, *, county_id=None, center_school_id=None,
                school_id=None) -> Area:
    """The schools and villages of a county node, a center school or one school (whose villages are
    its center's: villages belong to a center's catchment), or, with none given, everything the
    user sees. Raises NotFound (out of scope), Invalid (more than one given, wrong kind)."""
    given = [x for x in (county_id, center_school_id, school_id) if x is not None]
    if len(given) > 1:
        raise Invalid(N_("county_id、center_school_id、school_id 只能指定一个"), details={"field": "school_id"})
    schools = select(School.id).where(school_filter(scope), School.kind != "county")
    villages = select(Village.id).where(village_filter(scope))
    label: Msg | str = N_("全部")
    if county_id is not None:
        county = _school(session, scope, county_id, "county_id")
        if county.kind != "county":
            raise Invalid(N_("字段 county_id 必须是县教育局"), details={"field": "county_id"})
        schools = schools.where(School.county_id == county.id)
        villages = villages.join(School, School.id == Village.center_school_id).where(School.county_id == county.id)
        label = county.name
    elif center_school_id is not None:
        center, _ = _center_schools(session, scope, center_school_id)
        schools = schools.where(School.center_id == center.id)
        villages = villages.where(Village.center_school_id == center.id)
        label = center.name
    elif school_id is not None:
        school = _school(session, scope, school_id)
        if school.kind == "county":
            raise Invalid(N_("字段 school_id 必须是学校（县教育局请用 county_id）"), details={"field": "school_id"})
        schools = schools.where(School.id == school.id)
        villages = villages.where(Village.center_school_id == school.center_id)
        label = school.name
    return Area(label, list(session.scalars(schools)), list(session.scalars(villages)))


def ledger_children(session: Session, area: Area) -> list[CatchmentChild]:
    """Ledger 1: the school-age children of the area's villages (the catchment register)."""
    return list(session.scalars(
        select(CatchmentChild).where(CatchmentChild.village_id.in_(area.village_ids or [-1]))
        .options(joinedload(CatchmentChild.village), joinedload(CatchmentChild.student))
        .order_by(CatchmentChild.village_id, CatchmentChild.birth_date, CatchmentChild.name)))


def ledger_suspected(session: Session, scope: Scope, area: Area) -> list[Case]:
    """Ledger 2: suspected dropouts — open absence cases on rung 3 and above, and open suspected-
    dropout checks (SPEC §3.10, §5), longest open first."""
    return list(session.scalars(
        select(Case).where(Case.is_open.is_(True),
                           or_(and_(Case.process == "absence", Case.state.in_(SUSPECTED_DROPOUT_STATES)),
                               Case.process == "dropout_check"),
                           Case.school_id.in_(area.school_ids or [-1]), case_filter(scope))
        .options(joinedload(Case.school), joinedload(Case.student).joinedload(Student.klass),
                 joinedload(Case.student).joinedload(Student.village), selectinload(Case.visits))
        .order_by(Case.opened_on, Case.id)).unique())


def ledger_recoveries(session: Session, scope: Scope, area: Area) -> list[Case]:
    """Ledger 3: confirmed dropouts (and children enrolled nowhere) with every recovery attempt —
    the recovery cases with their visits, open ones first."""
    return list(session.scalars(
        select(Case).where(Case.process == "recovery", Case.school_id.in_(area.school_ids or [-1]),
                           case_filter(scope))
        .options(joinedload(Case.school), joinedload(Case.student).joinedload(Student.village),
                 selectinload(Case.visits).selectinload(Visit.participants))
        .order_by(Case.is_open.desc(), Case.opened_on, Case.id)).unique())


def dropout_dates(session: Session, cases: list[Case]) -> dict[int, dt.date]:
    """recovery case id -> effective date of the confirmed dropout that opened it (if any)."""
    parents = {c.parent_case_id: c.id for c in cases if c.parent_case_id}
    if not parents:
        return {}
    rows = session.execute(select(CaseHistory.case_id, CaseHistory.effective_date).where(
        CaseHistory.case_id.in_(sorted(parents)), CaseHistory.transition == "confirm_dropout"))
    return {parents[case_id]: day for case_id, day in rows}


# --- ledger workbooks -------------------------------------------------------------------------------

LEDGER_KINDS = {"children": N_("适龄儿童台账"), "suspected": N_("疑似辍学台账"), "recoveries": N_("辍学劝返台账")}


def _last_visit(case: Case):
    return max(case.visits, key=lambda v: (v.date, v.id)) if case.visits else None


def ledger_rows(session: Session, scope: Scope, area: Area, kind: str, *, today: dt.date) -> tuple[list[str], list[list]]:
    """(headers, rows) of one ledger, as the page and the .xlsx show it. Ledger 1 shows ID numbers
    in full only to the register's editors (permissions.sees_full_catchment_ids). Raises Invalid
    (unknown kind)."""
    if kind == "children":
        children = ledger_children(session, area)
        full = {cid: permissions.sees_full_catchment_ids(session, scope, cid)
                for cid in {c.village.center_school_id for c in children}}
        headers = [N_("村"), N_("姓名"), N_("性别"), N_("出生日期"), N_("年龄"), N_("身份证号"), N_("户籍"), N_("就读状态"), N_("就读学校/去向"),
                   N_("学籍状态"), N_("备注")]
        rows = [[c.village.name, c.name, GENDER_NAMES.get(c.gender, c.gender), c.birth_date,
                 catchment.age_on(c.birth_date, today),
                 catchment.id_as_seen(c, full[c.village.center_school_id]) or "",
                 catchment.HOUSEHOLD_LABELS.get(c.household_status, c.household_status),
                 catchment.STATUS_LABELS.get(c.status, c.status), c.destination or "",
                 STUDENT_STATUS_NAMES.get(c.student.status, "") if c.student else N_("未匹配"),
                 c.notes or ""]
                for c in children]
        return headers, rows
    if kind == "suspected":
        headers = [N_("学校"), N_("班级"), N_("姓名"), N_("村"), N_("当前阶段"), N_("立案日期"), N_("家访次数"), N_("最近家访"), N_("是否逾期"), N_("案件号")]
        rows = []
        for c in ledger_suspected(session, scope, area):
            last = _last_visit(c)
            st = c.student
            rows.append([c.school.name, st.klass.name if st.klass else "", st.name,
                         st.village.name if st.village else "",
                         RUNG_LABELS.get(c.state, N_("疑似辍学核实")) if c.process == "absence" else N_("疑似辍学核实"),
                         c.opened_on,
                         len(c.visits), last.date if last else "", N_("逾期") if c.is_overdue else "", c.id])
        return headers, rows
    if kind == "recoveries":
        cases = ledger_recoveries(session, scope, area)
        dropped = dropout_dates(session, cases)
        headers = [N_("学校"), N_("姓名"), N_("村"), N_("辍学日期"), N_("原因"), N_("立案日期"), N_("状态"), N_("劝返日期"), N_("方式"), N_("参与人员"),
                   N_("家长在场"), N_("结果"), N_("案件号")]
        rows = []
        for c in cases:
            st = c.student
            head = [c.school.name, st.name, st.village.name if st.village else "", dropped.get(c.id, ""),
                    (c.data or {}).get("reason_category", ""), c.opened_on,
                    RECOVERY.state_labels.get(c.state, c.state)]
            visits = sorted(c.visits, key=lambda v: (v.date, v.id))
            if not visits:
                rows.append([*head, "", "", "", "", N_("尚无劝返记录"), c.id])
            for v in visits:
                people = "、".join([u.name for u in v.participants] + ([v.other_participants] if v.other_participants else []))
                rows.append([*head, v.date, ladder.KIND_NAMES.get(v.kind, v.kind), people,
                             N_("是") if v.guardian_present else N_("否"), v.outcome or v.notes or "", c.id])
        return headers, rows
    raise Invalid(N_("台账种类须为：%(choices)s"), details={"field": "kind"}, choices=", ".join(LEDGER_KINDS))


def ledger_xlsx(headers: list[str], rows: list[list], title: str) -> bytes:
    """An .xlsx of one ledger: a header row, dates as dates, frozen header."""
    wb = Workbook()
    ws = wb.active
    ws.title = re.sub(r"[\[\]:*?/\\]", "", title)[:31] or "台账"
    ws.append(headers)
    for row in rows:
        ws.append(row)
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            if isinstance(cell.value, dt.date):
                cell.number_format = "yyyy-mm-dd"
            elif isinstance(cell.value, str):
                cell.number_format = "@"
    ws.freeze_panes = "A2"
    return xlsx_bytes(wb)
