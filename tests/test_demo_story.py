"""The demo's first screens tell a believable story (issue 12, follow-up): the schools take the roll
every school day — but for one deliberate gap in teacher1's class — and file their monthly reports
on time, but for the deliberate stories (a branch behind, reports waiting for a signature and for
the county). Built once by the CLI on a fixed day, so the story does not depend on when the tests
run."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from models import AttendanceDay, AttendanceRecord, Case, Enrolment, School, SchoolClass, Student, User
from workflow import clock
from workflow.absence.attendance import missing_days
from workflow.demo import DEMO_PASSWORD
from workflow.org.calendar import SchoolCalendar
from workflow.processes.absence import SUSPECTED_DROPOUT_STATES
from workflow.reporting import monthly

# A Tuesday late in term 1 of the demo's school year: yesterday was a school day (Monday), and the
# deadlines of both of the last two months' reports (5th school day of the next month) have passed.
DAY = dt.date(2026, 11, 24)


@pytest.fixture(scope="module")
def demo(app, module_session):
    """`flask demo-data` as an operator runs it, on the morning of DAY; DAY stays today for the
    module's pages."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(clock, "today", lambda: DAY)
        result = app.test_cli_runner().invoke(args=["demo-data", "--seed", "11"])
        assert result.exit_code == 0, result.output
        module_session.expire_all()
        yield module_session


@pytest.fixture(scope="module")
def pages(app, demo):
    """page(username, path): the page as the demo account sees it, logged in through the login
    form. Fetched before the read-only tests (a login writes its session row); memoized."""
    clients, seen = {}, {}

    def page(username: str, path: str) -> str:
        if (username, path) not in seen:
            if username not in clients:
                client = clients[username] = app.test_client()
                form = client.get("/login").get_data(as_text=True)
                token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form).group(1)
                resp = client.post("/login", data={"username": username, "password": DEMO_PASSWORD,
                                                   "csrf_token": token})
                assert resp.status_code == 302
            resp = clients[username].get(path)
            assert resp.status_code == 200, (username, path)
            seen[(username, path)] = resp.get_data(as_text=True)
        return seen[(username, path)]

    schools = list(demo.scalars(select(School.id).where(School.kind != "county")))
    page("teacher1", "/queue")
    page("center_head", "/oversight")
    page("supervisor", "/monthly/")
    for school_id in schools:
        page("supervisor", f"/monthly/?school_id={school_id}")
    return page


@pytest.fixture(autouse=True)
def _ctx(read_only):
    """Replaces the conftest's emptying after each test: the tests only read the demo."""
    yield


def _user(session, username: str) -> User:
    return session.scalars(select(User).where(User.username == username)).one()


def _schools(session) -> dict[str, School]:
    return {s.name: s for s in session.scalars(select(School).where(School.kind != "county"))}


def _teacher1_class(session) -> SchoolClass:
    teacher1 = _user(session, "teacher1")
    return session.get(SchoolClass, next(ra.class_id for ra in teacher1.roles if ra.role == "homeroom_teacher"))


def test_teacher1_queue_lists_only_the_one_roll_that_was_not_taken(pages, demo):
    html = pages("teacher1", "/queue")
    assert "本学期未登记考勤的上课日（共 1 天次）" in html
    days = re.findall(r'data-missing-day="(\d+):([\d-]+)"', html)
    klass = _teacher1_class(demo)
    assert len(days) == 1 and int(days[0][0]) == klass.id
    gap = dt.date.fromisoformat(days[0][1])
    calendar = SchoolCalendar.load(demo, klass.school_id)
    # the latest day whose roll no story took: yesterday's roll belongs to the 第一次家访 story
    yesterday = calendar.previous_school_day(DAY)
    assert calendar.is_school_day(gap) and DAY - dt.timedelta(days=7) <= gap < yesterday
    assert demo.scalar(select(AttendanceDay.id).where(AttendanceDay.class_id == klass.id,
                                                      AttendanceDay.date == yesterday)) is not None


def test_every_class_took_every_roll_of_the_term_but_the_one_gap(demo):
    classes = list(demo.execute(select(SchoolClass.id, SchoolClass.school_id, SchoolClass.school_year)))
    calendar = SchoolCalendar.load(demo, _schools(demo)["云溪县石桥镇中心校"].id)
    term = calendar.term_for(DAY)
    missing = missing_days(demo, classes, term.start, DAY - dt.timedelta(days=1))
    assert list(missing) == [_teacher1_class(demo).id] and len(missing[_teacher1_class(demo).id]) == 1
    # today's roll is not taken yet: the demo is the morning of its today
    assert demo.scalar(select(AttendanceDay.id).where(AttendanceDay.date == DAY)) is None


