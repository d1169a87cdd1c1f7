"""Poor-family aid files (贫困家庭学生档案, SPEC §5): for a child flagged `poor`, the aid granted
per term — 免杂费, 免书费, 生活补助, in yuan — and by whom; shown as measures on the child's
recovery case; the school's totals per term, also as an .xlsx.

Services flush, never commit. The export is saved by `workflow.spreadsheets.xlsx_bytes`, the one
writer that keeps a text which could start a formula (=, +, -, @, tab, CR) from being read as one.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from models import AID_KINDS, AidGrant, School, Student, User
from workflow.access import permissions
from workflow.access.scope import Scope, aid_grant_filter, get_in_scope, school_filter
from workflow.errors import Conflict, Forbidden, invalid_field
from workflow.spreadsheets import xlsx_bytes
from workflow.support.common import check_term, optional_text, past_date, yuan
from workflow.validation import N_

AID_NAMES = {"fee_waiver": N_("免杂费"), "book_waiver": N_("免书费"), "living_allowance": N_("生活补助")}
ZERO = Decimal("0.00")


def grant_aid(session: Session, scope: Scope, user: User, *, student_id, school_year, term, kind,
              amount, granted_on, today: dt.date, note=None) -> AidGrant:
    """Record one kind of aid for a child of a poor family for a term (one row per kind and term).

    Raises NotFound (child out of scope), Forbidden (`permissions.may_grant_aid`), Invalid (child
    not flagged poor, term, kind, amount, date), Conflict `duplicate` (that kind already granted
    for that term)."""
    student = get_in_scope(session, scope, Student, student_id)
    check_term(school_year, term)
    if kind not in AID_KINDS:
        raise invalid_field("kind", N_("字段 kind 必须是 fee_waiver（免杂费）、book_waiver（免书费）或 "
                                    "living_allowance（生活补助）"))
    amount = yuan(amount, "amount", what=N_("金额"))
    day = past_date(granted_on, "granted_on", today, what=N_("发放日期"))
    note = optional_text(note, "note", 200, what=N_("备注"))
    if not permissions.may_grant_aid(scope, student):
        raise Forbidden(N_("只有学生所在学校的校长、教导处或中心校可以登记资助"))
    if not student.poor:
        raise invalid_field("student_id", N_("学生未标记为贫困（poor），不能登记资助"))
    if student.school_id is None:
        raise invalid_field("student_id", N_("学生当前不在任何学校，不能登记资助"))
    if session.scalars(select(AidGrant.id).where(
            AidGrant.student_id == student.id, AidGrant.school_year == school_year,
            AidGrant.term == term, AidGrant.kind == kind)).first():
        raise Conflict(N_("该学生 %(year)s 学年第 %(term)d 学期已登记过%(kind)s"), code="duplicate",
                       year=school_year, term=term, kind=AID_NAMES[kind])
    grant = AidGrant(student_id=student.id, school_id=student.school_id, school_year=school_year, term=term,
                     kind=kind, amount=amount, granted_by_id=user.id, granted_on=day, note=note)
    session.add(grant)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(N_("该学生 %(year)s 学年第 %(term)d 学期已登记过%(kind)s"), code="duplicate",
                       year=school_year, term=term, kind=AID_NAMES[kind]) from None
    return grant


def grants_of_student(session: Session, scope: Scope, student_id: int) -> list[AidGrant]:
    """The child's grants, newest term first. Raises NotFound when the child is out of scope."""
    get_in_scope(session, scope, Student, student_id)
    return list(session.scalars(
        select(AidGrant).where(AidGrant.student_id == student_id, aid_grant_filter(scope))
        .options(joinedload(AidGrant.granted_by))
        .order_by(AidGrant.school_year.desc(), AidGrant.term.desc(), AidGrant.id)))


@dataclass
class AidTotals:
    """One school's aid for a term: yuan per kind, the total, the children helped."""

    school_id: int
    school_name: str
    by_kind: dict[str, Decimal] = field(default_factory=lambda: {k: ZERO for k in AID_KINDS})
    children: int = 0

    @property
    def total(self) -> Decimal:
        return sum(self.by_kind.values(), ZERO)


