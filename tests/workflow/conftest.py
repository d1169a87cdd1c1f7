"""Helpers for the workflow tests: fire as a user the way a request would (commit on success,
roll back on error), add evidence rows directly, and bring a case of any process to any state
along a path computed from the process definition, with all the evidence it needs."""
from __future__ import annotations

import datetime as dt
import uuid
from collections import deque
from decimal import Decimal

import pytest

from models import Document, Enrolment, Fee, Payment, Visit
from workflow.access.scope import can_see, scope_for
from workflow.cases import engine
from workflow.cases.guards import DOCUMENT_NAMES
from workflow.processes import REGISTRY

TODAY = dt.date(2026, 10, 12)
# the status-change processes these tests cover (absence has its own tests: the sweep drives it)
PROCESSES = ("suspension", "transfer_out", "return", "transfer_in", "recovery", "special_exclusion")
COMMENT = "家长说明了情况"
# which World user acts in a role (the case's student is in world.klass of world.branch)
ROLE_USER = {"homeroom_teacher": "teacher", "academic_office": "office", "principal": "principal",
             "center_office": "center_office", "center_head": "center_head"}
OTHER_USER = {"homeroom_teacher": "other_teacher", "academic_office": "other_office",
              "principal": "other_principal", "center_office": "other_center_head",
              "center_head": "other_center_head"}
CREATOR = {"suspension": "teacher", "transfer_out": "teacher", "return": "teacher",
           "transfer_in": "office", "recovery": "office", "special_exclusion": "teacher"}


def new_student_data(**kw) -> dict:
    data = {"name": "新同学", "gender": "F", "birth_date": "2017-03-04",
            "guardians": [{"name": "王母", "relation": "母亲", "phone": "13900000000"}]}
    data.update(kw)
    return data


def create_data(world, process: str) -> dict:
    return {
        "suspension": {"start": "2026-10-15", "end": "2027-03-01", "reason": "住院治疗"},
        "transfer_out": {"destination_school": "县城实验小学", "destination_region": "县城"},
        "return": {"class_id": world.klass.id},
        "transfer_in": {"origin_school": "外县小学", "class_id": world.klass.id,
                        "student": new_student_data()},
        "recovery": {"reason_category": "厌学"},
        "special_exclusion": {"reason": "智力残疾"},
        "roll_verification": {"class_id": world.klass.id},
        "dropout_check": {"source": "manual", "note": "国家平台比对名单"},
    }[process]


def transition_data(world, process: str, name: str) -> dict:
    return {
        ("suspension", "extend"): {"end": "2027-06-30"},
        ("suspension", "resume"): {"class_id": world.klass.id},
        ("return", "submit"): {"class_id": world.klass.id},
        ("return", "re_enroll"): {"class_id": world.klass.id},
        ("transfer_in", "change_class"): {"class_id": world.klass.id},
        ("recovery", "mark_returned"): {"class_id": world.klass.id,
                                        "credited_user_ids": [world["teacher"].id]},
    }.get((process, name), {})


def paths(process: str) -> dict[str, list[str]]:
    """Shortest transition path from the initial state to every state (extension rounds and
    self-loops aside: they have their own tests)."""
    proc = REGISTRY[process]
    found = {proc.initial: []}
    todo = deque([proc.initial])
    while todo:
        state = todo.popleft()
        for t in proc.transitions:
            if t.when is None and state in t.sources and t.dest not in found:
                found[t.dest] = found[state] + [t.name]
                todo.append(t.dest)
    return found


