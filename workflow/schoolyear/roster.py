"""Roster import (学籍名册导入, SPEC §5): a school's classes loaded from the national student-status
system's .xlsx.

The whole file is checked first (`check_roster`): every bad row is reported with its Excel row
number, the column and a reason (a marked message, shown in the user's language) — a bad ID
number (format, birth date inside, GB 11643 check digit), a bad or future date, an unknown
grade/class of the school year, a village outside the center school's catchment, the same 学籍号
or ID number twice in the file or on another student in the database. Then `import_roster`
writes according to the mode: `check` writes nothing; `all` writes only a clean file (any
error → Invalid 422 with the same errors); `valid_only` writes the clean rows and skips the others.

A child already on file (same 全国学籍号, at this school) is updated, not duplicated, and each
changed detail is kept as a StudentChange (source `roster_import`); a re-import of the same file
finds nothing different and writes nothing. A new child is enrolled with the file's 入学日期 as
the start of the enrolment period, so a roster loaded mid-term counts each child from their real
joining day in the baselines (SPEC §4). The 特殊群体 column adds flags (it never clears one the
school set by hand: the national export does not carry 学困, for instance).

Existing rows are read in a few set-based queries (classes, villages, students by 学籍号 and ID
number) and new rows are inserted in one flush, so a 5,000-row file imports in seconds
(`bench/roster.py`). No Flask; never commits.
"""
from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass, field

from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from models import (
    STUDENT_FLAGS,
    Enrolment,
    Guardian,
    School,
    SchoolClass,
    Student,
    StudentChange,
    User,
    Village,
)
from workflow import clock
from workflow.access.permissions import may_manage_school
from workflow.access.scope import Scope, get_in_scope
from workflow.errors import N_, Forbidden, Invalid, Msg, NotFound, invalid_field
from workflow.org.services import (
    FLAG_NAMES,
    apply_details,
    check_school_year,
    normalize_id_card,
    student_details,
)
from workflow.spreadsheets import NotXlsx, cell_date, cell_text, read_xlsx_rows

# (key, header) in the national export's order (SPEC §5); the template has exactly this header.
COLUMNS = (
    ("name", "姓名"), ("gender", "性别"), ("birth_date", "出生日期"), ("id_card_no", "身份证号"),
    ("student_no", "全国学籍号"), ("grade", "年级"), ("class_name", "班级"), ("enrolled_on", "入学日期"),
    ("village", "户籍村"), ("guardian_name", "监护人姓名"), ("guardian_relation", "监护人关系"),
    ("guardian_phone", "监护人电话"), ("flags", "特殊群体"),
)
HEADERS = dict(COLUMNS)
REQUIRED = ("name", "gender", "birth_date", "student_no", "grade", "class_name", "enrolled_on", "village")
MODES = ("check", "valid_only", "all")
MAX_ROWS = 5000
MAX_BYTES = 20 * 1024 * 1024  # uncompressed
MAX_COLS = 30
HEADER_SEARCH_ROWS = 5
GENDER_IN = {"男": "M", "女": "F", "M": "M", "F": "F"}
FLAG_IN = {**{name: code for code, name in FLAG_NAMES.items()}, **{c: c for c in STUDENT_FLAGS},
           "脱贫户": "poor", "贫困户": "poor", "残疾儿童": "disability", "留守": "left_behind", "随迁": "migrant"}
_CN_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_FLAG_SPLIT = re.compile(r"[、,，;；/\s]+")
_STUDENT_NO_RE = re.compile(r"^[A-Za-z0-9]{1,40}$")


@dataclass
class RosterRow:
    """One clean row, in the shapes the services store."""

    row: int
    name: str
    gender: str
    birth_date: dt.date
    id_card_no: str | None
    student_no: str
    class_id: int
    enrolled_on: dt.date
    village_id: int
    guardians: list[dict]
    flags: list[str]


@dataclass
class RosterCheck:
    """A whole file checked: how many data rows, the clean ones, every error."""

    school: School
    school_year: str
    rows: int = 0
    valid: list[RosterRow] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)

    @property
    def bad_rows(self) -> set[int]:
        return {e["row"] for e in self.errors}


@dataclass
class RosterResult:
    check: RosterCheck
    mode: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def as_dict(self) -> dict:
        """The API's answer: {rows, created, updated, unchanged, errors}."""
        return {"rows": self.check.rows, "created": self.created, "updated": self.updated,
                "unchanged": self.unchanged, "errors": self.check.errors}


# --- the template and reading a file -------------------------------------------------------------


