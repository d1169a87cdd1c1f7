"""Demo cases: at least one case in every state of every registered process, for the demo
township of `workflow.demo.township` (issue 3 item 7).

Every case is opened and moved by the demo users who would do it in a real school, through
the engine (`create_case`, `fire`; `fire_system` for steps only the system takes), with the
evidence the guards ask for added through `workflow.cases.evidence` first: in-person visits, small
real PDF files in the file store, fees and payments. Effective dates are spread over the past
weeks. Absence cases are built last and lived day by day (`workflow.demo.absences`): the rolls
of the child's days of absence, then the real daily sweep climbs the ladder; at the end every
school is swept for the day before today, so the demo is what the sweep leaves on the morning of
its today. Before that sweep every class takes the roll of each past school day of the term that
the stories left untaken (`absences.take_everyday_rolls`, with one deliberate gap). The cases
that wait for someone sit at branch 1 — the school of the demo accounts principal1, office1 and
teacher1 — so every demo account finds work in its queue.

Children who must already be out of school for a `return` or `recovery` case are recorded as
having dropped out early in the term with `workflow.org.enrolment.leave` (on the rolls until
that day). Flushes, never commits. No Flask.
"""
from __future__ import annotations

import datetime as dt
import io
import random
from collections import deque
from dataclasses import dataclass, field
from types import SimpleNamespace

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Case, RoleAssignment, SchoolClass, Student, User
from workflow.absence import ladder
from workflow.access.scope import Scope, can_see, scope_for
from workflow.cases import engine
from workflow.cases import evidence as ev
from workflow.cases.definitions import Process, T
from workflow.cases.guards import DOCUMENT_NAMES
from workflow.demo import absences
from workflow.demo.monthly import seed_monthly_reports
from workflow.demo.support import build_demo_fee_schedules, build_demo_support
from workflow.demo.township import DemoWorld
from workflow.errors import DomainError
from workflow.org import enrolment
from workflow.org.calendar import SchoolCalendar
from workflow.processes import REGISTRY
from workflow.storage import FileStore

MAX_BYTES = 10 * 1024 * 1024
SYSTEM_ONLY = {"system"}
# The default comment of transitions that need one (send_back, withdraw of a transfer-in...).
COMMENTS = {
    "send_back": "材料不全：请补充医院诊断证明原件",
    "withdraw": "家长决定不再办理",
    "waive_fees": "家庭经济困难（建档立卡户），免收课本费，不让一个孩子因贫失学",
    "revoke": "经复查学生学习情况明显好转，恢复计入考核",
}
APPROVAL_COMMENTS = {"office_approve": "材料齐全，同意", "principal_approve": "同意",
                     "center_file": "已备案"}
DESTINATIONS = (("广东省东莞市长安镇中心小学", "广东省东莞市"), ("浙江省义乌市稠城第二小学", "浙江省义乌市"),
                ("县城实验小学", "本县城区"))
ORIGINS = ("邻县马田镇中心小学", "广东省深圳市宝安区福永小学", "本县城关第一小学")
RECOVERY_NOTES = {"厌学": "学习跟不上，不愿上学", "贫困": "家庭困难，需要照顾弟妹", "外出务工": "随亲戚外出打工",
                  "疾病": "长期生病在家", "其他": "家庭变故"}


def _pdf(title: str) -> bytes:
    """A small valid one-page PDF (ASCII text; the title is only for the reader of the bytes)."""
    text = "Baoxue demo document: " + "".join(c for c in title if c.isascii() and c not in "()\\")
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def paths(proc: Process) -> dict[str, list[str]]:
    """Shortest transition path from the initial state to every state; rounds that only apply
    under a condition (`when`, e.g. a suspension's extension) are used only if nothing else
    reaches a state."""
    found = {proc.initial: []}
    for plain_only in (True, False):
        todo = deque(found)
        while todo:
            state = todo.popleft()
            for t in proc.transitions:
                if plain_only and t.when is not None:
                    continue
                if state in t.sources and t.dest not in found:
                    found[t.dest] = found[state] + [t.name]
                    todo.append(t.dest)
    return found


