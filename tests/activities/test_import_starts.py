"""start_onboardings: an import's rows started as workflows of their own, against the dev server.

A workflow stands in for the onboarding (registered under its name); what is tested is the start:
once per onboarding however often the activity runs, with the onboarding's search attributes and
summary, and a row Temporal refuses reported as such instead of retried for ever.
"""

from __future__ import annotations

import uuid
from datetime import date

from temporalio import workflow
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.imports import PreparedRow, StartRowsInput, start_onboardings
from domain import search_attributes as sa
from domain.fiscal_calendar import FiscalYear
from domain.onboarding import ClientIn, DirectorIn, Language, OnboardingInput, workflow_id_for


@workflow.defn(name="OnboardingWorkflow")
class Done:
    @workflow.run
    async def run(self, data: OnboardingInput) -> str:
        return str(data.import_row)


def _row(row: int, partner_id: uuid.UUID, *, padding: str = "") -> PreparedRow:
    return PreparedRow(
        row=row,
        onboarding=OnboardingInput(
            onboarding_id=uuid.uuid4(),
            partner_id=partner_id,
            partner_name="Cabinet" + padding,
            client=ClientIn(
                first_name="A", last_name=f"Row {row}", email="a@example.com", language=Language.fr
            ),
            fiscal_year=FiscalYear.from_start(date(2026, 1, 1)),
            director=DirectorIn(email="a@example.com", first_name="A", last_name="B"),
            import_row=row,
        ),
    )


async def test_rows_start_once_each_and_a_refused_one_is_reported(
    temporal_env: WorkflowEnvironment,
) -> None:
    client = temporal_env.client
    queue = f"starts-{uuid.uuid4().hex[:8]}"
    partner_id, import_id = uuid.uuid4(), uuid.uuid4()
    rows = [_row(1, partner_id), _row(2, partner_id), PreparedRow(row=3, onboarding=None)]
    # Over Temporal's 2 MB payload limit: the server refuses this input whatever the retry.
    too_large = _row(4, partner_id, padding="x" * 2_500_000)
    data = StartRowsInput(
        import_id=import_id, partner_id=partner_id, task_queue=queue, rows=[*rows, too_large]
    )
    env = ActivityEnvironment(client=client)
    first = await env.run(start_onboardings, data)
    assert (first.started, first.already, first.refused) == ([1, 2], [], [4])

    async with Worker(
        client,
        task_queue=queue,
        workflows=[Done],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        for prepared in rows[:2]:
            assert prepared.onboarding is not None
            handle = client.get_workflow_handle(workflow_id_for(prepared.onboarding.onboarding_id))
            assert await handle.result() == str(prepared.row)
        # Run again (a retried activity, a rerun of the import): the finished onboardings are
        # found, not started a second time.
        again = await env.run(start_onboardings, data)
    assert (again.started, again.already, again.refused) == ([], [1, 2], [4])
    for prepared in rows[:2]:
        assert prepared.onboarding is not None
        handle = client.get_workflow_handle(workflow_id_for(prepared.onboarding.onboarding_id))
        described = await handle.describe()
        assert described.status == WorkflowExecutionStatus.COMPLETED
        assert described.typed_search_attributes.get(sa.PARTNER_ID) == str(partner_id)
        assert described.typed_search_attributes.get(sa.ONBOARDING_STATUS) == "SETTING_UP"
        summary = await described.static_summary()
        assert summary is not None and str(import_id) in summary
        runs = [
            w
            async for w in client.list_workflows(
                f"WorkflowId = '{workflow_id_for(prepared.onboarding.onboarding_id)}'"
            )
        ]
        assert len(runs) == 1
