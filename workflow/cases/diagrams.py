"""Process diagrams and the process reference, generated from the definitions.

`mermaid(process, highlight=None)` is a mermaid `stateDiagram-v2` of a process, with one state
(the case's) highlighted when given: the API's case detail and docs/processes.md show it. The
case page draws the same edges as SVG (`workflow.cases.diagram_svg`). `processes_markdown()` is
docs/processes.md:

    .venv/bin/python -m workflow.cases.diagrams > docs/processes.md
"""
from __future__ import annotations

import importlib
from collections.abc import Callable

from models import PROCESSES
from workflow.access.permissions import STAND_IN_ROLES
from workflow.access.scope import ROLE_NAMES
from workflow.cases.definitions import APPROVAL_STEPS, SUBMIT_STEPS, Process, T
from workflow.processes import REGISTRY, get_process
from workflow.validation import spec_summary

HIGHLIGHT_STYLE = "fill:#fde68a,stroke:#b45309,stroke-width:3px"


def _process(process: str | Process) -> Process:
    proc = get_process(process) if isinstance(process, str) else process
    if proc is None:
        raise KeyError(process)
    return proc


def edges(proc: Process, label: Callable[[T], str]) -> dict[tuple[str, str], list[str]]:
    """(source, dest) -> the `label`s of the transitions along it, in definition order, without
    repeats (a transition from several states is an edge from each)."""
    out: dict[tuple[str, str], list[str]] = {}
    for t in proc.transitions:
        for source in t.sources:
            labels = out.setdefault((source, t.dest), [])
            if label(t) not in labels:
                labels.append(label(t))
    return out


def _edge_label(t: T) -> str:
    """`提交 submit`: the Chinese label for people, the name for the API and the code."""
    text = f"{t.label} {t.name}" if t.label else t.name
    return text + (f" [{t.when.__name__}]" if t.when is not None else "")


def mermaid(process: str | Process, highlight: str | None = None) -> str:
    """A mermaid stateDiagram-v2 of `process` (a name or a Process); `highlight` marks one
    state (the case's). Raises KeyError for an unknown process name."""
    proc = _process(process)
    lines = ["stateDiagram-v2"]
    for state in proc.states:
        label = proc.state_labels.get(state)
        lines.append(f'    state "{label} {state}" as {state}' if label else f"    state {state}")
    lines.append(f"    [*] --> {proc.initial}")
    for (source, dest), labels in edges(proc, _edge_label).items():
        lines.append(f"    {source} --> {dest} : {', '.join(labels)}")
    for state in proc.final_states:
        lines.append(f"    {state} --> [*]")
    if highlight is not None and highlight in proc.states:
        lines.append(f"    classDef current {HIGHLIGHT_STYLE}")
        lines.append(f"    class {highlight} current")
    return "\n".join(lines)


def _roles(roles) -> str:
    return "、".join(f"{ROLE_NAMES.get(r, r)}（{r}）" for r in roles) or "仅系统（system）"


def _needs(t: T) -> str:
    parts = []
    required = spec_summary(t.data_spec)
    if required:
        parts.append(f"data: {required}")
    if t.needs_comment:
        parts.append("意见（comment）必填")
    parts += [(g.__doc__ or g.__name__).strip().splitlines()[0] for g in t.guards]
    return "；".join(parts) or "—"


def _effects(t: T) -> str:
    return "；".join((e.__doc__ or e.__name__).strip().splitlines()[0] for e in t.effects) or "—"


def transition_table(name: str) -> str:
    proc = _process(name)
    rows = ["| 操作 transition | 从 → 到 | 谁 | 需要 | 结果 | 审批步骤 |", "|---|---|---|---|---|---|"]
    for t in proc.transitions:
        when = f"（仅当 {t.when.__name__}）" if t.when is not None else ""
        rows.append(f"| `{t.name}`{when} | {'/'.join(t.sources)} → {t.dest} | {_roles(t.roles)} | "
                    f"{_needs(t)} | {_effects(t)} | {'是' if t.approval else ''} |")
    return "\n".join(rows)


