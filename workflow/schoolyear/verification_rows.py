"""The year-end roll verification (SPEC §3.8) as rows a person fills in on the case page.

The process takes `data.differences` from the homeroom teacher and `data.resolutions` from the
academic office (workflow/schoolyear/verification.py checks their JSON shape for the API). A page
posts rows of text instead: this module reads those rows into the same shapes, and refuses them
with a message that names the row ("第 2 行：请填写说明") rather than a field key, all problems at
once, in the catalogue so English pages say it in English. It also reads what the page shows:
the class's roll to choose from, the recorded differences with their resolutions, the cases
the office may name as a resolution, and for the school-year page each class of the year with its
verification and whether the user may open one. No Flask; reads only, never writes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from models import Case, RoleAssignment, School, SchoolClass, Student, User
from workflow.access.scope import Scope, case_filter
from workflow.cases import engine
from workflow.errors import LIST_SEP, N_, Invalid, Msg
from workflow.processes.roll_verification import PROCESS
from workflow.schoolyear.verification import DIFFERENCE_KINDS, PROCESS_NAME, resolves
from workflow.validation import parse_int_text

# The kinds of difference (the process's DIFFERENCE_KINDS), as the teacher and the office read them.
DIFFERENCE_KIND_NAMES = {
    "absent_from_class": N_("名在人不在（名单上有，人不在班）"),
    "not_on_roll": N_("人在名不在（在班就读，名单上没有）"),
    "details_wrong": N_("学籍信息有误"),
}
NAME_MAX, NOTE_MAX = 60, 500
# a resolution row's choice: the record corrected, or a case of the school opened for the child
CORRECTED = "corrected"
CASE_PREFIX = "case-"


def _row_problem(row: int, problem: Msg) -> Msg:
    return Msg(N_("第 %(row)d 行：%(problem)s"), row=row, problem=problem)


def _refuse(problems: list[tuple[int, Msg]]) -> Invalid:
    """One Invalid naming every bad row; `details.rows` the row numbers, for the page to mark."""
    message = Msg.join(LIST_SEP, [_row_problem(row, p) for row, p in problems])
    return Invalid(message, details={"rows": sorted({row for row, _p in problems})})


def class_roll(session: Session, klass: SchoolClass) -> list[Student]:
    """The children on the class's roll in this system (students whose class it is, suspended
    ones included: they keep their class), by name: whom the teacher picks a difference from."""
    return list(session.scalars(select(Student).where(Student.class_id == klass.id)
                                .order_by(Student.name, Student.id)))


def differences_from_rows(session: Session, case: Case, rows: list[dict], *, no_differences: bool) -> list[dict]:
    """The teacher's rows — each {student, name, kind, note} as typed, numbered from 1 in the
    order given; a row with nothing in it is skipped — as `data.differences`: a child of the
    class (`student_id`, with the name as on the roll) or a typed name, a kind, a note.

    "No differences" is an explicit choice: with no filled row and `no_differences` unset, or
    with filled rows and `no_differences` set, it raises Invalid. Raises Invalid naming every
    bad row (no kind, no child, a child not of the class, both a child and a typed name, no note,
    text too long)."""
    filled = [(i, r) for i, r in enumerate(rows, start=1)
              if any((r.get(k) or "").strip() for k in ("student", "name", "kind", "note"))]
    if no_differences:
        if filled:
            raise Invalid(N_("已勾选「核对无差异」，但还填写了差异：请取消勾选，或清空填写的行"),
                          details={"rows": [i for i, _r in filled]})
        return []
    if not filled:
        raise Invalid(N_("请逐行填写核实出的差异；名单与在班学生完全一致时，请勾选「核对无差异」"))
    roll = {s.id: s for s in class_roll(session, case.klass)} if case.klass is not None else {}
    problems: list[tuple[int, Msg]] = []
    out = []
    for i, r in filled:
        student_raw, name = (r.get("student") or "").strip(), (r.get("name") or "").strip()
        kind, note = (r.get("kind") or "").strip(), (r.get("note") or "").strip()
        item: dict = {}
        if student_raw and name:
            problems.append((i, N_("请选择本班学生，或填写不在名单上的孩子姓名，二者只填一项")))
        elif student_raw:
            student = roll.get(parse_int_text(student_raw, 1))
            if student is None:
                problems.append((i, N_("所选学生不在本班名单上")))
            else:
                item.update(student_id=student.id, name=student.name)
        elif name:
            if len(name) > NAME_MAX:
                problems.append((i, Msg(N_("姓名不能超过 %(n)d 个字"), n=NAME_MAX)))
            item["name"] = name
        else:
            problems.append((i, N_("请选择本班学生，或填写不在名单上的孩子姓名")))
        if kind not in DIFFERENCE_KINDS:
            problems.append((i, N_("请选择差异类型")))
        if not note:
            problems.append((i, N_("请填写说明")))
        elif len(note) > NOTE_MAX:
            problems.append((i, Msg(N_("说明不能超过 %(n)d 个字"), n=NOTE_MAX)))
        out.append(item | {"kind": kind, "note": note})
    if problems:
        raise _refuse(problems)
    return out


@dataclass
class Difference:
    """One recorded difference as the page shows it: row number, who (the child on the roll, or
    the typed name), its kind's name, the note, and its resolution if the office recorded one."""

    row: int
    student: Student | None
    name: str
    kind: str
    kind_label: Msg | str
    note: str
    resolution: dict | None = None
    resolution_case: Case | None = None
    # the cases the office may name for it (resolution_choices)
    choices: list[Case] = field(default_factory=list)


