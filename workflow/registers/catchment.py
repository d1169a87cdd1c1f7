"""The catchment register (适龄儿童登记造册, SPEC §5): every child aged 6–15 of each village.

Import (`check_file`, `import_register`): an .xlsx per village, checked as a whole first. Every
bad row is reported with its Excel row number, the column and the reason; nothing is written
unless the file is clean, or the caller asks for the valid rows only (`only_valid`). A row
updates the village's child with the same ID number (or, without one, the same name and birth
date), so re-importing an export changes nothing. Import never deletes a child.

Export (`export_register`): the same columns, so an export re-imports cleanly.

Cross-check (`crosscheck`): each child is matched to the rolls (the link, then the ID number,
then name + birth date) and sorted into what needs a look; a child of compulsory age enrolled
nowhere gets a `recovery` case (one child, one case: re-running opens nothing new).

Who: the register is the academic office's book (教导处…登记造册, seeds/002). Editors (import,
cross-check) are admin, the center office and center head of the village's center school, and the
principal and academic office of any school of that center; they — except the center head —
see ID numbers in full, everyone else who can see the village sees them masked (SPEC §1).
No Flask here; nothing commits.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from openpyxl import Workbook
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from models import Case, CatchmentChild, School, Student, User, Village, mask_id_card
from workflow import clock
from workflow.access.permissions import may_crosscheck_catchment, may_edit_catchment, sees_full_catchment_ids
from workflow.access.scope import Scope, get_in_scope
from workflow.cases.engine import create_case_system
from workflow.errors import Forbidden, Invalid, Msg, NotFound
from workflow.org.services import GENDER_NAMES, STUDENT_STATUS_NAMES, normalize_id_card
from workflow.spreadsheets import NotXlsx, cell_date, cell_text, read_xlsx_rows, xlsx_bytes
from workflow.validation import N_

# --- columns and values --------------------------------------------------------------------------

# (key, header) in file order; 村 is optional on import and written on export so a file imported
# into the wrong village is caught.
COLUMNS = (
    ("village", "村"), ("name", "姓名"), ("gender", "性别"), ("birth_date", "出生日期"),
    ("id_card_no", "身份证号"), ("household_status", "户籍"), ("status", "就读状态"),
    ("destination", "就读学校/去向"), ("notes", "备注"),
)
HEADERS = dict(COLUMNS)
REQUIRED_COLUMNS = ("name", "gender", "birth_date", "household_status", "status")
HEADER_ALIASES = {
    "村": "village", "村名": "village", "所在村": "village",
    "姓名": "name", "儿童姓名": "name", "学生姓名": "name",
    "性别": "gender",
    "出生日期": "birth_date", "出生年月日": "birth_date", "生日": "birth_date",
    "身份证号": "id_card_no", "身份证号码": "id_card_no", "公民身份号码": "id_card_no",
    "户籍": "household_status", "户籍类型": "household_status", "户籍状态": "household_status",
    "就读状态": "status", "就学状态": "status", "就读情况": "status",
    "就读学校/去向": "destination", "就读学校": "destination", "去向": "destination",
    "就读学校或去向": "destination",
    "备注": "notes",
}
GENDER_IN = {"男": "M", "女": "F", "M": "M", "F": "F"}
# The names of the register's household and status codes, the one table each: the import reads
# them back, the exports and the pages show them (N_ puts them in the catalogue for the pages).
HOUSEHOLD_LABELS = {"local": N_("本地户籍"), "migrant": N_("外地户籍")}
HOUSEHOLD_IN = {
    "本地户籍": "local", "本地": "local", "本村": "local", "本村户籍": "local", "local": "local",
    "外地户籍": "migrant", "外地": "migrant", "外来": "migrant", "流入": "migrant", "非本地户籍": "migrant",
    "migrant": "migrant",
}
STATUS_LABELS = {"enrolled_here": N_("本学区就读"), "enrolled_elsewhere": N_("外地就读"), "deferred": N_("缓学"),
                 "not_enrolled": N_("未就读")}
STATUS_IN = {
    "本学区就读": "enrolled_here", "本校就读": "enrolled_here", "在校": "enrolled_here", "在读": "enrolled_here",
    "外地就读": "enrolled_elsewhere", "外校就读": "enrolled_elsewhere", "随迁就读": "enrolled_elsewhere",
    "随迁": "enrolled_elsewhere", "在外地就读": "enrolled_elsewhere",
    "缓学": "deferred", "缓读": "deferred", "延缓入学": "deferred",
    "未就读": "not_enrolled", "未入学": "not_enrolled", "失学": "not_enrolled", "辍学": "not_enrolled",
}
STATUS_IN.update({k: k for k in STATUS_LABELS})

MIN_AGE, MAX_AGE = 6, 15
MAX_ROWS = 5000
HEADER_SEARCH_ROWS = 5
MAX_COLS = 40  # the register has 9 columns; room for a few of the user's own
_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")


# --- who ------------------------------------------------------------------------------------------


def id_as_seen(child: CatchmentChild, full: bool) -> str | None:
    return child.id_card_no if full else mask_id_card(child.id_card_no)


def get_village(session: Session, scope: Scope, village_id) -> Village:
    """A village the user can see. Raises NotFound (unknown or out of scope: 404)."""
    try:
        return get_in_scope(session, scope, Village, village_id)
    except NotFound:
        raise NotFound(N_("村不存在或不在您的管辖范围内"), details={"field": "village_id"}) from None


def list_children(session: Session, scope: Scope, village_id) -> list[CatchmentChild]:
    """The village's register, oldest child first. Raises NotFound."""
    village = get_village(session, scope, village_id)
    return list(session.scalars(select(CatchmentChild).where(CatchmentChild.village_id == village.id)
                                .order_by(CatchmentChild.birth_date, CatchmentChild.name, CatchmentChild.id)))