def test_oversight_counts_the_missing_roll_only_at_the_school_that_missed_it(pages, demo):
    html = pages("center_head", "/oversight")
    counts = {int(sid): int(n) for sid, n in re.findall(
        r'<tr data-school="(\d+)".*?data-col="missing"[^>]*>(\d+)</td>', html, flags=re.S)}
    schools = _schools(demo)
    assert counts == {s.id: (1 if name == "东岭村小学" else 0) for name, s in schools.items()}


def test_the_everyday_rolls_keep_every_absence_story(demo):
    """An open absence case's child is unexcused on every school day from the first day of absence
    to yesterday, as the stories recorded them (a `present` mark would have ended the case)."""
    rungs = ("visit_1", "visit_2", *SUSPECTED_DROPOUT_STATES)
    cases = list(demo.scalars(select(Case).where(Case.process == "absence", Case.is_open.is_(True),
                                                 Case.state.in_(rungs))))
    assert len(cases) >= 4
    for case in cases:
        calendar = SchoolCalendar.load(demo, case.school_id)
        days = calendar.school_days_between(case.opened_on, DAY - dt.timedelta(days=1))
        marks = dict(demo.execute(select(AttendanceRecord.date, AttendanceRecord.status).where(
            AttendanceRecord.student_id == case.student_id, AttendanceRecord.date >= case.opened_on)).all())
        assert days and [marks.get(d) for d in days] == ["unexcused"] * len(days), (case.id, case.state)


def test_a_child_who_left_is_on_the_rolls_until_the_day_they_left(demo):
    left = list(demo.execute(
        select(Student.id, Enrolment.class_id, Enrolment.start_date, Enrolment.end_date)
        .join(Enrolment, Enrolment.student_id == Student.id)
        .join(SchoolClass, SchoolClass.id == Enrolment.class_id)
        .where(Student.status == "dropped_out", SchoolClass.school_year == "2026-2027",
               Enrolment.end_date.is_not(None))))
    assert left
    for student_id, class_id, start, end in left:
        marks = dict(demo.execute(select(AttendanceRecord.date, AttendanceRecord.class_id).where(
            AttendanceRecord.student_id == student_id)).all())
        assert marks and all(day < end for day in marks), student_id
        assert all(c == class_id for d, c in marks.items() if d >= start), student_id


def test_the_monthly_rollup_is_late_only_where_the_demo_means_it(pages, demo):
    schools = _schools(demo)
    last = monthly.previous_month(monthly.month_of(DAY))
    two_ago = monthly.previous_month(last)
    behind = schools["西溪村小学"].id
    late = set()
    for school in schools.values():
        html = pages("supervisor", f"/monthly/?school_id={school.id}")
        late |= {(school.id, m) for m in re.findall(r'data-month="([\d-]+)" data-late="yes"', html)}
    assert late == {(behind, two_ago), (behind, last)}
    overview = pages("supervisor", "/monthly/")
    assert len(re.findall(r'data-late="yes"', overview)) == 2


def test_every_other_report_of_the_year_was_filed_on_time_and_accepted(demo):
    schools = _schools(demo)
    last = monthly.previous_month(monthly.month_of(DAY))
    two_ago = monthly.previous_month(last)
    three_ago = monthly.previous_month(two_ago)
    months = monthly.recent_months(DAY, 12)
    reports = {(c.school_id, c.period): c for c in demo.scalars(select(Case).where(Case.process == "monthly_report"))}
    branch1, center, behind = (schools[n].id for n in ("东岭村小学", "云溪县石桥镇中心校", "西溪村小学"))
    stories = {(branch1, two_ago): "signed", (center, last): "submitted", (behind, two_ago): "draft",
               (behind, last): None}
    expected = {(s.id, m): stories.get((s.id, m), "accepted") for s in schools.values() for m in months}
    assert {k: (reports[k].state if k in reports else None) for k in expected} == expected
    assert len(reports) == len(expected) - 1
    assert reports[(branch1, three_ago)].data.get("rechecks")
    for (school_id, month), case in reports.items():
        if case.state == "draft":
            continue
        assert case.data["figures"]["month"] == month and case.data["figures"]["school_id"] == school_id
        assert case.data["figures"]["counts"]["enrolled"] > 0