def template_bytes() -> bytes:
    """The downloadable template: the header row of SPEC §5, and a sheet explaining the values."""
    wb = Workbook()
    ws = wb.active
    ws.title = "学籍名册"
    ws.append([h for _k, h in COLUMNS])
    for i in range(1, len(COLUMNS) + 1):
        ws.cell(row=1, column=i).number_format = "@"
    notes = wb.create_sheet("填写说明")
    notes.append(["列", "说明"])
    notes.append(["性别", "男 或 女"])
    notes.append(["出生日期、入学日期", "如 2016-05-01；入学日期是孩子进入本班的日期，基数从这天算起"])
    notes.append(["身份证号", "18位，最后一位校验码须正确（可为 X）"])
    notes.append(["全国学籍号", "必填；已在本校的学生按学籍号更新，不会重复登记"])
    notes.append(["年级、班级", "年级填 1–9（或“三年级”），班级名称须与系统中该学年的班级一致"])
    notes.append(["户籍村", "须是本中心校服务范围内的村"])
    notes.append(["特殊群体", "可填多个，用顿号分开：" + "、".join(FLAG_NAMES.values())])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _not_xlsx(message: Msg | None = None) -> Invalid:
    return Invalid(message or N_("文件不是 Excel（.xlsx）文件，请上传从学籍系统导出或用模板填写的 .xlsx 名册"),
                   code="invalid_file", details={"field": "file"})


def read_sheet(data: bytes) -> list[tuple[int, tuple]]:
    """The (Excel row number, cell values) of the first sheet, through the one .xlsx reader
    (`workflow/spreadsheets.py:read_xlsx_rows`: size limits checked before parsing, read-only
    streaming). Raises Invalid `invalid_file` for anything that is not an .xlsx workbook and for
    more than MAX_ROWS data rows, MAX_COLS columns or MAX_BYTES uncompressed."""
    try:
        rows = read_xlsx_rows(data, max_rows=MAX_ROWS + HEADER_SEARCH_ROWS, max_cols=MAX_COLS,
                              max_bytes=MAX_BYTES)
    except NotXlsx as exc:
        if not data:
            raise _not_xlsx(N_("文件是空的，请选择要导入的 .xlsx 名册")) from None
        raise _not_xlsx(None if exc.message == NotXlsx().message else exc.msg) from None
    return list(enumerate(rows, start=1))


def _grade(value) -> int | None:
    text = cell_text(value).replace("年级", "").replace("级", "")
    if text in ("1", "2", "3", "4", "5", "6", "7", "8", "9"):  # not isdigit(): "²" passes it
        n = int(text)
    else:
        n = _CN_DIGITS.get(text)
    return n if n is not None and 1 <= n <= 9 else None


def _header(rows) -> tuple[int, dict[str, int]]:
    """The header row (the first of the first rows naming 姓名) and key -> column index. Raises
    Invalid `invalid_rows` naming the missing columns."""
    by_header = {h: k for k, h in COLUMNS}
    for index, (number, values) in enumerate(rows[:HEADER_SEARCH_ROWS]):
        names = [re.sub(r"\s+", "", cell_text(v)) for v in values]
        if "姓名" in names:
            columns: dict[str, int] = {}
            for i, name in enumerate(names):
                key = by_header.get(name)
                if key and key not in columns:
                    columns[key] = i
            missing = [HEADERS[k] for k in REQUIRED if k not in columns]
            if missing:
                errors = [{"row": number, "column": m, "message": N_("缺少必需的列")} for m in missing]
                # the headers stay Chinese in English too: they are what the file must say
                raise Invalid(N_("第 %(row)d 行（表头）缺少必需的列：%(columns)s"), code="invalid_rows",
                              details={"errors": errors}, row=number, columns="、".join(missing))
            return index, columns
    raise Invalid(N_("找不到表头行：前 5 行中没有「姓名」列，请使用下载的模板"), code="invalid_rows",
                  details={"errors": [{"row": 1, "column": "姓名", "message": N_("找不到表头行")}]})


# --- checking ------------------------------------------------------------------------------------


def _school_for(session: Session, scope: Scope, school_id, school_year) -> School:
    if isinstance(school_id, bool) or not isinstance(school_id, int):
        raise invalid_field("school_id", N_("字段 school_id 必须是整数"))
    check_school_year(school_year)
    try:
        school = get_in_scope(session, scope, School, school_id)
    except NotFound:
        raise NotFound(N_("学校不存在或不在您的管辖范围内（school_id）"), details={"field": "school_id"}) from None
    if school.kind == "county":
        raise invalid_field("school_id", N_("县教育局没有学生名册（school_id 须为中心校或村小）"))
    if not may_manage_school(session, scope, school.id):
        raise Forbidden(N_("只有本校校长、教导处，本中心校领导或系统管理员可以导入学籍名册"), code="role_forbidden")
    return school


