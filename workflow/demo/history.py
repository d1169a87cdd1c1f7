"""Demo history: three past school years behind the demo township, so that retention, trends and
the figures of past terms show real numbers (issue 6), and a branch school behind its target in
the current term (issue 5).

What it adds to the world of `workflow.demo.township`:

- the calendars of 2023-2024, 2024-2025 and 2025-2026 (center school; branches use it);
- the classes of those years and the earlier enrolment periods of today's students (a grade-4
  child of 2026-2027 was in grade 3 in 2025-2026 …; junior-high children went to the village
  school of their village, or the center school, in their primary years);
- three graduated junior-high cohorts (students with status `graduated`) and their grade-9
  final exam scores, so that 初中三年巩固率 computes from exam records;
- a handful of children who dropped out in past years, through real cases with past effective
  dates (absence opened by the academic office, the days of absence on the class's roll and the
  ladder climbed by the real daily sweep, `workflow.demo.absences`; rung visits logged by the
  people the ladder names, the dropout confirmed by the principal; some came back through their
  recovery case's `mark_returned`);
- in the current term, three dropouts at 南山村小学, so that school is over the 2% threshold;
- frozen baselines of every past term and of the current term 1;
- the catchment register of every village (children enrolled here, elsewhere, deferred, not
  enrolled) and a mid-term exam of the current term.

History-like rows that need no engine logic (enrolment periods, exam scores, register rows) are
bulk inserted. `build_demo_history` runs before `workflow.demo.cases`, `finish_demo_history`
after it (the register and the current baselines then see the demo cases too). Deterministic for
the world's seed. Flushes, never commits. No Flask.
"""
from __future__ import annotations

import datetime as dt
import random
import re
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from models import (
    CalendarDay,
    Case,
    CatchmentChild,
    Enrolment,
    ExamScore,
    Guardian,
    School,
    SchoolClass,
    Student,
    Term,
)
from workflow.absence import ladder
from workflow.access.scope import scope_for
from workflow.demo import absences
from workflow.demo.cases import _Builder
from workflow.demo.township import (
    AREA_CODE,
    CENTER_JUNIOR,
    FLAG_RATES,
    TERMS,
    DemoWorld,
    _guardians,
    _pick,
    class_name,
    make_id_card,
)
from workflow.demo.township import SCHOOL_YEAR as CURRENT_YEAR
from workflow.figures import baselines
from workflow.org import enrolment
from workflow.org.calendar import SchoolCalendar
from workflow.processes import REGISTRY
from workflow.storage import FileStore

PAST_YEARS = ("2023-2024", "2024-2025", "2025-2026")
# Term dates of the past years follow the usual pattern (start around 1 September, winter
# holiday around the Spring Festival); ASSUMED, as the demo's current calendar is.
PAST_TERMS = {
    "2023-2024": ((1, dt.date(2023, 9, 1), dt.date(2024, 1, 26)), (2, dt.date(2024, 2, 26), dt.date(2024, 7, 5))),
    "2024-2025": ((1, dt.date(2024, 9, 2), dt.date(2025, 1, 17)), (2, dt.date(2025, 2, 17), dt.date(2025, 7, 4))),
    "2025-2026": ((1, dt.date(2025, 9, 1), dt.date(2026, 1, 23)), (2, dt.date(2026, 3, 2), dt.date(2026, 7, 3))),
}
JUNIOR_SUBJECTS = ("语文", "数学", "英语", "物理", "化学")
MIDTERM_SUBJECTS = {1: ("语文", "数学"), 2: ("语文", "数学")}  # grades 3+ add 英语
MIDTERM_OFFSET = dt.timedelta(days=65)  # the mid-term exam, early November
# In their primary years junior-high children went to their own village's school when it had the
# grade (东岭 and 西溪 grades 1-6, 南山 1-4, 北坡 1-3), else to the center school.
VILLAGE_SCHOOL = {"东岭村": (1, 6), "西溪村": (2, 6), "南山村": (3, 4), "北坡村": (4, 3)}
BEHIND_BRANCH = 3  # 南山村小学: the branch school behind its target in the current term
HISTORY_REASON = "历史学期补录（系统启用前的学期）"


