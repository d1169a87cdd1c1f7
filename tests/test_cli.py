"""CLI commands: create-admin and demo-data (and the demo world builder behind it)."""
from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from admin.views.auth import DEMO_ACCOUNTS, DEMO_PASSWORD
from models import (
    ROLES,
    Base,
    CalendarDay,
    Enrolment,
    Guardian,
    RoleAssignment,
    School,
    SchoolClass,
    Student,
    Term,
    User,
    Village,
)
from workflow.demo.township import build_demo_world, id_card_check_digit

ROOT = Path(__file__).resolve().parent.parent


def _token_status(client, username: str, password: str) -> int:
    return client.post("/api/v1/tokens", json={"username": username, "password": password}).status_code


def test_create_admin_creates_an_admin_who_can_log_in(app, session):
    result = app.test_cli_runner().invoke(args=["create-admin", "--username", "boss", "--password", "first-pass-2026"])
    assert result.exit_code == 0, result.output

    user = session.scalars(select(User).where(User.username == "boss")).one()
    assert user.role_codes() == {"admin"}
    assert user.name == "系统管理员"
    assert "first-pass-2026" not in user.password_hash
    assert _token_status(app.test_client(), "boss", "first-pass-2026") == 201


def test_create_admin_again_resets_the_password_without_a_second_account(app, session):
    runner = app.test_cli_runner()
    runner.invoke(args=["create-admin", "--username", "boss", "--password", "first-pass-2026"])
    result = runner.invoke(args=["create-admin", "--username", "boss", "--password", "second-pass-2026"])
    assert result.exit_code == 0, result.output

    assert session.scalar(select(func.count()).select_from(User)) == 1
    user = session.scalars(select(User).where(User.username == "boss")).one()
    assert [r.role for r in user.roles] == ["admin"]
    client = app.test_client()
    assert _token_status(client, "boss", "first-pass-2026") == 401
    assert _token_status(client, "boss", "second-pass-2026") == 201


def _count(session, model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where))


def test_demo_data_builds_a_township_where_every_demo_account_logs_in(app, session):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo-data", "--seed", "7"])
    assert result.exit_code == 0, result.output
    assert "演示数据已载入" in result.output

    schools = session.scalars(select(School)).all()
    kinds = sorted(s.kind for s in schools)
    assert kinds == ["branch"] * 4 + ["center", "county"]
    center = next(s for s in schools if s.kind == "center")
    assert all(s.center_id == center.id for s in schools if s.kind == "branch")
    assert {k.grade for k in center.classes} == set(range(1, 10))
    assert all(max(k.grade for k in s.classes) <= 6 for s in schools if s.kind == "branch")
    assert 6 <= _count(session, Village) <= 8
    assert _count(session, SchoolClass) >= 35
    # The demo history adds three graduated junior-high cohorts of past years: the township's
    # children at school today are the others.
    everyone = session.scalars(select(Student)).all()
    students = [s for s in everyone if s.status != "graduated"]
    assert 1300 <= len(students) <= 1700
    assert 300 <= len(everyone) - len(students) <= 500

    # Students of the base roll (demo cases add transfer-ins without ID cards, and enrolment
    # periods for children who left and came back): valid ID numbers matching birth date and
    # gender, plausible ages, at least one enrolment each.
    rolled = [s for s in students if s.id_card_no and s.klass is not None and s.klass.school_year == "2026-2027"]
    for st in rolled[::37]:
        card = st.id_card_no
        assert len(card) == 18 and card[-1] == id_card_check_digit(card[:17])
        assert card[6:14] == st.birth_date.strftime("%Y%m%d")
        assert int(card[16]) % 2 == (1 if st.gender == "M" else 0)
        assert st.student_no == "G" + card
        age_at_start = int((dt.date(2026, 9, 1) - st.birth_date).days / 365.25)
        assert st.klass.grade + 5 <= age_at_start <= st.klass.grade + 7
        assert st.village_id is not None and st.guardians and all(g.phone for g in st.guardians)
    assert _count(session, Enrolment) >= len(rolled)
    assert _count(session, Guardian) >= len(students)
    left_behind = sum(s.left_behind for s in students) / len(students)
    poor = sum(s.poor for s in students) / len(students)
    assert 0.2 < left_behind < 0.4 and 0.05 < poor < 0.15
    assert any(s.disability for s in students) and any(s.learning_difficulty for s in students)

    # Calendar on the center school only (the current year and three past years), with holidays
    # and weekend make-up days.
    terms = session.scalars(select(Term)).all()
    assert sorted((t.school_year, t.school_id, t.term) for t in terms) == [
        (f"{y}-{y + 1}", center.id, n) for y in range(2023, 2027) for n in (1, 2)]
    days = session.scalars(select(CalendarDay)).all()
    assert dt.date(2026, 10, 1) in {d.date for d in days if d.kind == "holiday"}
    assert all(d.date.weekday() >= 5 for d in days if d.kind == "workday")

    # Every role is held by someone; the login page's accounts work with the shown password.
    assert set(session.scalars(select(RoleAssignment.role).distinct())) == set(ROLES)
    client = app.test_client()
    for username, _label in DEMO_ACCOUNTS:
        assert _token_status(client, username, DEMO_PASSWORD) == 201, username

    # teacher1, principal1, office1 and team1 share a branch school; liaison1's village sends
    # children there.
    users = {u.username: u for u in session.scalars(select(User))}
    branch_id = users["principal1"].roles[0].school_id
    assert session.get(School, branch_id).kind == "branch"
    assert users["office1"].roles[0].school_id == branch_id
    assert users["team1"].roles[0].school_id == branch_id
    teacher_class = session.get(SchoolClass, users["teacher1"].roles[0].class_id)
    assert teacher_class.school_id == branch_id
    liaison_village = users["liaison1"].roles[0].village_id
    assert _count(session, Student, Student.village_id == liaison_village, Student.school_id == branch_id) > 0

    # Loading again: skipped with --if-empty, refused without it; nothing doubles.
    again = runner.invoke(args=["demo-data", "--if-empty"])
    assert again.exit_code == 0 and "跳过" in again.output
    refused = runner.invoke(args=["demo-data"])
    assert refused.exit_code != 0
    session.expire_all()
    assert _count(session, Student) == len(everyone)
    assert _count(session, School) == 6


def _demo_names(seed: int) -> list[str]:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        world = build_demo_world(s, seed=seed, today=dt.date(2026, 11, 2))
        names = list(s.scalars(select(Student.name).where(Student.id.in_(world.student_ids))
                               .order_by(Student.id)))
    engine.dispose()
    return names


def test_demo_with_the_same_seed_gives_the_same_students():
    first = _demo_names(11)
    assert first == _demo_names(11)
    assert first != _demo_names(12)


def test_demo_builder_does_not_need_flask():
    code = "import sys, workflow.demo; sys.exit('flask' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_id_card_check_digit_follows_gb_11643():
    # The worked example of the standard, whose check character is X.
    assert id_card_check_digit("11010519491231002") == "X"
    assert id_card_check_digit("44052418800101001") == "4"