def _chunks(values: list, size: int = 900):
    for i in range(0, len(values), size):
        yield values[i:i + size]


def check_roster(session: Session, scope: Scope, school_id, school_year, data: bytes, *,
                 today: dt.date | None = None) -> RosterCheck:
    """Check a whole roster file for a school and school year without writing anything.

    Raises NotFound (school out of scope), Forbidden (may not manage the school's students),
    Invalid (bad school_year; not an .xlsx file, no header, a required column missing, no data
    rows). Row problems are reported in the result, never raised.
    """
    school = _school_for(session, scope, school_id, school_year)
    today = today or clock.today()
    rows = read_sheet(data)
    header_index, columns = _header(rows)
    result = RosterCheck(school=school, school_year=school_year)
    classes = {(k.grade, k.name): k for k in session.scalars(select(SchoolClass).where(
        SchoolClass.school_id == school.id, SchoolClass.school_year == school_year))}
    class_names = {name for _g, name in classes}
    villages = {v.name: v for v in session.scalars(select(Village).where(
        Village.center_school_id == school.center_id))}

    def cell(values, key):
        i = columns.get(key)
        return values[i] if i is not None and i < len(values) else None

    parsed: list[tuple[RosterRow, list[dict]]] = []
    for number, values in rows[header_index + 1:]:
        if all(cell_text(v) == "" for v in values):
            continue
        result.rows += 1
        problems: list[dict] = []

        def bad(key, message: Msg, number=number, problems=problems):
            problems.append({"row": number, "column": HEADERS[key], "message": message})

        name = cell_text(cell(values, "name"))
        if not name:
            bad("name", N_("姓名不能为空"))
        elif len(name) > 60:
            bad("name", N_("姓名超过 60 个字符"))
        gender = GENDER_IN.get(cell_text(cell(values, "gender")).upper())
        if gender is None:
            bad("gender", N_("性别须填“男”或“女”"))
        birth = cell_date(cell(values, "birth_date"))
        if birth is None:
            bad("birth_date", N_("出生日期无效，请写成 2016-05-01"))
        elif birth > today:
            bad("birth_date", N_("出生日期不能晚于今天"))
        id_card = None
        raw_id = cell_text(cell(values, "id_card_no"))
        if raw_id:
            try:
                id_card = normalize_id_card(raw_id)
            except Invalid as exc:
                bad("id_card_no", exc.msg)
            else:
                if birth is not None and id_card[6:14] != birth.strftime("%Y%m%d"):
                    bad("id_card_no", N_("身份证号中的出生日期与“出生日期”列不一致"))
        student_no = cell_text(cell(values, "student_no")).upper()
        if not student_no:
            bad("student_no", N_("全国学籍号不能为空"))
        elif not _STUDENT_NO_RE.match(student_no):
            bad("student_no", N_("全国学籍号只能是字母和数字（40 位以内）"))
        grade = _grade(cell(values, "grade"))
        class_name = cell_text(cell(values, "class_name"))
        klass = None
        if grade is None:
            bad("grade", N_("年级须为 1–9"))
        if not class_name:
            bad("class_name", N_("班级不能为空"))
        elif grade is not None:
            klass = classes.get((grade, class_name))
            if klass is None:
                message = (N_("%(school)s %(year)s 学年没有 %(grade)d 年级的“%(name)s”（班级存在但年级不同）")
                           if class_name in class_names else N_("%(school)s %(year)s 学年没有 %(grade)d 年级的“%(name)s”"))
                bad("class_name", Msg(message, school=school.name, year=school_year, grade=grade, name=class_name))
        enrolled = cell_date(cell(values, "enrolled_on"))
        if enrolled is None:
            bad("enrolled_on", N_("入学日期无效，请写成 2026-09-01"))
        elif enrolled > today:
            bad("enrolled_on", N_("入学日期不能晚于今天"))
        elif birth is not None and enrolled <= birth:
            bad("enrolled_on", N_("入学日期不能早于出生日期"))
        village_name = cell_text(cell(values, "village"))
        village = villages.get(village_name)
        if not village_name:
            bad("village", N_("户籍村不能为空"))
        elif village is None:
            bad("village", Msg(N_("“%(village)s”不是本中心校服务范围内的村"), village=village_name))
        g_name, g_rel, g_phone = (cell_text(cell(values, k)) for k in ("guardian_name", "guardian_relation",
                                                                     "guardian_phone"))
        guardians = []
        if g_name or g_rel or g_phone:
            for key, value, limit in (("guardian_name", g_name, 60), ("guardian_relation", g_rel, 20),
                                      ("guardian_phone", g_phone, 30)):
                if not value:
                    bad(key, Msg(N_("%(column)s不能为空（填写监护人时姓名、关系、电话都要填）"), column=HEADERS[key]))
                elif len(value) > limit:
                    bad(key, Msg(N_("%(column)s超过 %(n)d 个字符"), column=HEADERS[key], n=limit))
            guardians = [{"name": g_name, "relation": g_rel, "phone": g_phone}]
        flags = []
        for word in _FLAG_SPLIT.split(cell_text(cell(values, "flags"))):
            if not word or word in ("无", "否"):
                continue
            code = FLAG_IN.get(word)
            if code is None:
                # the choices are what to type in the file: Chinese in English too (plain text)
                bad("flags", Msg(N_("未知的特殊群体“%(word)s”，可填：%(choices)s"), word=word,
                                 choices="、".join(str(n) for n in FLAG_NAMES.values())))
            elif code not in flags:
                flags.append(code)
        row = None
        if not problems:
            row = RosterRow(number, name, gender, birth, id_card, student_no, klass.id, enrolled, village.id,
                            guardians, [f for f in STUDENT_FLAGS if f in flags])
        parsed.append((row, problems) if row else (RosterRow(number, name, gender or "", birth, id_card,
                                                             student_no, 0, enrolled, 0, [], []), problems))
    if result.rows == 0:
        raise Invalid(N_("文件中没有学生数据行"), code="invalid_rows",
                      details={"errors": [{"row": header_index + 2, "column": "姓名", "message": N_("没有数据行")}]})

    # duplicates inside the file
    first_no: dict[str, int] = {}
    first_id: dict[str, int] = {}
    for row, problems in parsed:
        if row.student_no:
            if row.student_no in first_no:
                problems.append({"row": row.row, "column": HEADERS["student_no"],
                                 "message": Msg(N_("全国学籍号与第 %(row)d 行重复"), row=first_no[row.student_no])})
            else:
                first_no[row.student_no] = row.row
        if row.id_card_no:
            if row.id_card_no in first_id:
                problems.append({"row": row.row, "column": HEADERS["id_card_no"],
                                 "message": Msg(N_("身份证号与第 %(row)d 行重复"), row=first_id[row.id_card_no])})
            else:
                first_id[row.id_card_no] = row.row

    # against the database: a 学籍号 of another school's child; an ID number on another child
    by_no: dict[str, Student] = {}
    for chunk in _chunks(list(first_no)):
        for s in session.scalars(select(Student).where(Student.student_no.in_(chunk))):
            by_no[s.student_no] = s
    by_id: dict[str, tuple[int, str | None]] = {}
    for chunk in _chunks(list(first_id)):
        for sid, id_no, s_no in session.execute(select(Student.id, Student.id_card_no, Student.student_no)
                                                .where(Student.id_card_no.in_(chunk))):
            by_id[id_no] = (sid, s_no)
    for row, problems in parsed:
        existing = by_no.get(row.student_no)
        if existing is not None and existing.school_id != school.id:
            problems.append({"row": row.row, "column": HEADERS["student_no"],
                             "message": N_("该学籍号的学生在其他学校，请走转学流程")})
        if row.id_card_no and row.id_card_no in by_id:
            other_id, other_no = by_id[row.id_card_no]
            if existing is None or other_id != existing.id:
                message = (Msg(N_("该身份证号已登记在另一名学生名下（学籍号 %(no)s）"), no=other_no) if other_no
                           else N_("该身份证号已登记在另一名学生名下（学籍号 无）"))
                problems.append({"row": row.row, "column": HEADERS["id_card_no"], "message": message})
        if existing is not None and existing.school_id == school.id and existing.status == "active" \
                and row.class_id and existing.class_id != row.class_id:
            problems.append({"row": row.row, "column": HEADERS["class_name"],
                             "message": N_("该生已在本校另一个班，调班请走调班流程")})
        if problems:
            result.errors.extend(problems)
        else:
            result.valid.append(row)
    result.errors.sort(key=lambda e: (e["row"], [h for _k, h in COLUMNS].index(e["column"])
                                      if e["column"] in HEADERS.values() else 99))
    return result