@dataclass(frozen=True)
class Story:
    """A child who dropped out in a past year: where, when, and whether they came back.

    `grade_now` is the grade the child would be in in 2026-2027 (10 and up: graduated already);
    `returned` the day the recovery closed with `mark_returned`, or None (still out).
    """

    school: int  # 0 = center, N = branch N
    grade_now: int
    number: int
    opened: dt.date
    reason: str
    returned: dt.date | None = None


STORIES = (
    # 2023-2024: a grade-2 child at 东岭 stays home in April and is back in May.
    Story(1, 4, 1, dt.date(2024, 4, 8), "厌学", dt.date(2024, 5, 6)),
    # 2024-2025: a grade-3 child at 西溪 leaves in October, back after the winter holiday.
    Story(2, 5, 1, dt.date(2024, 10, 14), "外出务工", dt.date(2025, 3, 10)),
    # the cohort that sat the 2026 final: two leave in grade 8, one comes back, one does not
    Story(0, 10, 2, dt.date(2024, 11, 11), "厌学"),
    Story(0, 10, 1, dt.date(2025, 4, 7), "贫困", dt.date(2025, 5, 19)),
    # the cohort of 2025: a grade-9 boy goes to work in Guangdong in December
    Story(0, 11, 3, dt.date(2024, 12, 2), "外出务工"),
    # 2025-2026: a grade-9 girl leaves in October (the 2026 cohort), a grade-8 boy in March
    Story(0, 10, 3, dt.date(2025, 10, 20), "外出务工"),
    Story(0, 9, 1, dt.date(2026, 3, 23), "厌学"),
    # a grade-5 child of the center school, back within the term
    Story(0, 6, 2, dt.date(2025, 11, 17), "疾病", dt.date(2025, 12, 15)),
)
# Current term at 南山村小学: days after term start on which three absences begin (each ends in a
# confirmed dropout about a week and a half later).
CURRENT_LOSS_OFFSETS = (20, 48, 69)


def _year_index(school_year: str) -> int:
    """2023-2024 → 0 … 2026-2027 → 3."""
    return int(school_year[:4]) - int(PAST_YEARS[0][:4])


def _year(index: int) -> str:
    first = int(PAST_YEARS[0][:4]) + index
    return f"{first}-{first + 1}"


def _term1_start(school_year: str) -> dt.date:
    if school_year == CURRENT_YEAR:
        return TERMS[0][1]
    return PAST_TERMS[school_year][0][1]


def _term2_end(school_year: str) -> dt.date:
    if school_year == CURRENT_YEAR:
        return TERMS[1][2]
    return PAST_TERMS[school_year][1][2]


def _class_number(name: str) -> int:
    found = re.search(r"年级(\d+)班", name)
    return int(found.group(1)) if found else 1


@dataclass
class _History:
    session: Session
    world: DemoWorld
    rng: random.Random
    builder: _Builder
    classes: dict[tuple[int, str, int, int], SchoolClass] = field(default_factory=dict)
    used_ids: set[str] = field(default_factory=set)
    calendars: dict[int, SchoolCalendar] = field(default_factory=dict)

    # --- places ----------------------------------------------------------------------------------

    def school(self, index: int) -> School:
        return self.world.schools[index]

    def klass(self, school: School, school_year: str, grade: int, number: int) -> SchoolClass:
        """The class (created on first use) of a school, year, grade and number."""
        key = (school.id, school_year, grade, number)
        found = self.classes.get(key)
        if found is None:
            found = SchoolClass(school_id=school.id, school_year=school_year, grade=grade,
                                name=class_name(grade, number))
            found.school = school
            self.session.add(found)
            self.classes[key] = found
        return found

    def past_class(self, number: int, grade: int, school_year: str, village: str | None) -> SchoolClass:
        """Where a child now at the center school sat in a primary grade: their village's school
        when it teaches the grade, else the center school (two classes per grade, by the parity
        of `number`)."""
        place = VILLAGE_SCHOOL.get(village or "")
        if place is not None and grade <= place[1]:
            return self.klass(self.school(place[0]), school_year, grade, 1)
        return self.klass(self.school(0), school_year, grade, 1 + number % 2)

    def calendar(self, school_id: int) -> SchoolCalendar:
        if school_id not in self.calendars:
            self.calendars[school_id] = SchoolCalendar.load(self.session, school_id)
        return self.calendars[school_id]

    # --- people ----------------------------------------------------------------------------------

    def student_row(self, grade: int, school_year: str, villages: dict[str, int]) -> tuple[dict, list[dict]]:
        """A new child (the demo's name, ID card and guardian rules) of `grade` in `school_year`."""
        fake, rng = self.world.fake, self.rng
        entry = int(school_year[:4]) - (grade - 1)
        first, last = dt.date(entry - 7, 9, 1), dt.date(entry - 6, 8, 31)
        gender = "M" if rng.random() < 0.52 else "F"
        birth = first + dt.timedelta(days=rng.randint(0, (last - first).days))
        card = make_id_card(AREA_CODE, birth, rng.randint(0, 999), gender)
        while card in self.used_ids:
            card = make_id_card(AREA_CODE, birth, rng.randint(0, 999), gender)
        self.used_ids.add(card)
        surname = fake.last_name()
        given = fake.first_name_male() if gender == "M" else fake.first_name_female()
        flags = {flag: rng.random() < r for flag, r in FLAG_RATES.items()}
        row = {"name": surname + given, "gender": gender, "birth_date": birth, "student_no": "G" + card,
               "id_card_no": card, "village_id": self.world.villages[_pick(rng, villages)].id,
               "status": "active", "is_provisional": False, **flags}
        return row, _guardians(fake, rng, surname, flags["left_behind"])