def aid_totals(session: Session, scope: Scope, *, school_year, term, school_id: int | None = None,
               center_school_id: int | None = None) -> list[AidTotals]:
    """Per school (one school, a center's schools, or every school the user sees with the whole
    school in view, `permissions.sees_school_support`): the sum of the grants of that term by
    kind, and how many children received aid. Two grouped queries.

    Raises NotFound (school or center out of scope), Forbidden (a teacher asking for a whole
    school), Invalid (term)."""
    check_term(school_year, term)
    stmt = select(School).where(School.kind != "county")
    if school_id is not None:
        school = get_in_scope(session, scope, School, school_id)
        if not permissions.sees_school_support(scope, school):
            raise Forbidden(N_("只有学校或中心校的管理人员可以查看全校资助合计"))
        schools = [school]
    else:
        if center_school_id is not None:
            get_in_scope(session, scope, School, center_school_id)
            stmt = stmt.where(School.center_id == center_school_id)
        schools = [s for s in session.scalars(stmt.where(school_filter(scope)).order_by(
            School.kind.desc(), School.name)) if permissions.sees_school_support(scope, s)]
    rows = {s.id: AidTotals(s.id, s.name) for s in schools}
    if not rows:
        return []
    where = (AidGrant.school_id.in_(sorted(rows)), AidGrant.school_year == school_year, AidGrant.term == term)
    for sid, kind, amount in session.execute(
            select(AidGrant.school_id, AidGrant.kind, func.sum(AidGrant.amount)).where(*where)
            .group_by(AidGrant.school_id, AidGrant.kind)):
        rows[sid].by_kind[kind] = Decimal(str(amount)).quantize(Decimal("0.01"))
    for sid, n in session.execute(select(AidGrant.school_id, func.count(func.distinct(AidGrant.student_id)))
                                  .where(*where).group_by(AidGrant.school_id)):
        rows[sid].children = n
    return list(rows.values())


def grant_rows(session: Session, scope: Scope, *, school_id: int, school_year, term) -> list[AidGrant]:
    """Every grant of a school for a term (the export's second sheet). Raises as `aid_totals`."""
    aid_totals(session, scope, school_year=school_year, term=term, school_id=school_id)
    return list(session.scalars(
        select(AidGrant).where(AidGrant.school_id == school_id, AidGrant.school_year == school_year,
                               AidGrant.term == term)
        .options(joinedload(AidGrant.student), joinedload(AidGrant.granted_by))
        .order_by(AidGrant.kind, AidGrant.id)))


def totals_xlsx(totals: list[AidTotals], grants: list[AidGrant], *, school_year: str, term: int,
                names: dict[str, str], headers: dict[str, str]) -> bytes:
    """The totals (sheet 1) and, when given, the grants behind them (sheet 2) as .xlsx.
    `names`: the kind names, `headers`: the column titles, both in the reader's language."""
    wb = Workbook()
    ws = wb.active
    ws.title = "totals"
    ws.append([headers[h] for h in ("school", "school_year", "term", *AID_KINDS, "total", "children")])
    for t in totals:
        ws.append([t.school_name, school_year, term, *[t.by_kind[k] for k in AID_KINDS], t.total, t.children])
    if grants:
        ws2 = wb.create_sheet("grants")
        ws2.append([headers[h] for h in ("student", "kind", "amount", "granted_on", "granted_by", "note")])
        for g in grants:
            ws2.append([g.student.name, names[g.kind], g.amount, g.granted_on,
                        g.granted_by.name if g.granted_by else "", g.note or ""])
        for row in ws2.iter_rows(min_row=2):
            for c in row:
                if isinstance(c.value, dt.date):
                    c.number_format = "yyyy-mm-dd"
    for sheet in wb.worksheets:
        for row in sheet.iter_rows(min_row=2):
            for c in row:
                if isinstance(c.value, Decimal):
                    c.number_format = "0.00"
        sheet.freeze_panes = "A2"
    return xlsx_bytes(wb)

