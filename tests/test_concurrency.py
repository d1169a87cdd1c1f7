"""No approval is lost or applied twice (SPEC "Must hold under faults"): two approvers who send
the same step at the same moment, from two threads or two OS processes, get exactly one 200 and
one 409 `stale_version`, and the history has exactly one row for the step."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Case, CaseHistory, Document, Visit
from workflow import clock
from workflow.access.accounts import issue_token
from workflow.access.scope import scope_for
from workflow.cases import engine
from workflow.errors import Conflict

ROOT = Path(__file__).resolve().parent.parent
TODAY = clock.today()
SUSPENSION = {"start": TODAY.isoformat(), "end": (TODAY + dt.timedelta(days=120)).isoformat(), "reason": "住院治疗"}

postgres_only = pytest.mark.skipif(
    not (os.environ.get("TEST_DATABASE_URL") or "").startswith("postgresql"),
    reason="concurrent writers need a server database: set TEST_DATABASE_URL to PostgreSQL")


@pytest.fixture
def office2(world, factory, session):
    user = factory.user("office2", "academic_office", school=world.branch, name="第二教务员")
    session.commit()
    return user


@pytest.fixture
def submitted_case(world, factory, session):
    """A suspension the homeroom teacher has submitted: waiting for the academic office."""
    teacher = world["teacher"]
    student = factory.student(world.klass, world.village)
    session.commit()
    case = engine.create_case(session, scope_for(session, teacher), teacher, "suspension", student.id,
                              SUSPENSION, today=TODAY)
    session.add(Visit(case_id=case.id, date=TODAY, kind="in_person_at_school", guardian_present=True))
    session.add(Document(case_id=case.id, kind="suspension_grounds", original_name="证明.pdf",
                         stored_name=f"aa/{case.id}.pdf", content_type="application/pdf", size=1, sha256="0" * 64))
    session.flush()
    engine.fire(session, scope_for(session, teacher), teacher, case.id, "submit", version=case.version,
                today=TODAY)
    session.commit()
    return case


def approvals(session, case_id) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(CaseHistory).where(
        CaseHistory.case_id == case_id, CaseHistory.transition == "office_approve"))


def tokens(session, *users) -> list[str]:
    out = [issue_token(session, u)[0] for u in users]
    session.commit()
    return out


# --- on every database -------------------------------------------------------------------------


def test_old_version_is_409_stale_version_and_nothing_is_written(api, world, submitted_case, session):
    old = submitted_case.version - 1
    rows = session.scalar(select(func.count()).select_from(CaseHistory))
    r = api.as_user(world["office"]).post(f"/cases/{submitted_case.id}/transitions/office_approve",
                                          json={"version": old})
    assert r.status_code == 409 and r.json["error"]["code"] == "stale_version"
    session.expire_all()
    assert session.get(Case, submitted_case.id).state == "submitted"
    assert session.scalar(select(func.count()).select_from(CaseHistory)) == rows


def test_writer_who_read_before_another_committed_is_refused_by_the_version(
        app, world, office2, submitted_case, session, db):
    """Both sessions read version v; the second one's UPDATE ... WHERE version = v finds nothing."""
    first, second = Session(db.engine), Session(db.engine)
    try:
        for s in (first, second):
            s.get(Case, submitted_case.id)  # each holds the case at the same version
        version = submitted_case.version
        o1, o2 = first.get(type(world["office"]), world["office"].id), second.get(type(office2), office2.id)
        engine.fire(first, scope_for(first, o1), o1, submitted_case.id, "office_approve", version=version,
                    today=TODAY)
        first.commit()
        with pytest.raises(Conflict) as err:
            engine.fire(second, scope_for(second, o2), o2, submitted_case.id, "office_approve", version=version,
                        today=TODAY)
        assert err.value.code == "stale_version"
        second.rollback()
    finally:
        first.close()
        second.close()
    assert approvals(session, submitted_case.id) == 1
    assert session.get(Case, submitted_case.id).state == "office_approved"


# --- PostgreSQL: real concurrent writers -------------------------------------------------------