def _periods(placements: list[SchoolClass], *, graduate: bool) -> list[dict]:
    """Enrolment periods of consecutive years: each ends when the next year begins (promotion);
    the last one ends on the last day of term 2 with a graduation, or stays open."""
    rows = []
    for i, klass in enumerate(placements):
        start = _term1_start(klass.school_year)
        if i + 1 < len(placements):
            end, end_reason = _term1_start(placements[i + 1].school_year), "promote"
        elif graduate:
            end, end_reason = _term2_end(klass.school_year), "graduate"
        else:
            end, end_reason = _term1_start(_year(_year_index(klass.school_year) + 1)), "promote"
        rows.append({"school_id": klass.school_id, "class_id": klass.id, "start_date": start,
                     "end_date": end, "start_reason": "enrol" if i == 0 else "promote",
                     "end_reason": end_reason, "is_provisional": False})
    return rows


def build_demo_history(session: Session, world: DemoWorld, *, store: FileStore | str) -> dict:
    """Add the past years, the past dropouts and returns and the current term's losses at
    南山村小学 to a freshly built demo world (see the module docstring). Returns counts.

    Raises the engine's DomainError or LookupError when a step of a story is refused (a bug in
    the demo, not a user error). Never commits."""
    h = _History(session, world, random.Random(world.seed + 2),
                 _Builder(session, world, world.today, store, random.Random(world.seed + 3)))
    h.used_ids = set(session.scalars(select(Student.id_card_no).where(Student.id_card_no.is_not(None))))
    # The center office saved the ladder once when the system was set up (the SPEC table).
    office = world.users["center_office"]
    ladder.save_policy(session, h.builder.scope(office), office, world.center.id, ladder.DEFAULT_RUNGS)
    _past_calendars(session, world)
    counts = {"past_periods": _past_periods_of_current_roll(h), "graduates": _graduated_cohorts(h)}
    counts["stories"] = _stories(h)
    counts["current_losses"] = _current_losses(h)
    counts["exam_scores"] = _final_exam_scores(h)
    counts["baselines"] = _freeze_past(h)
    session.flush()
    return counts


def finish_demo_history(session: Session, world: DemoWorld) -> dict:
    """After the demo cases: the catchment registers, the current mid-term exam and the current
    term-1 baselines. Returns counts. Never commits."""
    rng = random.Random(world.seed + 4)
    return {"catchment": _catchment(session, world, rng), "midterm_scores": _midterm(session, world, rng),
            "baselines": _freeze(session, world, CURRENT_YEAR, 1, reason=None)}


# --- calendars ----------------------------------------------------------------------------------


