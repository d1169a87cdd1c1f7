"""Benchmark data: a county (or a township) with a term of attendance and its case history.

    python -m bench.generate --scale county --db sqlite|postgresql

Deterministic (one seeded `random.Random`, fixed dates and timestamps). Loads through the model
tables with SQLAlchemy Core inserts in chunks (attendance on PostgreSQL with COPY into the same
table), explicit ids, then resets the PostgreSQL sequences.

What is generated (see docs/performance.md):
- the county node, `centers` center schools with `schools_per_center - 1` branches each, 10
  villages per center, a term-1 calendar on each center school (National Day holidays, two
  make-up days); center schools have 2 classes per grade, branches 1, grades 1–6;
- students spread over the classes, each with a guardian, an enrolment period, a catchment entry;
- users for every role (admin, county supervisor, center head/office, principal, academic office,
  team members, homeroom and subject teachers, village liaisons);
- attendance for every school day from term start to the sweep day: most children present, sick
  or personal leave now and then, a rare unexcused day, two chronic absentees per class with runs
  of unexcused days, a few children who drop out; a class misses taking attendance now and then;
- the absence cases those runs make, as the attendance hook and the daily sweeps up to the day
  before the sweep day left them (escalations, returns, visits, guardian contacts), the dropouts'
  confirmations and recovery cases; then historical cases of every process and state up to
  `cases` in all, with their history rows; frozen term-start baselines for every class.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import time
from collections import defaultdict, deque

from sqlalchemy import bindparam, create_engine, event, insert, text, update
from werkzeug.security import generate_password_hash

from models import (
    AttendanceDay,
    AttendanceRecord,
    Base,
    Baseline,
    CalendarDay,
    Case,
    CaseHistory,
    CatchmentChild,
    Enrolment,
    Guardian,
    GuardianContact,
    RoleAssignment,
    School,
    SchoolClass,
    Student,
    Term,
    User,
    Village,
    Visit,
    VisitParticipant,
)
from workflow.org.services import id_card_check_char
from workflow.processes import REGISTRY

from .common import (
    DATA_DIR,
    GENERATOR_VERSION,
    HOLIDAYS,
    PASSWORD,
    SCALES,
    SCHOOL_YEAR,
    SEED,
    SWEEP_DAY,
    TERM_END,
    TERM_START,
    WORKDAYS,
    Scale,
    db_url,
    ensure_pg_database,
    school_days,
    sqlite_path,
    stamp_path,
)

UTC = dt.UTC
TOWNS = ["青山", "白沙", "石门", "河口", "柳林", "马坪", "龙潭", "新田", "高桥", "黄岗",
         "松溪", "云岭", "大营", "水口", "桃源", "茶坪", "凤凰", "长岭", "双河", "平坝"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "子涵欣怡梓轩浩然宇轩雨桐思远佳怡俊杰诗涵明轩梦琪志强秀英建华晓东文博家豪婷婷天佑紫萱嘉怡一鸣若曦"
RUNGS = ("visit_1", "visit_2", "visit_3", "village_joint")
RUNG_VISITS = {"visit_1": ("home_visit", ("homeroom_teacher", "team_member")),
               "visit_2": ("home_visit", ("homeroom_teacher", "team_member")),
               "visit_3": ("home_visit", ("principal", "homeroom_teacher")),
               "village_joint": ("village_joint", ("village_liaison",))}
# share of the historical (earlier) cases per process
PROCESS_MIX = [("absence", 0.45), ("suspension", 0.12), ("transfer_out", 0.15), ("transfer_in", 0.10),
               ("return", 0.06), ("recovery", 0.07), ("special_exclusion", 0.05)]
OPEN_SHARE = 0.04  # of historical non-absence cases still open at the sweep day
CHUNK = 20_000


def at(day: dt.date, hour: int = 8, minute: int = 0) -> dt.datetime:
    """A Beijing wall-clock time on `day`, as aware UTC."""
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC) - dt.timedelta(hours=8)


class Ids:
    def __init__(self):
        self.n: dict[str, int] = defaultdict(int)

    def __call__(self, table: str) -> int:
        self.n[table] += 1
        return self.n[table]


class Generator:
    def __init__(self, scale: Scale, engine, seed: int = SEED):
        self.scale, self.engine = scale, engine
        self.pg = engine.dialect.name == "postgresql"
        self.rng = random.Random(seed)
        self.id = Ids()
        self.rows: dict[type, list[dict]] = defaultdict(list)
        self.days = school_days()
        self.day_index = {d: i for i, d in enumerate(self.days)}
        self.password_hash = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
        self.counts: dict[str, int] = defaultdict(int)
        self.id_seq: dict[str, int] = defaultdict(int)
        self.n_cases = 0

    # --- helpers ---------------------------------------------------------------------------------

    def add(self, model, **values) -> dict:
        self.rows[model].append(values)
        return values

    def id_card(self, birth: dt.date, region: str = "530102") -> str:
        key = region + birth.strftime("%Y%m%d")
        self.id_seq[key] += 1
        body = key + f"{self.id_seq[key]:03d}"
        return body + id_card_check_char(body)

    def name(self) -> str:
        return self.rng.choice(SURNAMES) + "".join(self.rng.sample(GIVEN, self.rng.choice((1, 2))))

    def next_day(self, day: dt.date) -> dt.date:
        i = self.day_index.get(day)
        if i is not None and i + 1 < len(self.days):
            return self.days[i + 1]
        nxt = day + dt.timedelta(days=1)
        while nxt.weekday() >= 5:
            nxt += dt.timedelta(days=1)
        return nxt

    def user(self, username: str, role: str, school_id=None, class_id=None, village_id=None) -> int:
        uid = self.id("users")
        self.add(User, id=uid, username=username, name=self.name(), password_hash=self.password_hash,
                 is_active=True, created_at=at(TERM_START))
        self.add(RoleAssignment, id=self.id("role_assignments"), user_id=uid, role=role, school_id=school_id,
                 class_id=class_id, village_id=village_id)
        return uid

    # --- organization, people ---------------------------------------------------------------------

    def build_org(self) -> None:
        s = self.scale
        self.county = self.id("schools")
        self.add(School, id=self.county, name="示范县教育局", kind="county", parent_id=None, center_id=None,
                 county_id=self.county, code="COUNTY", is_junior_high=False)
        self.admin = self.user("admin", "admin")
        self.supervisor = self.user("supervisor", "county_supervisor", school_id=self.county)
        self.schools: list[dict] = []  # {id, center, classes: [class dict], ...}
        self.villages: dict[int, list[int]] = {}
        self.staff: dict[tuple[str, int], int] = {}  # (role, school/class/village id) -> user id
        for c in range(s.centers):
            town = TOWNS[c % len(TOWNS)] + ("" if c < len(TOWNS) else str(c))
            center_id = None
            for k in range(s.schools_per_center):
                sid = self.id("schools")
                kind = "center" if k == 0 else "branch"
                center_id = sid if k == 0 else center_id
                self.add(School, id=sid, name=f"{town}中心校" if k == 0 else f"{town}{k}小学", kind=kind,
                         parent_id=self.county if k == 0 else center_id, center_id=center_id,
                         county_id=self.county, code=f"S{sid:05d}", is_junior_high=False)
                school = {"id": sid, "center": center_id, "kind": kind, "classes": []}
                self.schools.append(school)
                if k == 0:
                    self.villages[sid] = []
                    for v in range(10):
                        vid = self.id("villages")
                        self.add(Village, id=vid, name=f"{town}{v + 1}村", center_school_id=sid)
                        self.villages[sid].append(vid)
                        self.staff[("village_liaison", vid)] = self.user(f"vl{vid}", "village_liaison", village_id=vid)
                    self.staff[("center_head", sid)] = self.user(f"ch{sid}", "center_head", school_id=sid)
                    self.staff[("center_office", sid)] = self.user(f"co{sid}", "center_office", school_id=sid)
                    self.terms(sid)
                for role in ("principal", "academic_office"):
                    self.staff[(role, sid)] = self.user(f"{role[:2]}{sid}", role, school_id=sid)
                self.staff[("team_member", sid)] = self.user(f"tm{sid}", "team_member", school_id=sid)
                self.user(f"tm{sid}b", "team_member", school_id=sid)
                for grade in range(1, 7):
                    for n in range(2 if kind == "center" else 1):
                        cid = self.id("classes")
                        self.add(SchoolClass, id=cid, school_id=sid, school_year=SCHOOL_YEAR, grade=grade,
                                 name=f"{grade}年级{n + 1}班")
                        school["classes"].append({"id": cid, "grade": grade, "school": school, "students": []})
                        self.staff[("homeroom_teacher", cid)] = self.user(f"ht{cid}", "homeroom_teacher", class_id=cid)
                        self.user(f"st{cid}", "subject_teacher", class_id=cid)
        # extra academic-office users of the first center school (concurrent transition clients)
        first = self.schools[0]["id"]
        for suffix in "bcd":
            self.user(f"ac{first}{suffix}", "academic_office", school_id=first)
        # villages for the catchment import benchmark (their registers start empty)
        self.import_villages = []
        for v in range(12):
            vid = self.id("villages")
            self.add(Village, id=vid, name=f"基准{v + 1}村", center_school_id=first)
            self.import_villages.append(vid)

    def terms(self, center_id: int) -> None:
        tid = self.id("terms")
        self.add(Term, id=tid, school_id=center_id, school_year=SCHOOL_YEAR, term=1, start=TERM_START, end=TERM_END)
        for day in HOLIDAYS:
            self.add(CalendarDay, id=self.id("calendar_days"), term_id=tid, date=day, kind="holiday")
        for day in WORKDAYS:
            self.add(CalendarDay, id=self.id("calendar_days"), term_id=tid, date=day, kind="workday")
        self.add(Term, id=self.id("terms"), school_id=center_id, school_year=SCHOOL_YEAR, term=2,
                 start=dt.date(2027, 2, 22), end=dt.date(2027, 7, 2))

    def build_students(self) -> None:
        classes = [k for sch in self.schools for k in sch["classes"]]
        per, extra = divmod(self.scale.students, len(classes))
        for i, klass in enumerate(classes):
            school = klass["school"]
            villages = self.villages[school["center"]]
            for _ in range(per + (1 if i < extra else 0)):
                sid = self.id("students")
                year = 2026 - 6 - klass["grade"] + (1 if self.rng.random() < 0.67 else 0)
                birth = dt.date(year, 1, 1) + dt.timedelta(days=self.rng.randrange(365))
                village = self.rng.choice(villages)
                card = self.id_card(birth)
                st = {"id": sid, "class": klass, "village": village, "kind": "normal", "birth": birth}
                klass["students"].append(st)
                self.add(Student, id=sid, name=self.name(), gender="M" if sid % 2 else "F", birth_date=birth,
                         student_no=f"G{sid:08d}", id_card_no=card, school_id=school["id"], class_id=klass["id"],
                         village_id=village, status="active", is_provisional=False,
                         left_behind=self.rng.random() < 0.2, poor=self.rng.random() < 0.1,
                         disability=self.rng.random() < 0.01, learning_difficulty=self.rng.random() < 0.05,
                         created_at=at(TERM_START))
                self.add(Guardian, id=self.id("guardians"), student_id=sid, name=self.name(),
                         relation=self.rng.choice(("父亲", "母亲", "祖父", "祖母")),
                         phone=f"13{self.rng.randrange(10**9):09d}")
                st["enrolment"] = self.add(Enrolment, id=self.id("enrolments"), student_id=sid,
                                           school_id=school["id"], class_id=klass["id"], start_date=TERM_START,
                                           end_date=None, start_reason="enrol", end_reason=None,
                                           is_provisional=False)
                self.add(CatchmentChild, id=self.id("catchment_children"), village_id=village,
                         name=self.rows[Student][-1]["name"], gender="M" if sid % 2 else "F", birth_date=birth,
                         id_card_no=card, household_status="local", status="enrolled_here", destination=None,
                         student_id=sid, notes=None, updated_by_id=None, created_at=at(TERM_START),
                         updated_at=at(TERM_START))
            # two chronic absentees per class; now and then a child who drops out this term
            kids = klass["students"]
            for st in self.rng.sample(kids, min(2, len(kids))):
                st["kind"] = "chronic"
            if self.rng.random() < 0.1 and len(kids) > 2:
                st = self.rng.choice([k for k in kids if k["kind"] == "normal"])
                st["kind"] = "dropout"
        self.students = {st["id"]: st for k in classes for st in k["students"]}
        self.student_rows = {r["id"]: r for r in self.rows[Student]}

    def baselines(self) -> None:
        for sch in self.schools:
            for klass in sch["classes"]:
                ids = sorted(st["id"] for st in klass["students"])
                self.add(Baseline, id=self.id("baselines"), class_id=klass["id"], school_id=sch["id"],
                         school_year=SCHOOL_YEAR, term=1, count=len(ids),
                         rule="grade1_enrolment" if klass["grade"] == 1 else "term_start", counted_on=TERM_START,
                         student_ids=ids, is_current=True, frozen_at=at(TERM_START + dt.timedelta(days=7), 10),
                         frozen_by_id=self.staff[("academic_office", sch["id"])], reason="学期初冻结",
                         replaces_id=None)

    # --- attendance and the absence cases it made ------------------------------------------------

    def marks_for(self, st: dict) -> list[str | None]:
        """One status per school day (None: not on the roll that day)."""
        rng, n = self.rng, len(self.days)
        out = []
        for _ in range(n):
            r = rng.random()
            out.append("unexcused" if r < 0.0008 else "sick_leave" if r < 0.0108 else
                       "personal_leave" if r < 0.0158 else "present")
        if st["kind"] == "chronic":
            i = rng.randrange(12)
            while i < n:
                length = rng.choice((1, 1, 2, 2, 3, 3, 4, 5, 6, 8, 12))
                for j in range(i, min(n, i + length)):
                    out[j] = "unexcused"
                i += length + rng.randint(4, 14)
        elif st["kind"] == "dropout":
            start = rng.randrange(5, max(6, n * 2 // 3))
            st["dropout_on"] = self.days[min(n - 2, start + rng.randint(6, 9))]
            for j in range(start, n):
                out[j] = "unexcused" if self.days[j] <= st["dropout_on"] else None
        return out

    def load_attendance(self, conn) -> None:
        """Generate and load attendance school by school (streamed: never the whole term in memory),
        collecting each student's absence runs."""
        self.runs: list[tuple[dict, dt.date, dict, dt.date | None]] = []
        total = 0
        t0 = time.perf_counter()
        for sch in self.schools:
            records: list[tuple] = []
            days_rows = []
            for klass in sch["classes"]:
                taken = [d == SWEEP_DAY or self.rng.random() > 0.004 for d in self.days]
                teacher = self.staff[("homeroom_teacher", klass["id"])]
                for i, d in enumerate(self.days):
                    if taken[i]:
                        days_rows.append({"id": self.id("attendance_days"), "class_id": klass["id"], "date": d,
                                          "taken_at": at(d, 8, 10), "taken_by_id": teacher})
                for st in klass["students"]:
                    marks = self.marks_for(st)
                    for i, d in enumerate(self.days):
                        if taken[i] and marks[i] is not None:
                            records.append((self.id("attendance_records"), st["id"], klass["id"], d, marks[i],
                                            at(d, 8, 5), teacher))
                    self.collect_runs(st, marks, taken)
            self.insert_attendance(conn, records)
            conn.execute(insert(AttendanceDay), days_rows)
            total += len(records)
        self.counts["attendance_records"] = total
        print(f"  attendance: {total:,} marks in {time.perf_counter() - t0:.0f} s", flush=True)

    def insert_attendance(self, conn, records: list[tuple]) -> None:
        cols = ("id", "student_id", "class_id", "date", "status", "reported_at", "recorded_by_id")
        if self.pg:
            raw = conn.connection.driver_connection
            with raw.cursor() as cur, cur.copy(f"COPY attendance_records ({', '.join(cols)}) FROM STDIN") as copy:
                for r in records:
                    copy.write_row(r)
            return
        for i in range(0, len(records), CHUNK):
            conn.execute(insert(AttendanceRecord), [dict(zip(cols, r, strict=True))
                                                    for r in records[i:i + CHUNK]])

    def collect_runs(self, st: dict, marks: list, taken: list[bool]) -> None:
        """Runs of unexcused days as the ladder counts them (leave and untaken days pause a run,
        a present mark ends it): (student, first day, {count: day}, returned on)."""
        start, reached, count = None, {}, 0
        for i, d in enumerate(self.days):
            status = marks[i] if taken[i] else None
            if status == "unexcused":
                if start is None:
                    start, reached, count = d, {}, 0
                count += 1
                reached[count] = d
            elif status == "present" and start is not None:
                self.runs.append((st, start, reached, d))
                start = None
        if start is not None:
            self.runs.append((st, start, reached, None))

    def absence_cases(self) -> None:
        """The absence cases of this term's runs, as they stood after the sweep of the day before
        the sweep day; runs starting on the sweep day were opened by the attendance hook (one in
        ten missed, for the sweep to open)."""
        before = self.days[-2]
        self.dropouts: list[dict] = []
        for st, start, reached, returned in self.runs:
            if start == SWEEP_DAY and self.rng.random() < 0.1:
                continue
            school = st["class"]["school"]
            case = self.new_case("absence", st["id"], school["id"], start, {"reason": "考勤登记旷课"}, None)
            self.history(case, "create", None, "reported", None, "system", start)
            state = "reported"
            for count, rung in enumerate(RUNGS, start=1):
                day = reached.get(count)
                if day is None or day > before:
                    break
                self.history(case, "escalate", state, rung, None, "system", day,
                             f"连续旷课第 {count} 个上课日（{day.isoformat()}）")
                state = rung
                if self.rng.random() < (0.7 if returned is not None else 0.5):
                    self.visit(case, st, rung, self.next_day(day) if self.rng.random() < 0.6 else day)
            if self.rng.random() < 0.8:
                late = self.rng.random() < 0.15
                self.add(GuardianContact, id=self.id("guardian_contacts"), case_id=case["id"],
                         contacted_at=at(start, 8, 50 if late else 20), channel="phone", notes="已联系家长",
                         is_late=late, recorded_by_id=self.staff[("homeroom_teacher", st["class"]["id"])])
            dropout_on = st.get("dropout_on")
            if dropout_on is not None and state == "village_joint" and dropout_on <= before:
                case["data"] = {**case["data"], "reason_category": "厌学"}
                self.history(case, "confirm_dropout", state, "dropout_confirmed",
                             self.staff[("principal", school["id"])], "principal", dropout_on, "村校联合家访后确认辍学",
                             {"reason_category": "厌学"})
                self.close(case, "dropout_confirmed")
                self.student_rows[st["id"]]["status"] = "dropped_out"
                self.dropouts.append({"sid": st["id"], "eid": st["enrolment"]["id"], "day": dropout_on})
                rec = self.new_case("recovery", st["id"], school["id"], dropout_on, {"reason_category": "厌学"}, None)
                rec["parent_case_id"] = case["id"]
                self.history(rec, "create", None, "open", None, "system", dropout_on)
            elif returned is not None and returned <= before:
                self.history(case, "mark_returned", state, "returned", None, "system", returned,
                             f"{returned.isoformat()} 考勤出勤，已返校")
                self.close(case, "returned")
            else:
                case["state"] = state
                if state != "reported":
                    due = self.next_day(reached[RUNGS.index(state) + 1])
                    case["due_on"], case["is_overdue"] = due, before >= due
                else:
                    case["due_on"] = start

    def visit(self, case: dict, st: dict, rung: str, day: dt.date) -> None:
        kind, roles = RUNG_VISITS[rung]
        klass, school = st["class"], st["class"]["school"]
        people = []
        for role in roles:
            key = (role, st["village"]) if role == "village_liaison" else \
                  (role, klass["id"]) if role == "homeroom_teacher" else (role, school["id"])
            people.append(self.staff[key])
        vid = self.id("visits")
        self.add(Visit, id=vid, case_id=case["id"], date=day, kind=kind, guardian_present=True,
                 outcome="已见到家长，说明利害", notes=None, other_participants=None, photo_document_id=None,
                 created_by_id=people[0], created_at=at(day, 17))
        for uid in people:
            self.add(VisitParticipant, visit_id=vid, user_id=uid)

    # --- cases ----------------------------------------------------------------------------------

    def new_case(self, process, student_id, school_id, opened_on, data, created_by) -> dict:
        self.n_cases += 1
        return self.add(Case, id=self.id("cases"), process=process, state=REGISTRY[process].initial, version=1,
                        student_id=student_id, school_id=school_id, is_open=True, data=data, opened_on=opened_on,
                        due_on=None, is_overdue=False, ladder_policy_id=None, parent_case_id=None,
                        created_by_id=created_by, created_at=at(opened_on, 9), updated_at=at(opened_on, 9))

    def history(self, case, transition, from_state, to_state, user_id, role, day, comment=None, data=None):
        if transition != "create":
            case["version"] += 1
            case["updated_at"] = at(day, 18)
        case["state"] = to_state
        self.add(CaseHistory, id=self.id("case_history"), case_id=case["id"], transition=transition,
                 from_state=from_state, to_state=to_state, user_id=user_id, role=role, at=at(day, 18),
                 effective_date=day, comment=comment, data=data or {})

    def close(self, case: dict, state: str) -> None:
        case.update(state=state, is_open=False, due_on=None, is_overdue=False)

    def paths(self, process: str) -> dict[str, list]:
        """Shortest transition path from the initial state to every state (BFS; no escalate)."""
        proc = REGISTRY[process]
        best = {proc.initial: []}
        queue = deque([proc.initial])
        while queue:
            state = queue.popleft()
            for t in proc.transitions:
                if state in t.sources and t.dest not in best and t.name != "escalate":
                    best[t.dest] = best[state] + [t]
                    queue.append(t.dest)
        return best

    def actor(self, role: str, st_row: dict, school_id: int, center_id: int) -> int | None:
        if role in ("homeroom_teacher", "subject_teacher"):
            return self.staff.get(("homeroom_teacher", st_row["class_id"])) if st_row.get("class_id") else None
        if role in ("center_head", "center_office"):
            return self.staff[(role, center_id)]
        if role == "village_liaison":
            return self.staff.get(("village_liaison", st_row.get("village_id")))
        return self.staff.get((role, school_id)) or self.staff[("principal", school_id)]

    def historical_cases(self) -> None:
        """Cases of every process and state up to `cases` in all: mostly closed, from the three
        school years before; a few still open, opened in the last two months."""
        rng = self.rng
        paths = {p: self.paths(p) for p in REGISTRY}
        open_taken: set[tuple[str, int]] = {(c["process"], c["student_id"]) for c in self.rows[Case] if c["is_open"]}
        schools = [s for s in self.schools]
        weights = [w for _, w in PROCESS_MIX]
        names = [p for p, _ in PROCESS_MIX]
        while self.n_cases < self.scale.cases:
            process = rng.choices(names, weights)[0]
            proc = REGISTRY[process]
            school = rng.choice(schools)
            klass = rng.choice(school["classes"])
            st = rng.choice(klass["students"])
            st_row = self.student_rows[st["id"]]
            is_open = process != "absence" and rng.random() < OPEN_SHARE
            if is_open:
                choices = [s for s in proc.states if not proc.is_final(s) and s in paths[process]]
                opened = SWEEP_DAY - dt.timedelta(days=rng.randint(3, 60))
            else:
                choices = [s for s in proc.final_states if s in paths[process]]
                opened = dt.date(2023, 9, 1) + dt.timedelta(days=rng.randrange(1090))
            target_state = rng.choice(choices) if process != "absence" else \
                rng.choices(("returned", "converted", "dropout_confirmed"), (85, 10, 5))[0]
            student_id = st["id"]
            data = self.case_data(process, klass, opened, target_state)
            if process == "transfer_in" and is_open:
                student_id = self.incoming_student(school, klass)
                st_row = self.student_rows[student_id]
            elif is_open:
                if (process, student_id) in open_taken or st_row["status"] != "active":
                    continue
                open_taken.add((process, student_id))
            hand = proc.create_roles[0] if proc.create_roles else None
            creator = self.actor(hand, st_row, school["id"], school["center"]) if hand and process != "absence" else None
            case = self.new_case(process, student_id, school["id"], opened, data, creator)
            self.history(case, "create", None, proc.initial, creator, hand if creator else "system", opened)
            day = opened
            steps = paths[process].get(target_state, [])
            if process == "absence" and target_state != "reported":
                # climb some rungs first, as the sweeps did
                top = rng.randint(1, 4) if target_state != "dropout_confirmed" else 4
                state = "reported"
                for rung in RUNGS[:top]:
                    day = day + dt.timedelta(days=1)
                    self.history(case, "escalate", state, rung, None, "system", day)
                    state = rung
                steps = [next(t for t in proc.transitions if t.name == "mark_returned")] \
                    if target_state == "returned" else \
                    [next(t for t in proc.transitions if t.dest == target_state)]
            for t in steps:
                day = min(day + dt.timedelta(days=rng.randint(1, 7)), SWEEP_DAY - dt.timedelta(days=1))
                role = t.roles[0] if t.roles else "system"
                user = self.actor(role, st_row, school["id"], school["center"]) if t.roles else None
                self.history(case, t.name, case["state"], t.dest, user, role, day,
                             "同意" if t.approval else None)
            if not is_open:
                self.close(case, target_state)
        print(f"  cases: {self.n_cases:,}, history rows: {len(self.rows[CaseHistory]):,}", flush=True)

    def case_data(self, process: str, klass: dict, opened: dt.date, state: str) -> dict:
        if process == "absence":
            return {"reason": "考勤登记旷课"}
        if process == "suspension":
            end = SWEEP_DAY + dt.timedelta(days=self.rng.randint(-10, 60)) if state == "suspended" else \
                opened + dt.timedelta(days=120)
            return {"start": (opened + dt.timedelta(days=7)).isoformat(), "end": end.isoformat(), "reason": "因病休学"}
        if process == "transfer_out":
            return {"destination_school": "外县实验小学", "destination_region": "外省"}
        if process in ("transfer_in", "return"):
            other = self.rng.choice(klass["school"]["classes"])
            return {"origin_school": "外县实验小学", "class_id": other["id"]} if process == "transfer_in" \
                else {"class_id": other["id"], "reason": "劝返复学"}
        if process == "recovery":
            return {"reason_category": self.rng.choice(("厌学", "贫困", "外出务工", "疾病", "其他"))}
        return {"reason": "重度残疾，送教上门"}

    def incoming_student(self, school: dict, klass: dict) -> int:
        sid = self.id("students")
        birth = dt.date(2026 - 6 - klass["grade"], 3, 1) + dt.timedelta(days=self.rng.randrange(300))
        row = self.add(Student, id=sid, name=self.name(), gender="M" if sid % 2 else "F", birth_date=birth,
                       student_no=None, id_card_no=self.id_card(birth, "530103"), school_id=school["id"],
                       class_id=None, village_id=None, status="incoming", is_provisional=False, left_behind=False,
                       poor=False, disability=False, learning_difficulty=False, created_at=at(TERM_START))
        self.student_rows[sid] = row
        return sid

    def transfer_in_pool(self) -> None:
        """40 more open transfer-ins at the first center school: what the concurrent transition
        benchmark fires `change_class` on."""
        school = self.schools[0]
        for _ in range(40):
            klass = self.rng.choice(school["classes"])
            sid = self.incoming_student(school, klass)
            opened = SWEEP_DAY - dt.timedelta(days=self.rng.randint(1, 20))
            case = self.new_case("transfer_in", sid, school["id"], opened,
                                 {"origin_school": "外县实验小学", "class_id": klass["id"]},
                                 self.staff[("academic_office", school["id"])])
            self.history(case, "create", None, "submitted", case["created_by_id"], "academic_office", opened)

    # --- load ---------------------------------------------------------------------------------

    def flush_tables(self, conn) -> None:
        """Insert every row gathered so far, parents first, and forget them."""
        by_table = {m.__table__: m for m in self.rows}
        for table in Base.metadata.sorted_tables:
            rows = self.rows.pop(by_table[table], None) if table in by_table else None
            if not rows:
                continue
            for i in range(0, len(rows), CHUNK):
                conn.execute(insert(table), rows[i:i + CHUNK])
            self.counts[table.name] += len(rows)

    def mark_dropouts(self, conn) -> None:
        """The children whose dropout was confirmed: dropped out, their enrolment period closed."""
        if not self.dropouts:
            return
        conn.execute(update(Student).where(Student.id == bindparam("sid")).values(status="dropped_out"),
                     self.dropouts)
        conn.execute(update(Enrolment).where(Enrolment.id == bindparam("eid"))
                     .values(end_date=bindparam("day"), end_reason="dropout"), self.dropouts)

    def run(self) -> dict:
        t0 = time.perf_counter()
        self.build_org()
        self.build_students()
        self.baselines()
        with self.engine.begin() as conn:
            self.flush_tables(conn)
            # attendance streamed school by school; its runs decide the absence cases
            self.load_attendance(conn)
            self.absence_cases()
            self.transfer_in_pool()
            self.historical_cases()
            self.flush_tables(conn)
            self.mark_dropouts(conn)
            if self.pg:
                for table in Base.metadata.sorted_tables:
                    if "id" in table.c and table.c.id.primary_key:
                        conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                          f"COALESCE((SELECT max(id) FROM {table.name}), 1))"))
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE" if self.pg else "ANALYZE"))
        self.counts["seconds"] = round(time.perf_counter() - t0, 1)
        return dict(self.counts)


