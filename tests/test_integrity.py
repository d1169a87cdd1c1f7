"""Integrity the database itself keeps, on SQLite as on PostgreSQL: foreign keys are enforced
(an orphan row is refused), and a student has at most one open case of a process (a partial
unique index the engine and the sweep's set-based openings both answer cleanly)."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from models import Case, CaseHistory
from workflow.cases.bulk import SystemOpen, _insert_open_cases, create_cases_system
from workflow.errors import Conflict

DAY = dt.date(2026, 10, 12)


def _open_row(student, process="absence") -> dict:
    return {"process": process, "state": "reported", "version": 1, "student_id": student.id,
            "school_id": student.school_id, "is_open": True, "data": {}, "opened_on": DAY}


def test_foreign_keys_are_enforced_an_orphan_row_is_refused(session, db):
    if db.engine.dialect.name == "sqlite":
        assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
    with pytest.raises(IntegrityError):
        with session.begin_nested():
            session.add(CaseHistory(case_id=999_999, transition="create", to_state="reported", role="system",
                                    effective_date=DAY, data={}))
    assert session.scalar(select(func.count()).select_from(CaseHistory)) == 0


def test_every_new_connection_enforces_foreign_keys(db):
    """Not only the first one: the pool opens more under load."""
    with db.engine.connect() as a, db.engine.connect() as b:
        for conn in (a, b):
            with pytest.raises(IntegrityError):
                conn.execute(text("INSERT INTO students (name, gender, birth_date, school_id, status) "
                                  "VALUES ('孤儿行', 'M', '2016-05-01', 999999, 'active')"))
            conn.rollback()


def test_a_second_open_case_of_one_process_is_refused_by_the_database(session, world, factory):
    student = factory.student(world.klass, world.village)
    session.execute(Case.__table__.insert(), [_open_row(student)])
    with pytest.raises(IntegrityError):
        with session.begin_nested():
            session.execute(Case.__table__.insert(), [_open_row(student)])
    # closed ones are free, and another process of the same child too
    session.execute(Case.__table__.insert(), [{**_open_row(student), "state": "returned", "is_open": False}] * 2)
    session.execute(Case.__table__.insert(), [_open_row(student, "recovery")])
    assert session.scalar(select(func.count()).select_from(Case)) == 4


def test_bulk_insert_skips_a_child_who_has_an_open_case_by_now(session, world, factory):
    """What the sweep's INSERT does when a teacher's case appeared after its read: no duplicate,
    no failed statement; the other children's cases are opened."""
    taken, free = factory.student(world.klass, world.village), factory.student(world.klass, world.village)
    session.execute(Case.__table__.insert(), [_open_row(taken)])
    inserted = _insert_open_cases(session, [_open_row(taken), _open_row(free)])
    assert list(inserted) == [free.id]
    assert session.scalar(select(func.count()).select_from(Case).where(Case.student_id == taken.id)) == 1


def test_bulk_opening_skips_with_existing_ok_and_refuses_whole_without(session, world, factory):
    taken, free = factory.student(world.klass, world.village), factory.student(world.klass, world.village)
    session.execute(Case.__table__.insert(), [_open_row(taken)])
    opens = [SystemOpen(student_id=s.id, data={"reason": "旷课"}, effective_date=DAY) for s in (taken, free)]
    with pytest.raises(Conflict) as err:
        create_cases_system(session, "absence", opens)
    assert err.value.code == "duplicate"
    assert session.scalar(select(func.count()).select_from(Case)) == 1  # nothing written
    made = create_cases_system(session, "absence", opens, existing_ok=True)
    assert made[0] is None and made[1].student_id == free.id
    assert session.scalar(select(func.count()).select_from(CaseHistory).where(
        CaseHistory.case_id == made[1].id)) == 1