def _past_calendars(session: Session, world: DemoWorld) -> None:
    """Both terms of each past year on the center school, with the National Day week off."""
    for school_year, terms in PAST_TERMS.items():
        first = int(school_year[:4])
        for number, start, end in terms:
            term = Term(school_id=world.center.id, school_year=school_year, term=number, start=start, end=end)
            if number == 1:
                term.days.extend(CalendarDay(date=dt.date(first, 10, d), kind="holiday") for d in range(1, 8))
            session.add(term)
    session.flush()


# --- enrolment history --------------------------------------------------------------------------


def _past_periods_of_current_roll(h: _History) -> int:
    """The classes today's students sat in during the past years, as closed enrolment periods."""
    session, world = h.session, h.world
    index_of = {s.id: i for i, s in enumerate(world.schools)}
    village_name = {v.id: name for name, v in world.villages.items()}
    current = {k.id: k for k in world.classes}
    plans: list[tuple[int, list[SchoolClass]]] = []
    for student_id, class_id, village_id in session.execute(
            select(Student.id, Student.class_id, Student.village_id).where(Student.id.in_(world.student_ids))
            .order_by(Student.id)):
        klass = current[class_id]
        school_index, number = index_of[klass.school_id], _class_number(klass.name)
        village = village_name.get(village_id)
        place = VILLAGE_SCHOOL.get(village or "")
        placements = []
        for back in range(len(PAST_YEARS), 0, -1):
            grade = klass.grade - back
            if grade < 1:
                continue
            year = PAST_YEARS[len(PAST_YEARS) - back]
            # a center-school child came from their village's school if it ends below their grade
            moved = school_index == 0 and place is not None and place[1] < klass.grade
            if school_index == 0 and grade <= 6 and (klass.grade >= 7 or moved):
                placements.append(h.past_class(student_id, grade, year, village))
            else:
                placements.append(h.klass(world.schools[school_index], year, grade, number))
        if placements:
            plans.append((student_id, placements))
    session.flush()  # the new classes get their ids
    rows = [{**p, "student_id": sid} for sid, placements in plans for p in _periods(placements, graduate=False)]
    if rows:
        session.execute(insert(Enrolment), rows)
        # today's class continues last year's, which ended with a promotion: the open period began
        # with one too (the township built it as a first enrolment, knowing no past)
        promoted = [sid for sid, _placements in plans]
        for chunk in range(0, len(promoted), 500):
            session.execute(update(Enrolment).where(
                Enrolment.student_id.in_(promoted[chunk:chunk + 500]), Enrolment.end_date.is_(None),
                Enrolment.start_reason == "enrol").values(start_reason="promote"))
    return len(rows)


def _graduated_cohorts(h: _History) -> int:
    """Three junior-high cohorts that finished grade 9 in 2024, 2025 and 2026 (status graduated)."""
    session, world, rng = h.session, h.world, h.rng
    students, guardians, placements = [], [], []
    for last_index, last_year in enumerate(PAST_YEARS):
        for number in range(1, 4):
            for _ in range(rng.randint(*CENTER_JUNIOR.class_size)):
                row, gs = h.student_row(9, last_year, CENTER_JUNIOR.villages)
                years = [(_year(i), 9 - (last_index - i)) for i in range(last_index + 1) if 9 - (last_index - i) >= 7]
                classes = [h.klass(world.center, y, g, number) for y, g in years]
                students.append(row)
                guardians.append(gs)
                placements.append(classes)
    session.flush()
    for row, classes in zip(students, placements, strict=True):
        last = classes[-1]
        row.update(status="graduated", school_id=last.school_id, class_id=last.id)
    ids = list(session.scalars(insert(Student).returning(Student.id, sort_by_parameter_order=True), students))
    session.execute(insert(Guardian), [{**g, "student_id": sid} for sid, gs in zip(ids, guardians, strict=True)
                                       for g in gs])
    session.execute(insert(Enrolment), [{**p, "student_id": sid} for sid, classes in zip(ids, placements, strict=True)
                                        for p in _periods(classes, graduate=True)])
    return len(ids)


# --- stories: dropouts and returns through the engine -------------------------------------------


def _add_student(h: _History, grade: int, school_year: str, villages: dict[str, int]) -> Student:
    row, gs = h.student_row(grade, school_year, villages)
    student = Student(**row)
    student.guardians = [Guardian(**g) for g in gs]
    h.session.add(student)
    return student


