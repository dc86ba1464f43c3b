"""How the throughput bench counts an onboarding's activities to READY, from a recorded history."""

from __future__ import annotations

import json
from pathlib import Path

from temporalio.client import WorkflowHistory

from bench.throughput import activities_to_ready

HISTORIES = Path(__file__).parent.parent / "histories"


def test_activities_to_ready_leave_out_patches_and_what_follows_ready() -> None:
    # A recorded onboarding (local PostgreSQL steps): a patch marker, then local steps and
    # remote ones up to complete_setup, then the invitation's steps.
    path = HISTORIES / "onboarding_v2_local_db_steps.json"
    history = WorkflowHistory.from_json("onboarding", json.loads(path.read_text()))
    markers = [
        e.marker_recorded_event_attributes.marker_name
        for e in history.events
        if e.HasField("marker_recorded_event_attributes")
    ]
    assert "core_patch" in markers
    counts = activities_to_ready(history.events)
    assert counts is not None
    # resolve_setup, check_siret_available, record_status x2, create_client,
    # assign_collaborators_and_subscription, record_integration_failure, complete_setup; the
    # record_status after READY is left out, and so is the patch marker.
    assert counts["local"] == 8
    assert counts["local"] < markers.count("core_local_activity") < len(markers)
    remote_before_ready = 0
    for event in history.events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            remote_before_ready += 1
        marker = event.marker_recorded_event_attributes
        if marker.marker_name == "core_local_activity" and b'"complete_setup"' in (
            marker.details["data"].payloads[0].data
        ):
            break
    assert counts["remote"] == remote_before_ready > 0


def test_a_history_read_before_ready_reached_it_counts_nothing() -> None:
    """READY is in PostgreSQL before complete_setup's marker is in the history (it is recorded
    when its workflow task completes): a history read too early is not counted short."""
    path = HISTORIES / "onboarding_v3_notice_when_someone.json"
    history = WorkflowHistory.from_json("onboarding", json.loads(path.read_text()))
    events = list(history.events)
    ready_at = next(
        i
        for i, e in enumerate(events)
        if e.marker_recorded_event_attributes.marker_name == "core_local_activity"
        and b'"complete_setup"'
        in e.marker_recorded_event_attributes.details["data"].payloads[0].data
    )
    assert activities_to_ready(events[:ready_at]) is None
    counts = activities_to_ready(events[: ready_at + 1])
    assert counts is not None and counts["local"] >= 4