@dataclass
class _Builder:
    session: Session
    world: DemoWorld
    today: dt.date
    store: FileStore | str  # where documents go: the app's store, or a folder
    rng: random.Random
    scopes: dict[int, Scope] = field(default_factory=dict)
    used: set[int] = field(default_factory=set)
    cases: list[Case] = field(default_factory=list)
    school_no: dict[int, int] = field(default_factory=dict)
    liaison_of: dict[int, User] = field(default_factory=dict)
    home_class: dict[int, int] = field(default_factory=dict)  # student id -> class before leaving
    receipt: int = 0

    def __post_init__(self):
        self.school_no = {s.id: n for n, s in enumerate(self.world.schools)}
        for n, village in enumerate(self.world.villages.values(), start=1):
            self.liaison_of[village.id] = self.world.users[f"liaison{n}"]

    # --- people --------------------------------------------------------------------------------

    def scope(self, user: User) -> Scope:
        if user.id not in self.scopes:
            self.scopes[user.id] = scope_for(self.session, user)
        return self.scopes[user.id]

    def staff(self, role: str, case: Case) -> User | None:
        """The demo user who holds `role` for the case."""
        users = self.world.users
        n = self.school_no.get(case.school_id)
        if role == "homeroom_teacher":
            proc = REGISTRY[case.process]
            class_id = proc.class_for_roles(case) if proc.class_for_roles else None
            class_id = class_id or (case.student.class_id if case.student else None)
            return self.world.homeroom.get(class_id)
        if role in ("principal", "academic_office", "team_member") and n is not None:
            prefix = {"principal": "principal", "academic_office": "office", "team_member": "team"}[role]
            return users.get(f"{prefix}{n}")
        if role in ("center_office", "center_head"):
            return users.get(role)
        if role == "village_liaison" and case.student is not None:
            return self.liaison_of.get(case.student.village_id)
        return None

    def second_office(self, case: Case) -> User:
        """A second academic-office user of the case's school (separation of duties when the
        office itself submitted)."""
        n = self.school_no[case.school_id]
        name = f"office{n}b"
        user = self.world.users.get(name)
        if user is None:
            first = self.world.users[f"office{n}"]
            user = User(username=name, name=self.world.fake.name(), password_hash=first.password_hash,
                        is_active=True)
            user.roles.append(RoleAssignment(role="academic_office", school_id=case.school_id))
            self.session.add(user)
            self.session.flush()
            self.world.users[name] = user
        return user

    def actor(self, case: Case, t: T) -> User | None:
        for role in t.roles:
            user = self.staff(role, case)
            # holding the role is not enough: the user must also see the case (the teacher of
            # the class a returning child chose does not see it before the child is seated)
            if (user is None or role not in engine.case_roles(self.scope(user), case)
                    or not can_see(self.session, self.scope(user), Case, case.id)):
                continue
            if engine.separation_blocks(self.session, case, t, user.id):
                if role == "academic_office":
                    return self.second_office(case)
                continue
            return user
        return None

    # --- students ------------------------------------------------------------------------------

    def classes(self, school_index: int) -> list[SchoolClass]:
        school = self.world.schools[school_index]
        return [k for k in self.world.classes if k.school_id == school.id]

    def pick(self, klass: SchoolClass, *, flagged: bool = False) -> Student:
        """An active student of the class not used by another demo case."""
        q = select(Student).where(Student.class_id == klass.id, Student.status == "active",
                                  Student.is_provisional.is_(False)).order_by(Student.id)
        candidates = [s for s in self.session.scalars(q) if s.id not in self.used]
        if flagged:
            candidates = [s for s in candidates if s.disability or s.learning_difficulty]
        if not candidates:
            return None
        student = self.rng.choice(candidates)
        self.used.add(student.id)
        return student

    def pick_anywhere(self, prefer: list[SchoolClass], *, flagged: bool = False) -> Student:
        for klass in prefer + [k for k in self.world.classes if k not in prefer]:
            student = self.pick(klass, flagged=flagged)
            if student is not None:
                return student
        raise LookupError("演示数据中没有可用的学生")

    def dropped_out(self, klass: SchoolClass) -> Student:
        """A child who stopped coming early in the term, before the system was in use."""
        student = self.pick_anywhere([klass])
        self.home_class[student.id] = student.class_id
        left = self.world.terms[0].start + dt.timedelta(days=self.rng.randint(8, 20))
        # as a confirmed dropout does: the child keeps the class, whose teacher follows them
        enrolment.leave(self.session, student, left, "dropped_out", "dropout")
        return student

    # --- evidence ------------------------------------------------------------------------------

    def document(self, user: User, case: Case, kind: str) -> None:
        name = DOCUMENT_NAMES.get(kind, "材料")
        ev.add_document(self.session, self.scope(user), user, case, kind=kind, filename=f"{name}.pdf",
                        stream=io.BytesIO(_pdf(f"{kind} #{case.id}")), upload_dir=self.store,
                        max_bytes=MAX_BYTES)

    def visit(self, user: User, case: Case, day: dt.date, kind: str, *, notes: str,
              guardian_present: bool = True, participants: list[User] = ()) -> None:
        ids = list(dict.fromkeys([user.id, *(p.id for p in participants)]))
        ev.add_visit(self.session, self.scope(user), user, case, date=min(day, self.today), kind=kind,
                     participant_ids=ids, guardian_present=guardian_present, notes=notes)

    def fee_and_payment(self, user: User, case: Case, *, pay: bool) -> None:
        fee = ev.add_fee(self.session, self.scope(user), user, case, item="课本及作业本费", amount_due="120.50")
        if pay:
            self.receipt += 1
            ev.add_payment(self.session, self.scope(user), user, case, fee_id=fee.id, amount="120.50",
                           receipt_no=f"SQ2026-{self.receipt:04d}")

    def rung_visit(self, case: Case, state: str, day: dt.date) -> None:
        """The visit a rung of the absence ladder asks for, by the people the policy names."""
        rung = ladder.policy_for_case(self.session, case).rung(state)
        people = [u for u in (self.staff(r, case) for r in rung.roles) if u is not None]
        staff = [u for u in people if "village_liaison" not in {ra.role for ra in u.roles}]
        recorder = people[0] if rung.visit_kind == "village_joint" else (staff or people)[0]
        notes = {"visit_1": "与控辍小组成员到家中了解情况，孩子在家帮忙干农活，家长答应送回学校",
                 "visit_2": "再次家访，孩子仍不愿上学，说跟不上课",
                 "visit_3": "校长和班主任一起家访，向家长宣讲义务教育法",
                 "village_joint": "村干部与学校老师一起上门做工作"}.get(state, "家访")
        self.visit(recorder, case, day, rung.visit_kind, participants=people, notes=notes)

    def provide(self, case: Case, t: T, user: User, day: dt.date) -> None:
        """Add what the transition's guards ask for, as `user` would (named by the guards)."""
        for guard in t.guards:
            name = guard.__name__
            if name.startswith("has_"):
                kind = name[len("has_"):]
                if not any(d.kind == kind for d in case.documents):
                    self.document(user, case, kind)
            elif name == "grounds_after_filing":
                self.document(user, case, "suspension_grounds")
            elif name == "in_person_visit":
                self.visit(user, case, day, "in_person_at_school",
                           notes="家长本人持县人民医院诊断证明到校，说明孩子需住院治疗，申请休学")
            elif name == "liaison_joint_visit":
                self.rung_visit(case, "village_joint", day)
            elif name == "returned_to_class":
                # the child is back: the roll call marks them present that day
                absences.take_roll(self, case.student.class_id, day, {case.student_id: "present"})
            elif name == "present_or_seen_at_school":
                self.visit(user, case, day, "in_person_at_school",
                           notes="学生在校上课，班主任与学生面谈，核实在读")
            elif name == "proof_or_completed_transfer":
                self.document(user, case, "enrollment_proof")
            elif name == "any_visit":
                self.visit(user, case, day, "home_visit", participants=[
                    u for u in (self.staff("homeroom_teacher", case),) if u is not None],
                    notes="到家中核实：孩子随父母外出务工，已不在校")
            elif name == "fees_paid_or_waived" and not (case.data or {}).get("fees_waived"):
                office = self.staff("academic_office", case)
                if not case.fees:
                    self.fee_and_payment(office, case, pay=True)
        self.session.flush()
        self.session.expire(case, ["documents", "visits", "fees", "payments"])

    # --- cases ---------------------------------------------------------------------------------

    def create(self, proc: Process, student: Student | None, data: dict, day: dt.date,
               creator_role: str) -> Case:
        school_id = student.school_id if student is not None else (
            # a transfer-in: the receiving school is the chosen class's
            self.session.get(SchoolClass, data["class_id"]).school_id)
        probe = SimpleNamespace(process=proc.name, state=proc.initial, student=student,
                                school_id=school_id, data=data)
        user = self.staff(creator_role, probe)
        if user is None:
            raise LookupError(f"演示数据中没有能为 {proc.name} 立案的用户")
        case = engine.create_case(self.session, self.scope(user), user, proc.name,
                                  student.id if student else None, data, today=day)
        self.cases.append(case)
        return case

    def step(self, case: Case, name: str, day: dt.date, data: dict | None = None) -> None:
        proc = REGISTRY[case.process]
        t = proc.applicable(name, case)
        if t is None:
            raise LookupError(f"{case.process}#{case.id}：状态 {case.state} 不能执行 {name}")
        data = dict(data if data is not None else self.transition_data(case, name))
        if not t.roles or set(t.roles) <= SYSTEM_ONLY:
            engine.fire_system(self.session, case, name, data=data, effective_date=day,
                               comment="系统自动处理")
            return
        user = self.actor(case, t)
        if user is None:
            raise LookupError(f"演示数据中没有能执行 {case.process}.{name} 的用户")
        self.provide(case, t, user, day)
        comment = COMMENTS.get(name, "已核实") if t.needs_comment else APPROVAL_COMMENTS.get(name)
        engine.fire(self.session, self.scope(user), user, case.id, name, version=case.version,
                    data=data, comment=comment, today=day)

    def class_for(self, case: Case) -> int:
        student = case.student
        return (student.class_id or (case.data or {}).get("class_id")
                or self.home_class.get(student.id) or self.classes(1)[0].id)

    def transition_data(self, case: Case, name: str) -> dict:
        key = (case.process, name)
        if key == ("suspension", "extend"):
            start = dt.date.fromisoformat(case.data["start"])
            return {"end": (start + dt.timedelta(days=300)).isoformat()}
        if key in (("suspension", "resume"), ("return", "submit"), ("return", "re_enroll")):
            return {"class_id": self.class_for(case)}
        if key == ("transfer_in", "change_class"):
            current = self.session.get(SchoolClass, case.data["class_id"])
            same = [k for k in self.world.classes if k.school_id == current.school_id
                    and k.grade == current.grade and k.id != current.id]
            return {"class_id": (same or [current])[0].id}
        if key == ("recovery", "mark_returned"):
            klass = self.class_for(case)
            credited = [u.id for u in (self.world.homeroom.get(klass), self.staff("team_member", case)) if u]
            return {"class_id": klass, "credited_user_ids": credited}
        if key == ("roll_verification", "submit"):
            return {"differences": [{"name": self.world.fake.name(), "kind": "not_on_roll",
                                     "note": "随父母返乡借读，学籍尚在外地"}]}
        if key == ("roll_verification", "office_approve"):
            return {"resolutions": [{"difference": 0, "corrected": True, "note": "已联系原校，办理转入学籍"}]}
        if key == ("dropout_check", "confirm_dropout"):
            return {"reason_category": self.rng.choice(list(RECOVERY_NOTES))}
        if key == ("dropout_check", "not_ours"):
            # the child is on another school's roll in the township: the check moves there
            other = next(s for s in self.world.schools if s.id != case.school_id)
            return {"school_id": other.id}
        if key == ("absence", "confirm_dropout"):
            return {"reason_category": self.rng.choice(list(RECOVERY_NOTES))}
        if key == ("absence", "convert"):
            # the family asks for a suspension instead: the teacher opens it, the office converts
            data = self.create_data(REGISTRY["suspension"], case.opened_on, case.student.klass)
            other = self.create(REGISTRY["suspension"], case.student, data, case.opened_on, "homeroom_teacher")
            return {"case_id": other.id}
        return {}

    def create_data(self, proc: Process, day: dt.date, klass: SchoolClass) -> dict:
        rng = self.rng
        if proc.name == "suspension":
            start = day + dt.timedelta(days=3)
            return {"start": start.isoformat(), "end": (start + dt.timedelta(days=150)).isoformat(),
                    "reason": rng.choice(["住院治疗（白血病）", "骨折术后长期卧床", "抑郁症需休养治疗"])}
        if proc.name == "transfer_out":
            school, region = rng.choice(DESTINATIONS)
            return {"destination_school": school, "destination_region": region, "reason": "随父母外出务工地就读"}
        if proc.name == "return":
            return {"class_id": klass.id, "reason": "父母返乡，孩子回校就读"}
        if proc.name == "transfer_in":
            gender = rng.choice("MF")
            name = self.world.fake.last_name() + (self.world.fake.first_name_male() if gender == "M"
                                                 else self.world.fake.first_name_female())
            birth = dt.date(2026 - 6 - klass.grade, rng.randint(1, 12), rng.randint(1, 28))
            village = next(iter(self.world.villages.values()))
            return {"origin_school": rng.choice(ORIGINS), "class_id": klass.id, "reason": "随父母返乡",
                    "student": {"name": name, "gender": gender, "birth_date": birth.isoformat(),
                                "village_id": village.id, "guardians": [
                                    {"name": name[0] + "建国", "relation": "父亲", "phone": "13907310000"}]}}
        if proc.name == "recovery":
            reason = rng.choice(list(RECOVERY_NOTES))
            return {"reason_category": reason, "notes": RECOVERY_NOTES[reason]}
        if proc.name == "special_exclusion":
            return {"reason": "经县残联鉴定为智力残疾，家长同意不计入巩固率考核"}
        if proc.name == "absence":
            return {"reason": "上午第二节课后擅自离校，未请假"}
        if proc.name == "roll_verification":
            return {"class_id": klass.id}
        if proc.name == "dropout_check":
            return {"source": "national_list", "note": "上级比对名单：疑似辍学，请核实"}
        return {}


