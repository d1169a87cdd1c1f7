"""The reward/penalty ledger (SPEC §4): a line per loss for each person answerable for the class,
a line per recovered child for each person the recovery credited."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from decimal import Decimal

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from models import RoleAssignment, Student, User
from workflow.access.scope import Scope
from workflow.errors import N_, Msg
from workflow.figures.common import FigureSettings
from workflow.figures.losses import class_figures


def ledger(session: Session, scope: Scope, *, school_id: int, school_year: str, term: int,
           amounts: Mapping | None = None, settings: FigureSettings | Mapping | None = None) -> list[dict]:
    """Reward/penalty lines of one school's term (SPEC §4 ledger), each traceable to a student
    and a case: `loss_amount` (default −50) per loss for every homeroom teacher of the class and
    every prevention team member of the school; `recovery_amount` (default +50) per recovered
    child for every staff member the recovery credited (`mark_returned` data.credited_user_ids).
    `amounts` may override {"loss": ..., "recovery": ...}.

    Lines: {user_id, user_name, role, amount (Decimal), reason, student_id, student_name,
    case_id, class_id, class_name, date}; ordered by date, class, student, user.
    Raises NotFound (school out of scope), Invalid. Never writes.
    """
    cfg = FigureSettings.from_mapping(settings)
    amounts = dict(amounts or {})
    loss_amount = Decimal(str(amounts.get("loss", cfg.loss_amount)))
    recovery_amount = Decimal(str(amounts.get("recovery", cfg.recovery_amount)))
    items = class_figures(session, scope, school_id=school_id, school_year=school_year, term=term,
                          settings=cfg)
    class_ids = [i["class_id"] for i in items]
    losses = [x for i in items for x in i["loss_details"]]
    recoveries = [x for i in items for x in i["recovery_details"]]
    homeroom: dict[int, list[int]] = defaultdict(list)
    team: list[int] = []
    for role, user_id, class_id in session.execute(
            select(RoleAssignment.role, RoleAssignment.user_id, RoleAssignment.class_id)
            .join(User, User.id == RoleAssignment.user_id)
            .where(User.is_active.is_(True),
                   or_(and_(RoleAssignment.role == "homeroom_teacher", RoleAssignment.class_id.in_(class_ids)),
                       and_(RoleAssignment.role == "team_member", RoleAssignment.school_id == school_id)))
            .order_by(RoleAssignment.user_id)):
        if role == "homeroom_teacher":
            homeroom[class_id].append(user_id)
        elif user_id not in team:
            team.append(user_id)
    credited = {u for r in recoveries for u in r.credited_user_ids}
    user_ids = set(team) | {u for us in homeroom.values() for u in us} | credited
    names = dict(session.execute(select(User.id, User.name).where(User.id.in_(sorted(user_ids)))).all()) \
        if user_ids else {}
    student_ids = {x.student_id for x in losses} | {r.student_id for r in recoveries}
    students = dict(session.execute(select(Student.id, Student.name).where(
        Student.id.in_(sorted(student_ids)))).all()) if student_ids else {}
    class_names = {i["class_id"]: i["class_name"] for i in items}

    lines = []

    def line(user_id, role, amount, reason, x):
        lines.append({"user_id": user_id, "user_name": names.get(user_id), "role": role, "amount": amount,
                      "reason": reason, "student_id": x.student_id, "student_name": students.get(x.student_id),
                      "case_id": x.case_id, "class_id": x.class_id, "class_name": class_names.get(x.class_id),
                      "date": x.date})

    for x in losses:
        why = Msg(N_("流失学生 %(student)s（%(klass)s）"), student=students.get(x.student_id, x.student_id),
                  klass=class_names.get(x.class_id))
        for user_id in homeroom.get(x.class_id, []):
            line(user_id, "homeroom_teacher", loss_amount, why, x)
        for user_id in team:
            line(user_id, "team_member", loss_amount, why, x)
    for r in recoveries:
        why = Msg(N_("劝返学生 %(student)s 返校（%(klass)s）"), student=students.get(r.student_id, r.student_id),
                  klass=class_names.get(r.class_id))
        for user_id in dict.fromkeys(r.credited_user_ids):
            line(user_id, "credited", recovery_amount, why, r)
    lines.sort(key=lambda li: (li["date"], li["class_id"], li["student_id"], li["amount"], li["user_id"]))
    return lines


def ledger_totals(lines: list[dict]) -> list[dict]:
    """{user_id, user_name, amount, lines} per person, largest penalty first."""
    totals: dict[int, dict] = {}
    for li in lines:
        t = totals.setdefault(li["user_id"], {"user_id": li["user_id"], "user_name": li["user_name"],
                                              "amount": Decimal("0"), "lines": 0})
        t["amount"] += li["amount"]
        t["lines"] += 1
    return sorted(totals.values(), key=lambda t: (t["amount"], t["user_id"]))
