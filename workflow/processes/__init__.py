"""Processes as data (SPEC §3): states, transitions, who may fire them, what they need and do.

A process module is one screen of plain data: it defines `PROCESS = Process(...)` and nothing
else of substance. Every module of this package that defines `PROCESS` is registered at import
(`REGISTRY`), so adding a process (e.g. `absence`) is adding one module. The rules that read
these definitions live in `workflow.engine`; the named checks in `workflow.guards`; the writes in
`workflow.effects`.

Data specs (`T.data_spec`, `Process.create_data_spec`) map a key to a type: `str`, `int`,
`bool`, `dt.date` (an ISO string `YYYY-MM-DD` in JSON), `list[int]`, `list[str]`, `dict` (any
object), a nested spec `{key: type}`, `OneOf(choices)`, or `Req(type)` for a required key.
"""
from __future__ import annotations

import datetime as dt
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from transitions import Machine

from ..errors import Invalid

APPROVAL_STEPS = ("office_approve", "principal_approve", "center_file")
SUBMIT_STEPS = ("submit", "extend")
UNDO_STEPS = ("send_back", "withdraw")

ROLE_NAMES = {
    "center_head": "中心校长",
    "center_office": "中心校教导主任",
    "principal": "校长",
    "academic_office": "教导处",
    "homeroom_teacher": "班主任",
    "subject_teacher": "科任教师",
    "team_member": "控辍小组成员",
    "village_liaison": "村委联络员",
    "system": "系统",
}
CENTER_ROLES = ("center_office", "center_head")


# --- data specs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Req:
    """A required key of a data spec."""

    kind: Any


@dataclass(frozen=True)
class OneOf:
    """A string that must be one of `choices`."""

    choices: tuple


def _type_name(kind) -> str:
    if isinstance(kind, Req):
        return _type_name(kind.kind)
    if isinstance(kind, OneOf):
        return " | ".join(kind.choices)
    if isinstance(kind, dict):
        return "{" + ", ".join(f"{k}: {_type_name(v)}" for k, v in kind.items()) + "}"
    return {str: "字符串", int: "整数", bool: "true/false", dt.date: "日期", dict: "对象"}.get(
        kind, str(kind).replace("list[int]", "整数列表").replace("list[str]", "字符串列表"))


def spec_summary(spec: dict) -> str:
    """`key*: type` for the docs; * marks a required key."""
    return ", ".join(f"{k}{'*' if isinstance(v, Req) else ''}" for k, v in spec.items())


def _bad(name: str, message: str) -> Invalid:
    return Invalid(message, details={"field": name})


def _convert(name: str, kind, value):
    if isinstance(kind, Req):
        kind = kind.kind
    if value is None:
        raise _bad(name, f"字段 {name} 不能为空")
    if isinstance(kind, OneOf):
        if value not in kind.choices:
            raise _bad(name, f"字段 {name} 必须是以下之一：{', '.join(kind.choices)}")
        return value
    if isinstance(kind, dict):
        if not isinstance(value, dict):
            raise _bad(name, f"字段 {name} 必须是对象")
        return check_data(value, kind, prefix=f"{name}.")
    if kind is str:
        if not isinstance(value, str) or not value.strip():
            raise _bad(name, f"字段 {name} 必须是非空字符串")
        if len(value) > 2000:
            raise _bad(name, f"字段 {name} 超过 2000 个字符")
        return value.strip()
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad(name, f"字段 {name} 必须是整数")
        return value
    if kind is bool:
        if not isinstance(value, bool):
            raise _bad(name, f"字段 {name} 必须是 true 或 false")
        return value
    if kind is dt.date:
        try:
            parsed = dt.date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
        except ValueError:
            parsed = None
        if parsed is None:
            raise _bad(name, f"字段 {name} 必须是有效日期（YYYY-MM-DD）")
        return parsed
    if kind is dict:
        if not isinstance(value, dict):
            raise _bad(name, f"字段 {name} 必须是对象")
        return value
    if kind in (list[int], list[str], list[dict]):
        item = kind.__args__[0]
        if not isinstance(value, list):
            raise _bad(name, f"字段 {name} 必须是列表")
        if item is dict:
            if not all(isinstance(v, dict) for v in value):
                raise _bad(name, f"字段 {name} 的每一项必须是对象")
            return value
        return [_convert(f"{name}[{i}]", item, v) for i, v in enumerate(value)]
    raise TypeError(f"unsupported spec type for {name}: {kind!r}")