# Which role opens a case of each process in the demo (the first that may, for unknown ones).
CREATOR_ROLE = {"absence": "homeroom_teacher", "suspension": "homeroom_teacher", "transfer_out": "homeroom_teacher",
                "special_exclusion": "homeroom_teacher", "return": "academic_office",
                "transfer_in": "academic_office", "recovery": "academic_office",
                "roll_verification": "academic_office", "dropout_check": "academic_office"}
# States whose cases wait for the demo accounts of branch 1: those go to teacher1's class.
WAITING = {"draft", "submitted", "office_approved", "approved", "open", "paperwork_verified",
           "fees_settled", "reported", "visit_1"}


def build_demo_cases(session: Session, world: DemoWorld, *, today: dt.date, store: FileStore | str) -> dict:
    """Open demo cases so that every (process, state) of `REGISTRY` has at least one, plus an
    overdue suspension for the academic office's queue; then sweep every school for the day
    before `today` (`workflow.demo.absences.sweep_demo_schools`). Documents go to `store` (the
    app's file store, or a folder).

    Returns {"cases": {process: {state: count}}, "skipped": ["process.state: why", ...]}. A case
    of a process this module has no recipe for (one added later) that the engine refuses is
    rolled back to a savepoint and listed in "skipped"; for the processes it knows, a refusal is
    a bug and raises (LookupError when the demo world lacks a student or user, else the
    engine's DomainError)."""
    build_demo_fee_schedules(session, world)  # issue 15: a return's fees must be listed (一费制)
    b = _Builder(session, world, today, store, random.Random(world.seed + 1))
    branch1 = b.classes(1)
    teacher1_class = branch1[0]
    spread = branch1 + [k for i in range(2, len(world.schools)) for k in b.classes(i)] + b.classes(0)
    skipped: list[str] = []
    absence: list[tuple[str, SchoolClass, int]] = []
    n = 0
    for proc in REGISTRY.values():
        if proc.name == "monthly_report":
            continue  # a school's month, not a child's case: workflow/demo/monthly.py below
        for state, path in paths(proc).items():
            n += 1
            klass = teacher1_class if state in WAITING else spread[n % len(spread)]
            if proc.name == "absence":
                # last, so that each roll lists the children still in the class at the end
                absence.append((state, klass, n))
                continue
            if proc.name in CREATOR_ROLE:
                _case_in_state(b, proc, state, path, klass, n)
                continue
            savepoint = session.begin_nested()
            try:
                _case_in_state(b, proc, state, path, klass, n)
                savepoint.commit()
            except (DomainError, LookupError) as exc:
                savepoint.rollback()
                b.cases = [c for c in b.cases if c in session]
                skipped.append(f"{proc.name}.{state}: {exc}")
    _overdue_suspension(b, branch1[1 % len(branch1)])
    for state, klass, number in absence:
        _absence_case(b, state, klass, number)
    build_demo_support(session, world)  # issue 15: learning files, aid, a closed class survey
    seed_monthly_reports(session, world, today=today)  # issue 14: a year of 一月一报告
    # the school took the roll every day around the stories (but for one day of teacher1's class)
    absences.take_everyday_rolls(session, world, today, gap_class_id=teacher1_class.id)
    # last night's sweep: due dates and overdue flags as of the demo's today
    absences.sweep_demo_schools(session, today)
    session.flush()
    counts: dict[str, dict[str, int]] = {}
    # every case, those the engine opened by itself (a dropout's recovery) included
    for process, state, number in session.execute(
            select(Case.process, Case.state, func.count(Case.id)).group_by(Case.process, Case.state)):
        counts.setdefault(process, {})[state] = number
    return {"cases": counts, "skipped": skipped}


