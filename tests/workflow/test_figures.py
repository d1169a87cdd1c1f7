"""Baselines, losses, loss rates, coefficients, the ledger and school figures (SPEC §4), with
hand-computed expected values. Dropouts and returns go through the real engine: the absence
ladder up to `village_joint` (system escalations), a village-joint visit with the liaison, the
principal's `confirm_dropout` with `data.date`; returns through the recovery's `mark_returned`."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import event, select

from models import Baseline, Case, Visit
from workflow.access.scope import scope_for
from workflow.cases import engine
from workflow.errors import Forbidden, NotFound
from workflow.figures import baselines, ledger, losses, rates
from workflow.figures.common import FigureSettings
from workflow.org import enrolment

T1 = (dt.date(2026, 9, 1), dt.date(2027, 1, 22))
T2 = (dt.date(2027, 2, 22), dt.date(2027, 7, 2))
LATER = dt.date(2027, 8, 20)  # "today" for every engine call: effective dates may not be in the future
YEAR = "2026-2027"


class Drive:
    """Builds term calendars, classes of students, and moves students through the engine."""

    def __init__(self, session, factory, world, flow):
        self.s, self.f, self.w, self.flow = session, factory, world, flow
        # branches follow the center school's calendar
        factory.term(world.center, *T1, school_year=YEAR, term=1)
        factory.term(world.center, *T2, school_year=YEAR, term=2)
        session.commit()

    def user(self, key):
        return self.w[key] if isinstance(key, str) else key

    def students(self, klass, n, enrolled_on=T1[0], **kw):
        out = [self.f.student(klass, self.w.village, enrolled_on=enrolled_on, **kw) for _ in range(n)]
        self.s.commit()
        return out

    def freeze(self, school=None, term=1, who="office", refreeze=False, today=None, reason=None):
        user = self.user(who)
        rows = baselines.freeze_baselines(self.s, scope_for(self.s, user), user, school_id=(school or self.w.branch).id,
                                          school_year=YEAR, term=term, refreeze=refreeze, reason=reason,
                                          today=today or (T1[0] if term == 1 else T2[0]))
        self.s.commit()
        return {b.class_id: b for b in rows}

    def figures(self, school=None, term=1, who="admin", **kw):
        user = self.user(who)
        items = losses.class_figures(self.s, scope_for(self.s, user), school_id=(school or self.w.branch).id,
                                     school_year=YEAR, term=term, **kw)
        return {i["class_id"]: i for i in items}

    def dropout(self, student, on: dt.date, office="office", principal="principal") -> Case:
        """The real ladder: opened by the office, escalated by the system to village_joint, a
        joint visit logged by the liaison, confirmed by the principal with effective date `on`."""
        office, principal = self.user(office), self.user(principal)
        case = engine.create_case(self.s, scope_for(self.s, office), office, "absence", student.id,
                                  {"reason": "擅自离校"}, today=on - dt.timedelta(days=6))
        for i in range(4):
            engine.fire_system(self.s, case, "escalate", effective_date=on - dt.timedelta(days=5 - i))
        liaison = self.w["liaison"]
        visit = Visit(case_id=case.id, kind="village_joint", date=on, guardian_present=True,
                      created_by_id=liaison.id)
        visit.participants.append(liaison)
        self.s.add(visit)
        self.s.commit()
        engine.fire(self.s, scope_for(self.s, principal), principal, case.id, "confirm_dropout",
                    version=case.version, data={"reason_category": "厌学", "date": on.isoformat()}, today=LATER)
        self.s.commit()
        return case

    def recovery_of(self, student) -> Case:
        return self.s.scalars(select(Case).where(Case.student_id == student.id, Case.process == "recovery")).one()

    def mark_returned(self, student, on: dt.date, klass=None, credited=("teacher",)) -> Case:
        case = self.recovery_of(student)
        office = self.w["office"]
        engine.fire(self.s, scope_for(self.s, office), office, case.id, "mark_returned", version=case.version,
                    data={"class_id": (klass or self.w.klass).id,
                          "credited_user_ids": [self.user(c).id for c in credited], "date": on.isoformat()},
                    today=LATER)
        self.s.commit()
        return case

    def exclude(self, student, on: dt.date = dt.date(2026, 8, 31)) -> Case:
        case = self.flow.create("teacher", "special_exclusion", student, {"reason": "智力残疾"})
        self.flow.doc(case, "guardian_agreement")
        self.flow.fire("teacher", case, "submit")
        self.flow.fire("principal", case, "principal_approve", data={"date": on.isoformat()})
        return case


@pytest.fixture
def drive(session, factory, world, flow):
    return Drive(session, factory, world, flow)


# --- the hand-computed cases of the brief ---------------------------------------------------------


def test_class_of_51_with_one_exclusion_and_one_dropout_is_at_exactly_two_percent(drive, world):
    kids = drive.students(world.klass, 50)
    special = drive.students(world.klass, 1, disability=True)[0]
    drive.exclude(special)
    drive.freeze()
    drive.dropout(kids[0], dt.date(2026, 10, 20))

    row = drive.figures()[world.klass.id]
    assert row["baseline"] == 50
    assert row["losses"] == 1
    assert row["loss_rate"] == Decimal("0.0200")
    assert row["over_threshold"] is False
    assert row["coefficient"] == Decimal("0.98")
    assert row["loss_student_ids"] == [kids[0].id]


def test_two_losses_in_a_class_of_50_are_over_the_threshold(drive, world):
    kids = drive.students(world.klass, 50)
    drive.freeze()
    drive.dropout(kids[0], dt.date(2026, 10, 20))
    drive.dropout(kids[1], dt.date(2026, 12, 1))

    row = drive.figures()[world.klass.id]
    assert (row["baseline"], row["losses"]) == (50, 2)
    assert row["loss_rate"] == Decimal("0.0400")
    assert row["over_threshold"] is True
    assert row["coefficient"] == Decimal("0.96")


def test_threshold_is_configurable(drive, world):
    kids = drive.students(world.klass, 50)
    drive.freeze()
    drive.dropout(kids[0], dt.date(2026, 10, 20))
    assert drive.figures(settings={"class_threshold": "0.01"})[world.klass.id]["over_threshold"] is True
    assert drive.figures(settings=FigureSettings(class_threshold=Decimal("0.05")))[
        world.klass.id]["over_threshold"] is False


def test_coefficient_never_goes_below_zero():
    assert losses.coefficient(49) == Decimal("0.02")
    assert losses.coefficient(50) == Decimal("0.00")
    assert losses.coefficient(80) == Decimal("0.00")


def test_baseline_and_rate_are_null_before_freezing(drive, world):
    kids = drive.students(world.klass, 10)
    drive.dropout(kids[0], dt.date(2026, 10, 20))
    row = drive.figures()[world.klass.id]
    assert row["baseline"] is None and row["loss_rate"] is None
    assert row["losses"] == 1 and row["over_threshold"] is False
    assert row["coefficient"] == Decimal("0.98")


def test_completed_transfer_and_approved_suspension_are_not_losses(drive, flow, world):
    kids = drive.students(world.klass, 20)
    drive.freeze()
    transfer = flow.bring("transfer_out", "transferred", kids[0])
    suspension = flow.bring("suspension", "suspended", kids[1])
    assert (transfer.state, suspension.state) == ("transferred", "suspended")

    row = drive.figures()[world.klass.id]
    assert row["baseline"] == 20
    assert row["losses"] == 0
    assert row["loss_rate"] == Decimal("0.0000")
    assert row["coefficient"] == Decimal("1.00")


def test_student_who_returned_within_the_term_is_not_a_loss(drive, world):
    kids = drive.students(world.klass, 20)
    drive.freeze()
    drive.dropout(kids[0], dt.date(2026, 10, 20))
    drive.mark_returned(kids[0], dt.date(2026, 11, 9))

    row = drive.figures()[world.klass.id]
    assert row["losses"] == 0
    assert row["recovered"] == 1 and row["recovered_student_ids"] == [kids[0].id]


def test_student_who_dropped_out_in_term_and_returned_after_term_end_is_a_loss(drive, world):
    kids = drive.students(world.klass, 20)
    drive.freeze()
    drive.dropout(kids[0], dt.date(2026, 12, 14))
    drive.mark_returned(kids[0], dt.date(2027, 2, 24))

    term1 = drive.figures()[world.klass.id]
    assert term1["losses"] == 1 and term1["recovered"] == 0
    # the return is counted in the term it took effect, and the child is no loss of term 2
    term2 = drive.figures(term=2)[world.klass.id]
    assert term2["losses"] == 0 and term2["recovered"] == 1


def test_dropout_outside_the_term_is_not_a_loss_of_the_term(drive, world):
    kids = drive.students(world.klass, 20)
    drive.dropout(kids[0], dt.date(2027, 2, 1))  # winter holiday: between the terms
    assert drive.figures(term=1)[world.klass.id]["losses"] == 0
    assert drive.figures(term=2)[world.klass.id]["losses"] == 0


def test_loss_belongs_to_the_class_the_student_was_in_when_the_dropout_took_effect(drive, session, world):
    mover = drive.students(world.klass2, 1)[0]
    drive.students(world.klass, 9)
    drive.freeze()
    # moved to klass in October, then dropped out there
    enrolment.place_in_class(session, mover, world.klass, dt.date(2026, 10, 8), "class_change")
    session.commit()
    drive.dropout(mover, dt.date(2026, 11, 2))

    rows = drive.figures()
    assert rows[world.klass.id]["loss_student_ids"] == [mover.id]
    assert rows[world.klass2.id]["losses"] == 0
    # klass2 counted the mover at term start; klass did not
    assert (rows[world.klass2.id]["baseline"], rows[world.klass.id]["baseline"]) == (1, 9)


def test_loss_stays_with_the_old_class_after_the_child_returns_elsewhere_and_term_ends(drive, world):
    kid = drive.students(world.klass, 1)[0]
    drive.dropout(kid, dt.date(2026, 10, 12))
    drive.mark_returned(kid, dt.date(2027, 3, 1), klass=world.klass2)
    rows = drive.figures()
    assert rows[world.klass.id]["loss_student_ids"] == [kid.id]
    assert rows[world.klass2.id]["losses"] == 0
    assert drive.figures(term=2)[world.klass2.id]["recovered_student_ids"] == [kid.id]


def test_excluded_student_who_drops_out_is_not_a_loss(drive, world):
    kids = drive.students(world.klass, 10)
    special = drive.students(world.klass, 1, disability=True)[0]
    drive.exclude(special)
    drive.freeze()
    drive.dropout(special, dt.date(2026, 10, 20))
    drive.dropout(kids[0], dt.date(2026, 10, 21))
    row = drive.figures()[world.klass.id]
    assert row["baseline"] == 10
    assert row["loss_student_ids"] == [kids[0].id]


def test_exclusion_approved_after_term_start_does_not_reduce_the_baseline(drive, world):
    drive.students(world.klass, 10)
    special = drive.students(world.klass, 1, disability=True)[0]
    drive.exclude(special, on=dt.date(2026, 9, 15))
    assert drive.freeze()[world.klass.id].count == 11


def test_child_sitting_in_class_on_a_return_case_is_not_a_loss(drive, flow, world):
    kids = drive.students(world.klass, 10)
    drive.dropout(kids[0], dt.date(2026, 10, 5))
    back = flow.bring("return", "submitted", kids[0])  # effective 2026-10-12 (the flow's today)
    assert back.state == "submitted"
    row = drive.figures()[world.klass.id]
    assert row["losses"] == 0
    # the recovery case is still open: the child is not "recovered" until the formalities end
    assert row["recovered"] == 0


def test_withdrawn_return_case_leaves_the_loss(drive, flow, world):
    kids = drive.students(world.klass, 10)
    drive.dropout(kids[0], dt.date(2026, 10, 5))
    back = flow.bring("return", "submitted", kids[0])
    flow.fire("office", back, "withdraw")
    assert drive.figures()[world.klass.id]["loss_student_ids"] == [kids[0].id]


# --- baselines --------------------------------------------------------------------------------


def test_refreeze_is_explicit_and_recorded(drive, session, world):
    drive.students(world.klass, 30)
    first = drive.freeze()[world.klass.id]
    assert (first.count, first.rule, first.counted_on) == (30, "term_start", T1[0])
    assert first.frozen_by_id == world["office"].id

    drive.students(world.klass, 2)  # enrolled at term start but registered late
    again = drive.freeze()[world.klass.id]
    assert again.id == first.id and again.count == 30  # kept: no silent change

    redone = drive.freeze(refreeze=True, who="principal", reason="补录两名学生")[world.klass.id]
    assert redone.id != first.id and redone.count == 32
    assert redone.replaces_id == first.id and redone.reason == "补录两名学生"
    assert redone.frozen_by_id == world["principal"].id
    session.expire_all()
    assert session.get(Baseline, first.id).is_current is False
    history = baselines.baseline_history(session, scope_for(session, world["admin"]), world.klass.id, YEAR, 1)
    assert [(b.count, b.is_current) for b in history] == [(32, True), (30, False)]
    assert drive.figures()[world.klass.id]["baseline"] == 32


def test_students_who_left_before_term_start_or_joined_after_are_not_counted(drive, session, world):
    drive.students(world.klass, 5)
    drive.students(world.klass, 1, enrolled_on=dt.date(2026, 9, 10))
    gone = drive.students(world.klass, 1, enrolled_on=dt.date(2026, 6, 1))[0]
    enrolment.leave(session, gone, dt.date(2026, 8, 20), "transferred_out", "transfer_out", keep_class=False)
    session.commit()
    assert drive.freeze()[world.klass.id].count == 5


def test_term_two_of_a_class_with_a_term_one_baseline_takes_the_term_one_end_count(drive, factory, world):
    kids = drive.students(world.klass, 20)
    drive.freeze()
    drive.dropout(kids[0], dt.date(2026, 11, 3))
    newcomer = drive.students(world.klass, 1, enrolled_on=dt.date(2027, 2, 22))[0]
    fresh = factory.klass(world.branch, 5, "五年级1班")
    drive.students(fresh, 4, enrolled_on=dt.date(2027, 2, 22))

    term2 = drive.freeze(term=2)
    assert (term2[world.klass.id].rule, term2[world.klass.id].counted_on) == ("takeover", T1[1])
    assert term2[world.klass.id].count == 19  # 20 at term-1 start, one lost, newcomer came later
    assert newcomer.id not in term2[world.klass.id].student_ids
    assert (term2[fresh.id].rule, term2[fresh.id].count) == ("term_start", 4)


def test_new_grade_one_class_uses_its_enrolment_count(drive, factory, world):
    first = factory.klass(world.branch, 1, "一年级1班")
    third = factory.klass(world.branch, 3, "三年级2班")
    for klass in (first, third):
        drive.students(klass, 3)
        drive.students(klass, 1, enrolled_on=dt.date(2026, 9, 4))  # registered in the first week
    rows = drive.freeze(today=dt.date(2026, 9, 7))
    assert (rows[first.id].rule, rows[first.id].count) == ("grade1_enrolment", 4)
    assert (rows[third.id].rule, rows[third.id].count) == ("term_start", 3)


@pytest.mark.parametrize("who, allowed", [
    ("admin", True), ("office", True), ("principal", True), ("center_head", True), ("center_office", True),
    ("teacher", False), ("team", False), ("subject", False), ("supervisor", False),
])
def test_who_may_freeze_baselines(drive, world, who, allowed):
    drive.students(world.klass, 2)
    if allowed:
        assert drive.freeze(who=who)[world.klass.id].count == 2
    else:
        with pytest.raises(Forbidden):
            drive.freeze(who=who)


@pytest.mark.parametrize("who", ["other_principal", "other_center_head", "liaison"])
def test_freezing_another_school_is_not_found(drive, world, who):
    with pytest.raises(NotFound):
        drive.freeze(who=who)


# --- ledger -----------------------------------------------------------------------------------


def test_ledger_penalises_homeroom_teacher_and_team_per_loss_and_rewards_credited_staff(
        drive, session, factory, world):
    team2 = factory.user("team2", "team_member", school=world.branch, name="二号组员")
    kids = drive.students(world.klass, 20)
    drive.freeze()
    lost = drive.dropout(kids[0], dt.date(2026, 10, 20))
    drive.dropout(kids[1], dt.date(2026, 11, 20))
    recovery = drive.mark_returned(kids[1], dt.date(2026, 12, 1), credited=("teacher", "office"))
    scope = scope_for(session, world["principal"])

    lines = ledger.ledger(session, scope, school_id=world.branch.id, school_year=YEAR, term=1)
    assert sorted((li["user_id"], li["role"], li["amount"], li["student_id"]) for li in lines) == sorted([
        (world["teacher"].id, "homeroom_teacher", Decimal("-50"), kids[0].id),
        (world["team"].id, "team_member", Decimal("-50"), kids[0].id),
        (team2.id, "team_member", Decimal("-50"), kids[0].id),
        (world["teacher"].id, "credited", Decimal("50"), kids[1].id),
        (world["office"].id, "credited", Decimal("50"), kids[1].id),
    ])
    assert {li["case_id"] for li in lines if li["amount"] < 0} == {lost.id}
    assert {li["case_id"] for li in lines if li["amount"] > 0} == {recovery.id}
    assert all(li["class_id"] == world.klass.id for li in lines)
    totals = {t["user_id"]: t["amount"] for t in ledger.ledger_totals(lines)}
    assert totals[world["teacher"].id] == Decimal("0")
    assert totals[world["office"].id] == Decimal("50")

    custom = ledger.ledger(session, scope, school_id=world.branch.id, school_year=YEAR, term=1,
                           amounts={"loss": "-30", "recovery": "20"})
    assert {li["amount"] for li in custom} == {Decimal("-30"), Decimal("20")}


# --- school figures ---------------------------------------------------------------------------


def test_annual_dropout_rate_with_and_without_suspensions(drive, flow, session, world):
    kids = drive.students(world.klass, 30) + drive.students(world.klass2, 20)
    drive.dropout(kids[35], dt.date(2026, 11, 2))
    flow.bring("suspension", "suspended", kids[0])
    scope = scope_for(session, world["office"])

    default = rates.school_figures(session, scope, school_id=world.branch.id, school_year=YEAR)
    assert (default["enrolment"], default["dropouts"]) == (50, 1)
    assert default["dropout_rate"] == Decimal("0.0200")
    assert default["dropout_target"] == Decimal("0.02") and default["meets_target"] is False
    by_class = {c["class_id"]: c for c in default["classes"]}
    assert (by_class[world.klass2.id]["dropouts"], by_class[world.klass2.id]["dropout_rate"]) == (1, Decimal("0.0500"))
    assert by_class[world.klass.id]["dropouts"] == 0

    wider = rates.school_figures(session, scope, school_id=world.branch.id, school_year=YEAR,
                                 settings={"count_suspensions": True})
    assert wider["dropouts"] == 2 and wider["dropout_rate"] == Decimal("0.0400")
    assert wider["counted"] == {"dropouts": 1, "suspensions": 1}


def test_junior_high_target_and_retention_from_exam_records(drive, factory, session, world):
    from models import ExamScore

    school = world.center
    school.is_junior_high = True
    grade7 = factory.klass(school, 7, "七年级1班", school_year="2024-2025")
    grade9 = factory.klass(school, 9, "九年级1班", school_year=YEAR)
    drive.students(grade7, 50, enrolled_on=dt.date(2024, 9, 1))
    finishers = drive.students(grade9, 47, enrolled_on=dt.date(2026, 9, 1))
    scope = scope_for(session, world["center_head"])

    no_exams = rates.school_figures(session, scope, school_id=school.id, school_year=YEAR)
    assert no_exams["dropout_target"] == Decimal("0.03")
    jh = no_exams["retention"]["junior_high"]
    assert (jh["cohort"], jh["finishers"], jh["source"]) == (50, 47, "year_end")
    assert jh["rate"] == Decimal("0.9400") and jh["meets_target"] is True

    for s in finishers[:45]:
        session.add(ExamScore(student_id=s.id, class_id=grade9.id, school_year=YEAR, term=2, subject="语文",
                              score=Decimal("70")))
    session.commit()
    jh = rates.school_figures(session, scope, school_id=school.id, school_year=YEAR)["retention"]["junior_high"]
    assert (jh["finishers"], jh["source"], jh["rate"]) == (45, "exam", Decimal("0.9000"))
    assert jh["meets_target"] is False


# --- oversight and efficiency -----------------------------------------------------------------


def test_school_loss_rates_for_oversight(drive, factory, session, world):
    kids = drive.students(world.klass, 25) + drive.students(world.klass2, 25)
    drive.freeze()
    drive.dropout(kids[0], dt.date(2026, 10, 20))
    drive.students(world.center_class, 5)
    out = losses.school_loss_rates(session, [world.branch.id, world.center.id, world.branch2.id], YEAR, 1)
    assert out[world.branch.id] == (1, 50, Decimal("0.0200"))
    assert out[world.center.id] == (0, None, None)  # not frozen
    assert out[world.branch2.id] == (0, None, None)  # no classes


def test_current_loss_rates_follow_the_term_in_force(drive, session, world):
    kids = drive.students(world.klass, 50)
    drive.freeze()
    drive.dropout(kids[0], dt.date(2026, 10, 20))
    ids = [world.branch.id, world.other_branch.id]
    in_term = losses.current_school_loss_rates(session, ids, today=dt.date(2026, 11, 1))
    assert in_term == {world.branch.id: (1, 50, Decimal("0.0200")), world.other_branch.id: (0, None, None)}
    # the winter holiday still shows term 1; term 2 starts with nothing frozen
    assert losses.current_school_loss_rates(session, ids, today=dt.date(2027, 2, 1))[world.branch.id][2] == Decimal("0.0200")
    assert losses.current_school_loss_rates(session, ids, today=dt.date(2027, 3, 1))[world.branch.id] == (0, None, None)


def _count_queries(session, fn):
    seen = []
    engine_ = session.get_bind()

    def before(conn, cursor, statement, params, context, executemany):
        seen.append(statement)

    event.listen(engine_, "before_cursor_execute", before)
    try:
        fn()
    finally:
        event.remove(engine_, "before_cursor_execute", before)
    return len(seen)


def test_class_figures_take_the_same_number_of_queries_for_one_class_or_many(drive, factory, session, world):
    kids = drive.students(world.klass, 3)
    drive.dropout(kids[0], dt.date(2026, 10, 20))
    drive.mark_returned(kids[0], dt.date(2026, 10, 30))
    drive.freeze()
    session.commit()
    scope = scope_for(session, world["admin"])

    def run():
        losses.class_figures(session, scope, school_year=YEAR, term=1)

    few = _count_queries(session, run)
    staff = {s.id: (factory.user(role="academic_office", school=s), factory.user(role="principal", school=s))
             for s in (world.center, world.branch2)}
    for i in range(6):
        school = world.branch2 if i % 2 else world.center
        klass = factory.klass(school, 4, f"四年级{i + 2}班")
        more = drive.students(klass, 3)
        drive.dropout(more[0], dt.date(2026, 10, 20 + i), *staff[school.id])
    drive.freeze(school=world.center, who="admin")
    drive.freeze(school=world.branch2, who="admin")
    session.commit()
    assert _count_queries(session, run) == few
