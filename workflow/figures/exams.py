"""Exam scores and exam accounting (SPEC §4 "Exam accounting").

Scores come from an Excel file (.xlsx) per class: a header row naming the columns 学籍号 and/or
姓名, 科目 (may be left out when the subject is given with the upload) and 分数, then one row
per student and subject. The whole file is checked first and every bad row is reported by its
row number in Excel and the reason; nothing is written unless the file is clean, or the user asks
for the valid rows only (`only_valid`). Importing a score that already exists (same student,
year, term, exam, subject) replaces it.

Accounting: a student lost from the second week of term (dropout effective on or after term
start + `exam_grace_days`, within the term, not back by term end: workflow.figures.common.movements)
counts with a score of zero in every subject of the class, whether or not a score was recorded,
so that losses cannot improve a class's results (seeds: 从每期第二周算起，学生中途流失…以零分来计算).
Students excluded from assessment (special_exclusion) are left out of the accounted figures.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from models import EXAM_KINDS, Enrolment, ExamScore, SchoolClass, Student, User
from workflow import clock
from workflow.access.permissions import may_import_scores
from workflow.access.scope import Scope, get_in_scope
from workflow.errors import LIST_SEP, N_, Forbidden, Invalid, Msg
from workflow.figures.common import (
    MONEY_PLACES,
    ClassRow,
    FigureSettings,
    check_term,
    excluded_on,
    exclusion_events,
    movements,
    rate,
    term_dates,
)
from workflow.org.services import check_school_year
from workflow.spreadsheets import NotXlsx, read_xlsx_rows

HEADER_STUDENT_NO = "学籍号"
HEADER_NAME = "姓名"
HEADER_SUBJECT = "科目"
HEADER_SCORE = "分数"
MAX_ROWS = 5000
MAX_COLS = 20  # 学籍号, 姓名, 科目, 分数 and room for the teacher's own columns
MAX_SUBJECT_LEN = 20


@dataclass
class RowError:
    row: int
    reason: Msg  # the row's problems, each translated on its own

    def as_dict(self) -> dict:
        return {"row": self.row, "reason": self.reason}


@dataclass
class ImportResult:
    imported: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return len(self.errors)


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a student number typed as a number
    return str(value).strip()


def _score(value) -> tuple[Decimal | None, Msg | None]:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, N_("分数为空")
    if isinstance(value, bool):
        return None, N_("分数不是数字")
    try:
        number = Decimal(str(value).strip()) if not isinstance(value, float) else Decimal(repr(value))
    except InvalidOperation:
        return None, Msg(N_("分数“%(value)s”不是数字"), value=_text(value))
    if not number.is_finite():
        return None, Msg(N_("分数“%(value)s”不是数字"), value=_text(value))
    if number < 0 or number > 100:
        return None, Msg(N_("分数 %(value)s 不在 0–100 之间"), value=_text(value))
    if number != number.quantize(MONEY_PLACES, rounding=ROUND_HALF_UP):
        return None, Msg(N_("分数 %(value)s 最多两位小数"), value=_text(value))
    return number.quantize(MONEY_PLACES), None


def _read_rows(data: bytes) -> list[tuple]:
    """The rows of the first worksheet, through the one .xlsx reader (workflow/spreadsheets.py:
    limits checked before parsing); Invalid (field `file`) when it is not an .xlsx file or is
    over MAX_ROWS rows or MAX_COLS columns."""
    try:
        # a few rows more than MAX_ROWS, so a title and header do not count (checked below)
        return read_xlsx_rows(data, max_rows=MAX_ROWS + 20, max_cols=MAX_COLS)
    except NotXlsx:
        raise Invalid(N_("上传的文件必须是 Excel 文件（.xlsx）"), details={"field": "file"}) from None


def _class_students(session: Session, klass: SchoolClass) -> list[tuple[int, str, str | None]]:
    """Students on the class's roll at any time of the year (enrolment history or current class)."""
    in_class = select(Enrolment.student_id).where(Enrolment.class_id == klass.id)
    return list(session.execute(select(Student.id, Student.name, Student.student_no).where(
        or_(Student.id.in_(in_class), Student.class_id == klass.id)).order_by(Student.id)))


def _check_class(session: Session, scope: Scope, class_id, school_year, term) -> SchoolClass:
    klass = get_in_scope(session, scope, SchoolClass, class_id)
    check_school_year(school_year)
    check_term(term)
    if klass.school_year != school_year:
        raise Invalid(N_("学年不对：班级 %(klass)s 属于 %(year)s 学年"), details={"field": "school_year"},
                      klass=klass.name, year=klass.school_year)
    return klass


