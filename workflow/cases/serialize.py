"""Cases as plain dicts: the shapes the JSON API answers with and the pages render.

No Flask, no queries of their own: callers load what is serialised (eager-loading the
relationships for lists) and pass computed values in (due dates, available transitions).
Evidence rows (visits, documents, fees, payments, contacts) are serialised by the evidence API
module, which owns those shapes.
"""
from __future__ import annotations

import datetime as dt

from models import Case, CaseHistory, Student
from workflow import clock
from workflow.access.scope import ROLE_NAMES
from workflow.cases.diagrams import mermaid
from workflow.processes import get_process


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day is not None else None


def state_label(case: Case) -> str:
    proc = get_process(case.process)
    return (proc.state_labels.get(case.state) if proc else None) or case.state


def process_label(name: str) -> str:
    proc = get_process(name)
    return proc.label if proc else name


def transition_label(process: str, name: str) -> str:
    """The Chinese label of a transition (`create` is 立案)."""
    if name == "create":
        return "立案"
    proc = get_process(process)
    return proc.label_of(name) if proc else name


def student_summary(student: Student | None) -> dict | None:
    """Who the case is about, as a list row shows it: name, status, school and class."""
    if student is None:
        return None
    klass = student.klass
    return {
        "id": student.id,
        "name": student.name,
        "status": student.status,
        "is_provisional": student.is_provisional,
        "school_id": student.school_id,
        "class_id": student.class_id,
        "class_name": klass.name if klass is not None else None,
        "grade": klass.grade if klass is not None else None,
    }


def case_summary(case: Case, *, due: dt.date | None = None, overdue: bool = False) -> dict:
    """A case as a list or queue row. Expects `student`, `student.klass` and `school` loaded."""
    return {
        "id": case.id,
        "process": case.process,
        "process_label": process_label(case.process),
        "state": case.state,
        "state_label": state_label(case),
        "version": case.version,
        "student_id": case.student_id,
        "school_id": case.school_id,
        "school_name": case.school.name if case.school is not None else None,
        "opened_on": _iso(case.opened_on),
        "is_open": case.is_open,
        "due": _iso(due),
        "overdue": bool(overdue),
        "student": student_summary(case.student),
    }


def history_row(row: CaseHistory, process: str) -> dict:
    """One history row: who (id and name; null for the system), in which role, when (with the
    school's +08:00 offset), the effective date, the states and the comment."""
    user = row.user
    return {
        "id": row.id,
        "transition": row.transition,
        "label": transition_label(process, row.transition),
        "from": row.from_state,
        "to": row.to_state,
        "by": {"id": user.id, "name": user.name} if user is not None else None,
        "role": row.role,
        "role_label": ROLE_NAMES.get(row.role, row.role),
        "at": clock.local_iso(row.at),
        "effective_date": _iso(row.effective_date),
        "comment": row.comment,
        "data": row.data or {},
    }


def case_detail(case: Case, *, due: dt.date | None, overdue: bool, available: list[str],
                blocked: dict[str, list[str]]) -> dict:
    """The case page / GET /cases/{id} core: the summary plus data, what this user may do now,
    the history and the process diagram. The caller adds the evidence lists."""
    proc = get_process(case.process)
    out = case_summary(case, due=due, overdue=overdue)
    out.update({
        "data": case.data or {},
        "parent_case_id": case.parent_case_id,
        "created_by_id": case.created_by_id,
        "available_transitions": list(available),
        "available": [{"name": n, "label": transition_label(case.process, n)} for n in available],
        "blocked": blocked,
        "history": [history_row(h, case.process) for h in case.history],
        "diagram": mermaid(proc, case.state) if proc is not None else None,
    })
    return out
