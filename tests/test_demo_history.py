"""Demo history (issues 5 and 6): after the demo build, retention and trends show real numbers,
every class of the current term has a frozen baseline, a branch school is behind its target, and
the villages' catchment registers have rows."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from models import (
    Case,
    CaseHistory,
    CatchmentChild,
    Enrolment,
    ExamScore,
    LadderPolicy,
    School,
    SchoolClass,
    Student,
    User,
)
from workflow import clock
from workflow.access.scope import scope_for
from workflow.demo.cases import build_demo_cases
from workflow.demo.history import PAST_YEARS, build_demo_history, finish_demo_history
from workflow.demo.township import build_demo_world
from workflow.figures.baselines import baseline_history
from workflow.figures.losses import class_figures, current_school_loss_rates
from workflow.figures.rates import school_figures

# The demo is built for the 2026-2027 school year: pretend it is a day late in term 1 whenever the
# tests run (never after the real today: visits cannot be dated in the future).
DAY = min(clock.today(), dt.date(2026, 12, 10))


@pytest.fixture(scope="module")
def demo(app, module_session):
    """The demo township with its history, built once for the module."""
    session = module_session
    world = build_demo_world(session, seed=3, today=DAY)
    store = app.config["UPLOAD_DIR"]
    counts = build_demo_history(session, world, store=store)
    build_demo_cases(session, world, today=DAY, store=store)
    counts.update(finish_demo_history(session, world))
    session.commit()
    return world, counts


@pytest.fixture(autouse=True)
def _ctx(read_only):
    """Replaces the conftest's emptying after each test: the tests only read the demo."""
    yield


def _admin_scope(session):
    admin = session.scalars(select(User).where(User.username == "admin")).one()
    return scope_for(session, admin)


def test_center_school_retention_is_a_real_number_from_the_final_exam(demo, session):
    world, _ = demo
    scope = _admin_scope(session)
    last_year = school_figures(session, scope, school_id=world.center.id, school_year="2025-2026")
    junior = last_year["retention"]["junior_high"]
    assert junior["source"] == "exam" and junior["cohort"] > 100
    # some of the cohort dropped out on the way: below 100%, above the 92% target
    assert junior["rate"] is not None and 0.92 <= junior["rate"] < 1
    this_year = school_figures(session, scope, school_id=world.center.id, school_year="2026-2027")
    assert this_year["retention"]["junior_high"]["rate"] is not None


def test_past_years_have_classes_enrolment_dropouts_and_graduates(demo, session):
    world, counts = demo
    scope = _admin_scope(session)
    for year in PAST_YEARS:
        assert session.scalar(select(func.count()).select_from(SchoolClass).where(
            SchoolClass.school_year == year, SchoolClass.school_id == world.center.id)) >= 15
        f = school_figures(session, scope, school_id=world.center.id, school_year=year)
        assert f["enrolment"] > 800
    dropouts = sum(school_figures(session, scope, school_id=world.center.id, school_year=y)["dropouts"]
                   for y in PAST_YEARS)
    assert dropouts >= 4
    graduated = session.scalar(select(func.count()).select_from(Student).where(Student.status == "graduated"))
    assert graduated == counts["graduates"] + 1  # a returned child of the 2026 cohort graduated too
    assert session.scalar(select(func.count()).select_from(ExamScore).where(
        ExamScore.exam == "final", ExamScore.term == 2, ExamScore.school_year.in_(PAST_YEARS))) > 1000


def test_a_grade_four_child_sat_in_grade_three_last_year_at_the_same_school(demo, session):
    world, _ = demo
    klass = next(k for k in world.classes if k.grade == 4 and k.school_id == world.branches[0].id)
    student = session.scalars(select(Student).where(Student.class_id == klass.id).order_by(Student.id)).first()
    periods = session.scalars(select(Enrolment).where(Enrolment.student_id == student.id)
                              .order_by(Enrolment.start_date)).all()
    path = [(p.klass.school_year, p.klass.grade, p.school_id) for p in periods]
    assert path == [("2023-2024", 1, klass.school_id), ("2024-2025", 2, klass.school_id),
                    ("2025-2026", 3, klass.school_id), ("2026-2027", 4, klass.school_id)]
    assert all(a.end_date == b.start_date for a, b in zip(periods, periods[1:], strict=False))
    # the student page reads 入学, 升级, 升级, 升级: today's class began with a promotion too
    assert [p.start_reason for p in periods] == ["enrol", "promote", "promote", "promote"]


def test_past_dropouts_and_returns_are_real_cases_with_past_effective_dates(demo, session):
    confirmed = session.execute(select(CaseHistory.effective_date, CaseHistory.user_id, CaseHistory.role).where(
        CaseHistory.transition == "confirm_dropout", CaseHistory.effective_date < dt.date(2026, 7, 4))).all()
    assert len(confirmed) >= 6
    assert all(user_id is not None and role == "principal" for _d, user_id, role in confirmed)
    returned = session.scalars(select(Case).join(CaseHistory, CaseHistory.case_id == Case.id).where(
        Case.process == "recovery", CaseHistory.transition == "mark_returned",
        CaseHistory.effective_date < dt.date(2026, 7, 4))).all()
    assert len(returned) >= 3 and all(not c.is_open for c in returned)
    # a returned child is back on today's roll, in the class of their grade
    back = [session.get(Student, c.student_id) for c in returned]
    assert any(s.status == "active" and s.klass.school_year == "2026-2027" for s in back)


def test_current_term_classes_have_baselines_and_a_branch_is_over_the_threshold(demo, session):
    world, _ = demo
    scope = _admin_scope(session)
    for school in world.schools:
        items = class_figures(session, scope, school_id=school.id, school_year="2026-2027", term=1)
        assert items and all(i["baseline"] is not None and i["baseline"] > 0 for i in items), school.name
    rates = current_school_loss_rates(session, [b.id for b in world.branches], today=DAY)
    over = [sid for sid, (_losses, _base, rate) in rates.items() if rate is not None and rate > 0.02]
    assert over, rates
    assert session.get(School, over[0]).kind == "branch"


def test_past_terms_have_frozen_baselines_marked_as_entered_later(demo, session):
    world, _ = demo
    scope = _admin_scope(session)
    items = class_figures(session, scope, school_id=world.center.id, school_year="2024-2025", term=2)
    assert items and all(i["baseline"] is not None for i in items)
    history = baseline_history(session, scope, items[0]["class_id"], "2024-2025", 2)
    assert history[0].rule == "takeover" and "补录" in history[0].reason


def test_every_village_has_a_catchment_register_with_children_not_at_school_here(demo, session):
    world, _ = demo
    for village in world.villages.values():
        assert session.scalar(select(func.count()).select_from(CatchmentChild).where(
            CatchmentChild.village_id == village.id)) > 0, village.name
    statuses = set(session.scalars(select(CatchmentChild.status).distinct()))
    assert statuses == {"enrolled_here", "enrolled_elsewhere", "deferred", "not_enrolled"}
    linked = session.scalars(select(CatchmentChild).where(CatchmentChild.status == "enrolled_here")).all()
    assert all(c.student_id is not None and c.student.status == "active" for c in linked)


def test_the_ladder_has_a_saved_version(demo, session):
    world, _ = demo
    row = session.scalars(select(LadderPolicy).where(LadderPolicy.center_school_id == world.center.id)).one()
    assert row.version == 1 and [r["state"] for r in row.rungs] == ["visit_1", "visit_2", "visit_3",
                                                                     "village_joint"]
