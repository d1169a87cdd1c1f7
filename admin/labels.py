"""Display names for codes (roles, statuses, kinds). The catalogue translates them.

A code whose name the domain also uses is named once, in workflow (roles:
workflow.access.scope.ROLE_NAMES; students' statuses and genders, schools' kinds:
workflow.org.services; documents: workflow.cases.guards; visit kinds: workflow.absence.ladder;
catchment register households and statuses: workflow.registers.catchment; a process's states:
its `state_labels`); the pages translate that name, which N_ put in the catalogue.
"""
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from models import CATCHMENT_STATUSES, GENDERS, HOUSEHOLD_STATUSES, ROLES, STUDENT_STATUSES, VISIT_KINDS
from workflow.absence.ladder import KIND_NAMES
from workflow.access.scope import ROLE_NAMES
from workflow.org.services import GENDER_NAMES, SCHOOL_KIND_NAMES, STUDENT_STATUS_NAMES
from workflow.registers import catchment


def translated(names: dict, code: str) -> str:
    """`names[code]` (a Chinese name from workflow) in the user's language; unknown codes as is."""
    return gettext(names[code]) if code in names else code


def lazy_translated(names: dict, codes) -> dict:
    """{code: name in the user's language, translated when shown}: for choices built at import."""
    return {code: _l(names[code]) for code in codes}


# The roles a user can be given.
ROLE_LABELS = lazy_translated(ROLE_NAMES, ROLES)
SCHOOL_KIND_LABELS = lazy_translated(SCHOOL_KIND_NAMES, SCHOOL_KIND_NAMES)
STUDENT_STATUS_LABELS = lazy_translated(STUDENT_STATUS_NAMES, STUDENT_STATUSES)
GENDER_LABELS = lazy_translated(GENDER_NAMES, GENDERS)
VISIT_KIND_LABELS = lazy_translated(KIND_NAMES, VISIT_KINDS)
HOUSEHOLD_LABELS = lazy_translated(catchment.HOUSEHOLD_LABELS, HOUSEHOLD_STATUSES)
CATCHMENT_STATUS_LABELS = lazy_translated(catchment.STATUS_LABELS, CATCHMENT_STATUSES)
EXAM_LABELS = {"final": _l("期末考试"), "midterm": _l("期中考试")}
FLAG_LABELS = {
    "left_behind": _l("留守儿童"),
    "poor": _l("贫困"),
    "disability": _l("残疾"),
    "learning_difficulty": _l("学困"),
}


def role_label(code: str) -> str:
    """The role's name in the user's language."""
    return translated(ROLE_NAMES, code)