def check_data(data, spec: dict, prefix: str = "data.") -> dict:
    """Validate `data` against `spec`: not an object, unknown keys, missing required keys and
    wrong types raise Invalid (422) naming the field. Returns the converted values."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise _bad(prefix.rstrip("."), f"字段 {prefix.rstrip('.')} 必须是对象")
    unknown = sorted(set(data) - set(spec))
    if unknown:
        raise Invalid(f"未知字段：{prefix}{unknown[0]}", code="unknown_field",
                      details={"field": prefix + unknown[0]})
    out = {}
    for key, kind in spec.items():
        if key not in data:
            if isinstance(kind, Req):
                raise _bad(prefix + key, f"缺少必填字段：{prefix}{key}")
            continue
        out[key] = _convert(prefix + key, kind, data[key])
    return out


def jsonable(value):
    """Parsed data back to what a JSON column stores (dates as ISO strings)."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


# --- definitions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class T:
    """One transition. Several `T` may share a name: the one whose `sources` hold the case's
    state (and whose `when(case)` holds, if set) is the one that fires."""

    name: str
    sources: tuple[str, ...]
    dest: str
    roles: tuple[str, ...] = ()
    guards: tuple[Callable, ...] = ()
    effects: tuple[Callable, ...] = ()
    approval: bool = False
    data_spec: dict = field(default_factory=dict)
    needs_comment: bool = False
    # input checks that need the database (a class of the case's school...): raise Invalid
    checks: tuple[Callable, ...] = ()
    # keys of the request data copied into case.data before the state changes
    merge_keys: tuple[str, ...] = ()
    when: Callable | None = None
    label: str = ""

    def __post_init__(self):
        if isinstance(self.sources, str):
            object.__setattr__(self, "sources", (self.sources,))
        if self.approval != (self.name in APPROVAL_STEPS):
            raise ValueError(f"{self.name}: approval steps are exactly {APPROVAL_STEPS}")

    def applies(self, case) -> bool:
        return case.state in self.sources and (self.when is None or bool(self.when(case)))


