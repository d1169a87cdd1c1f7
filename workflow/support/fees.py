"""The published fee schedule (一费制, SPEC §5) and payment receipts.

A school drafts its fee items and amounts for a school year; the center school approves it
(draft → approved, `permissions.may_approve_fee_schedule`); an approved schedule is public (a page
without login) and can no longer change. A `return` case may only charge listed items at no more
than the listed amount: `unlisted_fees` is what the guard `workflow.cases.guards.fees_on_schedule`
asks before `settle_fees`.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from models import Case, Fee, FeeItem, FeeSchedule, Payment, School, User, utcnow
from workflow import clock
from workflow.access import permissions
from workflow.access.scope import Scope, case_filter, fee_schedule_filter, get_in_scope
from workflow.errors import N_, Conflict, Forbidden, Msg, NotFound, invalid_field
from workflow.org.calendar import school_year_of
from workflow.org.services import check_school_year
from workflow.support.common import optional_text, yuan
from workflow.validation import required_text

MAX_ITEMS = 30


def _check_items(items) -> list[tuple[str, Decimal, str | None]]:
    if not isinstance(items, list) or not items:
        raise invalid_field("items", N_("收费标准至少要有一个收费项目"))
    if len(items) > MAX_ITEMS:
        raise invalid_field("items", N_("收费项目最多 %(n)d 项"), n=MAX_ITEMS)
    out, names = [], set()
    for i, item in enumerate(items, 1):
        if not isinstance(item, dict) or set(item) - {"name", "amount", "note"}:
            raise invalid_field(f"items[{i}]", N_("第 %(n)d 个收费项目须有名称和金额，可加说明（name, amount, note）"), n=i)
        name = required_text(f"items[{i}].name", item.get("name"), 80,
                             what=Msg(N_("第 %(n)d 个收费项目的名称"), n=i))
        if name in names:
            raise invalid_field(f"items[{i}].name", N_("收费项目「%(name)s」重复"), name=name)
        names.add(name)
        out.append((name, yuan(item.get("amount"), f"items[{i}].amount", what=Msg(N_("第 %(n)d 个收费项目的金额"), n=i)),
                    optional_text(item.get("note"), f"items[{i}].note", 200,
                                  what=Msg(N_("第 %(n)d 个收费项目的说明"), n=i))))
    return out


def get_schedule(session: Session, scope: Scope, schedule_id) -> FeeSchedule:
    """A schedule of a school the user sees, items loaded. Raises NotFound."""
    return get_in_scope(session, scope, FeeSchedule, schedule_id,
                        options=(selectinload(FeeSchedule.items), joinedload(FeeSchedule.school)))


def list_schedules(session: Session, scope: Scope, *, school_id: int | None = None) -> list[FeeSchedule]:
    """The schedules the user sees, newest year first."""
    stmt = select(FeeSchedule).where(fee_schedule_filter(scope)).options(
        joinedload(FeeSchedule.school), selectinload(FeeSchedule.items))
    if school_id is not None:
        stmt = stmt.where(FeeSchedule.school_id == school_id)
    return list(session.scalars(stmt.order_by(FeeSchedule.school_year.desc(), FeeSchedule.school_id)))


def save_schedule(session: Session, scope: Scope, user: User, *, school_id, school_year, items) -> FeeSchedule:
    """Create a school's draft schedule for a year, or replace the items of its draft.

    Raises NotFound (school out of scope), Forbidden (`permissions.may_edit_fee_schedule`),
    Invalid (year, items), Conflict `invalid_state` (already approved: an approved schedule is
    published and does not change)."""
    school = get_in_scope(session, scope, School, school_id)
    check_school_year(school_year)
    rows = _check_items(items)
    if school.kind == "county" or not permissions.may_edit_fee_schedule(scope, school):
        raise Forbidden(N_("只有该校的校长、教导处或中心校可以编制收费标准"))
    schedule = session.scalars(select(FeeSchedule).where(FeeSchedule.school_id == school.id,
                                                         FeeSchedule.school_year == school_year)
                               .with_for_update()).first()
    if schedule is None:
        schedule = FeeSchedule(school_id=school.id, school_year=school_year, created_by_id=user.id)
        session.add(schedule)
    elif schedule.status != "draft":
        raise Conflict(N_("%(school)s %(year)s 学年的收费标准已经批准公布，不能再修改"), code="invalid_state",
                       school=school.name, year=school_year)
    schedule.items = [FeeItem(name=n, amount=a, note=note) for n, a, note in rows]
    session.flush()
    return schedule


def approve_schedule(session: Session, scope: Scope, user: User, schedule_id) -> FeeSchedule:
    """The center school approves a draft: it is published (public page) and guards fees.
    Raises NotFound, Forbidden (`permissions.may_approve_fee_schedule`), Conflict `invalid_state`."""
    schedule = get_schedule(session, scope, schedule_id)
    if not permissions.may_approve_fee_schedule(scope, schedule.school):
        raise Forbidden(N_("只有中心校校长或中心校教导主任可以批准收费标准"))
    if schedule.status != "draft":
        raise Conflict(N_("收费标准已经批准"), code="invalid_state")
    schedule.status, schedule.approved_by_id, schedule.approved_at = "approved", user.id, utcnow()
    session.flush()
    return schedule


def public_schedules(session: Session, *, school_id: int | None = None) -> list[FeeSchedule]:
    """Every approved schedule (no login, no scope: published on purpose), by school and year."""
    stmt = (select(FeeSchedule).join(School, School.id == FeeSchedule.school_id)
            .where(FeeSchedule.status == "approved")
            .options(selectinload(FeeSchedule.items), joinedload(FeeSchedule.school))
            .order_by(School.name, FeeSchedule.school_year.desc()))
    if school_id is not None:
        stmt = stmt.where(FeeSchedule.school_id == school_id)
    return list(session.scalars(stmt))


def approved_schedule(session: Session, school_id: int, school_year: str) -> FeeSchedule | None:
    """The school's approved schedule for the year, or None."""
    return session.scalars(select(FeeSchedule).where(
        FeeSchedule.school_id == school_id, FeeSchedule.school_year == school_year,
        FeeSchedule.status == "approved").options(selectinload(FeeSchedule.items))).first()


