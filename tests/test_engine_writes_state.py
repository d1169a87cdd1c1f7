"""The engine is the one writer of a case's state (SPEC §3): no module of workflow/, admin/ or
bench/ other than the engine and its set-based half assigns `state`, by attribute, `setattr`, a
raw row, or an SQL UPDATE/INSERT's values."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("workflow", "admin", "bench")
ENGINE = {"workflow/cases/engine.py", "workflow/cases/bulk.py"}
# The benchmark generator writes raw rows straight into the tables (a county of fixtures, its
# histories included, in bulk INSERTs): it builds benchmark data, it is not the product.
ALLOWED = {"bench/generate.py"}


def _is_state_key(node: ast.AST | None) -> bool:
    """`"state"` or `<anything>.state`, as a dict key or a subscript."""
    return (isinstance(node, ast.Constant) and node.value == "state") or \
        (isinstance(node, ast.Attribute) and node.attr == "state")


def _targets(node: ast.AST):
    if isinstance(node, ast.Tuple | ast.List):
        for elt in node.elts:
            yield from _targets(elt)
    elif isinstance(node, ast.Starred):
        yield from _targets(node.value)
    else:
        yield node


def state_writes(source: str) -> list[int]:
    """Line numbers in `source` that assign a `state`: `x.state = …` (also augmented, annotated or
    unpacked), `setattr(x, "state", …)`, `row["state"] = …`, and a call of `.values(…)` or
    `.update(…)` (an SQL UPDATE or INSERT, a legacy `Query.update`, a raw row's `dict.update`)
    or of `Case(…)` given `state=…` or a `{"state"/X.state: …}` mapping."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in (t for top in targets for t in _targets(top)):
                if (isinstance(target, ast.Attribute) and target.attr == "state") or \
                        (isinstance(target, ast.Subscript) and _is_state_key(target.slice)):
                    lines.append(node.lineno)
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
            if name == "setattr" and len(node.args) >= 2 and _is_state_key(node.args[1]):
                lines.append(node.lineno)
            elif name in ("values", "update", "Case") and (
                    any(k.arg == "state" for k in node.keywords)
                    or any(isinstance(a, ast.Dict) and any(_is_state_key(k) for k in a.keys) for a in node.args)):
                lines.append(node.lineno)
    return sorted(set(lines))


def test_only_the_engine_assigns_a_case_state():
    found, allowed = [], []
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel in ENGINE:
                continue
            lines = state_writes(path.read_text(encoding="utf-8"))
            if rel in ALLOWED:
                allowed += [rel] if lines else []
            else:
                found += [f"{rel}:{line}" for line in lines]
    assert found == [], "state changes go through workflow.cases.engine (fire, fire_system, create_case…)"
    # an allowed module that stopped writing state leaves the list
    assert allowed == sorted(ALLOWED)


def test_the_detector_flags_every_way_of_assigning_state():
    source = '''
case.state = "approved"
case.state += "x"
a, (b, other.state) = 1, (2, "closed")
setattr(case, "state", "approved")
row["state"] = "closed"
session.execute(update(Case).where(Case.id == 1).values(state="closed"))
session.execute(update(Case.__table__).values({Case.state: "closed"}))
session.query(Case).filter(Case.id == 1).update({"state": "closed"})
row.update(state="closed", is_open=False)
session.add(Case(process="absence", state="visit_3"))
'''
    assert state_writes(source) == list(range(2, 12))


def test_the_detector_leaves_reads_and_other_keys_alone():
    source = '''
state = case.state
if case.state == "open":
    pass
rung = {"state": "visit_1", "day": 1}
rows = select(Case).where(Case.state == "open")
data.update(extending=True)
session.execute(update(Case).values(is_overdue=True))
probe = SimpleNamespace(state="draft")
'''
    assert state_writes(source) == []
