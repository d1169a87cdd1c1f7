"""Imports flow one way: admin → workflow → models. Read from the source with `ast`, imports
inside functions included: `workflow/` and `models/` never import Flask or `admin`, `models/`
never imports `workflow`, only the demo imports the demo, and no modules of `workflow/` import
each other round a circle.

Each test first runs its check on a small synthetic tree that breaks the rule, so a check that
cannot fail does not pass unnoticed."""
from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _ctx():
    """Overrides the conftest's: these tests read source files, not the database."""
    yield


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_files(root: Path, package: str) -> list[Path]:
    return sorted((root / package).rglob("*.py"))


def import_statements(path: Path, root: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, names) for every import anywhere in `path`, inside functions too: `import
    a.b` is (n, "a.b", []), `from a import b, c` is (n, "a", ["b", "c"]) — b may be a module or a
    name in a —, relative imports resolved to absolute names."""
    module = module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{node.module}" if node.module else anchor
            found.append((node.lineno, base, [alias.name for alias in node.names]))
    return sorted(found)


def _is_under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def forbidden_imports(root: Path, packages: tuple[str, ...], banned: Callable[[str], bool],
                      exempt: str | None = None) -> list[str]:
    """`file:line module` for every import of a `banned` module by a module of `packages` (those
    of the package `exempt` excepted)."""
    found = []
    for package in packages:
        for path in source_files(root, package):
            if exempt and _is_under(module_name(path, root), exempt):
                continue
            for line, module, names in import_statements(path, root):
                hits = [module] if banned(module) else [f"{module}.{n}" for n in names
                                                        if banned(f"{module}.{n}")]
                found += [f"{path.relative_to(root)}:{line} {hit}" for hit in hits]
    return found


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module → the modules of `package` it imports: `from a import b` imports module a.b when
    there is one, else module a."""
    files = {module_name(p, root) for p in source_files(root, package)}
    graph: dict[str, set[str]] = {}
    for path in source_files(root, package):
        module = module_name(path, root)
        targets = set()
        for _line, base, names in import_statements(path, root):
            submodules = {f"{base}.{n}" for n in names} & files
            targets |= submodules
            if not names or len(submodules) < len(names):
                targets.add(base)
        graph[module] = (targets & files) - {module}
    return graph


def _groups(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of two or more modules that import each other (strongly connected components,
    Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = stack[stack.index(node):]
            del stack[stack.index(node):]
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def _circle(start: str, graph: dict[str, set[str]]) -> list[str]:
    """A shortest circle of imports from `start` back to it (breadth first)."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node]):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), start]
                if nxt not in came_from:
                    came_from[nxt] = node
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"{start} is in no circle")


def import_cycles(root: Path, package: str) -> list[str]:
    """One circle per group of `package`'s modules that import each other, as files:
    `a.py → b.py → a.py`."""
    graph = import_graph(root, package)

    def as_file(module: str) -> str:
        path = root.joinpath(*module.split("."))
        return str((path / "__init__.py" if path.is_dir() else path.with_suffix(".py")).relative_to(root))

    return [" → ".join(as_file(m) for m in _circle(group[0], graph)) for group in _groups(graph)]


def _flask(name: str) -> bool:
    return _is_under(name, "flask") or name.startswith("flask_")


def _admin(name: str) -> bool:
    return _is_under(name, "admin")


def _workflow(name: str) -> bool:
    return _is_under(name, "workflow")


def _demo(name: str) -> bool:
    return _is_under(name, "workflow.demo")


@pytest.fixture(scope="module")
def bad_tree(tmp_path_factory) -> Path:
    """A synthetic source tree that breaks every rule once."""
    root = tmp_path_factory.mktemp("layering")
    files = {
        "models/__init__.py": "",
        "models/people.py": "def f():\n    from workflow import clock\n",
        "models/labels.py": "from flask_babel import lazy_gettext\n",
        "workflow/__init__.py": "",
        "workflow/clock.py": "",
        "workflow/cases/__init__.py": "",
        "workflow/cases/engine.py": "from workflow.cases import effects\nfrom ..demo.township import build\n",
        "workflow/cases/effects.py": "def later():\n    from . import guards\n",
        "workflow/cases/guards.py": "import workflow.cases.engine\nfrom flask import g\n",
        "workflow/cases/queue.py": "from admin.api.util import validate\n",
        "workflow/demo/__init__.py": "",
        "workflow/demo/township.py": "from workflow.demo import cases\n",
        "workflow/demo/cases.py": "from workflow import clock\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def test_only_the_demo_imports_the_demo(bad_tree):
    assert forbidden_imports(bad_tree, ("workflow",), _demo, exempt="workflow.demo") == [
        "workflow/cases/engine.py:2 workflow.demo.township"]
    assert forbidden_imports(ROOT, ("workflow",), _demo, exempt="workflow.demo") == []


def test_models_and_workflow_never_import_flask(bad_tree):
    assert forbidden_imports(bad_tree, ("models", "workflow"), _flask) == [
        "models/labels.py:1 flask_babel", "workflow/cases/guards.py:2 flask"]
    assert forbidden_imports(ROOT, ("models", "workflow"), _flask) == []


def test_models_and_workflow_never_import_admin(bad_tree):
    assert forbidden_imports(bad_tree, ("models", "workflow"), _admin) == [
        "workflow/cases/queue.py:1 admin.api.util"]
    assert forbidden_imports(ROOT, ("models", "workflow"), _admin) == []


def test_models_never_import_workflow(bad_tree):
    assert forbidden_imports(bad_tree, ("models",), _workflow) == ["models/people.py:2 workflow"]
    assert forbidden_imports(ROOT, ("models",), _workflow) == []


def test_no_import_cycle_between_modules_of_workflow(bad_tree):
    # engine → effects → (inside a function, relative) guards → engine; the demo's modules
    # import each other one way only.
    assert import_cycles(bad_tree, "workflow") == [
        "workflow/cases/effects.py → workflow/cases/guards.py → workflow/cases/engine.py"
        " → workflow/cases/effects.py"]
    assert import_cycles(ROOT, "workflow") == []
