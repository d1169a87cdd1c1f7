"""Domain errors and the messages they carry.

Each error carries the HTTP-ish status the edge maps it to, a `code` clients branch on, and its
message: `message` is the Chinese text (logs, the CLI, code that compares it); `msg` keeps the
catalogue id and values (`Msg`), so the edge (admin/labels.py:text) renders it in the user's
language. workflow never imports Flask-Babel: a message is marked for the catalogue with `N_`
and, when it has values, written `Msg(N_("… %(name)s …"), name=value)` rather than an f-string.
"""
from __future__ import annotations


class Msg(str):
    """A Chinese message that remembers its catalogue id and named values.

    It is the formatted Chinese text (a `str`, so code that joins, compares or logs it keeps
    working) with `msgid` and `params` for the edge to translate. A value may itself be a `Msg`
    (a status's name), translated with it. `Msg.join` keeps the parts of a list of messages
    (the unmet guards), each translated on its own."""

    msgid: str
    params: dict
    parts: tuple = ()
    sep: str = ""
    # the catalogue's msgctxt, for a word that means different things: 休学 the process
    # ("Suspension") and the student's status ("Suspended")
    context: str | None = None

    def __new__(cls, msgid: str, **params) -> Msg:
        obj = super().__new__(cls, msgid % params if params else msgid)
        obj.msgid, obj.params = msgid, params
        if getattr(msgid, "context", None):  # Msg(NP_(…), …) keeps the context
            obj.context = msgid.context
        return obj

    class _Join:
        # `Msg.join(sep, parts)`, and `sep.join(parts)` on a Msg separator (`N_("、").join(…)`),
        # both give a joined Msg; str.join would drop the parts' catalogue ids.
        def __get__(self, obj, cls):
            if obj is None:
                return lambda sep, parts: _joined(cls, sep, parts)
            return lambda parts: _joined(cls, obj, parts)

    join = _Join()


def _joined(cls, sep: str, parts) -> Msg:
    """The parts (messages or plain text) joined by `sep`, each kept for translation."""
    parts = tuple(parts)
    obj = str.__new__(cls, str.join(str(sep), [str(p) for p in parts]))
    obj.msgid, obj.params, obj.parts, obj.sep = str.__str__(obj), {}, parts, sep
    return obj


def N_(msgid: str) -> Msg:
    """Marks a message for the catalogue (pybabel's `N_` keyword): a `Msg` with no values."""
    return Msg(msgid)


def NP_(context: str, msgid: str) -> Msg:
    """Marks a message with a context for the catalogue (keyword `NP_:1c,2` in the Makefile):
    the same Chinese word translated differently where it names a process or an action."""
    msg = Msg(msgid)
    msg.context = context
    return msg


def msg_to_data(value):
    """A message as JSON-able data (`msg_from_data` rebuilds it): stored beside a Chinese text
    the system writes (a history row's comment), so a page can show it in the reader's language
    long after it was written. Plain values (names, numbers, dates) are kept as they are."""
    if not isinstance(value, Msg):
        return value
    if value.parts:
        return {"parts": [msg_to_data(p) for p in value.parts], "sep": str(value.sep)}
    data = {"msgid": value.msgid, "params": {k: msg_to_data(v) for k, v in value.params.items()}}
    if value.context:
        data["context"] = value.context
    return data


def msg_from_data(data):
    """The `Msg` that `msg_to_data` stored (plain values as they are)."""
    if not isinstance(data, dict):
        return data
    if "parts" in data:
        return Msg.join(data.get("sep", ""), [msg_from_data(p) for p in data["parts"]])
    msgid = NP_(data["context"], data["msgid"]) if data.get("context") else data["msgid"]
    return Msg(msgid, **{k: msg_from_data(v) for k, v in (data.get("params") or {}).items()})


# Separators of joined messages, in the catalogue so English gets "; ", ", " and " or ": the
# unmet guards, a list of names (roles, statuses), alternatives (the queue's next actions).
LIST_SEP = N_("；")
NAME_SEP = N_("、")
OR_SEP = N_("或")


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, code: str | None = None, details: dict | None = None, **params):
        """`message`: a Chinese msgid (N_), a `Msg`, or (unmarked) plain Chinese text; `params`
        fill a msgid's `%(name)s` placeholders (as `Msg(message, **params)` would)."""
        msg = Msg(message, **params) if params or not isinstance(message, Msg) else message
        super().__init__(str(msg))
        self.message = str.__str__(msg)
        self.msg = msg
        if code:
            self.code = code
        self.details = details or {}


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Invalid(DomainError):
    """Malformed input: a field missing, of the wrong type, or naming nothing that exists."""

    status = 422
    code = "invalid"


def invalid_field(field: str, message: str, **params) -> Invalid:
    """An Invalid (422) naming the field at fault in `details.field`; `params` fill `message`'s
    placeholders (see DomainError)."""
    return Invalid(message, details={"field": field}, **params)


class Conflict(DomainError):
    """409: stale_version, invalid_state, guard_failed or duplicate (set `code`)."""

    status = 409
    code = "conflict"
