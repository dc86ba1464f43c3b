"""The tests' own house rules, checked on their source: one way to wait (tests/eventually.py), and
shared helpers in helper modules, never in conftest.py or in another test module."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

# Loops that sleep but wait for nothing, each with why; any other loop that sleeps is a wait
# written by hand, which eventually() does in one way (a deadline, the last value in the failure).
NOT_WAITS: dict[tuple[str, str], str] = {
    (
        "tests/activities/test_pacing.py",
        "test_pacer_allows_at_most_n_in_any_window_first_come_first_served",
    ): "sleep(0) lets each task queue before the next starts: the order under test",
    ("tests/api/test_import_limits.py", "tick"): "samples the event loop's lag during an upload",
    ("tests/api/test_import_limits.py", "probe"): "samples /healthz during an upload",
    ("tests/api_helpers.py", "hold_every_place"): "rate-limit pacing: sleeps the window's retry_in",
    (
        "tests/workflows/test_bulk_import.py",
        "test_window_bounds_rows_setting_up_and_cancel_stops_new_ones",
    ): "samples the window for two seconds to see it never overflow",
    ("tests/upgrade/upgrade_check.py", "*"): (
        "a script run outside pytest (make upgrade-check), synchronous, failing with its own "
        "UpgradeFailed"
    ),
    ("tests/devstack/test_postgres.py", "*"): (
        "synchronous: starts and kills PostgreSQL processes from a sync test; eventually() is async"
    ),
    ("tests/store/test_at_size.py", "_watch_locks"): (
        "samples pg_locks every 10 ms while a migration runs: sampling, not a wait"
    ),
    ("tests/store/test_at_size.py", "filled"): (
        "gives the lock watcher a moment before each migration: pacing, not a wait"
    ),
    ("tests/e2e/test_make_dev.py", "*"): (
        "synchronous: drives `make dev` in subprocesses from a sync test; eventually() is async"
    ),
}

SLEEPS = {"asyncio.sleep", "time.sleep", "sleep"}


def _modules() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if p.name != "eventually.py")


def _sleeping_loops(path: Path) -> list[tuple[str, int]]:
    """(enclosing function, line) of every for/while loop in `path` that sleeps."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.For | ast.AsyncFor | ast.While):
            continue
        if not any(
            isinstance(call, ast.Call) and ast.unparse(call.func) in SLEEPS
            for call in ast.walk(node)
        ):
            continue
        around = [f for f in functions if f.lineno <= node.lineno <= (f.end_lineno or 0)]
        innermost = min(around, key=lambda f: (f.end_lineno or 0) - f.lineno, default=None)
        found.append((innermost.name if innermost else "<module>", node.lineno))
    return found


def test_no_test_module_polls_with_a_sleep_loop_of_its_own() -> None:
    """Every wait goes through tests/eventually.py; a loop that sleeps is listed as no wait."""
    offenders = []
    used: set[tuple[str, str]] = set()
    for path in _modules():
        name = path.relative_to(ROOT).as_posix()
        for function, line in _sleeping_loops(path):
            key = next(
                (k for k in ((name, function), (name, "*")) if k in NOT_WAITS),
                None,
            )
            if key is None:
                offenders.append(f"{name}:{line} in {function}")
            else:
                used.add(key)
    assert offenders == [], "poll with tests.eventually.eventually instead:\n" + "\n".join(
        offenders
    )
    assert set(NOT_WAITS) - used == set(), "allow-listed loops no longer there"


def test_the_sleep_loop_check_finds_a_hand_written_wait() -> None:
    """The check above sees the pattern it forbids (so its silence means something)."""
    sample = TESTS / "_sample_wait.py"
    sample.write_text(
        "import asyncio\n\n\nasync def _until(x):\n    for _ in range(9):\n"
        "        if x():\n            return\n        await asyncio.sleep(0.1)\n",
        encoding="utf-8",
    )
    try:
        assert _sleeping_loops(sample) == [("_until", 5)]
    finally:
        sample.unlink()


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return found


def test_no_module_imports_from_conftest_or_another_test_module() -> None:
    """Helpers shared by tests live in tests/factories.py and the *_helpers.py modules: a test
    module imported by another runs its module-level fixtures (autouse ones too) twice, and
    conftest is pytest's, for fixtures."""
    offenders = [
        f"{path.relative_to(ROOT).as_posix()}:{line} imports {module}"
        for path in _modules()
        for line, module in _imported_modules(path)
        if module.startswith("tests.")
        and (module.endswith(".conftest") or module.rsplit(".", 1)[-1].startswith("test_"))
    ]
    assert offenders == []
