"""The patch registry (workflows/patches.py) is the whole truth about our patches."""

from __future__ import annotations

import ast
from pathlib import Path

from workflows import patches

WORKFLOWS = Path(__file__).parent.parent.parent / "workflows"


def _used(kind: tuple[str, ...] = ("patched", "deprecate_patch")) -> dict[str, set[str]]:
    """Patch ids by workflow module, from every call of `kind` (`workflow.patched`,
    `workflow.deprecate_patch`)."""
    used: dict[str, set[str]] = {}
    for module in WORKFLOWS.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in kind
            ):
                [arg] = node.args
                assert isinstance(arg, ast.Name), f"{module.name}: a patch id by its constant"
                used.setdefault(module.stem, set()).add(getattr(patches, arg.id))
    return used


def test_every_patch_in_the_code_is_registered_and_every_registered_one_used() -> None:
    """A patch asked for in a workflow has its ship day in the registry; a registered patch is
    still asked for (a removed one leaves the registry)."""
    used = _used()
    registered = {p.id for p in patches.PATCHES}
    assert set().union(*used.values()) == registered
    by_workflow = {
        "onboarding": patches.Workflow.onboarding,
        "bulk_import": patches.Workflow.bulk_import,
    }
    for module, ids in used.items():
        assert {p.workflow for p in patches.PATCHES if p.id in ids} == {by_workflow[module]}


def test_a_deprecated_patch_is_only_ever_deprecate_patch_and_an_open_one_only_patched() -> None:
    """The registry's `deprecated` day is what the code does: a deprecated patch has lost its old
    branch (no `patched` call may ask for it), an open one still has both."""
    deprecated = set().union(*_used(("deprecate_patch",)).values())
    asked = set().union(*_used(("patched",)).values())
    assert deprecated == {p.id for p in patches.PATCHES if p.deprecated is not None}
    assert not deprecated & asked
    for patch in patches.PATCHES:
        if patch.deprecated is not None:
            assert patch.deprecated > patch.shipped, patch.id
