"""Cases as plain dicts: the shapes the JSON API answers with and the pages render.

No Flask, no queries of their own but one (`submitted_names`, the names of the rows a case's data
names by id): callers load what is serialised (eager-loading the relationships for lists) and
pass computed values in (due dates, available transitions).
Evidence rows (visits, documents, fees, payments, contacts) are serialised by the evidence API
module, which owns those shapes.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from models import Case, CaseHistory, School, SchoolClass, Student, User
from workflow import clock
from workflow.access.scope import ROLE_NAMES
from workflow.cases.definitions import COMMENT_MSG_KEY
from workflow.cases.diagrams import mermaid
from workflow.errors import N_, NAME_SEP, Msg, msg_from_data
from workflow.fieldnames import FIELD_LABELS
from workflow.org.services import class_label
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
        return N_("立案")
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


def class_summary(case: Case) -> dict | None:
    """The class a case is about when its subject is a class (roll_verification), else None."""
    if case.class_id is None:
        return None
    klass = case.klass
    return {"id": klass.id, "name": klass.name, "grade": klass.grade, "school_year": klass.school_year}


def subject_name(case: Case) -> str:
    """Who or what the case is about, for a list row or a heading: the child, else the class,
    else the school."""
    if case.student is not None:
        return case.student.name
    if case.class_id is not None and case.klass is not None:
        return case.klass.name
    return case.school.name if case.school is not None else ""


def case_summary(case: Case, *, due: dt.date | None = None, overdue: bool = False) -> dict:
    """A case as a list or queue row. Expects `student`, `student.klass` and `school` loaded
    (`klass` is read for a class-subject case)."""
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
        "class_id": case.class_id,
        "class": class_summary(case),
        "subject": subject_name(case),
    }


def history_row(row: CaseHistory, process: str) -> dict:
    """One history row: who (id and name; null for the system), in which role, when (with the
    school's +08:00 offset), the effective date, the states and the comment."""
    user = row.user
    data = row.data or {}
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
        # a system comment in the reader's language (a Msg the pages and the API translate)
        "comment": msg_from_data(data[COMMENT_MSG_KEY]) if COMMENT_MSG_KEY in data else row.comment,
        "data": {k: v for k, v in data.items() if k != COMMENT_MSG_KEY},
        # SPEC §3: an approval fired in place of a blocked one names the role it stood in for
        "stand_in_for": data.get("stand_in_for"),
        "stand_in_label": ROLE_NAMES.get(data["stand_in_for"]) if data.get("stand_in_for") else None,
    }


def case_detail(case: Case, *, due: dt.date | None, overdue: bool, available: list[str],
                blocked: dict[str, list[str]], submitted: list[dict] | None = None) -> dict:
    """The case page / GET /cases/{id} core: the summary plus data, what was submitted
    (`submitted_data`), what this user may do now, the history and the process diagram. The
    caller adds the evidence lists."""
    proc = get_process(case.process)
    out = case_summary(case, due=due, overdue=overdue)
    out.update({
        "data": case.data or {},
        "submitted": submitted or [],
        "parent_case_id": case.parent_case_id,
        "created_by_id": case.created_by_id,
        "available_transitions": list(available),
        "available": [{"name": n, "label": transition_label(case.process, n)} for n in available],
        "blocked": blocked,
        "history": [history_row(h, case.process) for h in case.history],
        "diagram": mermaid(proc, case.state) if proc is not None else None,
    })
    return out


# --- what was submitted (the case page and GET /cases/{id}) -------------------------------------

# Keys of case.data the submitted list leaves out: bookkeeping (extending), and what the case
# page shows in its own sections (a transfer-in's new student, a report's figures, a roll's
# differences and resolutions).
HIDDEN_DATA = ("extending", "student", "figures", "differences", "resolutions", "findings")
# Keys naming a row by id: the kind of row, whose name `submitted_names` reads.
ID_KEYS = {"class_id": "class", "destination_school_id": "school", "school_id": "school",
           "credited_user_ids": "user", "responsible_user_ids": "user"}


def submitted_names(session, case: Case) -> dict[tuple[str, int], str]:
    """(kind, id) -> name of each class, school and user the case's data names by id (at most
    three queries): what `submitted_data` writes instead of the id. The one reader of this
    module; the callers load the case itself."""
    wanted: dict[str, set[int]] = {}
    for key, kind in ID_KEYS.items():
        value = (case.data or {}).get(key)
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, int) and not isinstance(v, bool):
                wanted.setdefault(kind, set()).add(v)
    out: dict[tuple[str, int], str] = {}
    if wanted.get("class"):
        for k in session.scalars(select(SchoolClass).where(SchoolClass.id.in_(wanted["class"]))):
            out[("class", k.id)] = class_label(k) if k.school else k.name
    if wanted.get("school"):
        for s in session.scalars(select(School).where(School.id.in_(wanted["school"]))):
            out[("school", s.id)] = s.name
    if wanted.get("user"):
        for u in session.scalars(select(User).where(User.id.in_(wanted["user"]))):
            out[("user", u.id)] = u.name
    return out


def _money(value) -> str:
    return f"{value:.2f}"


def submitted_data(case: Case, names: dict[tuple[str, int], str]) -> list[dict]:
    """What was submitted on the case, for the people who decide on it: each known key of
    `case.data` as `{key, label, value, text}` — `label` the field's Chinese name
    (workflow.fieldnames), `text` the value as a person reads it (a class or school by name, a
    list joined) — then, for a case with fees, what is due, paid and still owed (yuan strings).
    `names`: `submitted_names`. Expects `fees` and `payments` loaded."""
    items = []
    for key, value in (case.data or {}).items():
        label = FIELD_LABELS.get(key)
        if key in HIDDEN_DATA or label is None or value in (None, "", []):
            continue
        kind = ID_KEYS.get(key)
        values = value if isinstance(value, list) else [value]
        if kind is not None:
            parts = [names.get((kind, v), f"#{v}") for v in values]
        else:
            parts = [str(v) for v in values]
        items.append({"key": key, "label": label, "value": value, "text": NAME_SEP.join(parts)})
    if case.fees:
        due = sum((f.amount_due for f in case.fees), start=0)
        paid = sum((p.amount for p in case.payments), start=0)
        for key, amount in (("fees_due", due), ("fees_paid", paid), ("fees_outstanding", due - paid)):
            items.append({"key": key, "label": FIELD_LABELS[key], "value": _money(amount),
                          "text": Msg(N_("%(amount)s 元"), amount=_money(amount))})
    return items
