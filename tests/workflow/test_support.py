"""Issue 15 (SPEC §5): learning-difficulty files, poor-family aid, the anonymous class survey and
the teacher evaluation, the published fee schedule and its guard on `return` fees, receipts."""
from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import Date, DateTime, func, inspect, select

from models import AidGrant, Base, Case, Fee, Payment, Survey, SurveyAnswer, SurveyCode
from tests.support_helpers import publish_fee_schedule
from workflow.access.scope import scope_for
from workflow.errors import Conflict, Forbidden, Invalid, NotFound
from workflow.support import aid, fees, learning, survey

from .test_figures import YEAR, Drive

TODAY = dt.date(2026, 10, 12)


def as_(world, session, key):
    user = world[key]
    return scope_for(session, user), user


# --- learning-difficulty files --------------------------------------------------------------------


def test_a_file_is_only_for_a_child_flagged_learning_difficulty(session, factory, world):
    scope, office = as_(world, session, "office")
    plain = factory.student(world.klass, world.village)
    with pytest.raises(Invalid) as err:
        learning.open_file(session, scope, office, student_id=plain.id, helper_id=world["teacher"].id)
    assert "学困" in err.value.message
    flagged = factory.student(world.klass, world.village, learning_difficulty=True)
    f = learning.open_file(session, scope, office, student_id=flagged.id, helper_id=world["teacher"].id)
    assert f.helper_id == world["teacher"].id
    with pytest.raises(Conflict) as dup:
        learning.open_file(session, scope, office, student_id=flagged.id, helper_id=world["subject"].id)
    assert dup.value.code == "duplicate"


def test_the_helper_must_be_staff_of_the_childs_school(session, factory, world):
    scope, office = as_(world, session, "office")
    child = factory.student(world.klass, world.village, learning_difficulty=True)
    with pytest.raises(Invalid):
        learning.open_file(session, scope, office, student_id=child.id, helper_id=world["other_teacher"].id)


def test_goals_results_and_sessions_and_the_center_sees_goals_met_per_school(session, factory, world):
    scope, office = as_(world, session, "office")
    kids = [factory.student(world.klass, world.village, learning_difficulty=True) for _ in range(2)]
    files = [learning.open_file(session, scope, office, student_id=k.id, helper_id=world["subject"].id) for k in kids]
    g1 = learning.add_goal(session, scope, office, files[0].id, school_year=YEAR, term=1, target="20以内加减法")
    g2 = learning.add_goal(session, scope, office, files[1].id, school_year=YEAR, term=1, target="会读课文")
    learning.add_goal(session, scope, office, files[1].id, school_year=YEAR, term=2, target="背诵古诗")
    # the helping teacher (一帮一) records results and sessions; a colleague of another class may not
    hscope, helper = as_(world, session, "subject")
    learning.record_result(session, hscope, helper, g1.id, result="全部做对", is_met=True)
    learning.record_result(session, hscope, helper, g2.id, result="还不熟练", is_met=False)
    learning.add_session(session, hscope, helper, files[0].id, date="2026-10-10", notes="午休时辅导", today=TODAY)
    with pytest.raises(Invalid):
        learning.add_session(session, hscope, helper, files[0].id, date="2026-12-10", notes="将来", today=TODAY)
    with pytest.raises(NotFound):
        learning.add_session(session, *as_(world, session, "other_teacher"), files[0].id, date="2026-10-10",
                             notes="x", today=TODAY)
    session.commit()
    cscope, _c = as_(world, session, "center_office")
    rows = {r.school_id: r for r in learning.goals_by_school(session, cscope, school_year=YEAR, term=1)}
    assert (rows[world.branch.id].files, rows[world.branch.id].goals, rows[world.branch.id].met,
            rows[world.branch.id].not_met) == (2, 2, 1, 1)
    assert rows[world.branch2.id].goals == 0
    assert world.other_branch.id not in rows


