"""One way to start a workflow: core/workflow_starts.py declares every start (id, policies,
search attributes) and is the only caller of the client's `start_workflow`, read from the code
(ast) as tests/test_layers.py reads the imports. A start written anywhere else drifts: a policy,
the PartnerId attribute or the answer to Temporal down goes missing."""

from __future__ import annotations

import ast
from pathlib import Path

from temporalio import workflow

from core import workflow_starts
from worker.main import WORKFLOWS

ROOT = Path(__file__).resolve().parent.parent
THE_ONE = Path("core") / "workflow_starts.py"
# The client calls that start a workflow run. (Child workflows are started by a workflow, in its
# history; schedules start runs by themselves.)
_STARTS = frozenset({"start_workflow", "execute_workflow"})
# Every package of the service (architecture.md's rooms). Not bench/: it measures the service's
# start against a bare `client.start_workflow`, on purpose.
PACKAGES = (
    "domain",
    "store",
    "email_templates",
    "core",
    "activities",
    "workflows",
    "app",
    "api",
    "worker",
    "devstack",
    "cli",
)


def starts_outside(root: Path) -> list[str]:
    """Each call of a client's start outside core/workflow_starts.py, as `file:line`."""
    found = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root)
            if relative == THE_ONE:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in _STARTS
                ):
                    found.append(f"{relative}:{node.lineno}")
    return found


def test_workflows_are_started_only_through_core_workflow_starts() -> None:
    """No application function, activity, workflow module or command starts a workflow by
    itself: every start goes through core/workflow_starts.py."""
    assert starts_outside(ROOT) == []


def test_start_check_finds_a_planted_start(tmp_path: Path) -> None:
    """The scan sees a start in app/ and an execute in activities/, and not the one module's."""
    for package in (*PACKAGES, "bench"):
        (tmp_path / package).mkdir()
    (tmp_path / "app" / "x.py").write_text(
        "async def f(c):\n    await c.start_workflow('W', 1, id='i', task_queue='q')\n"
    )
    (tmp_path / "activities" / "y.py").write_text(
        "async def g(c):\n    return await c.execute_workflow('W', 1)\n"
    )
    (tmp_path / "core" / "workflow_starts.py").write_text(
        "async def start(c):\n    await c.start_workflow('W', 1)\n"
    )
    (tmp_path / "bench" / "z.py").write_text("async def h(c):\n    await c.start_workflow('W')\n")

    assert starts_outside(tmp_path) == ["activities/y.py:2", "app/x.py:2"]


def test_every_declared_start_names_a_registered_workflow_and_its_input() -> None:
    """Each input declared in core/workflow_starts.py is the one argument of a workflow the worker
    registers, under the name the start sends; only the scheduled retention is started otherwise."""
    registered = {}
    for cls in WORKFLOWS:
        definition = workflow._Definition.must_from_class(cls)
        registered[definition.name] = definition.arg_types
    for input_type, name in workflow_starts.WORKFLOW_NAMES.items():
        assert registered.get(name) == [input_type], name
    assert set(registered) - set(workflow_starts.WORKFLOW_NAMES.values()) == {"RetentionWorkflow"}
