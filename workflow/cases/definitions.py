"""Process definitions (SPEC §3): the `T` and `Process` data types the process modules fill in,
the shared approval chain builders, and `Ctx`, what guards, checks and effects see.

A `Process` builds its one shared `transitions.Machine` once, at import. The rules that read these
definitions live in `workflow.cases.engine`; the named checks in `workflow.cases.guards`; the
writes in `workflow.cases.effects`; the definitions themselves in `workflow.processes`.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from transitions import Machine

from workflow.access.scope import CENTER_ROLES
from workflow.validation import N_

APPROVAL_STEPS = ("office_approve", "principal_approve", "center_file")
SUBMIT_STEPS = ("submit", "extend")
UNDO_STEPS = ("send_back", "withdraw")
# The acting role of the system: the daily sweep, and effects of one case on another.
SYSTEM_ROLE = "system"
# a history row's comment the system wrote, kept as a message too (errors.msg_to_data) in its
# data under this key: the pages show it in the reader's language; the `comment` column keeps
# its Chinese text for registers and exports
COMMENT_MSG_KEY = "comment_msg"


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
    # the step as a thing to do, for the next-step line ("待%(steps)s", workflow.cases.nextstep)
    # where the label names the outcome rather than the action: 已返校 reads "待已返校", so
    # mark_returned says "孩子返校后登记返校". Empty: the label is used.
    todo: str = ""

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
    # create hooks (see workflow.cases.engine.create_case): locate the student and the case's school;
    # check that the student may have such a case now; write what creating does
    locate: Callable | None = None
    create_check: Callable | None = None
    create_checks: tuple[Callable, ...] = ()
    create_effects: tuple[Callable, ...] = ()
    # the class whose homeroom teacher acts for the case (default: the student's class)
    class_for_roles: Callable | None = None
    # duties(case, today=) -> set of role codes that must act on the open case now (a visit due on
    # the absence ladder, the center school on an overdue monthly report); the queue lists the
    # case for users holding one of them for the case
    duties: Callable | None = None
    # duty_line(case) -> Msg: what a duty holder with no step of their own is to do (the queue's
    # line, workflow.cases.nextstep.next_step), e.g. the center school about an overdue report
    duty_line: Callable | None = None
    # who may ever hold a duty, and in which states (empty: anyone, any state): the queue loads a
    # process's cases for its duties only for users holding one of `duty_roles`, in `duty_states`
    duty_roles: tuple[str, ...] = ()
    duty_states: tuple[str, ...] = ()
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
          when=when, label=N_("教导处审核")),
        T("principal_approve", "office_approved", "approved", roles=("principal",), approval=True,
          when=when, label=N_("校长审批")),
        T("center_file", "approved", filed_state, roles=CENTER_ROLES, approval=True,
          guards=center_file_guards, effects=center_file_effects, when=when, label=N_("中心校备案")),
    ]


def send_back_steps(dest: str = "draft", *, effects=(), when=None) -> list[T]:
    """send_back from each approval state by whoever may approve in that state, with a comment."""
    approvers = {"submitted": ("academic_office",), "office_approved": ("principal",),
                 "approved": CENTER_ROLES}
    return [T("send_back", source, dest, roles=roles, needs_comment=True, effects=effects, when=when,
              label=N_("退回")) for source, roles in approvers.items()]


@dataclass
class Ctx:
    """What guards, checks and effects see: the case, who acts (user None for `system`), the
    parsed request data and the effective date."""

    session: Any
    case: Any
    process: Process
    user: Any = None
    scope: Any = None
    role: str = SYSTEM_ROLE
    data: dict = field(default_factory=dict)
    comment: str | None = None
    effective_date: dt.date | None = None
    today: dt.date | None = None
    transition: T | None = None
    # the role whose blocked approval this user fires in its place (SPEC §3 stand-in), or None
    stand_in_for: str | None = None
    # The engine's `fire_system` and `create_case_system`, set by the engine when it builds the
    # context: effects on other cases go through the engine without importing it (the engine
    # imports the processes, which import the effects).
    fire_system: Callable | None = None
    create_case_system: Callable | None = None

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