def test_a_file_out_of_scope_answers_404(session, factory, world):
    scope, office = as_(world, session, "office")
    child = factory.student(world.klass, world.village, learning_difficulty=True)
    f = learning.open_file(session, scope, office, student_id=child.id, helper_id=world["teacher"].id)
    session.commit()
    for key in ("other_office", "other_center_head", "other_teacher"):
        with pytest.raises(NotFound):
            learning.get_file(session, scope_for(session, world[key]), f.id)


# --- poor-family aid ---------------------------------------------------------------------------------


def grant(session, world, student, kind, amount, term=1, who="office"):
    scope, user = as_(world, session, who)
    return aid.grant_aid(session, scope, user, student_id=student.id, school_year=YEAR, term=term, kind=kind,
                         amount=amount, granted_on="2026-09-15", today=TODAY)


def test_aid_only_for_a_poor_child_once_per_kind_and_term_and_not_by_a_teacher(session, factory, world):
    poor = factory.student(world.klass, world.village, poor=True)
    other = factory.student(world.klass, world.village)
    with pytest.raises(Invalid):
        grant(session, world, other, "fee_waiver", "100")
    g = grant(session, world, poor, "fee_waiver", "100")
    assert (g.school_id, g.granted_by_id, g.amount) == (world.branch.id, world["office"].id, Decimal("100.00"))
    with pytest.raises(Conflict):
        grant(session, world, poor, "fee_waiver", "50")
    with pytest.raises(Forbidden):
        grant(session, world, poor, "book_waiver", "50", who="teacher")
    with pytest.raises(NotFound):
        grant(session, world, poor, "book_waiver", "50", who="other_office")
    with pytest.raises(Invalid):
        grant(session, world, poor, "book_waiver", "-5")


def test_aid_totals_equal_the_sum_of_the_grants(session, factory, world):
    a, b = (factory.student(world.klass, world.village, poor=True) for _ in range(2))
    c = factory.student(world.center_class, world.village, poor=True)
    grant(session, world, a, "fee_waiver", "120.50")
    grant(session, world, a, "living_allowance", "625.00")
    grant(session, world, b, "living_allowance", "625.00")
    grant(session, world, b, "book_waiver", "80.25")
    grant(session, world, b, "book_waiver", "80.25", term=2)          # another term: not counted
    grant(session, world, c, "fee_waiver", "10", who="center_office")  # another school
    session.commit()
    cscope, _u = as_(world, session, "center_head")
    rows = {t.school_id: t for t in aid.aid_totals(session, cscope, school_year=YEAR, term=1)}
    branch = rows[world.branch.id]
    expected = session.scalar(select(func.sum(AidGrant.amount)).where(
        AidGrant.school_id == world.branch.id, AidGrant.school_year == YEAR, AidGrant.term == 1))
    assert branch.total == Decimal(str(expected)) == Decimal("1450.75")
    assert branch.by_kind == {"fee_waiver": Decimal("120.50"), "book_waiver": Decimal("80.25"),
                              "living_allowance": Decimal("1250.00")}
    assert branch.children == 2
    assert rows[world.center.id].total == Decimal("10.00")
    # a teacher does not see whole-school totals; another center's school is not found
    with pytest.raises(Forbidden):
        aid.aid_totals(session, scope_for(session, world["teacher"]), school_year=YEAR, term=1,
                       school_id=world.branch.id)
    with pytest.raises(NotFound):
        aid.aid_totals(session, scope_for(session, world["other_office"]), school_year=YEAR, term=1,
                       school_id=world.branch.id)


def test_the_aid_export_sums_like_the_page_and_never_writes_a_formula(session, factory, world):
    hostile = factory.student(world.klass, world.village, poor=True, name="=HYPERLINK(\"http://x\")")
    grant(session, world, hostile, "living_allowance", "300")
    session.commit()
    scope, _u = as_(world, session, "office")
    totals = aid.aid_totals(session, scope, school_year=YEAR, term=1, school_id=world.branch.id)
    grants = aid.grant_rows(session, scope, school_id=world.branch.id, school_year=YEAR, term=1)
    data = aid.totals_xlsx(totals, grants, school_year=YEAR, term=1, names=aid.AID_NAMES,
                           headers={k: k for k in ("school", "school_year", "term", "total", "children", "student",
                                                   "kind", "amount", "granted_on", "granted_by", "note",
                                                   "fee_waiver", "book_waiver", "living_allowance")})
    wb = load_workbook(io.BytesIO(data))
    assert wb["totals"]["G2"].value == 300
    name = wb["grants"]["A2"]  # the shared writer: the text unchanged, stored as a quote-prefixed string
    assert name.data_type == "s" and name.value == "=HYPERLINK(\"http://x\")" and name.quotePrefix