def _case_in_state(b: _Builder, proc: Process, state: str, path: list[str], klass: SchoolClass,
                   n: int) -> Case:
    # Older cases for longer paths, so each step can take a day or three.
    day = b.today - dt.timedelta(days=4 + 3 * len(path) + n % 9)
    if proc.name == "roll_verification":
        # the subject is a class, one case per class: each state gets its own class of branch 1
        # (the draft one is teacher1's)
        student, klass = None, b.classes(1)[proc.states.index(state)]
    elif proc.name == "transfer_in":
        student = None
    elif proc.name in ("return", "recovery"):
        student = b.dropped_out(klass)
    else:
        student = b.pick_anywhere([klass], flagged=proc.name == "special_exclusion")
    role = CREATOR_ROLE.get(proc.name) or proc.create_roles[0]
    if student is None and proc.name not in ("transfer_in", "roll_verification"):
        raise LookupError(f"演示数据中没有可用于 {proc.name} 的学生")
    case = b.create(proc, student, b.create_data(proc, day, klass), day, role)
    if proc.name == "recovery":
        # the office records the home visit it made with the child's former teacher and the team
        office = b.staff("academic_office", case)
        joined = [u for u in (b.world.homeroom.get(b.home_class.get(case.student_id)),
                              b.staff("team_member", case)) if u is not None]
        b.visit(office, case, day, "home_visit", participants=joined,
                notes="到家中劝返，家长表示会做孩子的思想工作")
    for name in path:
        day = min(b.today, day + dt.timedelta(days=b.rng.randint(1, 3)))
        b.step(case, name, day)
    if proc.name == "return" and state == "paperwork_verified":
        # still unpaid: the family owes it (settle_fees waits for the payment or a waiver)
        b.fee_and_payment(b.staff("academic_office", case), case, pay=False)
    return case