def unlisted_fees(session: Session, case: Case, day: dt.date | None) -> list[Msg]:
    """Messages (Msg), one per fee of the case not allowed by the approved schedule of the
    case's school for the school year of `day` (today when None; an item not listed, or an amount above the
    listed one); every fee when there is no approved schedule. Empty: all fees are listed."""
    fees = list(session.scalars(select(Fee).where(Fee.case_id == case.id).order_by(Fee.id)))
    if not fees:
        return []
    year = school_year_of(day or clock.today())
    school = case.school
    schedule = approved_schedule(session, case.school_id, year)
    title = Msg(N_("%(school)s %(year)s 学年收费标准（一费制）"), school=school.name if school else "", year=year)
    if schedule is None:
        return [Msg(N_("%(title)s尚未经中心校批准公布，不能收取「%(item)s」"), title=title, item=f.item) for f in fees]
    listed = {i.name: i.amount for i in schedule.items}
    out = []
    for f in fees:
        if f.item not in listed:
            out.append(Msg(N_("「%(item)s」不在%(title)s中，不得收取"), item=f.item, title=title))
        elif f.amount_due > listed[f.item]:
            out.append(Msg(N_("「%(item)s」%(due)s 元超过%(title)s所列 %(listed)s 元"), item=f.item,
                           due=f"{f.amount_due:.2f}", title=title, listed=f"{listed[f.item]:.2f}"))
    return out


@dataclass(frozen=True)
class Receipt:
    """What a printed receipt shows."""

    payment: Payment
    case: Case
    school: School
    student_name: str
    item: str
    amount: Decimal
    receipt_no: str
    paid_on: dt.date
    recorded_by: str | None


def receipt(session: Session, scope: Scope, payment_id, *, local_date) -> Receipt:
    """The receipt of one payment of a case the user sees. `local_date` turns the stored time
    into the school's day. Raises NotFound."""
    try:
        pid = int(payment_id)
    except (TypeError, ValueError):
        raise NotFound(N_("对象不存在")) from None
    row = session.execute(
        select(Payment, Case).join(Case, Case.id == Payment.case_id).where(Payment.id == pid, case_filter(scope))
        .options(joinedload(Payment.fee), joinedload(Case.school), joinedload(Case.student))).first()
    if row is None:
        raise NotFound(N_("对象不存在或不在您的管辖范围内"))
    payment, case = row
    who = session.get(User, payment.recorded_by_id) if payment.recorded_by_id else None
    return Receipt(payment, case, case.school, case.student.name if case.student else "", payment.fee.item,
                   payment.amount, payment.receipt_no, local_date(payment.paid_at), who.name if who else None)