# --- ages -----------------------------------------------------------------------------------------


def age_on(birth: dt.date, day: dt.date) -> int:
    """Completed years (周岁) on `day`."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def is_compulsory_age(birth: dt.date, day: dt.date) -> bool:
    """Of compulsory-school age on `day`: six full years by 31 August of the school year that
    `day` falls in (the usual entry rule, 当年8月31日前满6周岁), and not yet sixteen."""
    year_start = day.year if day.month >= 9 else day.year - 1
    return birth <= dt.date(year_start - 6, 8, 31) and age_on(birth, day) <= MAX_AGE


# --- reading a file -------------------------------------------------------------------------------


@dataclass
class RowProblem:
    row: int
    field: str  # the column's header, as the file names it (Chinese in both languages)
    reason: Msg

    def as_dict(self) -> dict:
        return {"row": self.row, "field": self.field, "reason": self.reason}


@dataclass
class ParsedRow:
    row: int
    name: str
    gender: str
    birth_date: dt.date
    id_card_no: str | None
    household_status: str
    status: str
    destination: str | None
    notes: str | None


@dataclass
class CheckResult:
    """A whole file checked: the rows that may be written, every error and every warning."""

    village: Village
    rows_total: int = 0
    valid: list[ParsedRow] = field(default_factory=list)
    errors: list[RowProblem] = field(default_factory=list)
    warnings: list[RowProblem] = field(default_factory=list)

    @property
    def is_clean(self) -> bool:
        return not self.errors

    def error_dicts(self) -> list[dict]:
        return [e.as_dict() for e in self.errors]

    def warning_dicts(self) -> list[dict]:
        return [w.as_dict() for w in self.warnings]


@dataclass
class ImportResult:
    check: CheckResult
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def imported(self) -> int:
        return self.created + self.updated + self.unchanged


def _not_xlsx(message: Msg | None = None) -> Invalid:
    return Invalid(message or N_("文件不是 Excel（.xlsx）文件，请上传用 Excel 或 WPS 保存的 .xlsx 登记表"),
                   code="invalid_file", details={"field": "file"})


def read_rows(data: bytes) -> list[tuple[int, tuple]]:
    """The (Excel row number, cell values) of the first sheet, through the one .xlsx reader
    (workflow/spreadsheets.py: limits checked before parsing). Raises Invalid `invalid_file` for
    anything that is not an .xlsx workbook, for more than MAX_ROWS rows (plus a few header rows)
    or MAX_COLS columns."""
    try:
        rows = read_xlsx_rows(data, max_rows=MAX_ROWS + HEADER_SEARCH_ROWS, max_cols=MAX_COLS)
    except NotXlsx as exc:
        raise _not_xlsx(None if exc.message == NotXlsx().message else exc.msg) from None
    return list(enumerate(rows, start=1))


def _norm_header(value) -> str:
    text = "" if value is None else str(value)
    return re.sub(r"\s+", "", text).replace("／", "/")


def _find_header(rows) -> tuple[int, dict[str, int]]:
    """The header row (the first of the first few rows naming 姓名; a title row may sit above it)
    and key -> column index. Raises Invalid listing the missing required columns."""
    for index, (number, values) in enumerate(rows[:HEADER_SEARCH_ROWS]):
        names = [_norm_header(v) for v in values]
        if "姓名" in names or "儿童姓名" in names or "学生姓名" in names:
            columns: dict[str, int] = {}
            for i, name in enumerate(names):
                key = HEADER_ALIASES.get(name)
                if key and key not in columns:
                    columns[key] = i
            missing = [HEADERS[k] for k in REQUIRED_COLUMNS if k not in columns]
            if missing:
                # the headers stay Chinese in both languages: the school's file names its columns so
                raise Invalid(N_("第 %(row)d 行（表头）缺少必需的列：%(columns)s"), code="invalid_rows",
                              details={"errors": [{"row": number, "field": m, "reason": N_("缺少必需的列")}
                                                  for m in missing], "warnings": []},
                              row=number, columns="、".join(missing))
            return index, columns
    expected = "、".join(HEADERS[k] for k, _ in COLUMNS if k != "village")
    raise Invalid(N_("找不到表头行：前 %(n)d 行中没有「姓名」列；表头应为：%(columns)s"),
                  code="invalid_rows",
                  details={"errors": [{"row": 1, "field": "姓名", "reason": N_("找不到表头行")}], "warnings": []},
                  n=HEADER_SEARCH_ROWS, columns=expected)


def check_file(session: Session, scope: Scope, village_id, data: bytes, *,
               today: dt.date | None = None) -> CheckResult:
    """Check a whole .xlsx file for a village's register without writing anything.

    Row errors (reported, never raised): empty name; unknown gender, 户籍 or 就读状态; a bad or
    future birth date; a bad ID number (format, check digit, or a birth date other than the
    row's); an ID number twice in the file or registered in another village; the same name and
    birth date twice in the file; a destination missing for a child enrolled elsewhere; a 村 that
    is another or an unknown village. A child aged under 6 or over 15 is a warning: preschool
    children (学龄前儿童) and grade-9 pupils who turned 16 belong in the book too.
    Raises NotFound (village out of scope), Forbidden (not an editor), Invalid (not an .xlsx
    file, no header row, a required column missing, no data rows).
    """
    village = get_village(session, scope, village_id)
    if not may_edit_catchment(session, scope, village.center_school_id):
        raise Forbidden(N_("只有本学区的教导处、校长和中心校教导主任可以导入登记表"), code="role_forbidden")
    today = today or clock.today()
    rows = read_rows(data)
    header_index, columns = _find_header(rows)
    result = CheckResult(village=village)
    sister_villages = set(session.scalars(select(Village.name).where(
        Village.center_school_id == village.center_school_id)))

    def cell(values, key):
        i = columns.get(key)
        return values[i] if i is not None and i < len(values) else None

    seen_ids: dict[str, int] = {}
    seen_people: dict[tuple[str, dt.date], int] = {}
    candidates: list[tuple[ParsedRow, list[RowProblem]]] = []
    for number, values in rows[header_index + 1:]:
        if all(cell_text(v) == "" for v in values):
            continue
        result.rows_total += 1
        if result.rows_total > MAX_ROWS:
            raise Invalid(N_("文件超过 %(n)d 行，请按村分开导入"), code="invalid_file", details={"field": "file"},
                          n=MAX_ROWS)
        problems: list[RowProblem] = []

        def bad(key, reason, number=number, problems=problems):
            problems.append(RowProblem(number, HEADERS[key], reason))

        name = cell_text(cell(values, "name"))
        if not name:
            bad("name", N_("姓名不能为空"))
        elif len(name) > 60:
            bad("name", Msg(N_("姓名超过 %(n)d 个字符"), n=60))
        raw_gender = cell_text(cell(values, "gender"))
        gender = GENDER_IN.get(raw_gender.upper())
        if gender is None:
            bad("gender", Msg(N_("性别须为「男」或「女」（填写的是「%(value)s」）"), value=raw_gender))
        raw_birth = cell(values, "birth_date")
        birth = cell_date(raw_birth)
        if birth is None:
            shown = cell_text(raw_birth)
            bad("birth_date", Msg(N_("出生日期无效：「%(value)s」（应为 2016-05-01 这样的日期）"), value=shown)
                if shown else N_("出生日期不能为空"))
        elif birth > today:
            bad("birth_date", Msg(N_("出生日期 %(date)s 晚于今天"), date=birth.isoformat()))
        raw_id = cell(values, "id_card_no")
        id_card = None
        if isinstance(raw_id, (int, float)) and not isinstance(raw_id, bool):
            bad("id_card_no", N_("身份证号被存成了数字，末几位可能已丢失；请把该列设为文本格式后重新填写"))
        elif cell_text(raw_id):
            try:
                id_card = normalize_id_card(cell_text(raw_id), field="身份证号")
            except Invalid as exc:
                bad("id_card_no", exc.msg)
            if id_card and birth and id_card[6:14] != birth.strftime("%Y%m%d"):
                bad("id_card_no", Msg(N_("身份证号中的出生日期（%(in_id)s）与出生日期 %(date)s 不符"),
                                      in_id=id_card[6:14], date=birth.isoformat()))
            if id_card:
                if id_card in seen_ids:
                    bad("id_card_no", Msg(N_("身份证号与第 %(row)d 行重复"), row=seen_ids[id_card]))
                else:
                    seen_ids[id_card] = number
        household = HOUSEHOLD_IN.get(cell_text(cell(values, "household_status")))
        if household is None:
            bad("household_status", Msg(N_("户籍须为「本地户籍」或「外地户籍」（填写的是「%(value)s」）"),
                                        value=cell_text(cell(values, "household_status"))))
        status = STATUS_IN.get(cell_text(cell(values, "status")))
        if status is None:
            # the words the file must hold, Chinese in both languages
            allowed = "、".join(STATUS_LABELS.values())
            bad("status", Msg(N_("就读状态须为：%(allowed)s（填写的是「%(value)s」）"), allowed=allowed,
                              value=cell_text(cell(values, "status"))))
        destination = cell_text(cell(values, "destination")) or None
        if status == "enrolled_elsewhere" and not destination:
            bad("destination", N_("就读状态为外地就读时须填写就读学校/去向"))
        if destination and len(destination) > 120:
            bad("destination", Msg(N_("就读学校/去向超过 %(n)d 个字符"), n=120))
        row_village = cell_text(cell(values, "village"))
        if row_village and row_village != village.name:
            if row_village in sister_villages:
                bad("village", Msg(N_("该行属于%(row_village)s，不是本次导入的%(village)s；请按村分开导入"),
                                   row_village=row_village, village=village.name))
            else:
                bad("village", Msg(N_("未知的村：「%(village)s」"), village=row_village))
        if name and birth and not id_card:
            key = (name, birth)
            if key in seen_people:
                bad("name", Msg(N_("与第 %(row)d 行重复（姓名和出生日期相同）"), row=seen_people[key]))
            else:
                seen_people[key] = number
        notes = cell_text(cell(values, "notes")) or None
        if birth and not problems:
            age = age_on(birth, today)
            if not MIN_AGE <= age <= MAX_AGE:
                result.warnings.append(RowProblem(number, HEADERS["birth_date"],
                                                  Msg(N_("年龄 %(age)d 岁，不在 %(lo)d–%(hi)d 岁之间（仍会登记）"),
                                                      age=age, lo=MIN_AGE, hi=MAX_AGE)))
        parsed = None
        if not problems:
            parsed = ParsedRow(number, name, gender, birth, id_card, household, status, destination, notes)
        candidates.append((parsed, problems))

    # ID numbers already registered in another village (one child, one village)
    # up to 5,000 validated ID numbers (digits and X) rendered into the statement: as 5,000 bound
    # parameters psycopg spends longer preparing the query than PostgreSQL running it
    taken = dict(session.execute(select(CatchmentChild.id_card_no, CatchmentChild.village_id).where(
        CatchmentChild.id_card_no.in_(bindparam("ids", sorted(seen_ids) or ["-"], expanding=True,
                                                literal_execute=True)))).all())
    other_names = dict(session.execute(select(Village.id, Village.name).where(
        Village.id.in_(sorted(set(taken.values())) or [-1]))).all())
    for parsed, problems in candidates:
        if parsed is not None and parsed.id_card_no and taken.get(parsed.id_card_no, village.id) != village.id:
            problems.append(RowProblem(parsed.row, HEADERS["id_card_no"],
                                       Msg(N_("该身份证号已登记在%(village)s"),
                                           village=other_names.get(taken[parsed.id_card_no]) or N_("其他村"))))
        if problems:
            result.errors.extend(problems)
        else:
            result.valid.append(parsed)
    if result.rows_total == 0:
        raise Invalid(N_("文件中没有数据行"), code="invalid_rows",
                      details={"errors": [{"row": header_index + 2, "field": "姓名", "reason": N_("没有数据行")}],
                               "warnings": []})
    result.errors.sort(key=lambda p: p.row)
    return result


def import_register(session: Session, scope: Scope, user: User, village_id, data: bytes, *,
                    only_valid: bool = False, today: dt.date | None = None) -> ImportResult:
    """Check the file (`check_file`), then write its rows into the village's register.

    A row updates the village's child with the same ID number, or, when either has none, the
    only child with the same name and birth date; otherwise it adds a child. Raises what
    `check_file` raises, and Invalid `invalid_rows` (details: errors, warnings) when the file has
    bad rows and `only_valid` is false — then nothing is written. Never commits.
    """
    check = check_file(session, scope, village_id, data, today=today)
    if check.errors and not only_valid:
        raise Invalid(N_("文件有 %(n)d 行有误，未导入任何数据；请改正后重新导入，或选择「只导入正确的行」"),
                      code="invalid_rows", details={"errors": check.error_dicts(), "warnings": check.warning_dicts()},
                      n=len({e.row for e in check.errors}))
    village = check.village
    # plain rows and Core statements: a 5,000-row register is one read, one executemany insert and
    # one executemany update, not 5,000 ORM objects flushed one by one (docs/performance.md)
    table = CatchmentChild.__table__
    columns = ("name", "gender", "birth_date", "household_status", "status", "destination", "notes", "id_card_no")
    existing = [dict(r._mapping) for r in session.execute(
        select(table.c.id, *(table.c[k] for k in columns)).where(table.c.village_id == village.id)
        .order_by(table.c.id).with_for_update())]
    by_id = {c["id_card_no"]: c for c in existing if c["id_card_no"]}
    by_person: dict[tuple[str, dt.date], list[dict]] = {}
    for c in existing:
        by_person.setdefault((c["name"], c["birth_date"]), []).append(c)
    result = ImportResult(check=check)
    created: list[dict] = []
    changed: dict[int, dict] = {}  # existing child id -> its row, as the file leaves it
    for row in check.valid:
        child = by_id.get(row.id_card_no) if row.id_card_no else None
        if child is None:
            same = [c for c in by_person.get((row.name, row.birth_date), [])
                    if not (c["id_card_no"] and row.id_card_no)]
            child = same[0] if len(same) == 1 else None
        values = {"name": row.name, "gender": row.gender, "birth_date": row.birth_date,
                  "household_status": row.household_status, "status": row.status,
                  "destination": row.destination, "notes": row.notes}
        if row.id_card_no:
            values["id_card_no"] = row.id_card_no
        if child is None:
            child = {"id": None, "id_card_no": None, **values}
            created.append(child)
            result.created += 1
            by_person.setdefault((row.name, row.birth_date), []).append(child)
        elif any(child[k] != v for k, v in values.items()):
            child.update(values)
            if child["id"] is not None:
                changed[child["id"]] = child
            result.updated += 1
        else:
            result.unchanged += 1
        if row.id_card_no:
            by_id[row.id_card_no] = child
    if created:
        # the table, not the entity: the ORM's bulk insert splits the rows into a statement per run
        # of rows with the same empty columns; Core sends them all in one executemany
        session.execute(insert(table), [
            {**{k: c[k] for k in columns}, "village_id": village.id, "updated_by_id": user.id} for c in created])
    if changed:
        session.execute(
            update(table).where(table.c.id == bindparam("b_id"))
            .values(updated_by_id=bindparam("b_user"), **{k: bindparam(f"b_{k}") for k in columns}),
            [{"b_id": i, "b_user": user.id, **{f"b_{k}": c[k] for k in columns}} for i, c in changed.items()])
    # register children the session already holds may be stale now: re-read on next access
    for obj in list(session.identity_map.values()):
        if isinstance(obj, CatchmentChild):
            session.expire(obj)
    return result


def export_register(session: Session, scope: Scope, village_id) -> tuple[Village, bytes]:
    """The village's register as .xlsx bytes, in the import's columns (ID numbers masked for those
    who may not see them in full). Raises NotFound."""
    village = get_village(session, scope, village_id)
    children = list_children(session, scope, village.id)
    full = sees_full_catchment_ids(session, scope, village.center_school_id)
    wb = Workbook()
    ws = wb.active
    ws.title = (_SHEET_BAD.sub("", village.name) or "登记表")[:31]
    ws.append([h for _, h in COLUMNS])
    for c in children:
        ws.append([village.name, c.name, GENDER_NAMES.get(c.gender, c.gender), c.birth_date,
                   id_as_seen(c, full) or "", HOUSEHOLD_LABELS.get(c.household_status, c.household_status),
                   STATUS_LABELS.get(c.status, c.status), c.destination or "", c.notes or ""])
    for row in ws.iter_rows(min_row=2):
        row[3].number_format = "yyyy-mm-dd"
        row[4].number_format = "@"
    for letter, width in zip("ABCDEFGHI", (10, 10, 6, 12, 22, 10, 12, 24, 24), strict=True):
        ws.column_dimensions[letter].width = width
    ws.freeze_panes = "A2"
    return village, xlsx_bytes(wb)


# --- cross-check ----------------------------------------------------------------------------------

RECOVERY_REASON = "其他"
# Students we may open a recovery for (the recovery process's own rule).
RECOVERABLE = ("dropped_out", "transferred_out", "incoming")


@dataclass
class CrosscheckResult:
    """What the cross-check found. Each list holds plain dicts (no ID numbers)."""

    checked: int = 0
    matched: int = 0
    # registered as enrolled here, found on no roll
    not_on_rolls: list[dict] = field(default_factory=list)
    # registered as enrolled here, on the rolls with a status other than active
    not_active: list[dict] = field(default_factory=list)
    # on the rolls and active (or suspended) though the register says otherwise
    registered_otherwise: list[dict] = field(default_factory=list)
    # of compulsory age and enrolled nowhere: each with its recovery case
    enrolled_nowhere: list[dict] = field(default_factory=list)
    opened_case_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"checked": self.checked, "matched": self.matched, "not_on_rolls": self.not_on_rolls,
                "not_active": self.not_active, "registered_otherwise": self.registered_otherwise,
                "enrolled_nowhere": self.enrolled_nowhere, "opened_case_ids": self.opened_case_ids}


def _target_villages(session: Session, scope: Scope, village_id, center_school_id) -> list[Village]:
    if (village_id is None) == (center_school_id is None):
        raise Invalid(N_("请指定 village_id 或 center_school_id（二选一）"), details={"field": "village_id"})
    if village_id is not None:
        return [get_village(session, scope, village_id)]
    # the villages of a center are visible to everyone working for one of its schools (scope.center_ids)
    center = session.get(School, center_school_id)
    if center is None or not (scope.is_all or center.id in scope.center_ids):
        raise NotFound(N_("中心校不存在或不在您的管辖范围内"), details={"field": "center_school_id"})
    if center.kind != "center":
        raise Invalid(N_("字段 center_school_id 必须是中心校"), details={"field": "center_school_id"})
    return list(session.scalars(select(Village).where(Village.center_school_id == center.id).order_by(Village.name)))


def _match(children: list[CatchmentChild], session: Session) -> dict[int, Student]:
    """child id -> the student on the rolls: the stored link, else the same ID number, else the one
    student with the same name and birth date (and no other ID number), preferring the village's."""
    linked = {s.id: s for s in session.scalars(select(Student).where(
        Student.id.in_(sorted({c.student_id for c in children if c.student_id}) or [-1])))}
    ids = sorted({c.id_card_no for c in children if c.id_card_no})
    by_id = {s.id_card_no: s for s in session.scalars(select(Student).where(Student.id_card_no.in_(ids or ["-"])))}
    names = sorted({c.name for c in children})
    people: dict[tuple[str, dt.date], list[Student]] = {}
    for s in session.scalars(select(Student).where(Student.name.in_(names or ["-"]),
                                                   Student.birth_date.in_(sorted({c.birth_date for c in children}) or [dt.date.min]))):
        people.setdefault((s.name, s.birth_date), []).append(s)
    claimed = {c.student_id for c in children if c.student_id}
    out: dict[int, Student] = {}
    for c in children:
        student = linked.get(c.student_id) if c.student_id else None
        if student is None and c.id_card_no:
            student = by_id.get(c.id_card_no)
        if student is None:
            same = [s for s in people.get((c.name, c.birth_date), [])
                    if not (s.id_card_no and c.id_card_no and s.id_card_no != c.id_card_no)
                    and (s.id not in claimed or s.id == c.student_id)]
            local = [s for s in same if s.village_id == c.village_id]
            pick = local if len(local) == 1 else same
            student = pick[0] if len(pick) == 1 else None
        if student is not None:
            out[c.id] = student
            claimed.add(student.id)
    return out


def _item(c: CatchmentChild, village: Village, student: Student | None, note: Msg | str = "",
          case_id: int | None = None) -> dict:
    return {"child_id": c.id, "name": c.name, "village_id": village.id, "village": village.name,
            "birth_date": c.birth_date.isoformat(), "register_status": c.status,
            "register_status_label": STATUS_LABELS.get(c.status, c.status),
            "student_id": student.id if student else None,
            "student_status": student.status if student else None,
            "student_status_label": STUDENT_STATUS_NAMES.get(student.status) if student else None,
            "case_id": case_id, "note": note}


def crosscheck(session: Session, scope: Scope, user: User, *, village_id=None, center_school_id=None,
               today: dt.date | None = None) -> CrosscheckResult:
    """Cross-check the register of one village (or of every village of a center school) against
    the rolls, link matched children to their students, and open a `recovery` case for each
    child of compulsory age (`is_compulsory_age`) enrolled nowhere.

    Enrolled nowhere: the register says 未就读 and the child is on no roll, or is a student who
    dropped out, transferred out or never arrived (`incoming`) with no return or transfer-in
    under way. A child not on any roll gets a student record of status `incoming` (待入学: never
    enrolled, so not a dropout and in no class's baseline) at the village's center school, which
    is responsible for its catchment; the recovery's `mark_returned` then seats the child in any
    class of that center. The recovery is opened by the system with reason 其他; an open one is
    reused, and one closed as 缓学/免学 (`exempt`) is not reopened.
    Raises NotFound (village or center out of scope), Invalid (neither or both targets),
    Forbidden (not an editor or the center head). Never commits.
    """
    villages = _target_villages(session, scope, village_id, center_school_id)
    today = today or clock.today()
    centers = {v.center_school_id for v in villages}
    if not all(may_crosscheck_catchment(session, scope, c) for c in centers):
        raise Forbidden(N_("只有本学区的教导处、校长、中心校长和中心校教导主任可以核对登记表"), code="role_forbidden")
    result = CrosscheckResult()
    if not villages:
        return result
    by_village = {v.id: v for v in villages}
    # row locks: two cross-checks of the same village must not create the same student twice
    children = list(session.scalars(select(CatchmentChild).where(
        CatchmentChild.village_id.in_(sorted(by_village))).order_by(CatchmentChild.id).with_for_update()))
    matches = _match(children, session)
    student_ids = sorted({s.id for s in matches.values()})
    open_cases: dict[tuple[int, str], int] = {}
    exempt: set[int] = set()
    for case_id, student_id, process, state, is_open in session.execute(
            select(Case.id, Case.student_id, Case.process, Case.state, Case.is_open).where(
                Case.student_id.in_(student_ids or [-1]), Case.process.in_(("recovery", "return", "transfer_in")))):
        if is_open:
            open_cases[(student_id, process)] = case_id
        elif process == "recovery" and state == "exempt":
            exempt.add(student_id)
    for c in children:
        village = by_village[c.village_id]
        result.checked += 1
        student = matches.get(c.id)
        if student is not None:
            result.matched += 1
            if c.student_id != student.id:
                c.student_id = student.id
        if student is None and c.status == "enrolled_here":
            result.not_on_rolls.append(_item(c, village, None, N_("登记为本学区就读，但学籍中找不到该儿童")))
        if student is not None and student.status in ("active", "suspended") and c.status != "enrolled_here":
            result.registered_otherwise.append(_item(
                c, village, student, Msg(N_("学籍显示%(student_status)s，登记表为%(register_status)s"),
                                         student_status=STUDENT_STATUS_NAMES[student.status],
                                         register_status=STATUS_LABELS[c.status])))
        if student is not None and student.status != "active" and c.status == "enrolled_here":
            result.not_active.append(_item(c, village, student,
                                           Msg(N_("学籍状态：%(status)s"),
                                               status=STUDENT_STATUS_NAMES.get(student.status, student.status))))
        if c.status != "not_enrolled" or not is_compulsory_age(c.birth_date, today):
            continue
        if student is not None and student.status not in RECOVERABLE:
            continue
        if student is not None:
            under_way = open_cases.get((student.id, "return")) or open_cases.get((student.id, "transfer_in"))
            if under_way:
                result.enrolled_nowhere.append(_item(c, village, student, N_("返校/转入手续办理中"), under_way))
                continue
            if student.id in exempt and (student.id, "recovery") not in open_cases:
                result.enrolled_nowhere.append(_item(
                    c, village, student, N_("劝返案件已按缓学/免学办结；请把登记表的就读状态改为缓学")))
                continue
            existing = open_cases.get((student.id, "recovery"))
            if existing:
                result.enrolled_nowhere.append(_item(c, village, student, N_("已有劝返案件"), existing))
                continue
        else:
            student = Student(name=c.name, gender=c.gender, birth_date=c.birth_date, id_card_no=c.id_card_no,
                              village_id=c.village_id, school_id=village.center_school_id, class_id=None,
                              status="incoming")
            session.add(student)
            session.flush()
            c.student_id = student.id
        if student.school_id is None:
            student.school_id = village.center_school_id
        case = create_case_system(
            session, "recovery", student.id,
            {"reason_category": RECOVERY_REASON,
             "notes": f"适龄儿童登记造册核对：{village.name}{c.name}未在任何学校就读"},
            effective_date=today, existing_ok=True)
        open_cases[(student.id, "recovery")] = case.id
        result.opened_case_ids.append(case.id)
        result.enrolled_nowhere.append(_item(c, village, student, N_("已开启劝返案件"), case.id))
    session.flush()
    return result
