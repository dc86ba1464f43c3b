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
    # For a deprecated patch: open runs begun before the deprecation shipped, which hold the
    # undeprecated marker (the call may go once there are none).
    open_before_deprecated: int | None = None

    @property
    def blocking(self) -> bool:
        """The code has deleted the old branch, yet a run begun before the patch is open: that
        run cannot replay on it (its workflow tasks fail until the previous release runs it)."""
        return self.patch.deprecated is not None and self.open_before > 0

    @property
    def stage(self) -> str:
        """What may happen to the patch now (its next stage, or why not yet)."""
        if self.patch.deprecated is None:
            return "may be deprecated" if self.open_before == 0 else "open runs need the old branch"
        if self.blocking:
            return "deprecated too early: open runs begun before it cannot replay"
        if self.open_before_deprecated == 0:
            return "may be removed"
        return f"deprecated {self.patch.deprecated.isoformat()}: open runs hold its marker"


def cutoff(shipped: date) -> datetime:
    """The end of the ship day (UTC): a run started that day may have begun before the deploy,
    so it counts as begun before the patch."""
    return datetime.combine(shipped + timedelta(days=1), time(), tzinfo=UTC)


def open_runs_query(workflow_type: str, before: datetime) -> str:
    # To the microsecond: truncated to the second, an instant moved before runs it should follow.
    stamp = before.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return (
        f"WorkflowType = '{workflow_type}' AND ExecutionStatus = 'Running' "
        f"AND StartTime < '{stamp}'"
    )


async def count(
    client: Client,
    patches: Iterable[Patch],
    *,
    before: Callable[[date], datetime] = cutoff,
) -> list[PatchRuns]:
    """Each patch with the number of its workflow's open runs started `before` it shipped (by
    default, before the end of its ship day) and, when deprecated, before its deprecation."""
    found: list[PatchRuns] = []
    for patch in patches:
        shipped = await _open_runs(client, patch, before(patch.shipped))
        deprecated = (
            None
            if patch.deprecated is None
            else await _open_runs(client, patch, before(patch.deprecated))
        )
        found.append(PatchRuns(patch=patch, open_before=shipped, open_before_deprecated=deprecated))
    return found


async def _open_runs(client: Client, patch: Patch, before: datetime) -> int:
    counted = await client.count_workflows(open_runs_query(patch.workflow.value, before))
    return counted.count
