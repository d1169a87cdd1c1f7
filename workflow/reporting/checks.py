"""Suspected-dropout checks (疑似辍学核实, SPEC §3.10): opening one for a child and list entry, and
importing a suspected-dropout list that arrives from outside (the national platform's comparisons).

The list (.xlsx: 姓名, 身份证号 or 全国学籍号, 户籍村, 来源说明) is read with the one safe reader
(`workflow/spreadsheets.py:read_xlsx_rows`) and checked whole first, as every import: each bad row
is reported by number, column and reason (no name, neither number, an ID number that fails its
check digit, the same child twice in the file, a name that does not match the child on file).
Rows naming no student the importer can see are reported as `unmatched` (the child may be of
another county, or not on any roll): they are not errors. Modes as for the roster: `check` writes
nothing; `valid_only` opens checks for the clean matched rows; `all` opens them only when the file
has no error (else Invalid 422 with the errors, nothing written).

Each matched row opens a `dropout_check` (source `national_list`) unless the child has an open one,
or this list entry has been checked already: the entry is the file's digest, so importing the same
file twice opens nothing new. No Flask; flushes, never commits.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from models import Case, Student, User
from workflow import clock
from workflow.access.permissions import may_import_dropout_list
from workflow.access.scope import Scope, student_filter
from workflow.cases import engine
from workflow.errors import N_, Forbidden, Invalid, Msg, invalid_field
from workflow.org.services import normalize_id_card
from workflow.spreadsheets import NotXlsx, cell_text, data_rows, read_xlsx_rows

PROCESS = "dropout_check"
MODES = ("check", "valid_only", "all")
MAX_ROWS = 5000
MAX_COLS = 20
HEADER_SEARCH_ROWS = 5
COLUMNS = (("name", "姓名"), ("id_card_no", "身份证号"), ("student_no", "全国学籍号"), ("village", "户籍村"),
           ("note", "来源说明"))
HEADERS = dict(COLUMNS)
_BY_HEADER = {h: k for k, h in COLUMNS} | {"学籍号": "student_no", "身份证件号": "id_card_no", "说明": "note",
                                          "村": "village"}


# --- opening one check ---------------------------------------------------------------------------


def open_check(session: Session, student: Student, *, source: str, note: str | None, entry_key: str,
               today: dt.date, user: User | None = None, kind: str | None = None) -> tuple[Case, bool]:
    """Open a `dropout_check` for `student` and list entry `entry_key` as the system, recording
    `user` as its opener. Returns (case, True) when opened; (the existing case, False) when the
    child has an open check, or this entry was checked already (one check per child and list
    entry, SPEC §3.10). Raises NotFound when the student has no school. Flushes, never commits."""
    existing = session.scalars(
        select(Case).where(Case.process == PROCESS, Case.student_id == student.id,
                           or_(Case.is_open.is_(True), Case.entry_key == entry_key))
        .order_by(Case.is_open.desc(), Case.id)).first()
    if existing is not None:
        return existing, False
    data = {"source": source, "list_entry": entry_key}
    if note:
        data["note"] = note
    if kind:
        data["kind"] = kind
    case = engine.create_case_system(session, PROCESS, student.id, data, effective_date=today, existing_ok=True)
    if user is not None and case.created_by_id is None:
        case.created_by_id = user.id
    return case, True


# --- the outside list ----------------------------------------------------------------------------


@dataclass
class ListResult:
    """A whole list checked (and, by mode, imported)."""

    mode: str
    rows: int = 0
    errors: list[dict] = field(default_factory=list)
    unmatched: list[dict] = field(default_factory=list)
    matched: list[tuple[int, Student, str | None]] = field(default_factory=list)
    opened: int = 0
    already_open: int = 0
    case_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        """The API's answer: {rows, matched, opened, already_open, case_ids, unmatched, errors}."""
        return {"rows": self.rows, "matched": len(self.matched), "opened": self.opened,
                "already_open": self.already_open, "case_ids": self.case_ids, "unmatched": self.unmatched,
                "errors": self.errors}


def _rows(data: bytes) -> list[tuple[int, tuple]]:
    if not data:
        raise Invalid(N_("文件是空的，请选择要导入的 .xlsx 名单"), code="invalid_file", details={"field": "file"})
    try:
        rows = read_xlsx_rows(data, max_rows=MAX_ROWS + HEADER_SEARCH_ROWS, max_cols=MAX_COLS)
    except NotXlsx:
        raise Invalid(N_("文件不是 Excel（.xlsx）文件，请上传疑似辍学名单的 .xlsx 文件"), code="invalid_file",
                      details={"field": "file"}) from None
    return list(enumerate(rows, start=1))