def recorded_differences(session: Session, scope: Scope, case: Case) -> list[Difference]:
    """The case's `data.differences` in order, each with its child (if on file and of the case's
    school), its kind's name and the first resolution naming it, with the resolving case when the
    user may see it."""
    data = case.data or {}
    diffs = [d for d in data.get("differences") or [] if isinstance(d, dict)]
    ids = {d["student_id"] for d in diffs if isinstance(d.get("student_id"), int)}
    students = {s.id: s for s in session.scalars(select(Student).where(
        Student.id.in_(ids), Student.school_id == case.school_id))} if ids else {}
    resolutions: dict[int, dict] = {}
    for res in data.get("resolutions") or []:
        if isinstance(res, dict) and isinstance(res.get("difference"), int):
            resolutions.setdefault(res["difference"], res)
    case_ids = {r["case_id"] for r in resolutions.values() if isinstance(r.get("case_id"), int)}
    cases = {c.id: c for c in session.scalars(select(Case).where(Case.id.in_(case_ids), case_filter(scope)))} \
        if case_ids else {}
    out = []
    for i, d in enumerate(diffs):
        student = students.get(d.get("student_id"))
        name = d.get("name") or (student.name if student else (f"#{d['student_id']}" if d.get("student_id") else ""))
        res = resolutions.get(i)
        out.append(Difference(row=i + 1, student=student, name=str(name), kind=str(d.get("kind") or ""),
                              kind_label=DIFFERENCE_KIND_NAMES.get(d.get("kind"), str(d.get("kind") or "")),
                              note=str(d.get("note") or ""), resolution=res,
                              resolution_case=cases.get(res.get("case_id")) if res else None))
    return out


def resolution_choices(session: Session, scope: Scope, case: Case, differences: list[Difference]) -> None:
    """Fill each difference's `choices`: the cases of the case's school the user sees that would
    resolve it (the process's guard, workflow/schoolyear/verification.py:differences_resolved) —
    the child's own cases, or for a typed name the cases of a child of that name at the school
    (a transfer-in opened for them) — newest first."""
    ids = {d.student.id for d in differences if d.student is not None}
    names = {d.name for d in differences if d.student is None and d.name}
    if not ids and not names:
        return
    stmt = (select(Case, Student).join(Student, Student.id == Case.student_id)
            .where(Case.school_id == case.school_id, Case.id != case.id, case_filter(scope))
            .order_by(Case.id.desc()))
    found = session.execute(stmt.where((Student.id.in_(ids)) | (Student.name.in_(names)))).all()
    for d in differences:
        if d.student is not None:
            d.choices = [c for c, s in found if s.id == d.student.id]
        else:
            d.choices = [c for c, s in found if s.name == d.name]


