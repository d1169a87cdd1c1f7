"""The demo township rolled into the next school year (issue 13): the queues keep their cases,
last year's figures and retention do not move, and the new year's classes get baselines that
count the promoted children (SPEC §4, §5)."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from models import SchoolClass, Student, User
from workflow import clock
from workflow.access.scope import scope_for
from workflow.cases.queue import build_queue
from workflow.demo.cases import build_demo_cases
from workflow.demo.history import build_demo_history, finish_demo_history
from workflow.demo.township import build_demo_world
from workflow.figures.baselines import freeze_baselines
from workflow.figures.common import excluded_on, exclusion_events
from workflow.figures.losses import class_figures
from workflow.figures.rates import school_figures
from workflow.org.services import set_calendar
from workflow.schoolyear.rollover import rollover

DAY = min(clock.today(), dt.date(2026, 12, 10))


@pytest.fixture(autouse=True)
def _ctx(module_session):
    """One test that builds and changes the demo: the module's session, emptied at its end."""
    yield


def _user(session, username):
    return session.scalars(select(User).where(User.username == username)).one()


def test_demo_township_rolls_into_2027_2028(app, module_session):
    session = module_session
    world = build_demo_world(session, seed=3, today=DAY)
    build_demo_history(session, world, store=app.config["UPLOAD_DIR"])
    build_demo_cases(session, world, today=DAY, store=app.config["UPLOAD_DIR"])
    finish_demo_history(session, world)
    session.commit()
    admin = _user(session, "admin")
    admin_scope = scope_for(session, admin)
    office = _user(session, "office1")
    queue_before = [i["id"] for i in build_queue(session, scope_for(session, office), office, today=DAY)]
    center_before = school_figures(session, admin_scope, school_id=world.center.id, school_year="2026-2027")
    classes_before = class_figures(session, admin_scope, school_id=world.branches[0].id, school_year="2026-2027",
                                   term=1)
    active_before = session.scalar(select(func.count()).select_from(Student).where(Student.status == "active"))

    center_office = _user(session, "center_office")
    scope = scope_for(session, center_office)
    dry = rollover(session, scope, center_office, school_id=world.center.id, from_year="2026-2027",
                   to_year="2027-2028", dry_run=True, include_branches=True)
    run = rollover(session, scope, center_office, school_id=world.center.id, from_year="2026-2027",
                   to_year="2027-2028", dry_run=False, include_branches=True)
    session.commit()
    assert dry.as_dict() | {"dry_run": False} == run.as_dict()
    assert run.promoted > 500 and run.graduated > 100 and run.classes_created > 20
    # graduates of the branches (primary: grade 6) and of the center (nine-year: grade 9)
    assert session.scalar(select(func.count()).select_from(Student).where(Student.status == "graduated")) >= \
        run.graduated
    assert session.scalar(select(func.count()).select_from(Student).where(Student.status == "active")) == \
        active_before - run.graduated
    again = rollover(session, scope, center_office, school_id=world.center.id, from_year="2026-2027",
                     to_year="2027-2028", dry_run=False, include_branches=True)
    assert (again.classes_created, again.promoted, again.graduated, again.carried_cases) == (0, 0, 0, 0)

    # queues: the office's open cases are still there
    queue_after = [i["id"] for i in build_queue(session, scope_for(session, office), office, today=DAY)]
    assert queue_after == queue_before
    # last year's figures and retention do not move
    center_after = school_figures(session, admin_scope, school_id=world.center.id, school_year="2026-2027")
    assert center_after["retention"] == center_before["retention"]
    assert center_after["dropout_rate"] == center_before["dropout_rate"]
    assert class_figures(session, admin_scope, school_id=world.branches[0].id, school_year="2026-2027",
                         term=1) == classes_before
    # the new year: a calendar, then baselines that count the promoted children
    set_calendar(session, admin_scope, world.center.id, school_year="2027-2028", term=1,
                 start=dt.date(2027, 9, 1), end=dt.date(2028, 1, 21), holidays=[])
    rows = freeze_baselines(session, admin_scope, admin, school_id=world.center.id, school_year="2027-2028",
                            term=1, today=dt.date(2027, 9, 1))
    promoted = select(Student.id).join(SchoolClass, Student.class_id == SchoolClass.id).where(
        SchoolClass.school_id == world.center.id, SchoolClass.school_year == "2027-2028",
        Student.status == "active")
    # children excluded from the head count (special_exclusion, SPEC §3.7) are in no baseline
    exclusions = exclusion_events(session, promoted)
    in_classes = [sid for sid in session.scalars(promoted)
                  if not excluded_on(exclusions.get(sid), dt.date(2027, 9, 1))]
    assert sum(r.count for r in rows) == len(in_classes) > 0
    new_year = school_figures(session, admin_scope, school_id=world.center.id, school_year="2027-2028")
    assert new_year["retention"]["junior_high"] is not None
