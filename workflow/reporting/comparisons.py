"""The comparisons (四查三比对, SPEC §5) of a center school's area, and the list of formerly poor
households they use.

Three comparisons, each hit opening a `dropout_check` (source `comparison`,
`workflow/reporting/checks.py:open_check`) unless the child has an open one or this entry was
checked already — so a second run opens nothing new:

- `not_enrolled` — household register (户籍: the catchment register) against the rolls: a child
  of compulsory age (`workflow/registers/catchment.py:is_compulsory_age`) registered as 本学区就读
  or 未就读 who is on no roll as active, suspended or graduated. A child linked to (or with the ID
  number of) a student gets a check; a child with no student record is listed without one (the
  register's cross-check, `workflow/registers/catchment.py:crosscheck`, creates the record and
  opens the recovery). Entry: the register row.
- `absent_on_roll` — rolls against who is in class (名在人不在): an active student with no
  `present` mark on any of the last `UNSEEN_SCHOOL_DAYS` school days of the school's calendar,
  on at least one of which the class's attendance was taken (a class whose attendance was never
  taken shows as missing attendance elsewhere, not as ten absent children). Entry: the day the
  child was last marked present, so a child seen again and lost again is checked again.
- `poor_household` — dropouts against the list of formerly poor households (脱贫户): a student
  `dropped_out` who is on the imported list (by ID number; else by name and village when that
  names one student). Entry: the day the child's last enrolment ended.

No Flask; flushes, never commits.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from models import (
    AttendanceDay,
    AttendanceRecord,
    Case,
    CatchmentChild,
    Enrolment,
    School,
    Student,
    User,
    Village,
)
from models.checks import PoorHouseholdMember
from workflow import clock
from workflow.access.permissions import may_run_comparisons
from workflow.access.scope import Scope, school_filter
from workflow.errors import Forbidden, Invalid, Msg, NotFound, invalid_field
from workflow.org.calendar import CalendarBook
from workflow.org.services import STUDENT_STATUS_NAMES, normalize_id_card
from workflow.registers.catchment import is_compulsory_age
from workflow.reporting.checks import open_check
from workflow.spreadsheets import NotXlsx, cell_text, data_rows, read_xlsx_rows
from workflow.validation import N_

KINDS = ("not_enrolled", "absent_on_roll", "poor_household")
KIND_NAMES = {"not_enrolled": N_("户籍比学籍：适龄未入学"), "absent_on_roll": N_("学籍比在校：名在人不在"),
              "poor_household": N_("辍学比脱贫户名单")}
# SPEC §5: on the roll but not in class for 10+ school days
UNSEEN_SCHOOL_DAYS = 10
ON_ROLL = ("active", "suspended", "graduated")
POOR_COLUMNS = (("head_name", "户主姓名"), ("name", "姓名"), ("id_card_no", "身份证号"), ("village", "户籍村"))
POOR_MODES = ("check", "replace")
MAX_ROWS = 20000
HEADER_SEARCH_ROWS = 5


def center_for(session: Session, scope: Scope, center_school_id) -> School:
    """The center school, visible and of kind `center`, that the user may run comparisons for.
    Raises Invalid (not an id, not a center), NotFound (out of scope), Forbidden."""
    if isinstance(center_school_id, bool) or not isinstance(center_school_id, int):
        raise invalid_field("center_school_id", N_("请选择中心校（center_school_id 须为整数编号）"))
    # through the scope's filter, the one answer to "may this user see this school"
    center = session.scalar(select(School).where(School.id == center_school_id, school_filter(scope)))
    if center is None:
        raise NotFound(N_("中心校不存在或不在您的管辖范围内"), details={"field": "center_school_id"})
    if center.kind != "center":
        raise invalid_field("center_school_id", N_("所选学校不是中心校"))
    if not may_run_comparisons(scope, center):
        raise Forbidden(N_("只有系统管理员、本中心校领导和本县教育局督导可以运行比对"), code="role_forbidden")
    return center


@dataclass
class ComparisonResult:
    """Every hit of the three comparisons, and what the run opened."""

    opened: int = 0
    already_open: int = 0
    hits: dict[str, list[dict]] = field(default_factory=lambda: {k: [] for k in KINDS})

    def as_dict(self) -> dict:
        """The API's answer: {opened, already_open, by_kind: {kind: hits}, items: {kind: [...]}}."""
        return {"opened": self.opened, "already_open": self.already_open,
                "by_kind": {k: len(v) for k, v in self.hits.items()}, "items": self.hits}