def resolutions_from_rows(session: Session, scope: Scope, case: Case, rows: list[dict]) -> list[dict]:
    """The office's rows — one per recorded difference, in order, each {how, note}: `how` is
    "corrected" (the record was corrected; the note says how) or "case-<id>" (a case opened for
    the child) — as `data.resolutions`. Raises Invalid naming every row left without a choice,
    a correction without a note, or a case that does not resolve that difference — or that the
    user cannot see (the named cases are read through `case_filter`)."""
    diffs = [d for d in (case.data or {}).get("differences") or [] if isinstance(d, dict)]
    problems: list[tuple[int, Msg]] = []
    out = []
    for i, diff in enumerate(diffs):
        row = rows[i] if i < len(rows) else {}
        how, note = (row.get("how") or "").strip(), (row.get("note") or "").strip()
        if len(note) > NOTE_MAX:
            problems.append((i + 1, Msg(N_("说明不能超过 %(n)d 个字"), n=NOTE_MAX)))
            continue
        if how == CORRECTED:
            if not note:
                problems.append((i + 1, N_("已更正学籍的，请在说明中写明更正了什么")))
            out.append({"difference": i, "corrected": True, "note": note})
        elif how.startswith(CASE_PREFIX):
            other = session.scalar(select(Case).where(
                Case.id == (parse_int_text(how[len(CASE_PREFIX):], 1) or 0), case_filter(scope)))
            if not resolves(case, other, diff):
                problems.append((i + 1, N_("所选案件不是为这名学生开启的本校案件")))
                continue
            out.append({"difference": i, "case_id": other.id} | ({"note": note} if note else {}))
        else:
            problems.append((i + 1, N_("请选择处理方式：已更正学籍，或为该生开启的案件")))
    if problems:
        raise _refuse(problems)
    return out


# --- the school-year page: each class of the year and its verification ----------------------------


@dataclass
class ClassVerification:
    """A class of the year on the school-year page: its homeroom teachers' names, its roll
    verification (None: not opened yet) and whether this user may open one for it."""

    klass: SchoolClass
    teachers: list[str]
    case: Case | None
    may_open: bool


def may_open_verification(scope: Scope, klass: SchoolClass) -> bool:
    """Whether the user may open the class's roll verification, as engine.create_case decides it
    (one of the process's `create_roles` held for the class's school: its academic office)."""
    probe = SimpleNamespace(id=None, process=PROCESS_NAME, student=None, school_id=klass.school_id,
                            school=klass.school, data={}, state=None)
    return engine.creating_role(scope, PROCESS, probe, klass.id) is not None


def year_end_classes(session: Session, scope: Scope, schools: list[School], school_year: str) -> list[ClassVerification]:
    """The classes of `schools` (the caller's visible schools) in `school_year`, by school, grade
    and name, each with its homeroom teachers, its roll verification if one was opened and
    whether the user may open one now (`may_open_verification`, and none opened yet)."""
    if not schools:
        return []
    order = {s.id: i for i, s in enumerate(schools)}
    classes = sorted(session.scalars(select(SchoolClass).options(joinedload(SchoolClass.school)).where(
        SchoolClass.school_id.in_(order), SchoolClass.school_year == school_year)),
        key=lambda k: (order[k.school_id], k.grade, k.name, k.id))
    ids = [k.id for k in classes]
    if not ids:
        return []
    cases = {c.class_id: c for c in session.scalars(select(Case).where(
        Case.process == PROCESS_NAME, Case.class_id.in_(ids), case_filter(scope)))}
    teachers: dict[int, list[str]] = {}
    for class_id, name in session.execute(select(RoleAssignment.class_id, User.name).join(
            User, User.id == RoleAssignment.user_id).where(
            RoleAssignment.role == "homeroom_teacher", RoleAssignment.class_id.in_(ids),
            User.is_active.is_(True)).order_by(User.name)):
        teachers.setdefault(class_id, []).append(name)
    return [ClassVerification(k, teachers.get(k.id, []), cases.get(k.id),
                              k.id not in cases and may_open_verification(scope, k)) for k in classes]


def open_all_verifications(session: Session, scope: Scope, user: User, school: School, school_year: str, *,
                           today) -> list[Case]:
    """Open the roll verification of every class of `school` in `school_year` that has none yet
    (SPEC §3.8: "or for every class of a school at once"), each through engine.create_case as one
    class's button would. Classes the user may not open are left alone. Returns the new cases
    (none when every class already has one). Flushes; the caller commits."""
    opened = []
    for row in year_end_classes(session, scope, [school], school_year):
        if row.may_open:
            opened.append(engine.create_case(session, scope, user, PROCESS_NAME, None,
                                             {"class_id": row.klass.id}, today=today))
    return opened
