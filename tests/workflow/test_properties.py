"""Random users fire random transitions with random evidence; after every step the engine's
promises hold: states are declared ones, every successful fire left exactly one history row,
student status agrees with the cases, enrolment periods agree with the status, and nothing out
of a user's scope ever succeeded."""
from __future__ import annotations

import uuid
from decimal import Decimal

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from admin.extensions import db
from models import Case, CaseHistory, Document, Enrolment, Fee, Payment, Student, Visit
from tests.conftest import _empty_all_tables
from tests.factories import Factory, build_world
from workflow.access.scope import can_see, scope_for
from workflow.cases import engine, guards
from workflow.cases.guards import DOCUMENT_NAMES
from workflow.errors import DomainError, NotFound
from workflow.processes import REGISTRY

from .conftest import COMMENT, PROCESSES, TODAY, create_data, new_student_data

ACTORS = ("teacher", "office", "office2", "principal", "center_office", "center_head")
OUTSIDERS = ("team", "subject", "admin", "supervisor", "liaison", "other_office", "other_teacher",
             "other_principal", "other_center_head")
# mostly people who act on cases, sometimes anyone
USERS = st.one_of(st.sampled_from(ACTORS), st.sampled_from(ACTORS), st.sampled_from(OUTSIDERS))
EVIDENCE = ("everything", "everything", "visit_in_person", "visit_phone", "fee_paid", "fee_unpaid",
            *DOCUMENT_NAMES)
PROVISIONAL_STATES = ("submitted", "paperwork_verified", "fees_settled")