# --- writing -------------------------------------------------------------------------------------


def import_roster(session: Session, scope: Scope, user: User | None, school_id, school_year, data: bytes, *,
                  mode: str = "check", today: dt.date | None = None) -> RosterResult:
    """Check the file (`check_roster`), then write according to `mode`: `check` nothing;
    `valid_only` the clean rows; `all` everything, or — with any error — nothing, raising
    Invalid `invalid_rows` (422) whose details carry the errors. New children are enrolled from
    their 入学日期; children on file (same 学籍号, this school) are updated and each changed
    detail kept (StudentChange, source `roster_import`). Flushes, never commits."""
    if mode not in MODES:
        raise invalid_field("mode", N_("导入方式（mode）须为以下之一：%(choices)s"), choices=", ".join(MODES))
    check = check_roster(session, scope, school_id, school_year, data, today=today)
    result = RosterResult(check=check, mode=mode)
    if mode == "all" and check.errors:
        raise Invalid(N_("名册有 %(n)d 行有错误，未写入任何数据"), code="invalid_rows",
                      details={"errors": check.errors, "rows": check.rows}, n=len(check.bad_rows))
    existing: dict[str, Student] = {}
    nos = [r.student_no for r in check.valid]
    for chunk in _chunks(nos):
        for s in session.scalars(select(Student).where(Student.student_no.in_(chunk))
                                 .options(selectinload(Student.guardians), selectinload(Student.enrolments))):
            existing[s.student_no] = s
    if mode == "check":
        # what would happen, without writing: compare the details of children on file
        for row in check.valid:
            student = existing.get(row.student_no)
            if student is None:
                result.created += 1
            elif _would_change(student, row):
                result.updated += 1
            else:
                result.unchanged += 1
        return result

    user_id = user.id if user is not None else None
    school = check.school
    new_students: list[tuple[Student, RosterRow]] = []
    changes: list[StudentChange] = []
    now = clock.now()
    for row in check.valid:
        student = existing.get(row.student_no)
        if student is None:
            s = Student(name=row.name, gender=row.gender, birth_date=row.birth_date, student_no=row.student_no,
                        id_card_no=row.id_card_no, school_id=school.id, class_id=row.class_id,
                        village_id=row.village_id, status="active",
                        **{f: (f in row.flags) for f in STUDENT_FLAGS})
            s.guardians = [Guardian(**g) for g in row.guardians]
            new_students.append((s, row))
            continue
        before = student_details(student)
        apply_details(session, student, _values(student, row))
        after = student_details(student)
        diff = [StudentChange(student_id=student.id, field=f, old=before[f], new=after[f], user_id=user_id,
                              source="roster_import", at=now) for f in after if before[f] != after[f]]
        period = _first_open_period(student)
        if period is not None and period.class_id == row.class_id and period.start_date != row.enrolled_on:
            # the joining day typed in by hand before the roster came (often "today"): the
            # roster's real day replaces it, and the correction is kept like any other
            diff.append(StudentChange(student_id=student.id, field="enrolled_on",
                                      old=period.start_date.isoformat(), new=row.enrolled_on.isoformat(),
                                      user_id=user_id, source="roster_import", at=now))
            period.start_date = row.enrolled_on
        if diff:
            changes.extend(diff)
            result.updated += 1
        else:
            result.unchanged += 1
    result.created = len(new_students)
    session.add_all([s for s, _r in new_students])
    session.flush()
    session.add_all([Enrolment(student_id=s.id, school_id=school.id, class_id=r.class_id, start_date=r.enrolled_on,
                               start_reason="enrol") for s, r in new_students])
    session.add_all(changes)
    session.flush()
    return result