def make_engine(url: str):
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=OFF")
            cur.close()
    return engine


def generate(scale_name: str, db: str) -> dict:
    scale = SCALES[scale_name]
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    stamp = stamp_path(scale, db)
    stamp.unlink(missing_ok=True)
    if db == "postgresql":
        ensure_pg_database(scale)
    else:
        for suffix in ("", "-wal", "-shm"):
            sqlite_path(scale).with_name(sqlite_path(scale).name + suffix).unlink(missing_ok=True)
    engine = make_engine(db_url(scale, db))
    Base.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    Base.metadata.create_all(engine)
    print(f"generating {scale.name} on {db} ...", flush=True)
    counts = Generator(scale, engine).run()
    engine.dispose()
    stamp.write_text(json.dumps({"version": GENERATOR_VERSION, "seed": SEED, "scale": scale.name, "db": db,
                                 "counts": counts}, indent=1))
    print(f"  done in {counts['seconds']} s", flush=True)
    return counts


def is_current(scale_name: str, db: str) -> bool:
    stamp = stamp_path(SCALES[scale_name], db)
    if not stamp.exists():
        return False
    try:
        return json.loads(stamp.read_text()).get("version") == GENERATOR_VERSION
    except ValueError:
        return False


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="county", choices=sorted(SCALES))
    ap.add_argument("--db", action="append", choices=("sqlite", "postgresql"))
    ap.add_argument("--if-missing", action="store_true", help="skip a database whose data are current")
    args = ap.parse_args(argv)
    for db in args.db or ["sqlite", "postgresql"]:
        if args.if_missing and is_current(args.scale, db):
            print(f"{args.scale} data on {db} are current", flush=True)
            continue
        generate(args.scale, db)
    return 0


if __name__ == "__main__":
    sys.exit(main())
