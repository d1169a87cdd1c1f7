"""Display names for codes (roles, statuses, kinds). The catalogue translates them.

A code whose name the domain also uses is named once, in workflow (roles:
workflow.access.scope.ROLE_NAMES; students' statuses and genders, schools' kinds:
workflow.org.services; documents: workflow.cases.guards; visit kinds: workflow.absence.ladder;
catchment register households and statuses: workflow.registers.catchment; a process's states:
its `state_labels`); the pages translate that name, which N_ put in the catalogue.
"""
from flask import has_request_context
from flask.json.provider import DefaultJSONProvider
from flask_babel import gettext, pgettext
from flask_babel import lazy_gettext as _l

from models import CATCHMENT_STATUSES, GENDERS, HOUSEHOLD_STATUSES, ROLES, STUDENT_STATUSES, VISIT_KINDS
from workflow.absence.ladder import KIND_NAMES
from workflow.access.scope import ROLE_NAMES
from workflow.errors import NAME_SEP, DomainError, Msg
from workflow.org.services import GENDER_NAMES, SCHOOL_KIND_NAMES, SCHOOL_LEVEL_NAMES, STUDENT_STATUS_NAMES
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
SCHOOL_LEVEL_LABELS = lazy_translated(SCHOOL_LEVEL_NAMES, SCHOOL_LEVEL_NAMES)
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
    "orphan": _l("孤儿"),
    "unsupported": _l("事实无人抚养"),
    "hardship": _l("困境儿童"),
    "migrant": _l("随迁子女"),
    "justice_involved": _l("涉案未成年人"),
}


def text(message) -> str:
    """A domain message (workflow.errors.Msg, or a plain N_-marked msgid) in the user's language.

    A Msg's values that are Msgs themselves (a status's name) are translated too; other values
    (names, numbers, dates) are shown as given. Text that is not in the catalogue (user data, an
    unmarked message) comes back unchanged."""
    if message is None or message == "":
        return message
    parts = getattr(message, "parts", ())
    if parts:
        return text(message.sep).join(text(p) for p in parts)
    msgid = getattr(message, "msgid", message)
    params = {k: text(v) if isinstance(v, Msg) else v for k, v in getattr(message, "params", {}).items()}
    context = getattr(message, "context", None)
    if context:
        return pgettext(context, msgid, **params)
    return gettext(msgid, **params) if params else gettext(msgid)


def rendered(value):
    """`value` with every Msg in it (at any depth of dicts, lists and tuples) in the user's
    language: the JSON API's answers pass through it (TranslatingJSON)."""
    if isinstance(value, Msg):
        return text(value)
    if isinstance(value, dict):
        return {k: rendered(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rendered(v) for v in value]
    return value


class TranslatingJSON(DefaultJSONProvider):
    """Flask's JSON provider, rendering workflow's marked labels and messages (Msg) in the
    request's language before encoding: a case's `process_label`, `state_label`, guard
    messages… The keys are codes and are left alone."""

    def dumps(self, obj, **kwargs):
        return super().dumps(rendered(obj) if has_request_context() else obj, **kwargs)


def _finalize(value):
    # Jinja calls this on every {{ … }} before escaping: a Msg (a process's or state's label, a
    # guard message) shows in the user's language; anything else, user data included, as is.
    return text(value) if isinstance(value, Msg) else value


def names(values) -> str:
    """Jinja filter: a list of names joined the way the language lists them ("甲、乙" / "A, B")."""
    return text(NAME_SEP.join(values))


def colon(label) -> str:
    """Jinja filter: a label introducing a value ("监护人：" / "Guardians: ")."""
    return gettext("%(label)s：", label=text(label) if isinstance(label, Msg) else label)


def paren(value) -> str:
    """Jinja filter: a value in brackets the language's way ("（父亲）" / " (father)")."""
    return gettext("（%(x)s）", x=text(value) if isinstance(value, Msg) else value)


def init_labels(app) -> None:
    """Render workflow's Msg values in the user's language wherever they leave the app: in
    templates (Jinja's `finalize`) and in JSON answers (TranslatingJSON); and the `names`, `colon`
    and `paren` filters, so list, label and bracket punctuation follows the language too."""
    app.jinja_env.finalize = _finalize
    app.jinja_env.filters["names"] = names
    app.jinja_env.filters["colon"] = colon
    app.jinja_env.filters["paren"] = paren
    app.json = TranslatingJSON(app)


def error_text(exc: DomainError) -> str:
    """A DomainError's message in the user's language (its `msg`; `message` stays Chinese)."""
    return text(getattr(exc, "msg", exc.message))


def role_label(code: str) -> str:
    """The role's name in the user's language."""
    return translated(ROLE_NAMES, code)