# --- the anonymous class survey -----------------------------------------------------------------------


def open_survey(session, world, factory, n_children=6, term=1):
    for _ in range(n_children):
        factory.student(world.klass, world.village)
    scope, office = as_(world, session, "office")
    s, codes = survey.open_survey(session, scope, office, class_id=world.klass.id, school_year=YEAR, term=term,
                                  today=TODAY)
    session.commit()
    return s, codes


def answer(session, s, code, score=4):
    out = survey.submit_answers(session, code, {str(t.user_id): [score] * len(survey.QUESTIONS) for t in s.teachers})
    session.commit()
    return out


def test_the_answer_tables_hold_no_link_to_the_code_or_the_child():
    """The proof of anonymity: what the two tables can hold at all (docs/support.md)."""
    codes = inspect(SurveyCode).local_table
    answers = inspect(SurveyAnswer).local_table
    assert {c.name for c in codes.columns} == {"id", "survey_id", "code_hash", "is_used"}
    assert {c.name for c in answers.columns} == {"id", "survey_id", "scores"}
    for table in (codes, answers):
        assert {fk.column.table.name for fk in table.foreign_keys} == {"surveys"}
        assert not [c for c in table.columns if isinstance(getattr(c.type, "impl", c.type), (DateTime, Date))]
    # nothing else points at them either: no table can join a child or a code to an answer
    for table in Base.metadata.sorted_tables:
        assert not [fk for fk in table.foreign_keys if fk.column.table.name in ("survey_codes", "survey_answers")]
    # and the survey row itself knows the class, not the children
    assert "student_id" not in {c.name for c in inspect(Survey).local_table.columns}


def test_codes_are_stored_only_as_hashes_one_per_active_child(session, factory, world):
    s, codes = open_survey(session, world, factory, n_children=6)
    assert len(codes) == len(set(codes)) == 6
    stored = list(session.scalars(select(SurveyCode.code_hash).where(SurveyCode.survey_id == s.id)))
    assert len(stored) == 6 and not set(codes) & set(stored)
    assert {t.user_id for t in s.teachers} == {world["teacher"].id, world["subject"].id}
    with pytest.raises(Conflict):
        open_survey(session, world, factory, n_children=0)


def test_only_the_academic_office_opens_a_survey(session, factory, world):
    factory.student(world.klass, world.village)
    for key, exc in (("teacher", Forbidden), ("principal", Forbidden), ("other_office", NotFound)):
        scope, user = as_(world, session, key)
        with pytest.raises(exc):
            survey.open_survey(session, scope, user, class_id=world.klass.id, school_year=YEAR, term=1, today=TODAY)


def test_a_used_code_cannot_answer_twice(session, factory, world):
    s, codes = open_survey(session, world, factory)
    answer(session, s, codes[0].lower().replace("-", ""))    # typed in lower case without the hyphen
    with pytest.raises(Conflict) as err:
        answer(session, s, codes[0])
    assert err.value.code == "code_used"
    session.rollback()
    assert session.scalar(select(func.count()).select_from(SurveyAnswer)) == 1


def test_two_phones_racing_with_one_code_store_one_answer(session, factory, world, monkeypatch):
    """Both requests pass the first look-up before either spends the code: the conditional
    UPDATE (… WHERE is_used = false) lets only one through."""
    s, codes = open_survey(session, world, factory)
    looked_up = survey.survey_for_code(session, codes[1])
    answer(session, s, codes[1])
    monkeypatch.setattr(survey, "survey_for_code", lambda _session, _code: looked_up)
    with pytest.raises(Conflict) as err:
        answer(session, s, codes[1])
    assert err.value.code == "code_used"
    session.rollback()
    assert session.scalar(select(func.count()).select_from(SurveyAnswer)) == 1