@postgres_only
def test_two_threads_approving_at_once_one_wins_one_gets_stale_version(
        app, world, office2, submitted_case, session):
    case_id, version = submitted_case.id, submitted_case.version
    plain = tokens(session, world["office"], office2)
    barrier = threading.Barrier(2, timeout=60)
    results: list[tuple[int, dict]] = []
    errors: list[BaseException] = []

    def approve(token: str):
        try:
            with app.app_context():
                client = app.test_client()
                barrier.wait()
                r = client.post(f"/api/v1/cases/{case_id}/transitions/office_approve", json={"version": version},
                                headers={"Authorization": f"Bearer {token}"})
                results.append((r.status_code, r.get_json()))
        except BaseException as exc:  # reported below: a thread's assertion is not the test's
            errors.append(exc)

    threads = [threading.Thread(target=approve, args=(t,)) for t in plain]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert sorted(code for code, _ in results) == [200, 409], results
    conflict = next(body for code, body in results if code == 409)
    assert conflict["error"]["code"] == "stale_version"
    assert approvals(session, case_id) == 1
    case = session.get(Case, case_id)
    assert (case.state, case.version) == ("office_approved", version + 1)


WORKER = textwrap.dedent("""
    import json, sys
    from admin.app import create_app

    url, upload_dir, token, path, version = sys.argv[1:6]
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "UPLOAD_DIR": upload_dir})
    client = app.test_client()
    print("ready", flush=True)
    sys.stdin.readline()  # the go signal: both workers are loaded and waiting
    r = client.post(path, json={"version": int(version)}, headers={"Authorization": "Bearer " + token})
    print(json.dumps({"status": r.status_code, "body": r.get_json()}), flush=True)
""")


@postgres_only
def test_two_processes_approving_at_once_exactly_one_succeeds(
        app, world, office2, submitted_case, session, database_url, tmp_path):
    case_id, version = submitted_case.id, submitted_case.version
    plain = tokens(session, world["office"], office2)
    path = f"/api/v1/cases/{case_id}/transitions/office_approve"
    workers = [subprocess.Popen(
        [sys.executable, "-c", WORKER, database_url, str(tmp_path), token, path, str(version)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)}) for token in plain]
    try:
        for w in workers:
            line = w.stdout.readline()
            assert line.strip() == "ready", w.stderr.read()
        for w in workers:
            w.stdin.write("go\n")
            w.stdin.flush()
        outputs = []
        for w in workers:
            out, err = w.communicate(timeout=120)
            assert w.returncode == 0, err
            outputs.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    assert sorted(o["status"] for o in outputs) == [200, 409], outputs
    assert next(o for o in outputs if o["status"] == 409)["body"]["error"]["code"] == "stale_version"
    assert approvals(session, case_id) == 1
    assert session.get(Case, case_id).state == "office_approved"


# --- one open case per child and process (SPEC §3), enforced by the database -------------------


def open_cases(session, student_id: int, process: str) -> list[int]:
    session.expire_all()
    return list(session.scalars(select(Case.id).where(
        Case.student_id == student_id, Case.process == process, Case.is_open.is_(True))))


def test_index_refuses_a_second_open_case_the_engine_did_not_see_coming(world, factory, session):
    """Two sessions both check, neither sees the other's case, both insert: the second INSERT is
    refused by the database (here: the first has committed) and the engine answers `duplicate`,
    naming the winner; the loser's other writes before the insert are kept (its savepoint only)."""
    teacher = world["teacher"]
    student = factory.student(world.klass, world.village)
    session.commit()
    winner = engine.create_case(session, scope_for(session, teacher), teacher, "suspension", student.id,
                                SUSPENSION, today=TODAY)
    session.commit()
    real_check, calls = engine._open_case_of, []

    def check_before_the_winner_committed(*args):
        calls.append(args)
        return None if len(calls) == 1 else real_check(*args)  # the lookup after the refusal is real

    try:
        engine._open_case_of = check_before_the_winner_committed
        student.name = "改过的名字"  # an earlier write of the same request
        with pytest.raises(Conflict) as err:
            engine.create_case(session, scope_for(session, teacher), teacher, "suspension", student.id,
                               SUSPENSION, today=TODAY)
    finally:
        engine._open_case_of = real_check
    assert err.value.code == "duplicate"
    assert err.value.details == {"case_id": winner.id}
    assert student.name == "改过的名字"
    session.commit()
    assert open_cases(session, student.id, "suspension") == [winner.id]
    assert session.get(type(student), student.id).name == "改过的名字"


def test_closed_cases_do_not_count_and_class_cases_are_not_covered(world, factory, session):
    """The index covers open cases with a student only: a closed case of the process, or any
    number of them, does not stop a new one."""
    student = factory.student(world.klass, world.village)
    session.commit()
    for _ in range(2):
        session.add(Case(process="suspension", state="withdrawn", version=1, student_id=student.id,
                         school_id=student.school_id, is_open=False, opened_on=TODAY))
    session.flush()
    teacher = world["teacher"]
    case = engine.create_case(session, scope_for(session, teacher), teacher, "suspension", student.id,
                              SUSPENSION, today=TODAY)
    session.commit()
    assert open_cases(session, student.id, "suspension") == [case.id]


