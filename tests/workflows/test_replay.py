"""Determinism: recorded workflow histories replay against today's workflow code.

A change that would make running onboardings fail on replay (a new activity call in the middle,
a reordered step) fails here first; such a change goes behind `workflow.patched`. Every history
was recorded once, with the code of its day, by `python -m tests.workflows.record_histories PATH
OUT.json` (runs with fake activities, the test payload key), and is kept as a file: a history the
code under test has just produced would replay whatever that code does. onboarding_v1 predates
the `local-db-steps` patch and must keep replaying while such runs may still be open;
onboarding_v2_local_db_steps is the patched path; onboarding_v3_notice_when_someone skips the
collaborators' notice of a setup without collaborators (patch `notice-when-someone`), which v2
still ran for an empty list; onboarding_v4_kbo_lookup is a Belgian client looked up in the KBO/BCE
tables (patch `kbo-lookup`, path `belgian`); onboarding_v5_vies_check is the same run with its
VAT number checked in VIES (patch `vies-check`); onboarding_v6_french_vat_check a French client's
given VAT number checked (path `vat`). The other onboarding_v6_* files are one per path through
the workflow as it stood at v6 (after every patch above): see PATH_SIGNATURES.
onboarding_v7_bounded_first_run and _next_run are the two runs of one onboarding that waited past
its maximum run age (patch `bounded-waits`) and continued as new; onboarding_v8_attention_first_run
and _next_run the same for a step parked in NEEDS_ATTENTION (patch `bounded-attention`).
onboarding_v8_send_parked and _checklist_parked are a park resumed in the same run, recorded
before the patch `park-resume-times` (reminders at once, SETTING_UP after the checklist);
onboarding_v9_send_parked and _checklist_parked the same paths after it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from tests.factories import converter_for_tests
from worker.main import WORKFLOW_RUNNER
from workflows.onboarding import OnboardingWorkflow

HISTORIES = Path(__file__).parent.parent / "histories"


def _replayer() -> Replayer:
    return Replayer(
        workflows=[OnboardingWorkflow],
        data_converter=converter_for_tests(),
        workflow_runner=WORKFLOW_RUNNER,
    )


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_recorded_history_replays(path: Path) -> None:
    """Each committed history replays without a non-determinism error."""
    text = await asyncio.to_thread(path.read_text)
    history = WorkflowHistory.from_json(path.stem, text)
    result = await _replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


async def test_both_kinds_of_run_are_covered_by_a_recorded_history() -> None:
    """One history from before the local-db-steps patch (every step remote), one after (short
    PostgreSQL steps local, READY written with complete_setup) and one after notice-when-someone
    are replayed above."""
    kinds: dict[str, tuple[set[str], set[str]]] = {}
    for path in sorted(HISTORIES.glob("*.json")):
        history = WorkflowHistory.from_json(path.stem, await asyncio.to_thread(path.read_text))
        remote = {
            e.activity_task_scheduled_event_attributes.activity_type.name
            for e in history.events
            if e.HasField("activity_task_scheduled_event_attributes")
        }
        markers = {
            e.marker_recorded_event_attributes.marker_name
            for e in history.events
            if e.HasField("marker_recorded_event_attributes")
        }
        kinds[path.stem] = (remote, markers)
    before, after = kinds["onboarding_v1"], kinds["onboarding_v2_local_db_steps"]
    assert {"resolve_setup", "create_client", "record_status"} <= before[0] and not before[1]
    assert {"resolve_setup", "create_client", "record_status", "complete_setup"}.isdisjoint(
        after[0]
    )
    assert {"core_patch", "core_local_activity"} <= after[1]
    # The same run without collaborators: v2 notified an empty list, v3 does not.
    assert "notify_collaborators" in after[0]
    assert "notify_collaborators" not in kinds["onboarding_v3_notice_when_someone"][0]


@dataclass(frozen=True)
class _Commands:
    """What a history holds, by name: activities (remote and local), updates, signals, timers."""

    activities: list[str] = field(default_factory=list)
    updates: list[str] = field(default_factory=list)
    signals: list[str] = field(default_factory=list)
    timers: int = 0
    failed: bool = False
    continued: bool = False
    patches: list[str] = field(default_factory=list)
    # The timers' durations, and the statuses set in the OnboardingStatus search attribute.
    waits: list[timedelta] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)


def _commands(history: WorkflowHistory) -> _Commands:
    activities: list[str] = []
    updates: list[str] = []
    signals: list[str] = []
    patches: list[str] = []
    waits: list[timedelta] = []
    statuses: list[str] = []
    for e in history.events:
        if e.HasField("timer_started_event_attributes"):
            waits.append(e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta())
        elif e.HasField("upsert_workflow_search_attributes_event_attributes"):
            fields = e.upsert_workflow_search_attributes_event_attributes.search_attributes
            if "OnboardingStatus" in fields.indexed_fields:
                statuses.append(json.loads(fields.indexed_fields["OnboardingStatus"].data))
        elif e.HasField("activity_task_scheduled_event_attributes"):
            activities.append(e.activity_task_scheduled_event_attributes.activity_type.name)
        elif e.HasField("marker_recorded_event_attributes"):
            marker = e.marker_recorded_event_attributes
            if marker.marker_name == "core_local_activity":
                # Core's own marker payload (plain JSON, not through our codec).
                data = json.loads(marker.details["data"].payloads[0].data)
                activities.append(data["activity_type"])
            elif marker.marker_name == "core_patch":
                patches.append(json.loads(marker.details["patch-data"].payloads[0].data)["id"])
        elif e.HasField("workflow_execution_update_accepted_event_attributes"):
            accepted = e.workflow_execution_update_accepted_event_attributes
            updates.append(accepted.accepted_request.input.name)
        elif e.HasField("workflow_execution_signaled_event_attributes"):
            signals.append(e.workflow_execution_signaled_event_attributes.signal_name)
    return _Commands(
        activities,
        updates,
        signals,
        timers=sum(e.HasField("timer_started_event_attributes") for e in history.events),
        failed=any(
            e.HasField("workflow_execution_failed_event_attributes") for e in history.events
        ),
        continued=history.events[-1].HasField(
            "workflow_execution_continued_as_new_event_attributes"
        ),
        patches=patches,
        waits=waits,
        statuses=statuses,
    )


# Each path through the workflow that a recorded v6 history must go through, and what proves it
# does: the file replayed above is only worth what it covers.
PATH_SIGNATURES: dict[str, Callable[[_Commands], bool]] = {
    "unmute": lambda c: c.updates == ["set_notifications"] and "set_notifications" in c.activities,
    "checklist": lambda c: {"assign_checklist", "notify_collaborators"} <= set(c.activities),
    "manual_sent_later": lambda c: c.updates == ["send_invitation_now"],
    "rescheduled": lambda c: c.updates == ["reschedule_invitation"] and c.timers == 2,
    "cancelled": lambda c: c.updates == ["cancel_invitation", "send_invitation_now"],
    "expired_resent": lambda c: (
        c.updates == ["resend_invitation"] and c.activities.count("send_invitation") == 5
    ),
    "escalations": lambda c: (
        c.updates == ["provide_company_details"] and c.activities.count("escalate") == 3
    ),
    "details_deadline": lambda c: c.failed and c.activities.count("escalate") == 2,
    "needs_attention": lambda c: (
        c.updates == ["resume"] and c.activities.count("create_folders") == 2
    ),
    # Patch bounded-waits: the first run waits its maximum age and continues as new; the next
    # takes over after setup (no setup step again) and sends the invitation.
    "bounded_first_run": lambda c: (
        c.continued and "bounded-waits" in c.patches and "send_invitation" not in c.activities
    ),
    "bounded_next_run": lambda c: (
        not c.continued
        and c.updates == ["send_invitation_now"]
        and "create_client" not in c.activities
        and "send_invitation" in c.activities
    ),
    # Patch bounded-attention: folders parked in NEEDS_ATTENTION past the maximum run age; the
    # first run continues as new without trying them again, the next is resumed and runs
    # folders (and no step before them) to the end.
    "attention_first_run": lambda c: (
        c.continued
        and "bounded-attention" in c.patches
        and c.updates == []
        and "create_client" in c.activities
        and "send_invitation" not in c.activities
    ),
    "attention_next_run": lambda c: (
        not c.continued
        and c.updates == ["resume"]
        and c.activities.count("create_folders") == 1
        and {
            "resolve_setup",
            "check_siret_available",
            "lookup_company",
            "create_client",
        }.isdisjoint(c.activities)
        and c.activities.count("send_invitation") == 1
    ),
    # Patch park-resume-times: the invitation's send parked five days and resumed in the same
    # run; its reminders wait 3 days from that send (v8: none waited, both went at once).
    "send_parked": lambda c: (
        not c.continued
        and c.updates == ["resume"]
        and "park-resume-times" in c.patches
        and c.activities.count("send_invitation") == 4
        and [w >= timedelta(days=3) for w in c.waits[1:3]] == [True, True]
    ),
    # The checklist parked after complete_setup and resumed in the same run: READY before it
    # parks and again after the resume (v8: SETTING_UP after the resume).
    "checklist_parked": lambda c: (
        not c.continued
        and c.updates == ["resume"]
        and "park-resume-times" in c.patches
        and c.activities.count("complete_setup") == 1
        and c.statuses == ["READY", "NEEDS_ATTENTION", "READY", "COMPLETED"]
    ),
}
VERSION_OF_PATH = {
    "bounded_first_run": "v7",
    "bounded_next_run": "v7",
    "attention_first_run": "v8",
    "attention_next_run": "v8",
    "send_parked": "v9",
    "checklist_parked": "v9",
}


@pytest.mark.parametrize("path", sorted(PATH_SIGNATURES))
async def test_every_path_has_a_recorded_history_that_goes_through_it(path: str) -> None:
    """keep_muted then unmute, a checklist, a manual invitation sent later, a rescheduled and a
    cancelled invitation, expiry and resend, escalations, a details deadline, NEEDS_ATTENTION
    then resume, a wait past the maximum run age, a park past it: each has its file, and the
    file holds the commands of that path."""
    file = HISTORIES / f"onboarding_{VERSION_OF_PATH.get(path, 'v6')}_{path}.json"
    history = WorkflowHistory.from_json(path, await asyncio.to_thread(file.read_text))
    commands = _commands(history)
    assert PATH_SIGNATURES[path](commands), commands


@pytest.mark.parametrize("path", ["send_parked", "checklist_parked"])
async def test_park_resumed_in_the_same_run_has_a_history_before_and_after_its_patch(
    path: str,
) -> None:
    """v8 (before park-resume-times) and v9 of a park resumed in the same run both replay
    above, and the path's signature tells them apart: it cannot pass on the old shape."""
    signature = PATH_SIGNATURES[path]
    for version, expected in (("v8", False), ("v9", True)):
        file = HISTORIES / f"onboarding_{version}_{path}.json"
        history = WorkflowHistory.from_json(path, await asyncio.to_thread(file.read_text))
        commands = _commands(history)
        assert signature(commands) is expected, (version, commands)
