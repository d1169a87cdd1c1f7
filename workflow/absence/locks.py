"""Per-school locks: the daily sweep and the absence openings of one school happen one at a time.

On PostgreSQL a school is locked with a transaction-scoped advisory lock (`pg_advisory_xact_lock`),
held until the transaction ends; SQLite serialises writers by itself, so nothing is taken there.
Several schools are always locked in ascending id order, so two lockers never deadlock.
"""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

# first key of pg_advisory_xact_lock(int, int); the second is the school id
LOCK_NAMESPACE = 730_101


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def lock_school(session: Session, school_id: int) -> None:
    """Serialise the sweep (and absence openings) of one school until the transaction ends
    (PostgreSQL advisory lock; SQLite serialises writers by itself)."""
    if _is_postgres(session):
        session.execute(text("SELECT pg_advisory_xact_lock(:ns, :sid)"), {"ns": LOCK_NAMESPACE, "sid": school_id})


def lock_schools(session: Session, school_ids: list[int]) -> None:
    """`lock_school` for several schools in one statement, in ascending id order."""
    if not school_ids or not _is_postgres(session):
        return
    if len(school_ids) == 1:
        lock_school(session, school_ids[0])
        return
    session.execute(text("SELECT pg_advisory_xact_lock(:ns, x.id) FROM "
                         "(SELECT unnest(CAST(:ids AS integer[])) AS id ORDER BY 1) AS x"),
                    {"ns": LOCK_NAMESPACE, "ids": sorted(school_ids)}).all()
