"""How many SQL statements the hot requests send (issue 16): counted, never timed.

Counting rule (the one docs/performance.md uses): the statements SQLAlchemy sends
(`tests/sqlcount.py:count_statements`: every SELECT, UPDATE, INSERT, DELETE), plus one `BEGIN`
for the transaction (psycopg sends it before the first statement, SQLite's driver before the
first write; SQLAlchemy's events do not see it), plus one `COMMIT` per commit. A pool checkout
costs nothing more as long as `pool_pre_ping` is off (the default, asserted below); with it, each
checkout would add a `SELECT 1` round trip. So an approval is at most 6: BEGIN, the token with
the user and their roles, the case in scope (with its school, student and the
separation-of-duties row), the version-checked UPDATE, the history INSERT, COMMIT.
"""
from __future__ import annotations

import datetime as dt

import pytest

from models import Case, Document, Visit
from tests.sqlcount import count_statements
from workflow import clock
from workflow.access.scope import scope_for
from workflow.cases import engine

TODAY = clock.today()
SUSPENSION = {"start": TODAY.isoformat(), "end": (TODAY + dt.timedelta(days=120)).isoformat(), "reason": "住院治疗"}
DRIVER_BEGIN = 1  # the transaction's BEGIN, sent by the driver, not seen by SQLAlchemy's events


def _draft(session, factory, world) -> Case:
    """A suspension draft with the evidence `submit` needs (in-person visit, grounds document)."""
    teacher = world["teacher"]
    student = factory.student(world.klass, world.village)
    session.commit()
    case = engine.create_case(session, scope_for(session, teacher), teacher, "suspension", student.id,
                              dict(SUSPENSION), today=TODAY)
    session.add(Visit(case_id=case.id, date=TODAY, kind="in_person_at_school", guardian_present=True))
    session.add(Document(case_id=case.id, kind="suspension_grounds", original_name="证明.pdf",
                         stored_name=f"aa/{case.id}.pdf", content_type="application/pdf", size=1, sha256="0" * 64))
    session.commit()
    return case


def _submitted(session, factory, world) -> Case:
    case = _draft(session, factory, world)
    teacher = world["teacher"]
    engine.fire(session, scope_for(session, teacher), teacher, case.id, "submit", version=case.version, today=TODAY)
    session.commit()
    return case


def _ready(session, case, step) -> tuple[str, int]:
    """The path and version to send, read and committed before counting starts (the test's own
    session must send nothing inside the counted block)."""
    out = f"/cases/{case.id}/transitions/{step}", case.version
    session.commit()
    return out


def _round_trips(sql) -> int:
    return len(sql.statements) + DRIVER_BEGIN + sql.commits


def test_pool_pre_ping_is_off_by_default(db):
    # the count below assumes it: with pre-ping every request would pay one more round trip
    assert db.engine.pool._pre_ping is False


def test_approval_with_a_bearer_token_is_at_most_six_statements(api, world, factory, session, db):
    case = _submitted(session, factory, world)
    client = api.as_user(world["office"])
    path, version = _ready(session, case, "office_approve")
    with count_statements(db.engine) as sql:
        r = client.post(path, json={"version": version})
    assert r.status_code == 200, r.json
    assert r.json["state"] == "office_approved"
    assert len(sql.matching("UPDATE cases")) == 1, sql.listing()
    assert len(sql.matching("INSERT INTO case_history")) == 1, sql.listing()
    assert sql.commits == 1 and sql.checkouts == 1, (sql.commits, sql.checkouts)
    assert _round_trips(sql) <= 6, sql.listing()
    # nothing after the commit (the access log used to reload the token's user on a new connection)
    assert sql.statements[-1].upper().startswith("INSERT INTO CASE_HISTORY"), sql.listing()


def test_refused_approval_by_the_submitter_reads_no_more_than_an_allowed_one(api, world, factory, session, db):
    """Separation of duties is decided from the case's one read (no history query): the
    submitter's approval is refused (403) with nothing written."""
    case = _submitted(session, factory, world)
    client = api.as_user(world["teacher"])
    path, version = _ready(session, case, "office_approve")
    with count_statements(db.engine) as sql:
        r = client.post(path, json={"version": version})
    assert r.status_code == 403, r.json
    assert not sql.matching("UPDATE") and not sql.matching("INSERT"), sql.listing()
    # the token (with the class's school: no scope query) and the case
    assert len(sql.statements) <= 2, sql.listing()


@pytest.mark.parametrize("step", ["submit", "center_file"])
def test_other_steps_stay_small(api, world, factory, session, db, step):
    """submit (the guards as existence checks) and center_file (a center role: one scope query;
    its effect closes the enrolment and suspends the student)."""
    case = _draft(session, factory, world)
    if step == "center_file":
        for who, name in (("teacher", "submit"), ("office", "office_approve"), ("principal", "principal_approve")):
            user = world[who]
            case = engine.fire(session, scope_for(session, user), user, case.id, name, version=case.version,
                               today=TODAY)
            session.commit()
    who = "teacher" if step == "submit" else "center_office"
    client = api.as_user(world[who])
    path, version = _ready(session, case, step)
    with count_statements(db.engine) as sql:
        r = client.post(path, json={"version": version})
    assert r.status_code == 200, r.json
    assert len(sql.matching("INSERT INTO case_history")) == 1, sql.listing()
    # submit: BEGIN, token (a class role's scope needs no query), case, the two guards' EXISTS,
    # UPDATE, INSERT, COMMIT; center_file: BEGIN, token, the center's schools (scope), case,
    # UPDATE, the open enrolments, their UPDATE, the student's UPDATE, INSERT, COMMIT
    assert _round_trips(sql) <= (8 if step == "submit" else 10), sql.listing()


def test_queue_sends_the_same_statements_for_3_and_30_items(api, world, factory, session, db):
    counts = {}
    cases = []
    for size in (3, 30):
        while len(cases) < size:
            cases.append(_submitted(session, factory, world))
        client = api.as_user(world["office"])
        session.commit()
        with count_statements(db.engine) as sql:
            r = client.get("/queue?limit=500")
        assert r.status_code == 200
        assert r.json["total"] == size, r.json["total"]
        counts[size] = sql.statements
    assert len(counts[3]) == len(counts[30]), "\n\n".join(
        "\n".join(f"{i:2}. {s[:160]}" for i, s in enumerate(v, 1)) for v in counts.values())