def _parallel_creates(app, token: str, body: dict, n: int = 8) -> list[tuple[int, dict]]:
    barrier = threading.Barrier(n, timeout=60)
    results: list[tuple[int, dict]] = []
    errors: list[BaseException] = []

    def create():
        try:
            with app.app_context():
                client = app.test_client()
                barrier.wait()
                r = client.post("/api/v1/cases", json=body, headers={"Authorization": f"Bearer {token}"})
                results.append((r.status_code, r.get_json()))
        except BaseException as exc:  # reported below: a thread's assertion is not the test's
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    return results


@postgres_only
@pytest.mark.parametrize(("process", "data"), [
    ("suspension", SUSPENSION),
    ("absence", {"reason": "擅自离校"}),
])
def test_eight_parallel_creates_for_one_child_one_201_seven_409_duplicate(
        app, world, factory, session, process, data):
    student = factory.student(world.klass, world.village)
    session.commit()
    [token] = tokens(session, world["teacher"])
    results = _parallel_creates(app, token, {"process": process, "student_id": student.id, "data": data})
    codes = sorted(code for code, _ in results)
    assert codes == [201] + [409] * 7, results
    winner = next(body for code, body in results if code == 201)
    for code, body in results:
        if code == 409:
            assert body["error"]["code"] == "duplicate"
            assert "未结的同类案件" in body["error"]["message"]
    assert open_cases(session, student.id, process) == [winner["id"]]
    assert session.scalar(select(func.count()).select_from(CaseHistory).where(
        CaseHistory.transition == "create")) == 1  # the losers wrote no history row either


# --- issue 16: the case is read once, so a late writer sees one consistent case ----------------


@pytest.fixture
def approved_case(world, factory, session, submitted_case):
    """The suspension of `submitted_case` approved by the office and the principal: waiting for
    the center office's `center_file`, which suspends the student."""
    case = submitted_case
    for who, name in (("office", "office_approve"), ("principal", "principal_approve")):
        user = world[who]
        case = engine.fire(session, scope_for(session, user), user, case.id, name, version=case.version,
                           today=TODAY)
        session.commit()
    return case


def test_center_file_loser_who_read_before_the_winner_committed_answers_stale_version(
        app, world, factory, session, approved_case, monkeypatch):
    """Two center office users file the same suspension; the loser has read the case (version v,
    student still active) when the winner commits (version v + 1, student suspended). The loser
    must answer 409 `stale_version` from its version-checked UPDATE — not `guard_failed` from
    a second read that would pair its old case with the winner's suspended student — and write
    nothing. Deterministic: the loser's thread waits, right after its read, for the winner."""
    second = factory.user("center_office2", "center_office", school=world.center, name="第二教导主任")
    session.commit()
    case_id, version = approved_case.id, approved_case.version
    plain = tokens(session, world["center_office"], second)
    loser_read, winner_done = threading.Event(), threading.Event()
    real_read = engine.read_case

    def read_then_wait_for_the_winner(*args, **kwargs):
        read = real_read(*args, **kwargs)
        if threading.current_thread().name == "loser":
            loser_read.set()
            assert winner_done.wait(60), "the winner never finished"
        return read

    monkeypatch.setattr(engine, "read_case", read_then_wait_for_the_winner)
    results: dict[str, tuple[int, dict]] = {}
    errors: list[BaseException] = []

    def file(name: str, token: str):
        try:
            with app.app_context():
                if name == "winner":
                    assert loser_read.wait(60), "the loser never read the case"
                r = app.test_client().post(f"/api/v1/cases/{case_id}/transitions/center_file",
                                           json={"version": version}, headers={"Authorization": f"Bearer {token}"})
                results[name] = (r.status_code, r.get_json())
        except BaseException as exc:  # reported below: a thread's assertion is not the test's
            errors.append(exc)
        finally:
            if name == "winner":
                winner_done.set()

    threads = [threading.Thread(target=file, args=(name, token), name=name)
               for name, token in (("loser", plain[1]), ("winner", plain[0]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert results["winner"][0] == 200, results
    code, body = results["loser"]
    assert (code, body["error"]["code"]) == (409, "stale_version"), body
    session.expire_all()
    case = session.get(Case, case_id)
    assert (case.state, case.version) == ("suspended", version + 1)
    assert session.scalar(select(func.count()).select_from(CaseHistory).where(
        CaseHistory.case_id == case_id, CaseHistory.transition == "center_file")) == 1