def drop_out(h: _History, student: Student, opened: dt.date, reason: str) -> Case:
    """An absence opened by hand on `opened` (or the next school day), the child absent without
    leave on it and the next three school days: each day's roll, the visit of the rung reached
    the day before and the evening sweep, which climbs the ladder (`workflow.demo.absences.live`);
    the next school day the liaison's joint visit and the principal's confirmation. Returns the
    recovery case the confirmation opened."""
    b, cal = h.builder, h.calendar(student.school_id)
    days = absences.school_days_from(cal, opened, len(ladder.RUNG_STATES))
    opener = "homeroom_teacher" if student.class_id in h.world.homeroom else "academic_office"
    case = b.create(REGISTRY["absence"], student, {"reason": "连续多日未到校，电话联系不上家长"}, days[0], opener)
    absences.live(b, case, days)
    b.step(case, "confirm_dropout", cal.next_school_day(days[-1]), {"reason_category": reason})
    return h.session.scalars(select(Case).where(Case.student_id == student.id, Case.process == "recovery",
                                                Case.is_open.is_(True))).one()


def bring_back(h: _History, recovery: Case, klass: SchoolClass, day: dt.date) -> None:
    """The recovery closes with `mark_returned` into `klass`, crediting the school's office and team."""
    users, n = h.world.users, h.world.schools.index(recovery.school)
    credited = [u.id for u in (users.get(f"team{n}"), users.get(f"office{n}")) if u is not None]
    h.builder.step(recovery, "mark_returned", day, {"class_id": klass.id, "credited_user_ids": credited})


def _stories(h: _History) -> int:
    """The past dropouts of STORIES: each child is enrolled year by year up to the dropout, the
    dropout and any return go through the engine, then the child moves on (promotion, graduation,
    or today's class) as the other children do."""
    session, world = h.session, h.world
    plans = {0: world.class_plans[next(k.id for k in world.classes if k.school_id == world.center.id)]}
    for i, school in enumerate(world.branches, start=1):
        plans[i] = world.class_plans[next(k.id for k in world.classes if k.school_id == school.id)]
    for story in STORIES:
        school = world.schools[story.school]
        drop_year = next(y for y, terms in PAST_TERMS.items() if terms[0][1] <= story.opened <= terms[1][2])
        grade_at = {year: story.grade_now - (3 - _year_index(year)) for year in (*PAST_YEARS, CURRENT_YEAR)}
        villages = CENTER_JUNIOR.villages if story.grade_now >= 7 else plans[story.school].villages
        student = _add_student(h, grade_at[drop_year], drop_year, villages)
        years = [y for y in PAST_YEARS if 1 <= grade_at[y] <= 9 and _year_index(y) <= _year_index(drop_year)]
        if story.grade_now >= 7 and story.school == 0:
            classes = [h.klass(school, y, grade_at[y], story.number) if grade_at[y] >= 7 else
                       h.past_class(story.number, grade_at[y], y, None) for y in years]
        else:
            classes = [h.klass(school, y, grade_at[y], story.number) for y in years]
        session.flush()
        for row in _periods(classes, graduate=False)[:-1]:
            session.add(Enrolment(student_id=student.id, **row))
        last = classes[-1]
        session.add(Enrolment(student_id=student.id, school_id=last.school_id, class_id=last.id,
                              start_date=_term1_start(drop_year), start_reason="enrol" if len(classes) == 1
                              else "promote", is_provisional=False))
        student.school_id, student.class_id = last.school_id, last.id
        session.flush()
        recovery = drop_out(h, student, story.opened, story.reason)
        if story.returned is None:
            continue
        bring_back(h, recovery, last, story.returned)
        # then on with the others: promoted each September, graduating after grade 9
        for year in (*PAST_YEARS, CURRENT_YEAR):
            if _year_index(year) <= _year_index(drop_year):
                continue
            grade = grade_at[year]
            if grade > 9:
                enrolment.close_enrolment(session, student, _term2_end(_year(_year_index(year) - 1)), "graduate")
                student.status = "graduated"
                break
            if year == CURRENT_YEAR:
                target = next(k for k in world.classes if k.school_id == school.id and k.grade == grade
                              and _class_number(k.name) == story.number)
            else:
                target = h.klass(school, year, grade, story.number)
                session.flush()
            enrolment.place_in_class(session, student, target, _term1_start(year), "promote")
        else:
            world.student_ids.append(student.id)
    session.flush()
    return len(STORIES)