def test_bad_codes_and_incomplete_answers_write_nothing(session, factory, world):
    s, codes = open_survey(session, world, factory)
    with pytest.raises(Invalid):
        survey.submit_answers(session, "AAAA-AAAA", {})
    incomplete = {str(t.user_id): [5, 5] for t in s.teachers}
    with pytest.raises(Invalid):
        survey.submit_answers(session, codes[0], incomplete)
    out_of_scale = {str(t.user_id): [6] * len(survey.QUESTIONS) for t in s.teachers}
    with pytest.raises(Invalid):
        survey.submit_answers(session, codes[0], out_of_scale)
    session.rollback()
    assert not session.scalar(select(func.count()).select_from(SurveyCode).where(SurveyCode.is_used.is_(True)))


def test_four_answers_show_no_result_and_five_do_once_closed(session, factory, world):
    s, codes = open_survey(session, world, factory)
    for i, code in enumerate(codes[:4]):
        answer(session, s, code, score=2 + i % 2)
    scope, office = as_(world, session, "office")
    survey.close_survey(session, scope, office, s.id, today=TODAY)
    results = survey.survey_results(session, scope, s)
    assert [(r.answers, r.shown, r.overall) for r in results] == [(4, False, None), (4, False, None)]

    s5, codes5 = open_survey(session, world, factory, n_children=0, term=2)
    for i, code in enumerate(codes5[:5]):
        answer(session, s5, code, score=1 + i)                  # 1..5 → average 3.00
    assert not any(r.shown for r in survey.survey_results(session, scope, s5))   # still open
    survey.close_survey(session, scope, office, s5.id, today=TODAY)
    results = survey.survey_results(session, scope, s5)
    assert [(r.answers, r.shown, r.overall) for r in results] == [(5, True, Decimal("3.00"))] * 2
    with pytest.raises(Conflict):
        survey.submit_answers(session, codes5[5], {})            # closed: no more answers


def test_a_teacher_sees_only_their_own_result(session, factory, world):
    s, codes = open_survey(session, world, factory)
    for code in codes[:5]:
        answer(session, s, code)
    survey.close_survey(session, *as_(world, session, "office"), s.id, today=TODAY)
    session.commit()
    tscope, _t = as_(world, session, "teacher")
    assert [r.user_id for r in survey.survey_results(session, tscope, s)] == [world["teacher"].id]
    with pytest.raises(NotFound):
        survey.teacher_evaluation(session, tscope, world["subject"].id, school_year=YEAR)
    with pytest.raises(NotFound):
        survey.teacher_evaluation(session, scope_for(session, world["other_office"]), world["teacher"].id,
                                  school_year=YEAR)


@pytest.fixture
def drive(session, factory, world, flow):
    return Drive(session, factory, world, flow)


def test_evaluation_shows_results_loss_rates_and_award_eligibility(session, drive, world):
    kids = drive.students(world.klass, 50)
    drive.freeze()
    scope, office = as_(world, session, "office")
    s, codes = survey.open_survey(session, scope, office, class_id=world.klass.id, school_year=YEAR, term=1,
                                  today=TODAY)
    for code in codes[:5]:
        answer(session, s, code, score=5)
    survey.close_survey(session, scope, office, s.id, today=TODAY)
    session.commit()
    pscope, _p = as_(world, session, "principal")
    ev = survey.teacher_evaluation(session, pscope, world["teacher"].id, school_year=YEAR)
    assert ev.eligible is True and [r.overall for _s, r in ev.surveys] == [Decimal("5.00")]
    drive.dropout(kids[0], dt.date(2026, 10, 20))
    drive.dropout(kids[1], dt.date(2026, 12, 1))     # 2 of 50 = 4% > 2%: not eligible (SPEC §4)
    ev = survey.teacher_evaluation(session, pscope, world["teacher"].id, school_year=YEAR)
    term1 = [c for c in ev.classes if c["term"] == 1][0]
    assert (term1["losses"], term1["loss_rate"], term1["over_threshold"]) == (2, Decimal("0.0400"), True)
    assert ev.eligible is False
    # the subject teacher is no homeroom teacher: the class's losses do not touch their awards
    assert survey.teacher_evaluation(session, pscope, world["subject"].id, school_year=YEAR).eligible is True