def _values(student: Student, row: RosterRow) -> dict:
    """The details the row sets: flags are added to the child's own, guardians replaced only when
    the row names one."""
    values = {"name": row.name, "gender": row.gender, "birth_date": row.birth_date, "village_id": row.village_id,
              "flags": sorted(set(student.flags) | set(row.flags), key=STUDENT_FLAGS.index)}
    if row.id_card_no:
        values["id_card_no"] = row.id_card_no
    if row.guardians:
        values["guardians"] = row.guardians
    return values


def _first_open_period(student: Student) -> Enrolment | None:
    """The child's enrolment period when it is their only one and still open (a correctable
    joining day); None once they have a history of several periods."""
    periods = list(student.enrolments)
    return periods[0] if len(periods) == 1 and periods[0].end_date is None else None


def _would_change(student: Student, row: RosterRow) -> bool:
    before = student_details(student)
    values = _values(student, row)
    after = dict(before)
    for key in ("name", "gender", "village_id", "id_card_no"):
        if key in values:
            after[key] = values[key]
    after["birth_date"] = row.birth_date.isoformat()
    after["flags"] = values["flags"]
    if "guardians" in values:
        after["guardians"] = values["guardians"]
    period = _first_open_period(student)
    moved = period is not None and period.class_id == row.class_id and period.start_date != row.enrolled_on
    return after != before or moved
