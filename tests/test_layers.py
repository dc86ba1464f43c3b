"""The layering of architecture.md, read from the code's own imports (ast): no arrow up, no circle.

Every import counts, wherever it stands: at the top, inside a function, under `TYPE_CHECKING`. A
lazy import hides a circle from Python at start-up, not from the reader, so it is no way out: the
way out is to move the shared piece down into a module both sides may import.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_LOWEST = frozenset({"domain"})
_DATA = frozenset({"domain", "store", "email_templates"})
_SERVICE = _DATA | {"core"}
_TOOLS = frozenset(
    {"domain", "store", "email_templates", "core", "activities", "workflows", "app", "api"}
    | {"worker", "devstack"}
)
# What each top-level package may import besides itself (architecture.md, "Arrows").
ALLOWED: dict[str, frozenset[str]] = {
    "domain": frozenset(),
    "store": _LOWEST,
    "email_templates": _LOWEST,
    "core": _LOWEST | {"store"},
    "activities": _SERVICE,
    # Workflows name their activities' methods and input models (execute_activity_method, style
    # rule 3), passed through the sandbox; nothing with I/O of its own.
    "workflows": _LOWEST | {"activities"},
    # Application functions start and message workflows through the Temporal client, and a
    # person's company look-up uses the workers' registry client (activities/registry.py), so
    # both spend one fleet-wide budget.
    "app": _SERVICE | {"workflows", "activities"},
    "api": _SERVICE | {"workflows", "app"},
    "worker": _SERVICE | {"workflows", "activities"},
    "devstack": _SERVICE,
    # Thin clients of everything below them: the command line and the benchmarks.
    "cli": _TOOLS,
    "bench": _TOOLS,
}


def _modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the packages above."""
    found: dict[str, Path] = {}
    for package in ALLOWED:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imported(name: str, path: Path, modules: dict[str, Path]) -> Iterator[str]:
    """The project modules `path` (module `name`) imports, each resolved to its own file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import mod` imports the module pkg.mod; `from pkg import name`, pkg.
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target


def _graph(root: Path) -> dict[str, set[str]]:
    modules = _modules(root)
    return {name: set(_imported(name, path, modules)) for name, path in modules.items()}


def arrows_up(root: Path) -> list[str]:
    """Each import of a package its own package may not import, as `module -> module`."""
    found = []
    for name, targets in _graph(root).items():
        room = name.split(".")[0]
        for target in sorted(targets):
            other = target.split(".")[0]
            if other != room and other not in ALLOWED[room]:
                found.append(f"{name} -> {target}")
    return sorted(found)


def circles(root: Path) -> list[list[str]]:
    """The modules that import each other in a loop (strongly connected components, Tarjan)."""
    graph = _graph(root)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_imports_point_down_the_layers() -> None:
    """No module imports a package above its own (nothing imports api/ or worker/, core/ imports
    neither app/ nor workflows/, workflows/ only domain/ and their activities)."""
    assert arrows_up(ROOT) == []


def test_modules_import_no_circle() -> None:
    """No two modules import each other, directly or round a loop, even lazily."""
    assert circles(ROOT) == []


def test_layer_check_finds_a_planted_arrow_up_and_circle(tmp_path: Path) -> None:
    """The checks above see a lazy circle and an arrow up in a tree made to have them."""
    for package in ALLOWED:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "core" / "a.py").write_text("def f() -> None:\n    from core import b\n")
    (tmp_path / "core" / "b.py").write_text("from .a import f\nfrom api.main import app\n")
    (tmp_path / "api" / "main.py").write_text("from core.b import f\n")

    assert arrows_up(tmp_path) == ["core.b -> api.main"]
    assert circles(tmp_path) == [["api.main", "core.a", "core.b"]]