def processes_markdown() -> str:
    """docs/processes.md: every process's diagram and table, and the rules common to all."""
    out = [
        "# 流程 Processes",
        "",
        "Generated from `workflow/processes/*.py` by `python -m workflow.cases.diagrams > docs/processes.md`;",
        "do not edit by hand. SPEC §3 is the source; this is what the code does.",
        "",
        "## Rules common to every process",
        "",
        "- **Checks, in this order** (`workflow.cases.engine.fire`): case not found or out of scope → 404;",
        "  unknown transition → 404 `unknown_transition`; malformed body (data not an object,",
        "  unknown keys, wrong types, ids naming nothing usable, `data.date` in the future, a",
        "  required comment missing) → 422; the user holds none of the transition's roles *for this",
        "  case* → 403 `role_forbidden`; separation of duties → 403 `separation_of_duties`; stale",
        "  `version` → 409 `stale_version`; not allowed from the current state → 409",
        "  `invalid_state`; guards unmet → 409 `guard_failed` (every unmet message, joined;",
        "  `details.unmet` lists them).",
        f"- **Separation of duties**: the approval steps are {', '.join(f'`{s}`' for s in APPROVAL_STEPS)}.",
        f"  The user who fired the latest {' or '.join(f'`{s}`' for s in SUBMIT_STEPS)} of a case may not",
        "  fire the first approval step after it (the one that reviews their submission); the later",
        "  approval steps and every processing step (`verify_paperwork`, `settle_fees`, `re_enroll`,",
        "  `accept`, …) they may fire. After `send_back` and a new `submit`, the new submitter is the",
        "  one barred. The system (`fire_system`) is never barred.",
        "- **Stand-in for a blocked approval** (`workflow.cases.engine.stand_in`): when separation of",
        "  duties leaves nobody — no active user but the submitter holds the blocked step's role at the",
        "  case's school (the village school's only academic office submitted) — the holder of the next",
        "  approval role fires it in its place: "
        + "; ".join(f"`{step}` by {', '.join(f'`{r}`' for r in roles)}" for step, roles in STAND_IN_ROLES.items())
        + ". The history row records the acting role and `data.stand_in_for` (the role stood in for);",
        "  the case page says so on the step and in the record. The submitter never stands in.",
        "- **Effective date**: a transition may carry `data.date` (YYYY-MM-DD), the day it took effect;",
        "  it defaults to today (Asia/Shanghai) and may not be in the future (422). History rows",
        "  and enrolment periods use it; figures count by it, not by the clock.",
        "- **History**: creating a case writes a `create` row; every fired transition appends one",
        "  row (transition, from, to, user, acting role — `system` for the sweep and for effects of",
        "  one case on another —, time, effective date, comment, data). Rows are never changed.",
        "- **Who acts for whose student**: homeroom teacher of the student's class (for `transfer_in`",
        "  of the chosen class, for `return` of the class the child sits in); principal and academic",
        "  office of the case's school; center office and center head of that school's center",
        "  school. County supervisors and admins fire nothing.",
        "- **One open case per student and process** (一人一案): opening a second → 409 `duplicate`.",
        "- **Version**: every fire raises the case's `version` (at least by one); send the new one.",
        "- **Atomicity**: the engine never commits; a failure anywhere (an effect included) is",
        "  rolled back by the caller with the state and the history.",
        "",
    ]
    for proc in sorted(REGISTRY.values(), key=lambda p: PROCESSES.index(p.name)):
        out += [
            f"## `{proc.name}` — {proc.label}",
            "",
            f"Opened by: {_roles(proc.create_roles)}; data: {spec_summary(proc.create_data_spec) or '—'}"
            " (* = required). Closed states: " + ", ".join(f"`{s}`" for s in proc.final_states) + ".",
            "",
            "```mermaid",
            mermaid(proc),
            "```",
            "",
            transition_table(proc.name),
            "",
        ]
        doc = importlib.import_module(f"workflow.processes.{_module_name(proc.name)}").__doc__ or ""
        body = "\n".join(doc.strip().splitlines()[1:]).strip()
        if body:
            out += [body, ""]
    return "\n".join(out)


def _module_name(process: str) -> str:
    return "return_" if process == "return" else process


if __name__ == "__main__":
    print(processes_markdown(), end="")
