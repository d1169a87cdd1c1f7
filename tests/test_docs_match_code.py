"""The README and docs/ name files and functions; every name they give must exist, so that the
layout section and the "where each rule lives" table stay true to the tree."""
from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# `workflow/cases/engine.py:fire` or `admin/boundary.py` (a path, optionally with a top-level name)
PATH_REF = re.compile(r"`((?:workflow|admin|models|bench|tests)/[\w/]+\.py)(?::([\w.]+))?`")
# `workflow.cases.engine.fire` (a dotted module path, optionally ending in a top-level name)
DOTTED_REF = re.compile(r"`((?:workflow|models)(?:\.\w+)+)`")


def defined_names(path: Path) -> set[str]:
    """Top-level functions, classes and assigned names of a module, and `Class.method` pairs."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
            if isinstance(node, ast.ClassDef):
                names.update(f"{node.name}.{n.name}" for n in node.body
                             if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def broken_refs(text: str, root: Path = ROOT) -> list[str]:
    """Every `path.py[:name]` and `dotted.module[.name]` reference in `text` that names nothing."""
    bad = []
    for path, name in PATH_REF.findall(text):
        file = root / path
        if not file.is_file():
            bad.append(f"{path}: no such file")
        elif name and name not in defined_names(file):
            bad.append(f"{path}:{name}: not defined there")
    for dotted in DOTTED_REF.findall(text):
        parts = dotted.split(".")
        # the longest prefix that is a module file or package, then at most one name in it
        for cut in range(len(parts), 0, -1):
            base = root.joinpath(*parts[:cut])
            file = base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"
            if file.is_file():
                rest = parts[cut:]
                if len(rest) > 2 or (rest and ".".join(rest) not in defined_names(file)):
                    bad.append(f"{dotted}: {'.'.join(rest)} not defined in {file.relative_to(root)}")
                break
        else:
            bad.append(f"{dotted}: no such module")
    return bad


def test_the_checker_finds_a_missing_file_and_a_missing_function(tmp_path):
    pkg = tmp_path / "workflow" / "cases"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "engine.py").write_text("def fire():\n    pass\n")
    text = ("`workflow/cases/engine.py:fire` `workflow/cases/engine.py:gone` `workflow/nope.py` "
            "`workflow.cases.engine.fire` `workflow.cases.engine.gone` `workflow.nothing`")
    assert broken_refs(text, tmp_path) == [
        "workflow/cases/engine.py:gone: not defined there",
        "workflow/nope.py: no such file",
        "workflow.cases.engine.gone: gone not defined in workflow/cases/engine.py",
        "workflow.nothing: no such module",
    ]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_file_and_function_a_doc_names_exists(doc):
    assert broken_refs(doc.read_text(encoding="utf-8")) == []


def test_the_readme_layout_lists_every_area_of_workflow():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme.split("## Project layout", 1)[1].split("\n## ", 1)[0]
    areas = sorted(p.name for p in (ROOT / "workflow").iterdir()
                   if p.is_dir() and (p / "__init__.py").is_file())
    # the indented lines under `workflow/`, up to the next top-level entry
    block = layout.split("\nworkflow/", 1)[1].split("\n")[1:]
    block = block[:next(i for i, line in enumerate(block) if line and not line.startswith(" "))]
    listed = sorted({m.group(1) for line in block if (m := re.match(r"^ {2}(\w+)/", line))})
    assert listed == areas
    # and each area's package imports (the layout is a real tree, not a picture)
    for area in areas:
        importlib.import_module(f"workflow.{area}")