def _current_losses(h: _History) -> int:
    """Three children of 南山村小学 drop out in the current term (if the term is far enough along),
    so that school is over the 2% threshold on the oversight page."""
    session, world = h.session, h.world
    school = world.schools[BEHIND_BRANCH]
    classes = [k for k in world.classes if k.school_id == school.id and k.grade >= 2]
    done = 0
    for offset, klass in zip(CURRENT_LOSS_OFFSETS, classes[::-1] + classes, strict=False):
        opened = TERMS[0][1] + dt.timedelta(days=offset)
        if opened + dt.timedelta(days=14) > world.today:
            continue
        candidates = list(session.scalars(select(Student).where(
            Student.class_id == klass.id, Student.status == "active").order_by(Student.id)))
        student = h.rng.choice(candidates)
        drop_out(h, student, opened, h.rng.choice(("厌学", "外出务工", "贫困")))
        done += 1
    return done


# --- exams and baselines ------------------------------------------------------------------------


def _score(rng: random.Random, mean: float) -> Decimal:
    value = min(100.0, max(8.0, rng.gauss(mean, 14)))
    return Decimal(round(value * 2) / 2).quantize(Decimal("0.01"))


def _final_exam_scores(h: _History) -> int:
    """Grade-9 final exams (term 2) of the past years: every child still in a grade-9 class on the
    last day of term 2 sat them."""
    session, world, rng = h.session, h.world, h.rng
    importer = world.users["office0"].id
    rows = []
    for year in PAST_YEARS:
        end = _term2_end(year)
        at = dt.datetime.combine(end, dt.time(9, 0), tzinfo=dt.UTC)
        class_ids = [k.id for (school_id, y, grade, _n), k in sorted(h.classes.items(), key=lambda x: x[1].id)
                     if y == year and grade == 9 and school_id == world.center.id]
        sitting = session.execute(select(Enrolment.student_id, Enrolment.class_id).where(
            Enrolment.class_id.in_(class_ids), Enrolment.start_date <= end,
            (Enrolment.end_date.is_(None)) | (Enrolment.end_date >= end)).order_by(Enrolment.student_id)).all()
        for student_id, class_id in sitting:
            ability = rng.gauss(70, 10)
            for subject in JUNIOR_SUBJECTS:
                rows.append({"student_id": student_id, "class_id": class_id, "school_year": year, "term": 2,
                             "exam": "final", "subject": subject, "score": _score(rng, ability),
                             "imported_by_id": importer, "imported_at": at})
    if rows:
        session.execute(insert(ExamScore), rows)
    return len(rows)


def _freeze(session: Session, world: DemoWorld, school_year: str, term: int, *, reason: str | None) -> int:
    """Freeze every school's baselines of a term as the center office (workflow.figures.losses)."""
    office = world.users["center_office"]
    scope = scope_for(session, office)
    count = 0
    for school in world.schools:
        if session.scalar(select(SchoolClass.id).where(SchoolClass.school_id == school.id,
                                                       SchoolClass.school_year == school_year).limit(1)) is None:
            continue
        count += len(baselines.freeze_baselines(session, scope, office, school_id=school.id, school_year=school_year,
                                                term=term, reason=reason, today=world.today))
    return count


def _freeze_past(h: _History) -> int:
    return sum(_freeze(h.session, h.world, year, term, reason=HISTORY_REASON)
               for year in PAST_YEARS for term in (1, 2))