@dataclass
class Process:
    """A process definition and its one shared `transitions.Machine` (built here, once)."""

    name: str
    label: str
    states: tuple[str, ...]
    initial: str
    final_states: tuple[str, ...]
    transitions: list[T]
    create_roles: tuple[str, ...]
    create_data_spec: dict = field(default_factory=dict)
    state_labels: dict = field(default_factory=dict)
    # create hooks (see workflow.engine.create_case): locate the student and the case's school;
    # check that the student may have such a case now; write what creating does
    locate: Callable | None = None
    create_check: Callable | None = None
    create_checks: tuple[Callable, ...] = ()
    create_effects: tuple[Callable, ...] = ()
    # the class whose homeroom teacher acts for the case (default: the student's class)
    class_for_roles: Callable | None = None
    # duties(case) -> set of role codes that must act on the open case now (e.g. a visit due on
    # the absence ladder); the queue lists the case for users holding one of them for the case
    duties: Callable | None = None
    machine: Machine = field(init=False, repr=False)

    def __post_init__(self):
        names = set(self.states)
        for t in self.transitions:
            unknown = (set(t.sources) | {t.dest}) - names
            if unknown:
                raise ValueError(f"{self.name}.{t.name}: unknown states {unknown}")
        if self.initial not in names or not set(self.final_states) <= names:
            raise ValueError(f"{self.name}: bad initial or final states")
        # The engine validates a request before it knows which same-named T applies.
        for t in self.transitions:
            first = self.named(t.name)[0]
            same = ("data_spec", "needs_comment", "approval", "checks", "merge_keys")
            if any(getattr(t, a) != getattr(first, a) for a in same):
                raise ValueError(f"{self.name}.{t.name}: same-named transitions must share {same}")
        self.machine = Machine(
            model=None,
            states=list(self.states),
            transitions=[self._machine_transition(t) for t in self.transitions],
            initial=self.initial,
            auto_transitions=False,
            model_attribute="state",
            send_event=True,
            queued=False,
        )

    @staticmethod
    def _machine_transition(t: T) -> dict:
        d = {"trigger": t.name, "source": list(t.sources), "dest": t.dest}
        if t.when is not None:
            # The engine picks the same T before triggering; the condition makes the machine agree.
            when = t.when
            d["conditions"] = [lambda event: bool(when(event.model))]
        return d

    @property
    def transition_names(self) -> list[str]:
        """Names in definition order, with the steps that undo (send back, withdraw) last: pages
        and the API list the forward step first whatever order the definitions are written in."""
        seen: dict[str, None] = {}
        for t in self.transitions:
            seen.setdefault(t.name)
        return sorted(seen, key=lambda name: name in UNDO_STEPS)

    def label_of(self, name: str) -> str:
        """The transition's label, from its ordinary definition (not a conditional variant such as
        suspension's extension round), so history and buttons read the same for every case."""
        named = self.named(name)
        plain = [t for t in named if t.when is None] or named
        return (plain[0].label if plain and plain[0].label else name)

    def named(self, name: str) -> list[T]:
        return [t for t in self.transitions if t.name == name]

    def applicable(self, name: str, case) -> T | None:
        """The transition `name` fires from the case's current state, or None."""
        for t in self.transitions:
            if t.name == name and t.applies(case):
                return t
        return None

    def is_final(self, state: str) -> bool:
        return state in self.final_states


def approval_steps(filed_state: str, *, center_file_guards=(), center_file_effects=(), when=None) -> list[T]:
    """office_approve → principal_approve → center_file (SPEC §3.2, shared by transfer_out)."""
    return [
        T("office_approve", "submitted", "office_approved", roles=("academic_office",), approval=True,
          when=when, label="教导处审核"),
        T("principal_approve", "office_approved", "approved", roles=("principal",), approval=True,
          when=when, label="校长审批"),
        T("center_file", "approved", filed_state, roles=CENTER_ROLES, approval=True,
          guards=center_file_guards, effects=center_file_effects, when=when, label="中心校备案"),
    ]


def send_back_steps(dest: str = "draft", *, effects=(), when=None) -> list[T]:
    """send_back from each approval state by whoever may approve in that state, with a comment."""
    approvers = {"submitted": ("academic_office",), "office_approved": ("principal",),
                 "approved": CENTER_ROLES}
    return [T("send_back", source, dest, roles=roles, needs_comment=True, effects=effects, when=when,
              label="退回") for source, roles in approvers.items()]


@dataclass
class Ctx:
    """What guards, checks and effects see: the case, who acts (user None for `system`), the
    parsed request data and the effective date."""

    session: Any
    case: Any
    process: Process
    user: Any = None
    scope: Any = None
    role: str = "system"
    data: dict = field(default_factory=dict)
    comment: str | None = None
    effective_date: dt.date | None = None
    today: dt.date | None = None
    transition: T | None = None

    @property
    def student(self):
        return self.case.student

    def get(self, key: str, default=None):
        """The request's value for `key`, else the case's stored one."""
        if key in self.data:
            return self.data[key]
        return (self.case.data or {}).get(key, default)

    def date(self, key: str) -> dt.date | None:
        value = self.get(key)
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                return None
        return value if isinstance(value, dt.date) else None


REGISTRY: dict[str, Process] = {}


def get_process(name: str) -> Process | None:
    return REGISTRY.get(name)


def _discover() -> None:
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        proc = getattr(module, "PROCESS", None)
        if isinstance(proc, Process):
            REGISTRY[proc.name] = proc


_discover()
