"""Process diagrams and the process reference, generated from the definitions.

`mermaid(name, highlight=None)` is a mermaid `stateDiagram-v2` of a process, with the current
state highlighted when given; `svg(name, highlight=None)` draws it with Graphviz when the
`graphviz` Python package is importable (it is optional: None otherwise, and pages fall back to
the mermaid text or `workflow.diagram_svg`). `processes_markdown()` is docs/processes.md:

    .venv/bin/python -m workflow.diagrams > docs/processes.md
"""
from __future__ import annotations

import importlib

from models import PROCESSES
from workflow.cases.definitions import APPROVAL_STEPS, ROLE_NAMES, SUBMIT_STEPS, Process, T
from workflow.processes import REGISTRY, get_process
from workflow.validation import spec_summary

HIGHLIGHT_STYLE = "fill:#fde68a,stroke:#b45309,stroke-width:3px"


def _process(name: str) -> Process:
    proc = get_process(name)
    if proc is None:
        raise KeyError(name)
    return proc


def _edge_label(t: T) -> str:
    return t.name + (f" [{t.when.__name__}]" if t.when is not None else "")


def _edges(proc: Process) -> dict[tuple[str, str], list[str]]:
    """(source, dest) -> transition labels, in definition order, without repeats."""
    edges: dict[tuple[str, str], list[str]] = {}
    for t in proc.transitions:
        for source in t.sources:
            labels = edges.setdefault((source, t.dest), [])
            if _edge_label(t) not in labels:
                labels.append(_edge_label(t))
    return edges


def mermaid(name: str, highlight: str | None = None) -> str:
    """A mermaid stateDiagram-v2 of process `name`; `highlight` marks one state (e.g. the case's)."""
    proc = _process(name)
    lines = ["stateDiagram-v2"]
    for state in proc.states:
        label = proc.state_labels.get(state)
        lines.append(f'    state "{label} {state}" as {state}' if label else f"    state {state}")
    lines.append(f"    [*] --> {proc.initial}")
    for (source, dest), labels in _edges(proc).items():
        lines.append(f"    {source} --> {dest} : {', '.join(labels)}")
    for state in proc.final_states:
        lines.append(f"    {state} --> [*]")
    if highlight is not None and highlight in proc.states:
        lines.append(f"    classDef current {HIGHLIGHT_STYLE}")
        lines.append(f"    class {highlight} current")
    return "\n".join(lines) + "\n"


def svg(name: str, highlight: str | None = None) -> str | None:
    """The diagram as SVG through Graphviz, or None when the `graphviz` package (and Debian's
    `dot`) is not available."""
    try:
        import graphviz
    except ImportError:
        return None
    proc = _process(name)
    g = graphviz.Digraph(proc.name, graph_attr={"rankdir": "TB"}, node_attr={"shape": "box", "style": "rounded"})
    for state in proc.states:
        attrs = {"style": "rounded,filled", "fillcolor": "#fde68a"} if state == highlight else {}
        g.node(state, f"{proc.state_labels.get(state, state)}\n{state}", **attrs)
    for (source, dest), labels in _edges(proc).items():
        g.edge(source, dest, label=", ".join(labels))
    try:
        return g.pipe(format="svg").decode()
    except Exception:  # the Python package without the `dot` binary
        return None


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
        "Generated from `workflow/processes/*.py` by `python -m workflow.diagrams > docs/processes.md`;",
        "do not edit by hand. SPEC §3 is the source; this is what the code does.",
        "",
        "## Rules common to every process",
        "",
        "- **Checks, in this order** (`workflow.engine.fire`): case not found or out of scope → 404;",
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
            mermaid(proc.name).rstrip(),
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