def _midterm(session: Session, world: DemoWorld, rng: random.Random) -> int:
    """The current term's mid-term exam for every class, if it has taken place: the children on
    the roll that day sat it."""
    day = TERMS[0][1] + MIDTERM_OFFSET
    if day > world.today:
        return 0
    importer = world.users["office0"].id
    at = dt.datetime.combine(day, dt.time(9, 0), tzinfo=dt.UTC)
    grades = {k.id: k.grade for k in world.classes}
    rows = []
    sitting = session.execute(select(Enrolment.student_id, Enrolment.class_id).where(
        Enrolment.class_id.in_(sorted(grades)), Enrolment.start_date <= day,
        (Enrolment.end_date.is_(None)) | (Enrolment.end_date > day)).order_by(Enrolment.class_id, Enrolment.student_id))
    seen = set()
    for student_id, class_id in sitting:
        if student_id in seen:
            continue
        seen.add(student_id)
        grade = grades[class_id]
        subjects = MIDTERM_SUBJECTS.get(grade, ("语文", "数学", "英语"))
        ability = rng.gauss(74 if grade <= 6 else 68, 10)
        for subject in subjects:
            rows.append({"student_id": student_id, "class_id": class_id, "school_year": CURRENT_YEAR, "term": 1,
                         "exam": "midterm", "subject": subject, "score": _score(rng, ability),
                         "imported_by_id": importer, "imported_at": at})
    if rows:
        session.execute(insert(ExamScore), rows)
    return len(rows)


# --- catchment register -------------------------------------------------------------------------

ELSEWHERE = (("广东省东莞市长安镇中心小学", "随父母在东莞务工地就读"), ("浙江省义乌市稠城第二小学", "随迁子女"),
             ("县城实验小学", "在县城租房陪读"), ("邻县马田镇中心小学", "随外祖父母生活"))


def _catchment(session: Session, world: DemoWorld, rng: random.Random) -> int:
    """Each village's register (适龄儿童登记): the children of compulsory age on the rolls, the
    dropouts not back (not enrolled), and a few who study elsewhere or were deferred."""
    today = world.today
    rows: list[dict] = []
    office = world.users["center_office"].id
    used = set(session.scalars(select(CatchmentChild.id_card_no).where(CatchmentChild.id_card_no.is_not(None))))
    for student in session.scalars(select(Student).where(
            Student.village_id.is_not(None), Student.status.in_(("active", "suspended", "dropped_out",
                                                                  "transferred_out"))).order_by(Student.id)):
        age = today.year - student.birth_date.year - ((today.month, today.day) < (student.birth_date.month,
                                                                                 student.birth_date.day))
        if not 6 <= age <= 16:
            continue
        status, destination, notes = {
            "active": ("enrolled_here", None, None), "suspended": ("deferred", None, "因病休学"),
            "dropped_out": ("not_enrolled", None, "辍学在家，劝返中"),
            "transferred_out": ("enrolled_elsewhere", "外地学校", "已转出"),
        }[student.status]
        if student.id_card_no:
            used.add(student.id_card_no)
        rows.append({"village_id": student.village_id, "name": student.name, "gender": student.gender,
                     "birth_date": student.birth_date, "id_card_no": student.id_card_no,
                     "household_status": "local", "status": status, "destination": destination,
                     "student_id": student.id, "notes": notes, "updated_by_id": office})
    fake = world.fake
    for n, village in enumerate(world.villages.values()):
        extra = [("enrolled_elsewhere", "local")] * (2 + n % 3) + [("deferred", "local")] * (n % 2)
        if n in (0, 2):
            extra.append(("not_enrolled", "migrant"))
        for status, household in extra:
            gender = rng.choice("MF")
            birth = dt.date(today.year - rng.randint(7, 14), rng.randint(1, 12), rng.randint(1, 28))
            card = make_id_card(AREA_CODE, birth, rng.randint(0, 999), gender)
            while card in used:
                card = make_id_card(AREA_CODE, birth, rng.randint(0, 999), gender)
            used.add(card)
            name = fake.last_name() + (fake.first_name_male() if gender == "M" else fake.first_name_female())
            destination, notes = None, None
            if status == "enrolled_elsewhere":
                destination, notes = rng.choice(ELSEWHERE)
            elif status == "deferred":
                notes = "经县残联鉴定，申请缓学一年"
            else:
                notes = "随父母迁入本村，尚未入学"
            rows.append({"village_id": village.id, "name": name, "gender": gender, "birth_date": birth,
                         "id_card_no": card, "household_status": household, "status": status,
                         "destination": destination, "student_id": None, "notes": notes,
                         "updated_by_id": office})
    if rows:
        session.execute(insert(CatchmentChild), rows)
    return len(rows)