def _hit(student: Student | None, name: str, school: School | None, note: Msg) -> dict:
    return {"student_id": student.id if student else None, "name": name,
            "school_id": school.id if school else None, "school": school.name if school else "",
            "note": note, "case_id": None, "case_state": None, "opened": False}


def _not_enrolled(session: Session, center: School, today: dt.date) -> list[tuple[dict, Student | None, str]]:
    children = list(session.scalars(
        select(CatchmentChild).join(Village, Village.id == CatchmentChild.village_id)
        .where(Village.center_school_id == center.id, CatchmentChild.status.in_(("enrolled_here", "not_enrolled")))
        .order_by(CatchmentChild.village_id, CatchmentChild.name, CatchmentChild.id)))
    children = [c for c in children if is_compulsory_age(c.birth_date, today)]
    linked = {s.id: s for s in session.scalars(select(Student).where(
        Student.id.in_(sorted({c.student_id for c in children if c.student_id}) or [-1])))}
    by_card = {s.id_card_no: s for s in session.scalars(select(Student).where(
        Student.id_card_no.in_(sorted({c.id_card_no for c in children if c.id_card_no}) or ["-"])))}
    out = []
    for c in children:
        student = linked.get(c.student_id) if c.student_id else None
        if student is None and c.id_card_no:
            student = by_card.get(c.id_card_no)
        if student is not None and student.status in ON_ROLL:
            continue
        note = (N_("登记为适龄儿童，学籍中无此儿童：请在适龄儿童登记页核对（将建立学籍并开启劝返）") if student is None
                else Msg(N_("登记为适龄儿童，学籍状态为「%(status)s」"),
                         status=STUDENT_STATUS_NAMES.get(student.status, student.status)))
        out.append((_hit(student, c.name, student.school if student else None, note), student,
                    f"comparison:not_enrolled:child{c.id}"))
    return out


def _last_school_days(calendar, today: dt.date, n: int) -> list[dt.date]:
    days = [today] if calendar.is_school_day(today) else []
    while len(days) < n:
        prev = calendar.previous_school_day(days[-1] if days else today)
        if prev is None:
            break
        days.append(prev)
    return days


def _absent_on_roll(session: Session, center: School, today: dt.date) -> list[tuple[dict, Student, str]]:
    schools = list(session.scalars(select(School).where(School.center_id == center.id).order_by(School.id)))
    book = CalendarBook(session)
    book.preload([s.id for s in schools])
    out = []
    for school in schools:
        days = _last_school_days(book.for_school(school.id), today, UNSEEN_SCHOOL_DAYS)
        if len(days) < UNSEEN_SCHOOL_DAYS:
            continue  # fewer than ten school days on the calendar so far: nobody can be unseen ten days
        students = list(session.scalars(select(Student).where(
            Student.school_id == school.id, Student.status == "active", Student.class_id.is_not(None))
            .order_by(Student.class_id, Student.name, Student.id)))
        if not students:
            continue
        ids = [s.id for s in students]
        seen = set(session.scalars(select(AttendanceRecord.student_id).where(
            AttendanceRecord.student_id.in_(ids), AttendanceRecord.status == "present",
            AttendanceRecord.date.in_(days))))
        taken = set(session.scalars(select(AttendanceDay.class_id).where(
            AttendanceDay.class_id.in_(sorted({s.class_id for s in students})), AttendanceDay.date.in_(days))))
        unseen = [s for s in students if s.id not in seen and s.class_id in taken]
        if not unseen:
            continue
        last_present = dict(session.execute(
            select(AttendanceRecord.student_id, func.max(AttendanceRecord.date)).where(
                AttendanceRecord.student_id.in_([s.id for s in unseen]), AttendanceRecord.status == "present")
            .group_by(AttendanceRecord.student_id)).all())
        for s in unseen:
            last = last_present.get(s.id)
            note = (Msg(N_("近 %(n)d 个上学日未到校（最后到校 %(last)s）"), n=UNSEEN_SCHOOL_DAYS, last=last.isoformat())
                    if last else Msg(N_("近 %(n)d 个上学日未到校"), n=UNSEEN_SCHOOL_DAYS))
            out.append((_hit(s, s.name, school, note), s,
                        f"comparison:absent_on_roll:{last.isoformat() if last else 'never'}"))
    return out


