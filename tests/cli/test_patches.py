"""`onboarding patches` on a real dev server: each patch with the open runs begun before it."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from cli import patches
from devstack.temporal_server import temporal_cli
from domain.search_attributes import ALL_KEYS
from tests.cli_helpers import run_onboarding
from tests.eventually import eventually
from tests.factories import converter_for_tests
from workflows.patches import PATCHES, Patch, Workflow


@pytest.fixture
async def dev_server() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server of this test's own: the session's holds other tests' open runs."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli()),
        search_attributes=ALL_KEYS,
        data_converter=converter_for_tests(),
        dev_server_extra_args=["--headless"],
    )
    try:
        yield env
    finally:
        await env.shutdown()


async def _open(client: Client, workflow_type: str) -> datetime:
    """Start a run nobody works on (open until terminated); when the server started it."""
    handle = await client.start_workflow(
        workflow_type, id=f"patches-{uuid.uuid4()}", task_queue=f"nobody-{uuid.uuid4().hex[:8]}"
    )
    return (await handle.describe()).start_time


async def test_patches_counts_the_open_runs_started_before_each_patch(
    dev_server: WorkflowEnvironment,
) -> None:
    """A run started before a patch counts, one started after does not; nor does a closed run
    or another workflow type's."""
    client = dev_server.client
    before_patch = await _open(client, Workflow.onboarding.value)
    closed = await client.start_workflow(
        Workflow.onboarding.value, id=f"closed-{uuid.uuid4()}", task_queue="nobody"
    )
    await closed.terminate("closed before the patch")
    await _open(client, Workflow.bulk_import.value)
    await asyncio.sleep(1.5)
    after_patch = await _open(client, Workflow.onboarding.value)
    shipped_at = before_patch + (after_patch - before_patch) / 2
    # Each patch's days stand for instants around the runs' starts (`before` maps them).
    days = {day: date(2001, 1, day) for day in range(1, 5)}
    at = {
        days[1]: shipped_at,
        days[2]: after_patch + timedelta(seconds=1),
        days[3]: before_patch - timedelta(seconds=1),
    }
    between = Patch("between", Workflow.onboarding, days[1], "a test patch")
    everything = Patch("everything", Workflow.onboarding, days[2], "a test patch")
    nothing = Patch("nothing", Workflow.onboarding, days[3], "a test patch")
    # Deprecated after `nothing`'s day and before `between`'s: its runs hold the marker.
    deprecated = Patch("deprecated", Workflow.onboarding, days[3], "a test patch", days[1])
    # Deprecated while a run begun before it was still open: the deploy gate's case.
    too_early = Patch("too-early", Workflow.onboarding, days[1], "a test patch", days[2])

    async def counted() -> dict[str, tuple[int, int | None, bool]]:
        found = await patches.count(
            client, [between, everything, nothing, deprecated, too_early], before=at.__getitem__
        )
        return {f.patch.id: (f.open_before, f.open_before_deprecated, f.blocking) for f in found}

    # Visibility is eventually consistent, a run's start and a termination alike: wait for the
    # counts to settle where they must (a count that never gets there fails with its last value).
    expected = {
        "between": (1, None, False),
        "everything": (2, None, False),
        "nothing": (0, None, False),
        "deprecated": (0, 1, False),
        "too-early": (1, 2, True),
    }
    counts = await eventually(
        counted, what="the open runs counted", within=15, until=lambda c: c == expected
    )
    assert counts == expected


async def test_patches_command_lists_every_registered_patch_with_its_count(
    dev_server: WorkflowEnvironment,
) -> None:
    """The real command, in a subprocess: one line per patch of the registry, with its ship day
    and a count; an onboarding and an import started now are after every patch shipped before
    today, so `--check` lets a deploy through."""
    await _open(dev_server.client, Workflow.onboarding.value)
    await _open(dev_server.client, Workflow.bulk_import.value)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONBOARDING_")}
    env.update(
        ONBOARDING_ENV="test",
        ONBOARDING_TEMPORAL_ADDRESS=dev_server.client.service_client.config.target_host,
        ONBOARDING_LOG_LEVEL="WARNING",
    )
    ran = await run_onboarding(env, "patches", "--json")
    assert ran.code == 0, ran.err
    rows = {row["patch"]: row for row in map(json.loads, ran.out.splitlines())}
    assert set(rows) == {p.id for p in PATCHES}
    today = datetime.now().astimezone().date()
    for patch in PATCHES:
        row = rows[patch.id]
        assert row["shipped"] == patch.shipped.isoformat()
        assert row["workflow"] == patch.workflow.value
        if patch.shipped < today - timedelta(days=1):
            assert row["open_runs_before"] == 0, row
            assert row["stage"] in ("may be deprecated", "may be removed") or row[
                "stage"
            ].startswith(f"deprecated {patch.deprecated}"), row
            assert row["blocking"] is False, row
    checked = await run_onboarding(env, "patches", "--check")
    assert checked.code == 0, checked.err


def test_open_runs_query_keeps_the_instant_to_the_microsecond() -> None:
    """Truncated to the second, a cutoff 0.8 s after a run's start fell before it whenever both
    were in the same second, and that run was not counted (seen once under load)."""
    run_started = datetime(2026, 12, 5, 0, 0, 0, 100_000, tzinfo=UTC)
    query = patches.open_runs_query("OnboardingWorkflow", run_started + timedelta(seconds=0.8))
    assert "StartTime < '2026-12-05T00:00:00.900000Z'" in query