# --- the fee schedule (一费制) --------------------------------------------------------------------------


ITEMS = [{"name": "作业本费", "amount": "20"}, {"name": "课本费", "amount": "120.50", "note": "按实收取"}]


def test_a_schedule_is_drafted_by_the_school_and_approved_by_the_center_then_fixed(session, world):
    oscope, office = as_(world, session, "office")
    s = fees.save_schedule(session, oscope, office, school_id=world.branch.id, school_year=YEAR, items=ITEMS)
    assert s.status == "draft" and [i.amount for i in s.items] == [Decimal("20.00"), Decimal("120.50")]
    assert fees.public_schedules(session) == []
    with pytest.raises(Forbidden):
        fees.approve_schedule(session, oscope, office, s.id)
    with pytest.raises(Forbidden):
        fees.approve_schedule(session, scope_for(session, world["admin"]), world["admin"], s.id)
    with pytest.raises(NotFound):
        fees.approve_schedule(session, scope_for(session, world["other_center_head"]), world["other_center_head"],
                              s.id)
    cscope, center = as_(world, session, "center_office")
    fees.approve_schedule(session, cscope, center, s.id)
    assert [p.id for p in fees.public_schedules(session)] == [s.id]
    with pytest.raises(Conflict):
        fees.save_schedule(session, oscope, office, school_id=world.branch.id, school_year=YEAR, items=ITEMS)
    with pytest.raises(Invalid):
        fees.save_schedule(session, oscope, office, school_id=world.branch.id, school_year="2027-2028",
                           items=[{"name": "x", "amount": "1"}, {"name": "x", "amount": "2"}])
    with pytest.raises(Forbidden):
        fees.save_schedule(session, *as_(world, session, "teacher"), school_id=world.branch.id,
                           school_year="2027-2028", items=ITEMS)


def return_at_settlement(flow):
    st = flow.student("dropped_out")
    case = flow.create("office", "return", st)
    flow.all_evidence(case)
    flow.fire("office", case, "submit")
    flow.fire("office", case, "verify_paperwork")
    return case


def add_fee(flow, case, item, due):
    fee = Fee(case_id=case.id, item=item, amount_due=Decimal(due))
    flow.s.add(fee)
    flow.s.flush()
    flow.s.add(Payment(case_id=case.id, fee_id=fee.id, amount=Decimal(due), receipt_no=f"R-{fee.id}"))
    flow.s.commit()
    return fee


def unmet(err) -> list[str]:
    assert err.value.code == "guard_failed"
    return err.value.details["unmet"]


def test_a_fee_not_on_the_schedule_is_refused(flow, world):
    publish_fee_schedule(flow.s, world.branch, {"课本费": "120.50"})
    case = return_at_settlement(flow)
    add_fee(flow, case, "补课费", "50")
    with pytest.raises(Conflict) as err:
        flow.fire("office", case, "settle_fees")
    assert unmet(err) == ["「补课费」不在东坡村小 2026-2027 学年收费标准（一费制）中，不得收取"]


def test_a_fee_above_the_listed_amount_is_refused(flow, world):
    publish_fee_schedule(flow.s, world.branch, {"课本费": "120.50"})
    case = return_at_settlement(flow)
    add_fee(flow, case, "课本费", "150")
    with pytest.raises(Conflict) as err:
        flow.fire("office", case, "settle_fees")
    assert unmet(err) == ["「课本费」150.00 元超过东坡村小 2026-2027 学年收费标准（一费制）所列 120.50 元"]