def _poor_household(session: Session, center: School) -> list[tuple[dict, Student, str]]:
    members = list(session.scalars(select(PoorHouseholdMember).where(
        PoorHouseholdMember.center_school_id == center.id).order_by(PoorHouseholdMember.id)))
    if not members:
        return []
    dropouts = list(session.scalars(select(Student).join(School, School.id == Student.school_id).where(
        School.center_id == center.id, Student.status == "dropped_out")))
    by_card = {s.id_card_no: s for s in dropouts if s.id_card_no}
    villages = dict(session.execute(select(Village.id, Village.name)).all()) if dropouts else {}
    by_name: dict[tuple[str, str], list[Student]] = {}
    for s in dropouts:
        by_name.setdefault((s.name, villages.get(s.village_id, "")), []).append(s)
    left = dict(session.execute(select(Enrolment.student_id, func.max(Enrolment.end_date)).where(
        Enrolment.student_id.in_([s.id for s in dropouts] or [-1])).group_by(Enrolment.student_id)).all())
    out, taken = [], set()
    for m in members:
        student = by_card.get(m.id_card_no) if m.id_card_no else None
        if student is None and not m.id_card_no:
            same = by_name.get((m.name, m.village or ""), [])
            student = same[0] if len(same) == 1 else None
        if student is None or student.id in taken:
            continue
        taken.add(student.id)
        day = left.get(student.id)
        note = Msg(N_("脱贫户（户主：%(head)s）学生已辍学"), head=m.head_name)
        out.append((_hit(student, student.name, student.school, note), student,
                    f"comparison:poor_household:{day.isoformat() if day else 'unknown'}"))
    return out


def run_comparisons(session: Session, scope: Scope, user: User | None, *, center_school_id,
                    today: dt.date | None = None) -> ComparisonResult:
    """Run the three comparisons for a center school's area and open a `dropout_check` for every
    hit that names a student, unless the child has an open check or this entry was checked
    already (so a second run opens nothing new). Every hit is listed with its case.
    Raises Invalid, NotFound, Forbidden (`center_for`). Flushes, never commits."""
    center = center_for(session, scope, center_school_id)
    today = today or clock.today()
    result = ComparisonResult()
    found = {"not_enrolled": _not_enrolled(session, center, today),
             "absent_on_roll": _absent_on_roll(session, center, today),
             "poor_household": _poor_household(session, center)}
    for kind in KINDS:
        for item, student, entry in found[kind]:
            if student is not None and student.school_id is not None:
                case, opened = open_check(session, student, source="comparison", note=item["note"],
                                          entry_key=entry, today=today, user=user, kind=kind)
                item.update(case_id=case.id, case_state=case.state, opened=opened)
                if opened:
                    result.opened += 1
                else:
                    result.already_open += 1
            result.hits[kind].append(item)
    return result