def _header(rows) -> tuple[int, dict[str, int]]:
    for index, (number, values) in enumerate(rows[:HEADER_SEARCH_ROWS]):
        names = [re.sub(r"\s+", "", cell_text(v)) for v in values]
        if "姓名" not in names:
            continue
        columns: dict[str, int] = {}
        for i, name in enumerate(names):
            key = _BY_HEADER.get(name)
            if key and key not in columns:
                columns[key] = i
        if "id_card_no" not in columns and "student_no" not in columns:
            raise Invalid(N_("第 %(row)d 行（表头）缺少「身份证号」或「全国学籍号」列"), code="invalid_rows",
                          details={"errors": [{"row": number, "column": "身份证号", "message": N_("缺少必需的列")}]},
                          row=number)
        return index, columns
    raise Invalid(N_("找不到表头行：前 5 行中没有「姓名」列"), code="invalid_rows",
                  details={"errors": [{"row": 1, "column": "姓名", "message": N_("找不到表头行")}]})


def check_list(session: Session, scope: Scope, data: bytes, *, mode: str = "check") -> ListResult:
    """Check a whole suspected-dropout list and match its rows to the students the user sees, by
    ID number, else by 全国学籍号. Raises Forbidden (may not import), Invalid (not an .xlsx, no
    header, no number column, no data rows, bad mode). Row problems are in the result."""
    if mode not in MODES:
        raise invalid_field("mode", N_("导入方式（mode）须为以下之一：%(choices)s"), choices=", ".join(MODES))
    if not may_import_dropout_list(scope):
        raise Forbidden(N_("只有教育局督导、中心校领导、校长和教导处可以导入疑似辍学名单"), code="role_forbidden")
    rows = _rows(data)
    start, columns = _header(rows)
    result = ListResult(mode=mode)
    parsed: list[tuple[int, str, str | None, str | None, str | None]] = []
    seen: dict[str, int] = {}
    for number, cell in data_rows(rows[start + 1:], columns):
        result.rows += 1
        problems = []
        name, id_text, no_text, note = cell["name"], cell["id_card_no"], cell["student_no"], cell["note"]
        if not name:
            problems.append({"row": number, "column": "姓名", "message": N_("姓名不能为空")})
        id_card = None
        if id_text:
            try:
                id_card = normalize_id_card(id_text)
            except Invalid as exc:
                problems.append({"row": number, "column": "身份证号", "message": exc.msg})
        if not id_text and not no_text:
            problems.append({"row": number, "column": "身份证号", "message": N_("身份证号和全国学籍号至少填一项")})
        for key, value in (("id", id_card), ("no", no_text or None)):
            if value and f"{key}:{value}" in seen:
                problems.append({"row": number, "column": "身份证号" if key == "id" else "全国学籍号",
                                 "message": Msg(N_("与第 %(row)d 行重复"), row=seen[f"{key}:{value}"])})
            elif value:
                seen[f"{key}:{value}"] = number
        if problems:
            result.errors.extend(problems)
            continue
        parsed.append((number, name, id_card, no_text or None, note or None))
    if not result.rows:
        raise Invalid(N_("名单中没有数据行"), code="invalid_rows", details={"errors": []})
    ids = sorted({p[2] for p in parsed if p[2]})
    nos = sorted({p[3] for p in parsed if p[3]})
    visible = select(Student).where(student_filter(scope),
                                    or_(Student.id_card_no.in_(ids or ["-"]), Student.student_no.in_(nos or ["-"])))
    students = list(session.scalars(visible))
    by_id = {s.id_card_no: s for s in students if s.id_card_no}
    by_no = {s.student_no: s for s in students if s.student_no}
    for number, name, id_card, student_no, note in parsed:
        student = (by_id.get(id_card) if id_card else None) or (by_no.get(student_no) if student_no else None)
        if student is None:
            result.unmatched.append({"row": number, "name": name,
                                     "message": N_("在您管辖的学校学籍中找不到该儿童（身份证号、学籍号均未匹配）")})
            continue
        if student.name != name:
            result.errors.append({"row": number, "column": "姓名",
                                  "message": Msg(N_("姓名与学籍不符（学籍姓名：%(name)s）"), name=student.name)})
            continue
        if student.school_id is None:
            result.unmatched.append({"row": number, "name": name, "message": N_("该学生没有所属学校")})
            continue
        result.matched.append((number, student, note))
    return result


def import_list(session: Session, scope: Scope, user: User | None, data: bytes, *, mode: str = "check",
                today: dt.date | None = None) -> ListResult:
    """Check the list (`check_list`), then by `mode` open a `dropout_check` (source
    `national_list`) for each clean matched row. `all` with any error raises Invalid
    `invalid_rows` (422) and writes nothing. Flushes, never commits."""
    result = check_list(session, scope, data, mode=mode)
    if mode == "all" and result.errors:
        raise Invalid(N_("名单有 %(n)d 行有错误，未开启任何核实"), code="invalid_rows",
                      details={"errors": result.errors, "rows": result.rows}, n=len({e["row"] for e in result.errors}))
    if mode == "check":
        return result
    today = today or clock.today()
    entry = "list:" + hashlib.sha256(data).hexdigest()[:16]
    for _number, student, note in result.matched:
        case, opened = open_check(session, student, source="national_list", note=note, entry_key=entry,
                                  today=today, user=user)
        if opened:
            result.opened += 1
            result.case_ids.append(case.id)
        else:
            result.already_open += 1
    return result