def test_listed_fees_at_or_below_the_amount_settle(flow, world):
    publish_fee_schedule(flow.s, world.branch, {"课本费": "120.50", "作业本费": "20"})
    case = return_at_settlement(flow)
    add_fee(flow, case, "课本费", "120.50")
    add_fee(flow, case, "作业本费", "15")
    assert flow.fire("office", case, "settle_fees").state == "fees_settled"


def test_without_an_approved_schedule_no_fee_can_be_charged(flow, world, session):
    oscope, office = as_(world, session, "office")
    fees.save_schedule(session, oscope, office, school_id=world.branch.id, school_year=YEAR,
                       items=[{"name": "课本费", "amount": "200"}])      # a draft does not count
    session.commit()
    case = return_at_settlement(flow)
    add_fee(flow, case, "课本费", "100")
    with pytest.raises(Conflict) as err:
        flow.fire("office", case, "settle_fees")
    assert unmet(err) == ["东坡村小 2026-2027 学年收费标准（一费制）尚未经中心校批准公布，不能收取「课本费」"]


def test_a_receipt_shows_the_payment_in_scope_only(flow, world, session):
    publish_fee_schedule(flow.s, world.branch, {"课本费": "120.50"})
    case = return_at_settlement(flow)
    fee = add_fee(flow, case, "课本费", "120.50")
    payment = session.scalars(select(Payment).where(Payment.fee_id == fee.id)).one()
    r = fees.receipt(session, scope_for(session, world["office"]), payment.id, local_date=lambda at: at.date())
    assert (r.school.name, r.student_name, r.item, r.amount, r.receipt_no) == (
        "东坡村小", case.student.name, "课本费", Decimal("120.50"), payment.receipt_no)
    with pytest.raises(NotFound):
        fees.receipt(session, scope_for(session, world["other_office"]), payment.id, local_date=lambda at: at.date())
    assert session.get(Case, case.id) is not None


def test_the_teacher_list_offers_only_evaluations_the_user_may_open(session, world):
    names = lambda key: [u.username for u in survey.evaluable_teachers(session, scope_for(session, world[key]))]  # noqa: E731
    assert names("principal") == ["subject", "teacher"]
    assert names("teacher") == ["teacher"]
    assert "other_teacher" in names("other_center_head") and "teacher" not in names("other_center_head")


@pytest.mark.skipif(not __import__("os").environ.get("TEST_DATABASE_URL", "").startswith("postgresql"),
                    reason="concurrent writers need a server database: set TEST_DATABASE_URL to PostgreSQL")
def test_two_concurrent_submissions_of_one_code_store_one_answer(session, factory, world, db, monkeypatch):
    import threading
    import time

    from sqlalchemy.orm import Session

    s, codes = open_survey(session, world, factory)
    scores = {str(t.user_id): [3] * len(survey.QUESTIONS) for t in s.teachers}
    both_checked = threading.Barrier(2)
    check = survey._check_scores

    def checked_together(*args):
        out = check(*args)
        both_checked.wait(timeout=10)    # both requests have seen the code unused
        return out

    monkeypatch.setattr(survey, "_check_scores", checked_together)
    outcomes = []
    engine = db.engine   # read in the test's app context: the threads have none

    def phone():
        with Session(engine) as own:
            try:
                survey.submit_answers(own, codes[0], scores)
                time.sleep(0.3)          # hold the row lock: the other UPDATE waits, then finds it used
                own.commit()
                outcomes.append("stored")
            except Conflict as exc:
                own.rollback()
                outcomes.append(exc.code)

    threads = [threading.Thread(target=phone) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["code_used", "stored"]
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(SurveyAnswer)) == 1


@pytest.mark.parametrize("name, message", [("  ", "请填写第 2 个收费项目的名称"),
                                           ("课" * 81, "第 2 个收费项目的名称不能超过 80 个字")])
def test_a_fee_item_name_is_refused_by_what_people_call_it(name, message):
    from workflow.errors import Invalid
    from workflow.support.fees import _check_items

    with pytest.raises(Invalid) as err:
        _check_items([{"name": "课本费", "amount": "10"}, {"name": name, "amount": "10"}])
    assert err.value.message == message and err.value.details == {"field": "items[2].name"}