class EngineMachine(RuleBasedStateMachine):
    # successful creates and fires over the whole run: the walk must reach beyond errors
    totals = {"created": 0, "fired": 0, "states": set()}

    def __init__(self):
        super().__init__()
        _empty_all_tables()
        self.s = db.session
        f = Factory(self.s)
        self.w = build_world(f)
        self.w.users["office2"] = f.user(None, "academic_office", school=self.w.branch)
        self.students = [f.student(self.w.klass, self.w.village) for _ in range(2)]
        self.students.append(f.student(self.w.klass2, self.w.village, disability=True))
        for status in ("dropped_out", "dropped_out", "transferred_out"):
            gone = f.student(self.w.klass, self.w.village)
            gone.status = status
            for p in gone.enrolments:
                p.end_date, p.end_reason = TODAY, status
            self.students.append(gone)
        # self.students: 3 in school (one flagged), 3 gone (class kept), 1 of the other center
        self.students.append(f.student(self.w.other_class, self.w.other_village))
        self.s.commit()
        self.case_ids: list[int] = []
        self.fires: dict[int, int] = {}

    def _user(self, key):
        return self.w[key]

    @precondition(lambda self: len(self.case_ids) < 6)  # few cases, walked deep
    @rule(process=st.sampled_from(PROCESSES), who=USERS,
          which=st.integers(min_value=-1, max_value=6))
    def create(self, process, who, which):
        user = self._user(who)
        student = self.students[which] if which >= 0 else None
        data = create_data(self.w, process)
        if process == "transfer_in" and student is not None:
            data = {"origin_school": "外县小学", "class_id": self.w.klass.id}
        elif process == "transfer_in":
            data = {**data, "student": new_student_data(name=f"新生{uuid.uuid4().hex[:4]}")}
        visible = student is None or can_see(self.s, scope_for(self.s, user), Student, student.id)
        try:
            case = engine.create_case(self.s, scope_for(self.s, user), user, process,
                                      student.id if student is not None else None, data, today=TODAY)
        except DomainError:
            self.s.rollback()
            return
        self.s.commit()
        assert visible or process == "transfer_in"
        self.case_ids.append(case.id)
        self.fires[case.id] = 0
        EngineMachine.totals["created"] += 1

    @precondition(lambda self: self.case_ids)
    @rule(data=st.data(), kind=st.sampled_from(EVIDENCE))
    def add_evidence(self, data, kind):
        case_id = data.draw(st.sampled_from(self.case_ids))
        for one in (("visit_in_person", "fee_paid", *DOCUMENT_NAMES) if kind == "everything" else (kind,)):
            self._add(case_id, one)
        self.s.commit()

    def add_evidence_now(self, case_id):
        for kind in ("visit_in_person", "fee_paid", *DOCUMENT_NAMES):
            self._add(case_id, kind)
        self.s.commit()

    def _add(self, case_id, kind):
        if kind.startswith("visit_"):
            self.s.add(Visit(case_id=case_id, date=TODAY, guardian_present=True,
                             kind="in_person_at_school" if kind == "visit_in_person" else "phone"))
        elif kind.startswith("fee_"):
            fee = Fee(case_id=case_id, item="书本费", amount_due=Decimal("50.00"))
            self.s.add(fee)
            self.s.flush()
            if kind == "fee_paid":
                self.s.add(Payment(case_id=case_id, fee_id=fee.id, amount=Decimal("50.00"), receipt_no="R"))
        else:
            self.s.add(Document(case_id=case_id, kind=kind, original_name="a.pdf", stored_name=uuid.uuid4().hex,
                                content_type="application/pdf", size=1, sha256="0" * 64))

    @precondition(lambda self: self.case_ids)
    @rule(data=st.data(), who=USERS,
          klass=st.sampled_from(("klass", "klass2")), end=st.sampled_from(("2027-06-30", "2027-02-01")),
          with_comment=st.booleans(), stale=st.integers(0, 9).map(lambda n: n == 0))
    def fire(self, data, who, klass, end, with_comment, stale):
        """Anyone fires anything, with or without evidence, sometimes with an old version."""
        case_id = data.draw(st.sampled_from(self.case_ids))
        case = self.s.get(Case, case_id)
        proc = REGISTRY[case.process]
        names = [n for n in proc.transition_names if proc.applicable(n, case)]
        if not names or data.draw(st.integers(0, 3)) == 0:
            names = proc.transition_names  # sometimes anything, mostly what the state allows
        name = data.draw(st.sampled_from(names))
        if data.draw(st.booleans()):
            self.add_evidence_now(case_id)
        self._fire(case_id, name, who, klass, end, with_comment, stale)

    @precondition(lambda self: self.case_ids)
    @rule(data=st.data(), klass=st.sampled_from(("klass", "klass2")))
    def advance(self, data, klass):
        """Someone who may fire a transition now does so with all the evidence: walks go deep."""
        case_id = data.draw(st.sampled_from(self.case_ids))
        case = self.s.get(Case, case_id)
        options = []
        for key in ACTORS:
            user = self.w[key]
            scope = scope_for(self.s, user)
            if can_see(self.s, scope, Case, case_id):
                options += [(key, n) for n in engine.available_transitions(self.s, scope, user, case)[0]]
        forward = [o for o in options if o[1] not in ("withdraw", "send_back", "revoke")]
        if forward and data.draw(st.integers(0, 3)):
            options = forward  # mostly onwards, so that walks reach the filings
        if not options:
            return
        who, name = data.draw(st.sampled_from(sorted(options)))
        self.add_evidence_now(case_id)
        self._fire(case_id, name, who, klass, "2027-06-30", True, False)

    def _fire(self, case_id, name, who, klass, end, with_comment, stale):
        user = self._user(who)
        scope = scope_for(self.s, user)
        visible = can_see(self.s, scope, Case, case_id)
        case = self.s.get(Case, case_id)
        payload = {}
        if name in ("resume", "re_enroll", "change_class", "mark_returned", "submit") and case.process in (
                "suspension", "return", "transfer_in", "recovery"):
            if name != "submit" or case.process == "return":
                payload["class_id"] = getattr(self.w, klass).id
        if name == "mark_returned":
            payload["credited_user_ids"] = [self.w["teacher"].id]
        if name == "extend":
            payload["end"] = end
        version = case.version - 1 if stale else case.version
        try:
            engine.fire(self.s, scope, user, case_id, name, version=version, data=payload,
                        comment=COMMENT if with_comment else None, today=TODAY)
        except NotFound:
            self.s.rollback()
            return
        except DomainError:
            self.s.rollback()
            assert visible, "an out-of-scope case answered something other than 404"
            return
        self.s.commit()
        assert visible, "a transition succeeded on a case out of the user's scope"
        assert not stale, "a stale version was accepted"
        self.fires[case_id] += 1
        EngineMachine.totals["fired"] += 1
        EngineMachine.totals["states"].add((case.process, self.s.get(Case, case_id).state))

    @invariant()
    def states_and_history(self):
        for case in self.s.scalars(select(Case)):
            proc = REGISTRY[case.process]
            assert case.state in proc.states
            assert case.is_open == (case.state not in proc.final_states)
            by_users = self.s.scalar(select(func.count(CaseHistory.id)).where(
                CaseHistory.case_id == case.id, CaseHistory.role != "system"))
            assert by_users == 1 + self.fires[case.id]

    @invariant()
    def students_agree_with_cases(self):
        for student in self.s.scalars(select(Student)):
            cases = list(self.s.scalars(select(Case).where(Case.student_id == student.id)))
            suspended = any(c.process == "suspension" and (
                c.state == "suspended" or (c.is_open and (c.data or {}).get("extending"))) for c in cases)
            assert (student.status == "suspended") == suspended, (student.status, [
                (c.process, c.state) for c in cases])
            provisional = any(c.process == "return" and c.state in PROVISIONAL_STATES for c in cases)
            assert student.is_provisional == provisional
            open_periods = self.s.scalar(select(func.count(Enrolment.id)).where(
                Enrolment.student_id == student.id, Enrolment.end_date.is_(None)))
            assert open_periods == (1 if student.status == "active" else 0), (student.status, open_periods)
            if student.status == "active":
                assert student.class_id is not None
            open_by_process = {}
            for c in cases:
                if c.is_open:
                    open_by_process[c.process] = open_by_process.get(c.process, 0) + 1
            assert all(n == 1 for n in open_by_process.values())


def test_random_walks_keep_the_engines_promises(app, monkeypatch):
    # the walk's fees are not what it explores: every fee counts as listed (一费制, tests/workflow/test_support.py)
    monkeypatch.setattr(guards, "unlisted_fees", lambda *_args: [])
    run_state_machine_as_test(EngineMachine, settings=settings(
        max_examples=40, stateful_step_count=50, deadline=None, derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
    totals = EngineMachine.totals
    assert totals["created"] > 10 and totals["fired"] > 10
    # the walks reached the states where students change status
    assert {("suspension", "suspended"), ("return", "submitted"), ("transfer_out", "transferred")} <= totals["states"]