def import_scores(session: Session, scope: Scope, user: User, *, class_id: int, school_year: str, term: int,
                  data: bytes, subject: str | None = None, exam: str = "final",
                  only_valid: bool = False) -> ImportResult:
    """Import one class's scores from an .xlsx file (see the module docstring for the layout).

    Checks the whole file first. With bad rows and not `only_valid`, raises Invalid (code
    `invalid_rows`, details.errors = [{row, reason}]) and writes nothing; with `only_valid` the
    good rows are written and the bad ones returned in `errors`.
    Raises NotFound (class out of scope), Forbidden (not a teacher of the class, nor the
    school's principal/academic office, nor admin), Invalid (fields, not an .xlsx file, missing
    columns). Never commits.
    """
    klass = _check_class(session, scope, class_id, school_year, term)
    if exam not in EXAM_KINDS:
        raise Invalid(N_("考试必须是以下之一：%(choices)s"), details={"field": "exam"}, choices=", ".join(EXAM_KINDS))
    subject = (subject or "").strip() or None
    if subject is not None and len(subject) > MAX_SUBJECT_LEN:
        raise Invalid(N_("科目超过 %(n)d 个字符"), details={"field": "subject"}, n=MAX_SUBJECT_LEN)
    if not may_import_scores(scope, klass):
        raise Forbidden(N_("只有本班教师、本校校长或教导处可以导入成绩"), code="role_forbidden")
    rows = _read_rows(data)

    header_at = next((i for i, r in enumerate(rows) if any(_text(v) for v in r)), None)
    if header_at is None:
        raise Invalid(N_("文件中没有数据"), details={"field": "file"})
    columns = {_text(v): i for i, v in enumerate(rows[header_at]) if _text(v)}
    missing = []
    if HEADER_STUDENT_NO not in columns and HEADER_NAME not in columns:
        missing.append(f"{HEADER_STUDENT_NO}/{HEADER_NAME}")  # either column will do
    if HEADER_SCORE not in columns:
        missing.append(HEADER_SCORE)
    if HEADER_SUBJECT not in columns and subject is None:
        missing.append(HEADER_SUBJECT)
    if missing:
        # the column names stay Chinese in both languages: the teacher types them into the file
        raise Invalid(N_("表头缺少列：%(columns)s（第 %(row)d 行）"), details={"field": "file", "missing_columns": missing},
                      columns="、".join(missing), row=header_at + 1)
    if len(rows) - header_at - 1 > MAX_ROWS:
        raise Invalid(N_("一次最多导入 %(n)d 行"), details={"field": "file"}, n=MAX_ROWS)

    roster = _class_students(session, klass)
    by_no = {no: sid for sid, _, no in roster if no}
    by_name: dict[str, list[int]] = defaultdict(list)
    for sid, name, _ in roster:
        by_name[name.strip()].append(sid)
    name_of = {sid: name for sid, name, _ in roster}

    def cell(r, header):
        i = columns.get(header)
        return r[i] if i is not None and i < len(r) else None

    good: dict[tuple[int, str], tuple[int, Decimal]] = {}
    result = ImportResult()
    for i in range(header_at + 1, len(rows)):
        r = rows[i]
        number = i + 1  # the row number Excel shows
        if not any(_text(v) for v in r):
            continue
        no, name = _text(cell(r, HEADER_STUDENT_NO)), _text(cell(r, HEADER_NAME))
        reasons = []
        student_id = None
        if no:
            student_id = by_no.get(no)
            if student_id is None:
                reasons.append(Msg(N_("学籍号 %(no)s 不是本班学生"), no=no))
            elif name and name != name_of[student_id].strip():
                reasons.append(Msg(N_("学籍号 %(no)s 与姓名“%(name)s”不符"), no=no, name=name))
                student_id = None
        elif not name:
            reasons.append(N_("姓名为空") if HEADER_STUDENT_NO not in columns else N_("学籍号和姓名均为空"))
        else:
            found = by_name.get(name, [])
            if not found:
                reasons.append(Msg(N_("本班没有名为“%(name)s”的学生"), name=name))
            elif len(found) > 1:
                reasons.append(Msg(N_("本班有 %(n)d 名学生叫“%(name)s”，请填写学籍号"), n=len(found), name=name))
            else:
                student_id = found[0]
        row_subject = _text(cell(r, HEADER_SUBJECT)) or subject
        if not row_subject:
            reasons.append(N_("科目为空"))
        elif len(row_subject) > MAX_SUBJECT_LEN:
            reasons.append(Msg(N_("科目超过 %(n)d 个字符"), n=MAX_SUBJECT_LEN))
        score, problem = _score(cell(r, HEADER_SCORE))
        if problem:
            reasons.append(problem)
        if not reasons and student_id is not None:
            key = (student_id, row_subject)
            if key in good:
                reasons.append(Msg(N_("与第 %(row)d 行重复（同一学生同一科目）"), row=good[key][0]))
            else:
                good[key] = (number, score)
        if reasons:
            result.errors.append(RowError(number, Msg.join(LIST_SEP, reasons)))

    if result.errors and not only_valid:
        raise Invalid(N_("有 %(n)d 行有误，未导入任何数据"), code="invalid_rows",
                      details={"field": "file", "errors": [e.as_dict() for e in result.errors]}, n=len(result.errors))
    if good:
        existing = {(s.student_id, s.subject): s for s in session.scalars(select(ExamScore).where(
            ExamScore.student_id.in_(sorted({k[0] for k in good})), ExamScore.school_year == school_year,
            ExamScore.term == term, ExamScore.exam == exam))}
        now = clock.now()
        for (student_id, subj), (_, score) in good.items():
            row = existing.get((student_id, subj))
            if row is None:
                session.add(ExamScore(student_id=student_id, class_id=klass.id, school_year=school_year,
                                      term=term, exam=exam, subject=subj, score=score,
                                      imported_by_id=user.id, imported_at=now))
                result.imported += 1
            else:
                row.score, row.class_id, row.imported_by_id, row.imported_at = score, klass.id, user.id, now
                result.updated += 1
        session.flush()
    return result


