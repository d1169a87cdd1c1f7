"""The engine's rules common to every process (SPEC §3): the order of the checks, separation of
duties, optimistic locking, effective dates, history, what a user may fire now, opening cases,
and that a failure inside an effect leaves nothing behind."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text

from models import Case, CaseHistory, Student
from workflow.access.scope import scope_for
from workflow.cases import engine
from workflow.errors import Conflict, Forbidden, Invalid, NotFound
from workflow.org import enrolment
from workflow.processes import REGISTRY

from .conftest import TODAY, create_data

# --- order of the checks -------------------------------------------------------------------------


def test_out_of_scope_case_answers_404_before_anything_else(flow):
    case = flow.bring("suspension", "draft")
    with pytest.raises(NotFound) as err:
        flow.fire("other_office", case, "no_such_transition", data="not an object", version=999)
    assert err.value.code == "not_found"


def test_unknown_transition_answers_404_before_a_malformed_body(flow):
    case = flow.bring("suspension", "draft")
    with pytest.raises(NotFound) as err:
        flow.fire("teacher", case, "approve_everything", data="x")
    assert err.value.code == "unknown_transition"


@pytest.mark.parametrize("data,field", [
    ("not an object", "data"),
    ({"colour": "red"}, "data.colour"),
    ({"start": "2026-13-40"}, "data.start"),
    ({"start": 20261015}, "data.start"),
    ({"date": "2026-10-13"}, "data.date"),
])
def test_malformed_body_is_422_naming_the_field_before_the_role_check(flow, data, field):
    case = flow.bring("suspension", "draft")
    with pytest.raises(Invalid) as err:
        flow.fire("team", case, "submit", data=data)  # team member: would be 403
    assert err.value.details["field"] == field


def test_send_back_without_a_comment_is_422(flow):
    case = flow.bring("suspension", "submitted")
    with pytest.raises(Invalid) as err:
        flow.fire("office", case, "send_back", comment="  ")
    assert err.value.details["field"] == "comment"


def test_role_is_checked_before_separation_of_duties_and_version(flow):
    case = flow.bring("suspension", "submitted")
    with pytest.raises(Forbidden) as err:
        flow.fire("principal", case, "office_approve", version=case.version - 1)
    assert err.value.code == "role_forbidden"


def test_stale_version_comes_before_invalid_state_and_guards(flow):
    case = flow.bring("suspension", "draft")
    with pytest.raises(Conflict) as err:
        flow.fire("teacher", case, "extend", data={"end": "2027-06-30"}, version=case.version + 1)
    assert err.value.code == "stale_version"
    with pytest.raises(Conflict) as err:
        flow.fire("teacher", case, "submit", version=case.version + 1)  # no evidence: guards would fail
    assert err.value.code == "stale_version"


def test_invalid_state_comes_before_unmet_guards(flow):
    case = flow.bring("suspension", "draft")
    with pytest.raises(Conflict) as err:
        flow.fire("teacher", case, "extend", data={"end": "2027-06-30"})
    assert err.value.code == "invalid_state"


def test_guard_failed_lists_every_missing_thing(flow):
    case = flow.bring("suspension", "draft")
    with pytest.raises(Conflict) as err:
        flow.fire("teacher", case, "submit")
    assert err.value.code == "guard_failed"
    assert err.value.details["unmet"] == ["需要家长本人到校的记录（电话不算）",
                                          "需要上传休学依据"]
    assert "需要家长本人到校的记录（电话不算）" in err.value.message


def test_county_supervisor_and_admin_fire_nothing(flow):
    case = flow.bring("suspension", "approved")
    for key in ("admin", "supervisor"):
        with pytest.raises(Forbidden) as err:
            flow.fire(key, case, "center_file")
        assert err.value.code == "role_forbidden"
        assert flow.available(key, case) == ([], {})


# --- separation of duties -----------------------------------------------------------------------


@pytest.fixture
def office2(flow):
    user = flow.f.user("office2", "academic_office", school=flow.w.branch)
    flow.s.commit()
    return user


def test_submitter_cannot_office_approve_but_another_office_user_can(flow, office2):
    st = flow.student()
    case = flow.create("office", "suspension", st)
    flow.all_evidence(case)
    flow.fire("office", case, "submit")
    assert "office_approve" not in flow.available("office", case)[0]
    with pytest.raises(Forbidden) as err:
        flow.fire("office", case, "office_approve")
    assert err.value.code == "separation_of_duties"
    assert flow.fire(office2, case, "office_approve").state == "office_approved"


def test_after_send_back_and_resubmit_the_new_submitter_is_the_one_barred(flow, office2):
    st = flow.student()
    case = flow.create("office", "suspension", st)
    flow.all_evidence(case)
    flow.fire("office", case, "submit")
    flow.fire(office2, case, "send_back")
    flow.fire(office2, case, "submit")
    with pytest.raises(Forbidden):
        flow.fire(office2, case, "office_approve")
    assert flow.fire("office", case, "office_approve").state == "office_approved"


def test_submitter_may_do_the_later_approval_steps_and_processing_steps(flow, office2):
    # return: one office worker of a village school may do all the processing steps
    st = flow.student("dropped_out")
    case = flow.create("office", "return", st)
    flow.all_evidence(case)
    for name in ("submit", "verify_paperwork", "settle_fees", "re_enroll"):
        case = flow.fire("office", case, name)
    assert case.state == "re_enrolled"


def test_extender_cannot_approve_the_extension(flow, office2):
    case = flow.bring("suspension", "suspended")
    flow.doc(case, "suspension_grounds")
    flow.fire("office", case, "extend", data={"end": "2027-06-30"})
    with pytest.raises(Forbidden) as err:
        flow.fire("office", case, "office_approve")
    assert err.value.code == "separation_of_duties"
    flow.fire(office2, case, "office_approve")


# --- optimistic locking -------------------------------------------------------------------------


def test_old_version_is_rejected_as_stale(flow):
    case = flow.bring("suspension", "draft")
    flow.all_evidence(case)
    old = case.version
    flow.fire("teacher", case, "submit")
    with pytest.raises(Conflict) as err:
        flow.fire("office", case, "office_approve", version=old)
    assert err.value.code == "stale_version"


def test_a_concurrent_writer_is_caught_at_flush_as_stale(flow, db, session):
    case = flow.bring("suspension", "draft")
    flow.all_evidence(case)
    case_id, version = case.id, case.version
    session.scalar(select(Case).where(Case.id == case_id))  # loaded, version in memory
    session.commit()
    with db.engine.begin() as conn:  # another process approves something meanwhile
        conn.execute(text("UPDATE cases SET version = version + 1 WHERE id = :id"), {"id": case_id})
    user = flow.w["teacher"]
    with pytest.raises(Conflict) as err:
        engine.fire(session, scope_for(session, user), user, case_id, "submit", version=version, today=TODAY)
    assert err.value.code == "stale_version"
    session.rollback()
    assert session.get(Case, case_id).state == "draft"
    assert len(session.scalars(select(CaseHistory).where(CaseHistory.case_id == case_id)).all()) == 1


# --- effective date and history -----------------------------------------------------------------


def test_effective_date_defaults_to_today_and_may_be_earlier(flow, session):
    case = flow.bring("suspension", "draft")
    flow.all_evidence(case)
    flow.fire("teacher", case, "submit")
    flow.fire("office", case, "office_approve", data={"date": "2026-10-09"})
    rows = session.scalars(select(CaseHistory).where(CaseHistory.case_id == case.id)
                           .order_by(CaseHistory.id)).all()
    assert [(r.transition, r.effective_date) for r in rows] == [
        ("create", TODAY), ("submit", TODAY), ("office_approve", dt.date(2026, 10, 9))]


def test_effective_date_in_the_future_is_422_and_changes_nothing(flow):
    case = flow.bring("suspension", "draft")
    flow.all_evidence(case)
    with pytest.raises(Invalid) as err:
        flow.fire("teacher", case, "submit", data={"date": (TODAY + dt.timedelta(days=1)).isoformat()})
    assert err.value.details["field"] == "data.date"
    assert flow.s.get(Case, case.id).state == "draft"


def test_history_has_one_row_per_fire_with_user_role_and_comment(flow, session):
    case = flow.bring("suspension", "draft")
    flow.all_evidence(case)
    flow.fire("teacher", case, "submit")
    flow.fire("office", case, "send_back", comment="请补充医院证明")
    rows = session.scalars(select(CaseHistory).where(CaseHistory.case_id == case.id)
                           .order_by(CaseHistory.id)).all()
    assert [(r.transition, r.from_state, r.to_state, r.role, r.user_id) for r in rows] == [
        ("create", None, "draft", "homeroom_teacher", flow.w["teacher"].id),
        ("submit", "draft", "submitted", "homeroom_teacher", flow.w["teacher"].id),
        ("send_back", "submitted", "draft", "academic_office", flow.w["office"].id),
    ]
    assert rows[2].comment == "请补充医院证明"


def test_a_failed_fire_writes_no_history(flow, session):
    case = flow.bring("suspension", "draft")
    with pytest.raises(Conflict):
        flow.fire("teacher", case, "submit")
    assert len(session.scalars(select(CaseHistory).where(CaseHistory.case_id == case.id)).all()) == 1


# --- failure atomicity --------------------------------------------------------------------------


def test_failure_inside_an_effect_leaves_state_history_and_student_as_before(flow, session, monkeypatch):
    case = flow.bring("suspension", "approved")
    student_id, version = case.student_id, case.version

    def broken(*args, **kw):
        raise RuntimeError("disk full")

    monkeypatch.setattr(enrolment, "close_enrolment", broken)
    with pytest.raises(RuntimeError):
        flow.fire("center_office", case, "center_file")
    session.expire_all()
    case = session.get(Case, case.id)
    assert (case.state, case.version, case.is_open) == ("approved", version, True)
    assert [h.transition for h in case.history][-1] == "principal_approve"
    student = session.get(Student, student_id)
    assert student.status == "active"
    assert [p.end_date for p in student.enrolments] == [None]


def test_failure_in_a_cross_case_effect_undoes_both_cases(flow, session, monkeypatch):
    student = flow.student("dropped_out")
    recovery = flow.create("office", "recovery", student)
    ret = flow.bring("return", "fees_settled", student=student)

    real, calls = enrolment.place_in_class, []

    def second_call_fails(*args, **kw):  # the return's own placing works, the recovery's fails
        calls.append(args)
        if len(calls) == 2:
            raise RuntimeError("boom")
        return real(*args, **kw)

    monkeypatch.setattr(enrolment, "place_in_class", second_call_fails)
    with pytest.raises(RuntimeError):
        flow.fire("office", ret, "re_enroll")
    session.expire_all()
    assert session.get(Case, ret.id).state == "fees_settled"
    assert session.get(Case, recovery.id).state == "open"
    assert len(calls) == 2
    assert session.get(Student, student.id).is_provisional is True
    assert [h.transition for h in session.get(Case, recovery.id).history] == ["create"]


# --- available transitions ----------------------------------------------------------------------


def test_available_transitions_by_role_with_unmet_guards_listed(flow):
    case = flow.bring("suspension", "draft")
    names, blocked = flow.available("teacher", case)
    assert names == ["submit", "withdraw"]
    assert blocked == {"submit": ["需要家长本人到校的记录（电话不算）", "需要上传休学依据"]}
    assert flow.available("principal", case) == ([], {})
    flow.all_evidence(case)
    assert flow.available("teacher", case) == (["submit", "withdraw"], {})


def test_available_transitions_follow_the_state(flow):
    case = flow.bring("suspension", "suspended")
    names, blocked = flow.available("office", case)
    assert names == ["extend", "resume"]
    assert "extend" in blocked  # no grounds newer than the filing yet
    assert "resume" not in blocked


# --- creating cases -----------------------------------------------------------------------------


def test_create_writes_a_create_row_and_starts_in_the_initial_state(flow, session):
    st = flow.student()
    case = flow.create("teacher", "suspension", st)
    assert (case.state, case.version, case.is_open, case.school_id, case.opened_on) == (
        "draft", 1, True, flow.w.branch.id, TODAY)
    assert case.data == {"start": "2026-10-15", "end": "2027-03-01", "reason": "住院治疗"}
    (row,) = case.history
    assert (row.transition, row.from_state, row.to_state, row.role) == ("create", None, "draft",
                                                                        "homeroom_teacher")


def test_one_open_case_per_student_and_process(flow):
    st = flow.student()
    first = flow.create("teacher", "suspension", st)
    with pytest.raises(Conflict) as err:
        flow.create("office", "suspension", st)
    assert err.value.code == "duplicate"
    flow.fire("teacher", first, "withdraw")
    assert flow.create("office", "suspension", st).state == "draft"


def test_one_child_one_recovery(flow):
    st = flow.student("dropped_out")
    flow.create("office", "recovery", st)
    with pytest.raises(Conflict) as err:
        flow.create("principal", "recovery", st, {"reason_category": "贫困"})
    assert err.value.code == "duplicate"


@pytest.mark.parametrize("who,process,error,code", [
    ("other_office", "suspension", NotFound, "not_found"),
    ("principal", "suspension", Forbidden, "role_forbidden"),
    ("team", "transfer_out", Forbidden, "role_forbidden"),
    ("teacher", "recovery", Forbidden, "role_forbidden"),
    ("office", "special_exclusion", Forbidden, "role_forbidden"),
    ("teacher", "no_such_process", Invalid, "unknown_process"),
])
def test_who_may_open_which_process(flow, who, process, error, code):
    st = flow.student("dropped_out" if process == "recovery" else "active")
    with pytest.raises(error) as err:
        flow.create(who, process, st, {} if process == "no_such_process" else None)
    assert err.value.code == code


# what the student page offers (engine.creatable_processes) for an active and a dropped-out pupil
OFFERED = {
    ("teacher", "active"): {"absence", "suspension", "transfer_out", "special_exclusion", "return"},
    ("teacher", "dropped_out"): {"absence", "suspension", "transfer_out", "special_exclusion", "return"},
    ("office", "active"): {"absence", "suspension", "transfer_out", "return", "recovery", "dropout_check"},
    ("office", "dropped_out"): {"absence", "suspension", "transfer_out", "return", "recovery", "dropout_check"},
    ("principal", "dropped_out"): {"recovery", "dropout_check"},
    ("center_office", "dropped_out"): {"recovery", "dropout_check"},
    ("subject", "active"): set(),
    ("team", "dropped_out"): set(),
}


def _opening_data(world, process: str) -> dict:
    return {"reason": "连续两天未到校"} if process == "absence" else create_data(world, process)


@pytest.mark.parametrize("who,status", sorted(OFFERED))
def test_creatable_processes_agree_with_create_case(flow, session, who, status):
    st = flow.student(status)
    user = flow.w[who]
    offered = {proc.name: blocked for proc, blocked in
               engine.creatable_processes(session, scope_for(session, user), st)}
    assert set(offered) == OFFERED[(who, status)]
    for name in REGISTRY:
        if REGISTRY[name].locate is not None:
            # opened from elsewhere, not offered on a student's page: a transfer-in from the
            # receiving class with the new student's data, a roll verification for a class
            continue
        try:
            case = engine.create_case(session, scope_for(session, user), user, name, st.id,
                                      _opening_data(flow.w, name), today=TODAY)
        except (Forbidden, Conflict) as exc:
            refused = exc
        else:
            assert case.process == name
            refused = None
        session.rollback()
        if name not in offered:
            assert isinstance(refused, Forbidden) and refused.code == "role_forbidden", name
        elif offered[name] is not None:  # offered, with the reason the status rules it out now
            assert isinstance(refused, Conflict) and refused.code == "invalid_state", name
            assert refused.message == offered[name]
        else:
            assert refused is None, name


def test_transfer_in_is_not_offered_on_a_students_page(flow, session):
    st = flow.student("transferred_out")
    offered = engine.creatable_processes(session, scope_for(session, flow.w["office"]), st)
    assert "transfer_in" not in {proc.name for proc, _blocked in offered}


def test_create_with_unknown_data_key_is_422(flow):
    st = flow.student()
    with pytest.raises(Invalid) as err:
        flow.create("teacher", "suspension", st, {"start": "2026-10-15", "colour": "red"})
    assert err.value.details["field"] == "data.colour"


def test_recovery_reason_must_be_a_known_category(flow):
    st = flow.student("dropped_out")
    with pytest.raises(Invalid) as err:
        flow.create("office", "recovery", st, {"reason_category": "不想上学"})
    assert err.value.details["field"] == "data.reason_category"


def test_suspension_only_for_a_student_in_school(flow):
    st = flow.student("dropped_out")
    with pytest.raises(Conflict) as err:
        flow.create("teacher", "suspension", st)
    assert err.value.code == "invalid_state"


def test_system_opens_a_recovery_once_per_child(flow, session):
    st = flow.student("dropped_out")
    first = engine.create_case_system(session, "recovery", st.id, {"reason_category": "贫困"},
                                      effective_date=TODAY)
    again = engine.create_case_system(session, "recovery", st.id, {"reason_category": "贫困"},
                                      effective_date=TODAY, existing_ok=True)
    assert again.id == first.id
    assert first.history[0].role == "system" and first.history[0].user_id is None
    with pytest.raises(Conflict):
        engine.create_case_system(session, "recovery", st.id, {"reason_category": "贫困"},
                                  effective_date=TODAY)


def test_fire_system_records_role_system_and_checks_state(flow, session):
    st = flow.student("dropped_out")
    rec = flow.create("office", "recovery", st)
    engine.fire_system(session, rec, "mark_returned",
                       data={"class_id": flow.w.klass.id, "credited_user_ids": []},
                       effective_date=dt.date(2026, 10, 10))
    session.commit()
    last = rec.history[-1]
    assert (last.role, last.user_id, last.effective_date, rec.state) == (
        "system", None, dt.date(2026, 10, 10), "returned")
    with pytest.raises(Conflict) as err:
        engine.fire_system(session, rec, "exempt", effective_date=TODAY)
    assert err.value.code == "invalid_state"


# --- diagrams and the generated reference ------------------------------------------------------


def test_mermaid_diagram_shows_every_transition_and_highlights_the_current_state():
    from workflow.cases.diagrams import mermaid
    from workflow.processes import REGISTRY

    text_ = mermaid("suspension", highlight="suspended")
    assert text_.startswith("stateDiagram-v2\n")
    assert "    class suspended current" in text_
    for t in REGISTRY["suspension"].transitions:
        for source in t.sources:
            assert any(line.strip().startswith(f"{source} --> {t.dest} :") and f"{t.label} {t.name}" in line
                       for line in text_.splitlines()), (t.name, source)
    assert "class " not in mermaid("suspension")
    assert mermaid(REGISTRY["suspension"], highlight="suspended") == text_


def test_docs_processes_md_is_generated_from_the_definitions():
    from pathlib import Path

    from workflow.cases.diagrams import processes_markdown

    path = Path(__file__).resolve().parents[2] / "docs" / "processes.md"
    assert path.read_text(encoding="utf-8") == processes_markdown(), \
        "regenerate: .venv/bin/python -m workflow.cases.diagrams > docs/processes.md"
