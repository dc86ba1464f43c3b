"""How settings reach the code, read from the code itself (ast): one way in, one way to a config.

- `Settings()` (from the environment) is constructed in core/entry.py only: each process's entry
  point (the command line, `python -m devstack.dev`, a benchmark's worker) reads them there, with
  logging set up from them, and passes them down. Tests and benchmarks that start a stack of their
  own name its settings (`Settings(env=..., database_url=...)`).
- Settings become a config object one way: a `from_settings(settings)` classmethod on the
  config's own class. A value of domain/, whose module may not import core/ (tests/test_layers.py),
  is a method of `Settings` itself (`onboarding_timeouts()`, `import_limits()`). Nowhere else is
  one of the project's objects, or a dict, made of settings alone (two or more, read field by
  field, with literals at most): a service's constructor may take a setting among its other
  dependencies (`InvitationActivities(email, secret_key=...)`), a log line's `extra` may name some.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    *("domain", "store", "core", "activities", "workflows", "app", "api", "worker", "cli"),
    *("devstack", "bench", "email_templates"),
)
ENTRY = "core/entry.py"
SETTINGS = "core/settings.py"
BUILDER = "from_settings"


def _files(root: Path) -> Iterator[tuple[str, ast.Module]]:
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            yield rel, ast.parse(path.read_text(encoding="utf-8"), filename=rel)


def _project_classes(root: Path) -> frozenset[str]:
    return frozenset(
        node.name
        for _, tree in _files(root)
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
    )


def _callee(call: ast.Call) -> str:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return ""


def _is_settings(node: ast.expr) -> bool:
    """`settings` or `<anything>.settings` (services.settings, self.settings)."""
    return (isinstance(node, ast.Name) and node.id == "settings") or (
        isinstance(node, ast.Attribute) and node.attr == "settings"
    )


def _reads_a_setting(node: ast.AST) -> bool:
    """Whether `node` reads a settings field (`settings.x`, `str(settings.x)`); a call of one of
    Settings' own builders (`settings.import_limits()`) is the one way, not a field read."""
    called = {id(n.func) for n in ast.walk(node) if isinstance(n, ast.Call)}
    return any(
        isinstance(inner, ast.Attribute) and _is_settings(inner.value) and id(inner) not in called
        for inner in ast.walk(node)
    )


def _settings_alone(values: list[ast.expr]) -> bool:
    """Two or more settings fields and nothing else but literals."""
    reads = [v for v in values if _reads_a_setting(v)]
    rest = [v for v in values if not _reads_a_setting(v)]
    return len(reads) >= 2 and all(isinstance(v, ast.Constant) for v in rest)


class _Scan(ast.NodeVisitor):
    def __init__(self, rel: str, classes: frozenset[str]) -> None:
        self.rel = rel
        self.classes = classes
        self.functions: list[str] = []
        self.found: list[str] = []
        self.log_fields: set[int] = set()  # ids of the `extra={...}` dicts of log calls

    def _inside_builder(self) -> bool:
        # Settings' own methods build domain values; from_settings builds everything else.
        return (self.rel == SETTINGS and bool(self.functions)) or BUILDER in self.functions

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.functions.append(node.name)
        self.generic_visit(node)
        self.functions.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Call(self, node: ast.Call) -> None:
        name = _callee(node)
        where = f"{self.rel}:{node.lineno}"
        arguments = [*node.args, *(k.value for k in node.keywords)]
        self.log_fields |= {id(k.value) for k in node.keywords if k.arg == "extra"}
        if name == "Settings" and not arguments and self.rel != ENTRY:
            self.found.append(f"{where} constructs Settings()")
        elif name in self.classes and not self._inside_builder() and _settings_alone(arguments):
            self.found.append(f"{where} builds {name} from settings")
        self.generic_visit(node)

    def visit_Dict(self, node: ast.Dict) -> None:
        values = [v for k, v in zip(node.keys, node.values, strict=True) if k is not None]
        if (
            id(node) not in self.log_fields
            and not self._inside_builder()
            and len(values) == len(node.values)  # no **spread of other values
            and _settings_alone(values)
        ):
            self.found.append(f"{self.rel}:{node.lineno} builds a dict of settings")
        self.generic_visit(node)


def settings_reached_otherwise(root: Path) -> list[str]:
    """Each place settings are read from the environment, or turned into a config object,
    otherwise than the one way."""
    classes = _project_classes(root)
    found: list[str] = []
    for rel, tree in _files(root):
        scan = _Scan(rel, classes)
        scan.visit(tree)
        found += scan.found
    return found


def test_settings_are_read_at_the_entry_and_built_one_way() -> None:
    """`Settings()` only in core/entry.py; config objects only through `from_settings` (or, for
    domain values, a method of Settings)."""
    assert settings_reached_otherwise(ROOT) == []


def test_settings_check_finds_a_planted_read_and_config(tmp_path: Path) -> None:
    """The check above sees a bare Settings(), a config made inline and a dict of settings, and
    lets through a from_settings classmethod, core/entry.py, a service given settings among its
    dependencies, settings a harness names and a log line's fields."""
    for package in PACKAGES:
        (tmp_path / package).mkdir()
    (tmp_path / "core" / "entry.py").write_text("def read():\n    return Settings()\n")
    (tmp_path / "activities" / "mail.py").write_text(
        "class Config:\n"
        "    @classmethod\n"
        "    def from_settings(cls, settings):\n"
        "        return cls(host=settings.smtp_host, port=settings.smtp_port)\n"
    )
    (tmp_path / "worker" / "main.py").write_text(
        "def build(settings, pool):\n"
        "    Config(host=settings.smtp_host, port=settings.smtp_port)\n"
        "    Config.from_settings(settings), Config(pool, a=settings.a, b=settings.b)\n"
        "    log.info('started', extra={'a': settings.a, 'b': settings.b})\n"
        "    return {'a': settings.a, 'b': settings.b}, Settings(), Settings(env='test')\n"
    )

    assert settings_reached_otherwise(tmp_path) == [
        "worker/main.py:2 builds Config from settings",
        "worker/main.py:5 builds a dict of settings",
        "worker/main.py:5 constructs Settings()",
    ]


# The app's state holds one thing, the services: the lifespan sets it, one dependency reads it.
STATE_HOLDERS = frozenset({"api/main.py", "api/deps.py"})


def app_state_reached(root: Path) -> list[str]:
    """Each use of `<app>.state` outside the lifespan and the services' dependency."""
    return [
        f"{rel}:{node.lineno}"
        for rel, tree in _files(root)
        if rel not in STATE_HOLDERS
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr == "state"
        and isinstance(node.value, (ast.Name, ast.Attribute))
        and (node.value.id if isinstance(node.value, ast.Name) else node.value.attr) == "app"
    ]


def test_handlers_reach_settings_and_services_through_the_one_dependency() -> None:
    """No router or page reads `request.app.state` itself: settings, the pool, Temporal, the
    registry client and the import readers all come through `ServicesDep` (api/deps.py)."""
    assert app_state_reached(ROOT) == []