class Flow:
    """Drives the engine as users of the World do."""

    def __init__(self, session, factory, world):
        self.s, self.f, self.w = session, factory, world

    # --- students and evidence ----------------------------------------------------------------

    def student(self, status: str = "active", klass=None, **kw):
        klass = klass or self.w.klass
        st = self.f.student(klass, self.w.village, **kw)
        if status != "active":
            for p in st.enrolments:
                p.end_date, p.end_reason = dt.date(2026, 9, 30), status
            st.status = status
            if status == "transferred_out":
                st.class_id = None
        self.s.commit()
        return st

    def doc(self, case, kind: str, uploaded_at: dt.datetime | None = None):
        d = Document(case_id=case.id, kind=kind, original_name="a.pdf", stored_name=uuid.uuid4().hex,
                     content_type="application/pdf", size=1, sha256="0" * 64)
        if uploaded_at is not None:
            d.uploaded_at = uploaded_at
        self.s.add(d)
        self.s.commit()
        return d

    def visit(self, case, kind: str = "in_person_at_school", guardian_present: bool = True):
        v = Visit(case_id=case.id, kind=kind, guardian_present=guardian_present, date=TODAY)
        self.s.add(v)
        self.s.commit()
        return v

    def fee(self, case, due: str, paid: str | None = None):
        fee = Fee(case_id=case.id, item="课本费", amount_due=Decimal(due))
        self.s.add(fee)
        self.s.flush()
        if paid is not None:
            self.s.add(Payment(case_id=case.id, fee_id=fee.id, amount=Decimal(paid), receipt_no="R1"))
        self.s.commit()
        return fee

    def pay(self, case, fee, amount: str):
        self.s.add(Payment(case_id=case.id, fee_id=fee.id, amount=Decimal(amount), receipt_no="R2"))
        self.s.commit()

    def all_evidence(self, case):
        self.visit(case)
        for kind in DOCUMENT_NAMES:
            self.doc(case, kind)

    # --- engine calls -------------------------------------------------------------------------

    def user(self, key_or_user):
        return self.w[key_or_user] if isinstance(key_or_user, str) else key_or_user

    def create(self, who, process: str, student=None, data: dict | None = None):
        user = self.user(who)
        try:
            case = engine.create_case(self.s, scope_for(self.s, user), user, process,
                                      student.id if student is not None else None,
                                      create_data(self.w, process) if data is None else data, today=TODAY)
        except Exception:
            self.s.rollback()
            raise
        self.s.commit()
        return case

    def fire(self, who, case, name: str, data: dict | None = None, comment: str | None = None,
             version: int | None = None, today: dt.date = TODAY):
        user = self.user(who)
        proc = REGISTRY[case.process]
        if data is None:
            data = transition_data(self.w, case.process, name)
        if comment is None and proc.named(name) and proc.named(name)[0].needs_comment:
            comment = COMMENT
        try:
            out = engine.fire(self.s, scope_for(self.s, user), user, case.id, name,
                              version=case.version if version is None else version, data=data,
                              comment=comment, today=today)
        except Exception:
            self.s.rollback()
            raise
        self.s.commit()
        return out

    def available(self, who, case):
        user = self.user(who)
        return engine.available_transitions(self.s, scope_for(self.s, user), user, case)

    def sees(self, who, case) -> bool:
        user = self.user(who)
        return can_see(self.s, scope_for(self.s, user), type(case), case.id)

    def actor(self, case, roles) -> str | None:
        """A World user holding one of `roles` for the case, who can see it; the submitter's
        office colleague is not needed because the World's submitter is the teacher."""
        for role in roles:
            key = ROLE_USER[role]
            if self.sees(key, case) and role in engine.case_roles(scope_for(self.s, self.w[key]), case):
                return key
        return None

    def student_for(self, process: str):
        if process in ("return", "recovery"):
            return self.student("dropped_out")
        if process == "transfer_in":
            return None
        return self.student("active", disability=(process == "special_exclusion"))

    def bring(self, process: str, state: str, student=None):
        """A case of `process` in `state`, reached with all evidence by the World's users."""
        student = student if student is not None else self.student_for(process)
        case = self.create(CREATOR[process], process, student)
        for name in paths(process)[state]:
            self.all_evidence(case)
            t = REGISTRY[process].applicable(name, case)
            self.fire(self.actor(case, t.roles), case, name)
        return case

    def periods(self, student) -> list[Enrolment]:
        self.s.expire_all()
        return sorted(student.enrolments, key=lambda p: p.id)


@pytest.fixture
def flow(session, factory, world):
    return Flow(session, factory, world)
