"""Demo cases (issue 3 item 7): after `demo-data` every state of every registered process has a
case, reached by real transitions with real evidence, and the demo accounts find work."""
from __future__ import annotations

import hashlib
import os

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from models import Case, Document, Student, User
from workflow import clock
from workflow.access.scope import scope_for
from workflow.cases.evidence import document_path
from workflow.cases.queue import build_queue
from workflow.processes import REGISTRY


@pytest.fixture(scope="module")
def demo(app, module_session):
    """The township built by the CLI command, as an operator would load it; once for the module."""
    result = app.test_cli_runner().invoke(args=["demo-data", "--seed", "5"])
    assert result.exit_code == 0, result.output
    assert "个案件" in result.output
    module_session.expire_all()
    return module_session.scalars(select(Case).options(selectinload(Case.history))).all()


@pytest.fixture(autouse=True)
def _ctx(read_only):
    """Replaces the conftest's emptying after each test: the tests only read the demo."""
    yield


def test_every_state_of_every_registered_process_has_a_case(demo):
    have = {(c.process, c.state) for c in demo}
    missing = [(p, s) for p, proc in REGISTRY.items() for s in proc.states if (p, s) not in have]
    assert not missing


def test_every_case_history_is_a_chain_from_create_to_its_state(demo):
    for case in demo:
        rows = case.history
        assert rows[0].transition == "create" and rows[0].from_state is None, case.id
        assert rows[0].to_state == REGISTRY[case.process].initial
        for before, row in zip(rows, rows[1:], strict=False):
            assert row.from_state == before.to_state, (case.id, row.transition)
        assert rows[-1].to_state == case.state, case.id
        assert case.is_open == (case.state not in REGISTRY[case.process].final_states)


def test_steps_are_taken_by_people_on_dates_spread_over_past_weeks(demo, session):
    today = clock.today()
    rows = [r for c in demo for r in c.history]
    assert all(r.effective_date <= today for r in rows)
    assert len({r.effective_date for r in rows}) >= 15
    assert (today - min(r.effective_date for r in rows)).days >= 21
    approvals = [r for r in rows if r.transition in ("office_approve", "principal_approve", "center_file")]
    assert approvals and all(r.user_id is not None for r in approvals)
    roles = {r.transition: r.role for r in approvals}
    assert roles["office_approve"] == "academic_office" and roles["principal_approve"] == "principal"


def test_documents_are_real_files_under_the_upload_dir(app, demo, session):
    docs = session.scalars(select(Document)).all()
    assert len(docs) >= 10
    for doc in docs:
        path = document_path(app.config["UPLOAD_DIR"], doc)
        with open(path, "rb") as fh:
            content = fh.read()
        assert content.startswith(b"%PDF-") and content.rstrip().endswith(b"%%EOF")
        assert hashlib.sha256(content).hexdigest() == doc.sha256 and len(content) == doc.size
        assert os.path.dirname(path).startswith(os.path.realpath(app.config["UPLOAD_DIR"]))


def test_students_status_follows_their_cases(demo, session):
    by_state = {(c.process, c.state): c for c in demo}
    assert session.get(Student, by_state[("suspension", "resumed")].student_id).status == "active"
    assert session.get(Student, by_state[("transfer_out", "transferred")].student_id).status == "transferred_out"
    assert session.get(Student, by_state[("transfer_in", "enrolled")].student_id).status == "active"
    assert session.get(Student, by_state[("transfer_in", "submitted")].student_id).status == "incoming"
    suspended = [c for c in demo if c.process == "suspension" and c.state == "suspended"]
    assert all(session.get(Student, c.student_id).status == "suspended" for c in suspended)


def test_demo_accounts_find_work_in_their_queues(demo, session):
    users = {u.username: u for u in session.scalars(select(User))}
    today = clock.today()
    queues = {name: build_queue(session, scope_for(session, users[name]), users[name], today=today)
              for name in ("teacher1", "office1", "principal1", "center_office")}
    assert all(queues.values()), {k: len(v) for k, v in queues.items()}
    # the suspension nobody resumed after its end date is the office's most urgent case
    first = queues["office1"][0]
    assert (first["process"], first["state"], first["overdue"]) == ("suspension", "suspended", True)
    assert any("submit" in i["actions"] for i in queues["teacher1"])
    assert any("office_approve" in i["actions"] for i in queues["office1"])
    assert any("principal_approve" in i["actions"] for i in queues["principal1"])
    assert any("center_file" in i["actions"] for i in queues["center_office"])
