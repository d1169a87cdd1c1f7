"""Demo world: one township (a county bureau, a center school, four village schools), its villages,
~40 classes, ~1,500 students, staff in every role and the 2026-2027 school calendar.

Used by `flask --app wsgi demo-data`. Deterministic for a given seed (Faker zh_CN and
`random.Random` are both seeded), no Flask. Each part is a small function taking the
`DemoWorld` built so far, so later builders (cases, attendance) can be added the same way.
Flushes, never commits.
"""
from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from faker import Faker
from sqlalchemy import insert
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from models import (
    PASSWORD_METHOD,
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
from workflow import clock
from workflow.demo import DEMO_PASSWORD
from workflow.org.services import id_card_check_char

SCHOOL_YEAR = "2026-2027"
DEFAULT_SEED = 2026

# The 6-digit administrative division code of the demo county: the first six digits of every
# demo ID card, so the numbers look local and pass the GB 11643 check.
AREA_CODE = "433127"
GRADE_NAMES = {1: "一", 2: "二", 3: "三", 4: "四", 5: "五", 6: "六", 7: "七", 8: "八", 9: "九"}

COUNTY = ("云溪县教育局", "YX")
CENTER = ("云溪县石桥镇中心校", "YX-SQ00")


@dataclass(frozen=True)
class SchoolPlan:
    """One school of the demo: which grades it teaches, how many classes per grade, class sizes,
    and the villages its children come from (weights)."""

    name: str
    code: str
    classes_per_grade: dict[int, int]
    class_size: tuple[int, int]
    villages: dict[str, int]


# Branch 1 is the school of principal1, office1, team1, teacher1 and subject1; liaison1's
# village (东岭村) sends its children there.
BRANCH_PLANS = (
    SchoolPlan("东岭村小学", "YX-SQ01", {g: 1 for g in range(1, 7)}, (26, 34), {"东岭村": 8, "龙潭村": 2}),
    SchoolPlan("西溪村小学", "YX-SQ02", {g: 1 for g in range(1, 7)}, (24, 32), {"西溪村": 9, "杨柳村": 1}),
    SchoolPlan("南山村小学", "YX-SQ03", {g: 1 for g in range(1, 5)}, (18, 26), {"南山村": 1}),
    SchoolPlan("北坡教学点", "YX-SQ04", {g: 1 for g in range(1, 4)}, (9, 15), {"北坡村": 3, "南山村": 1}),
)
# 南山 and 北坡 children move to the center school once their village school's grades end.
CENTER_PRIMARY = SchoolPlan(CENTER[0], CENTER[1], {g: 2 for g in range(1, 7)}, (40, 48),
                            {"石桥村": 10, "杨柳村": 6, "龙潭村": 4, "南山村": 1, "北坡村": 1})
# Junior high (grades 7-9) draws on the whole catchment.
CENTER_JUNIOR = SchoolPlan(CENTER[0], CENTER[1], {g: 3 for g in range(7, 10)}, (44, 52),
                           {"石桥村": 4, "东岭村": 2, "西溪村": 2, "南山村": 2, "北坡村": 1, "龙潭村": 2,
                            "杨柳村": 2})
# Ordered so that liaisonN serves the village of branch N first.
VILLAGE_NAMES = ("东岭村", "西溪村", "南山村", "北坡村", "石桥村", "龙潭村", "杨柳村")

# The 2026-2027 calendar of the center school (branches use their center's). The holiday dates
# follow the State Council's usual pattern but are an ASSUMPTION for 2027 (that notice is
# published in the preceding November): (name, first day off, last day off, make-up workdays).
TERMS = ((1, dt.date(2026, 9, 1), dt.date(2027, 1, 22)), (2, dt.date(2027, 2, 22), dt.date(2027, 7, 2)))
HOLIDAYS = (
    ("中秋节", dt.date(2026, 9, 25), dt.date(2026, 9, 27), ()),
    ("国庆节", dt.date(2026, 10, 1), dt.date(2026, 10, 7), (dt.date(2026, 9, 20), dt.date(2026, 10, 10))),
    ("元旦", dt.date(2027, 1, 1), dt.date(2027, 1, 3), ()),
    ("清明节", dt.date(2027, 4, 3), dt.date(2027, 4, 5), ()),
    ("劳动节", dt.date(2027, 5, 1), dt.date(2027, 5, 5), (dt.date(2027, 5, 8),)),
    ("端午节", dt.date(2027, 6, 9), dt.date(2027, 6, 9), ()),
)

# Share of students with each flag (SPEC §1); left-behind children are common in rural schools.
FLAG_RATES = {"left_behind": 0.30, "poor": 0.10, "disability": 0.01, "learning_difficulty": 0.04}

# the GB 11643 check character, the same rule the API validates with
id_card_check_digit = id_card_check_char


def make_id_card(area: str, birth: dt.date, seq: int, gender: str) -> str:
    """An 18-digit ID number: area, birth date, a 3-digit order number (odd for boys, even for
    girls) and the check digit."""
    seq = seq - seq % 2 + (1 if gender == "M" else 0)
    first17 = f"{area}{birth:%Y%m%d}{seq:03d}"
    return first17 + id_card_check_digit(first17)


def class_name(grade: int, number: int) -> str:
    return f"{GRADE_NAMES[grade]}年级{number}班"


@dataclass
class DemoWorld:
    """Everything the demo created, for the summary and for later builders."""

    seed: int
    today: dt.date  # the date later builders (cases, attendance) count back from
    fake: Faker
    rng: random.Random
    county: School | None = None
    center: School | None = None
    branches: list[School] = field(default_factory=list)
    villages: dict[str, Village] = field(default_factory=dict)
    classes: list[SchoolClass] = field(default_factory=list)
    class_plans: dict[int, SchoolPlan] = field(default_factory=dict)  # class id -> its plan
    terms: list[Term] = field(default_factory=list)
    users: dict[str, User] = field(default_factory=dict)
    homeroom: dict[int, User] = field(default_factory=dict)  # class id -> homeroom teacher
    student_ids: list[int] = field(default_factory=list)

    @property
    def schools(self) -> list[School]:
        return [self.center, *self.branches]

    def summary(self) -> dict:
        roles: dict[str, int] = {}
        for user in self.users.values():
            for ra in user.roles:
                roles[ra.role] = roles.get(ra.role, 0) + 1
        return {
            "seed": self.seed,
            "school_year": SCHOOL_YEAR,
            "county": self.county.name,
            "center": self.center.name,
            "branches": [b.name for b in self.branches],
            "villages": len(self.villages),
            "classes": len(self.classes),
            "students": len(self.student_ids),
            "users": len(self.users),
            "roles": roles,
            "terms": len(self.terms),
        }


def build_demo_world(session: Session, seed: int = DEFAULT_SEED, today: dt.date | None = None) -> DemoWorld:
    """Build the demo township in `session` (flushed, not committed) and return its objects.

    Meant for an empty database: usernames and ID numbers are unique, so running it twice
    raises IntegrityError.
    """
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    world = DemoWorld(seed=seed, today=today or clock.today(), fake=fake, rng=random.Random(seed))
    build_schools(session, world)
    build_villages(session, world)
    build_classes(session, world)
    build_calendar(session, world)
    build_staff(session, world)
    build_students(session, world)
    return world


def _school(session: Session, name: str, kind: str, code: str, parent: School | None,
            junior_high: bool = False, level: str | None = "nine_year") -> School:
    school = School(name=name, kind=kind, code=code, is_junior_high=junior_high, level=level)
    session.add(school)
    session.flush()  # place_in_tree needs the row's own id for county/center nodes
    school.place_in_tree(parent)
    return school


def build_schools(session: Session, world: DemoWorld) -> None:
    """The county bureau, the center school (grades 1-9) and its four branch schools."""
    world.county = _school(session, COUNTY[0], "county", COUNTY[1], None, level=None)
    world.center = _school(session, CENTER[0], "center", CENTER[1], world.county, junior_high=True)
    # village schools are primary schools (their top grade graduates at rollover, SPEC §1)
    world.branches = [_school(session, p.name, "branch", p.code, world.center, level="primary")
                      for p in BRANCH_PLANS]
    session.flush()


def build_villages(session: Session, world: DemoWorld) -> None:
    """The center school's catchment villages."""
    for name in VILLAGE_NAMES:
        world.villages[name] = Village(name=name, center_school_id=world.center.id)
    session.add_all(world.villages.values())
    session.flush()


def build_classes(session: Session, world: DemoWorld) -> None:
    """Classes of the school year, branch schools first (so teacher1 teaches at branch 1)."""
    pairs = [(school, plan) for school, plan in zip(world.branches, BRANCH_PLANS, strict=True)]
    pairs += [(world.center, CENTER_PRIMARY), (world.center, CENTER_JUNIOR)]
    planned = []
    for school, plan in pairs:
        for grade, count in plan.classes_per_grade.items():
            for number in range(1, count + 1):
                klass = SchoolClass(school_id=school.id, school_year=SCHOOL_YEAR, grade=grade,
                                    name=class_name(grade, number))
                planned.append((klass, plan))
    session.add_all(k for k, _ in planned)
    session.flush()
    world.classes = [k for k, _ in planned]
    world.class_plans = {k.id: plan for k, plan in planned}


def build_calendar(session: Session, world: DemoWorld) -> None:
    """Both terms of the school year on the center school, with holidays and make-up days."""
    for number, start, end in TERMS:
        term = Term(school_id=world.center.id, school_year=SCHOOL_YEAR, term=number, start=start, end=end)
        for _name, first, last, workdays in HOLIDAYS:
            day = first
            while day <= last:
                if start <= day <= end:
                    term.days.append(CalendarDay(date=day, kind="holiday"))
                day += dt.timedelta(days=1)
            term.days.extend(CalendarDay(date=d, kind="workday") for d in workdays if start <= d <= end)
        world.terms.append(term)
    session.add_all(world.terms)
    session.flush()


def build_staff(session: Session, world: DemoWorld) -> None:
    """Staff in every role; the demo accounts of the login page are among them.

    principalN/officeN/teamN work at branch N (N = 0 is the center school itself), teacherN is
    homeroom teacher of the N-th class (branch schools first), subjectN teaches several classes,
    liaisonN serves the N-th village. Every account has the password DEMO_PASSWORD.
    """
    # One hash for every demo account: scrypt costs ~50 ms a call, and the accounts share the
    # password anyway. Each row still gets its own hash once the user changes the password.
    password_hash = generate_password_hash(DEMO_PASSWORD, **PASSWORD_METHOD)
    fake = world.fake

    def add(username: str, role: str, name: str | None = None, **scope) -> User:
        user = world.users.get(username)
        if user is None:
            user = User(username=username, name=name or fake.name(), password_hash=password_hash,
                        is_active=True)
            world.users[username] = user
        user.roles.append(RoleAssignment(role=role, **scope))
        return user

    add("admin", "admin", name="系统管理员")
    add("supervisor", "county_supervisor", school_id=world.county.id)
    add("center_head", "center_head", school_id=world.center.id)
    add("center_office", "center_office", school_id=world.center.id)
    for n, school in [(0, world.center)] + list(enumerate(world.branches, start=1)):
        add(f"principal{n}", "principal", school_id=school.id)
        add(f"office{n}", "academic_office", school_id=school.id)
        add(f"team{n}", "team_member", school_id=school.id)
    for n, klass in enumerate(world.classes, start=1):
        world.homeroom[klass.id] = add(f"teacher{n}", "homeroom_teacher", class_id=klass.id)
    for n, classes in enumerate(_subject_groups(world), start=1):
        for klass in classes:
            add(f"subject{n}", "subject_teacher", class_id=klass.id)
    for n, village in enumerate(world.villages.values(), start=1):
        add(f"liaison{n}", "village_liaison", village_id=village.id)
    session.add_all(world.users.values())
    session.flush()


def _subject_groups(world: DemoWorld) -> list[list[SchoolClass]]:
    """Classes taught by each subject teacher: one teacher covers a whole village school; at the
    center school one teacher per grade."""
    groups = [[k for k in world.classes if k.school_id == b.id] for b in world.branches]
    center = [k for k in world.classes if k.school_id == world.center.id]
    for grade in sorted({k.grade for k in center}):
        groups.append([k for k in center if k.grade == grade])
    return groups


def _birth_window(grade: int) -> tuple[dt.date, dt.date]:
    """Children start grade 1 in the September after they turn 6 (cut-off 31 August)."""
    entry_year = int(SCHOOL_YEAR[:4]) - (grade - 1)
    return dt.date(entry_year - 7, 9, 1), dt.date(entry_year - 6, 8, 31)


def _pick(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def build_students(session: Session, world: DemoWorld) -> None:
    """Fill every class with students, their guardians and an enrolment from the first school day.

    Bulk inserts (a few thousand rows) keep this to about a second on SQLite.
    """
    fake, rng = world.fake, world.rng
    start = TERMS[0][1]
    used_ids: set[str] = set()
    students: list[dict] = []
    guardians: list[list[dict]] = []
    for klass in world.classes:
        plan = world.class_plans[klass.id]
        first, last = _birth_window(klass.grade)
        for _ in range(rng.randint(*plan.class_size)):
            gender = "M" if rng.random() < 0.52 else "F"
            # A few children started late or repeated a year.
            year_back = 1 if rng.random() < 0.05 else 0
            birth = first + dt.timedelta(days=rng.randint(0, (last - first).days)) - dt.timedelta(days=365 * year_back)
            id_card = make_id_card(AREA_CODE, birth, rng.randint(0, 999), gender)
            while id_card in used_ids:
                id_card = make_id_card(AREA_CODE, birth, rng.randint(0, 999), gender)
            used_ids.add(id_card)
            surname = fake.last_name()
            given = fake.first_name_male() if gender == "M" else fake.first_name_female()
            flags = {flag: rng.random() < rate for flag, rate in FLAG_RATES.items()}
            students.append({
                "name": surname + given, "gender": gender, "birth_date": birth,
                "student_no": "G" + id_card, "id_card_no": id_card,
                "school_id": klass.school_id, "class_id": klass.id,
                "village_id": world.villages[_pick(rng, plan.villages)].id,
                "status": "active", "is_provisional": False, **flags,
            })
            guardians.append(_guardians(fake, rng, surname, flags["left_behind"]))

    ids = list(session.scalars(
        insert(Student).returning(Student.id, sort_by_parameter_order=True), students))
    session.execute(insert(Guardian), [
        {**g, "student_id": sid} for sid, gs in zip(ids, guardians, strict=True) for g in gs
    ])
    session.execute(insert(Enrolment), [
        {"student_id": sid, "school_id": s["school_id"], "class_id": s["class_id"], "start_date": start,
         "start_reason": "enrol", "is_provisional": False}
        for sid, s in zip(ids, students, strict=True)
    ])
    world.student_ids = ids
    session.flush()


def _guardians(fake: Faker, rng: random.Random, surname: str, left_behind: bool) -> list[dict]:
    """Parents, or for a left-behind child a grandparent at home plus a parent working away."""
    father = {"name": surname + fake.first_name_male(), "relation": "父亲", "phone": fake.phone_number()}
    mother = {"name": fake.last_name() + fake.first_name_female(), "relation": "母亲",
              "phone": fake.phone_number()}
    if left_behind:
        grandparent = rng.choice([("祖父", surname + fake.first_name_male()),
                                  ("祖母", fake.last_name() + fake.first_name_female()),
                                  ("外祖母", fake.last_name() + fake.first_name_female())])
        carer = {"name": grandparent[1], "relation": grandparent[0], "phone": fake.phone_number()}
        return [carer, rng.choice([father, mother])]
    return [father, mother] if rng.random() < 0.7 else [rng.choice([father, mother])]