def open_checks(session: Session, scope: Scope, *, center_school_id) -> tuple[School, list[Case]]:
    """The center's dropout checks opened by the comparisons or lists, open ones first (the page)."""
    center = center_for(session, scope, center_school_id)
    cases = list(session.scalars(
        select(Case).join(School, School.id == Case.school_id)
        .where(Case.process == "dropout_check", School.center_id == center.id)
        .order_by(Case.is_open.desc(), Case.opened_on.desc(), Case.id.desc())))
    return center, cases


# --- the list of formerly poor households ---------------------------------------------------------

@dataclass
class PoorListResult:
    rows: int = 0
    imported: int = 0
    errors: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"rows": self.rows, "imported": self.imported, "errors": self.errors}


def import_poor_households(session: Session, scope: Scope, user: User | None, *, center_school_id, data: bytes,
                           mode: str = "check") -> PoorListResult:
    """Check (and with mode `replace`, store in place of the center's earlier list) a list of
    formerly poor households (.xlsx: 户主姓名, 姓名, 身份证号, 户籍村). The whole file is checked
    first; any bad row (no name, an ID number failing its check digit, the same ID twice) → with
    `replace`, Invalid 422 and nothing written. Flushes, never commits."""
    if mode not in POOR_MODES:
        raise invalid_field("mode", N_("导入方式（mode）须为以下之一：%(choices)s"), choices=", ".join(POOR_MODES))
    center = center_for(session, scope, center_school_id)
    if not data:
        raise Invalid(N_("文件是空的，请选择要导入的 .xlsx 名单"), code="invalid_file", details={"field": "file"})
    try:
        rows = list(enumerate(read_xlsx_rows(data, max_rows=MAX_ROWS + HEADER_SEARCH_ROWS, max_cols=20), start=1))
    except NotXlsx:
        raise Invalid(N_("文件不是 Excel（.xlsx）文件"), code="invalid_file", details={"field": "file"}) from None
    by_header = {h: k for k, h in POOR_COLUMNS}
    start, columns = None, {}
    for index, (_number, values) in enumerate(rows[:HEADER_SEARCH_ROWS]):
        names = [re.sub(r"\s+", "", cell_text(v)) for v in values]
        if "姓名" in names and "户主姓名" in names:
            start = index
            columns = {by_header[n]: i for i, n in reversed(list(enumerate(names))) if n in by_header}
            break
    if start is None:
        raise Invalid(N_("找不到表头行：前 5 行中须有「户主姓名」和「姓名」列"), code="invalid_rows",
                      details={"errors": [{"row": 1, "column": "姓名", "message": N_("找不到表头行")}]})
    result = PoorListResult()
    members, seen = [], {}
    for number, cell in data_rows(rows[start + 1:], columns):
        result.rows += 1
        bad = []
        for key, label in (("head_name", "户主姓名"), ("name", "姓名")):
            if not cell[key]:
                bad.append({"row": number, "column": label, "message": Msg(N_("%(column)s不能为空"), column=label)})
        card = None
        if cell["id_card_no"]:
            try:
                card = normalize_id_card(cell["id_card_no"])
            except Invalid as exc:
                bad.append({"row": number, "column": "身份证号", "message": exc.msg})
        if card and card in seen:
            bad.append({"row": number, "column": "身份证号", "message": Msg(N_("与第 %(row)d 行重复"), row=seen[card])})
        elif card:
            seen[card] = number
        if bad:
            result.errors.extend(bad)
            continue
        members.append(PoorHouseholdMember(center_school_id=center.id, head_name=cell["head_name"][:60],
                                           name=cell["name"][:60], id_card_no=card, village=cell["village"][:60] or None,
                                           imported_by_id=user.id if user else None))
    if mode == "check":
        return result
    if result.errors:
        raise Invalid(N_("名单有 %(n)d 行有错误，未写入任何数据"), code="invalid_rows",
                      details={"errors": result.errors, "rows": result.rows}, n=len({e["row"] for e in result.errors}))
    session.execute(delete(PoorHouseholdMember).where(PoorHouseholdMember.center_school_id == center.id))
    session.add_all(members)
    session.flush()
    result.imported = len(members)
    return result