# The reason a teacher gives when reporting a child by hand on a day without school (a family's
# call at the weekend) instead of the school day's 擅自离校.
OFF_DAY_REASON = "家长来电：孩子外出未归，下个上课日恐不能到校"


def _absence_case(b: _Builder, state: str, klass: SchoolClass, n: int) -> Case:
    """An absence case in `state`, lived day by day (workflow.demo.absences), as the sweep leaves
    it on the morning of the demo's today: `reported` was reported this morning (no sweep since);
    an open rung is where the child's absence up to yesterday's school day puts it (its own visit
    not logged yet); `returned`, `converted` and `dropout_confirmed` happened in past weeks."""
    proc = REGISTRY["absence"]
    calendar = SchoolCalendar.load(b.session, klass.school_id)
    student = b.pick_anywhere([klass])
    today = b.today
    if state == "reported":
        data = b.create_data(proc, today, klass)
        if not calendar.is_school_day(today):
            data["reason"] = OFF_DAY_REASON
        return b.create(proc, student, data, today, "homeroom_teacher")
    last = calendar.previous_school_day(today)
    rungs = {"visit_1": 1, "visit_2": 2, "visit_3": 3, "village_joint": 4 + n % 3}
    if state in rungs:
        days = absences.school_days_ending(calendar, last, rungs[state])
        case = b.create(proc, student, b.create_data(proc, days[0], klass), days[0], "homeroom_teacher")
        absences.live(b, case, days)
        return case
    # a closed story, a few weeks back: absent for a while, then back, converted or lost
    length = {"returned": 1 + n % 2, "converted": 1, "dropout_confirmed": 4}.get(state)
    if length is None:
        raise LookupError(f"演示数据没有 absence.{state} 的做法")
    end = today - dt.timedelta(days=10 + 2 * length + n % 9)
    days = absences.school_days_ending(calendar, calendar.previous_school_day(end + dt.timedelta(days=1)), length)
    after = calendar.next_school_day(days[-1])
    case = b.create(proc, student, b.create_data(proc, days[0], klass), days[0], "homeroom_teacher")
    if state == "returned":
        absences.live(b, case, days, back_on=after)  # the sweep closes it
    else:
        absences.live(b, case, days)
        b.step(case, "convert" if state == "converted" else "confirm_dropout", after)
    return case


def _overdue_suspension(b: _Builder, klass: SchoolClass) -> Case:
    """A suspension whose end date passed without `resume`: red in the office's queue."""
    proc = REGISTRY.get("suspension")
    if proc is None:
        return None
    student = b.pick_anywhere([klass])
    start = b.world.terms[0].start + dt.timedelta(days=6)
    opened = start - dt.timedelta(days=3)
    data = {"start": start.isoformat(), "end": (b.today - dt.timedelta(days=4)).isoformat(),
            "reason": "肺炎住院治疗"}
    case = b.create(proc, student, data, opened, "homeroom_teacher")
    day = opened
    for name in paths(proc)["suspended"]:
        day = day + dt.timedelta(days=2)
        b.step(case, name, day)
    return case

