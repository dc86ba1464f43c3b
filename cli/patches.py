"""`onboarding patches`: each workflow patch, the day it shipped, and the open runs begun before.

A patch's old branch may go (`workflow.deprecate_patch`, see workflows/patches.py) once no open
run of its workflow started before it shipped: that count is read from Temporal's visibility.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from temporalio.client import Client

from workflows.patches import Patch


@dataclass(frozen=True)
class PatchRuns:
    patch: Patch
    open_before: int

    @property
    def stage(self) -> str:
        """What may happen to the patch now (its next stage, or why not yet)."""
        if self.patch.deprecated is not None:
            return f"deprecated {self.patch.deprecated.isoformat()}"
        return "may be deprecated" if self.open_before == 0 else "open runs need the old branch"


def cutoff(shipped: date) -> datetime:
    """The end of the ship day (UTC): a run started that day may have begun before the deploy,
    so it counts as begun before the patch."""
    return datetime.combine(shipped + timedelta(days=1), time(), tzinfo=UTC)


def open_runs_query(workflow_type: str, before: datetime) -> str:
    stamp = before.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f"WorkflowType = '{workflow_type}' AND ExecutionStatus = 'Running' "
        f"AND StartTime < '{stamp}'"
    )


async def count(
    client: Client,
    patches: Iterable[Patch],
    *,
    before: Callable[[Patch], datetime] = lambda patch: cutoff(patch.shipped),
) -> list[PatchRuns]:
    """Each patch with the number of its workflow's open runs started `before` it (by default,
    before the end of its ship day)."""
    found: list[PatchRuns] = []
    for patch in patches:
        query = open_runs_query(patch.workflow.value, before(patch))
        counted = await client.count_workflows(query)
        found.append(PatchRuns(patch=patch, open_before=counted.count))
    return found