def _summary(scores: list[Decimal], cfg: FigureSettings) -> dict:
    n = len(scores)
    average = (sum(scores, Decimal(0)) / n).quantize(MONEY_PLACES, rounding=ROUND_HALF_UP) if n else None
    return {"count": n, "average": average,
            "pass_rate": rate(sum(1 for s in scores if s >= cfg.pass_mark), n),
            "excellent_rate": rate(sum(1 for s in scores if s >= cfg.excellent_mark), n)}


def class_exam_stats(session: Session, scope: Scope, *, class_id: int, school_year: str, term: int,
                     exam: str = "final", settings: FigureSettings | Mapping | None = None) -> dict:
    """Per subject, raw figures (the scores as recorded) and accounted figures (excluded
    students left out, students lost from the second week of term counted as zero): count,
    average (2 places), pass_rate and excellent_rate (4 places; pass ≥ pass_mark, excellent ≥
    excellent_mark). Raises NotFound (class out of scope), Invalid. Never writes."""
    klass = _check_class(session, scope, class_id, school_year, term)
    if exam not in EXAM_KINDS:
        raise Invalid(N_("考试必须是以下之一：%(choices)s"), details={"field": "exam"}, choices=", ".join(EXAM_KINDS))
    cfg = FigureSettings.from_mapping(settings)
    row = ClassRow(klass.id, klass.name, klass.grade, klass.school_id, "")
    terms = term_dates(session, [klass.school_id], school_year, term)
    losses, _ = movements(session, [row], school_year, term, terms)
    start, end = terms.get(klass.school_id, (None, None))
    from_day = start + dt.timedelta(days=cfg.exam_grace_days) if start else None
    lost = [x for x in losses.get(klass.id, []) if from_day is not None and x.date >= from_day]
    lost_ids = {x.student_id for x in lost}

    scores = session.execute(select(ExamScore.student_id, ExamScore.subject, ExamScore.score).where(
        ExamScore.class_id == klass.id, ExamScore.school_year == school_year, ExamScore.term == term,
        ExamScore.exam == exam).order_by(ExamScore.subject, ExamScore.student_id)).all()
    scored_ids = {s for s, _, _ in scores}
    exclusions = exclusion_events(session, sorted(scored_ids | lost_ids)) if scored_ids | lost_ids else {}
    excluded = {s for s in scored_ids | lost_ids
                if start is not None and (excluded_on(exclusions.get(s), start) or excluded_on(exclusions.get(s), end))}
    by_subject: dict[str, dict[int, Decimal]] = defaultdict(dict)
    for student_id, subject, score in scores:
        by_subject[subject][student_id] = Decimal(score)
    names = dict(session.execute(select(Student.id, Student.name).where(
        Student.id.in_(sorted(lost_ids | excluded)))).all()) if lost_ids | excluded else {}
    subjects = []
    for subject in sorted(by_subject):
        recorded = by_subject[subject]
        accounted = {s: v for s, v in recorded.items() if s not in excluded}
        for s in lost_ids - excluded:
            accounted[s] = Decimal(0)
        subjects.append({"subject": subject, "raw": _summary(list(recorded.values()), cfg),
                         "accounted": _summary(list(accounted.values()), cfg),
                         "zeroed_student_ids": sorted(lost_ids - excluded),
                         "excluded_student_ids": sorted(excluded & set(recorded))})
    return {
        "class_id": klass.id, "class_name": klass.name, "school_year": school_year, "term": term,
        "exam": exam, "pass_mark": cfg.pass_mark, "excellent_mark": cfg.excellent_mark,
        "lost_from": from_day, "term_end": end,
        "lost": [{"student_id": x.student_id, "name": names.get(x.student_id), "date": x.date,
                  "case_id": x.case_id} for x in lost if x.student_id not in excluded],
        "subjects": subjects,
    }
