"""Finding a child from the staff pages' search box: by name, 全国学籍号 or ID-card number, among
the students the user may see (workflow.access.scope.student_filter) and nowhere else.

A name matches on any part of it. A personal number matches only whole (case and spaces
ignored): a user who sees numbers masked can still find the child whose full number a parent
hands over, but cannot learn digits by trying prefixes. The caller shows the numbers as the
user may see them (workflow.access.masking).
"""
from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, joinedload

from models import Student
from workflow.access.scope import Scope, student_filter

MAX_RESULTS = 50
MAX_QUERY = 60  # longer than any name or number: the rest is noise


def _like_escaped(text: str) -> str:
    """`text` for a LIKE pattern, its own % and _ taken literally (escape character `\\`)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def find_students(session: Session, scope: Scope, text: str | None,
                  limit: int = MAX_RESULTS) -> tuple[list[Student], bool]:
    """Visible students whose name contains `text`, or whose 学籍号 or ID-card number is `text`
    (whole, case and spaces ignored); current pupils first, then by name. Returns (at most
    `limit` students, whether more matched). An empty query finds nobody."""
    query = " ".join((text or "").split())[:MAX_QUERY]
    if not query:
        return [], False
    number = query.replace(" ", "").upper()
    match = or_(Student.name.like(f"%{_like_escaped(query)}%", escape="\\"),
                func.upper(Student.student_no) == number,
                func.upper(Student.id_card_no) == number)
    rows = list(session.scalars(
        select(Student).options(joinedload(Student.school), joinedload(Student.klass),
                                joinedload(Student.village))
        .where(match, student_filter(scope))
        .order_by((Student.status != "active"), Student.name, Student.id)
        .limit(limit + 1)))
    return rows[:limit], len(rows) > limit
