"""ChecklistNoticeWorkflow against the real worker, PostgreSQL and SMTP sink: a muted client's
notice waits, and its own timer finds the client unmuted when no signal came (the onboarding's
unmute, or a switch made before the notice ran), sending once; a replaced assignment's notice
sends nothing."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from activities.checklist_notice import NoticeOutcome
from core.settings import Settings
from devstack.smtp_sink import SmtpSink
from domain.notices import ChecklistNoticeWorkflowInput
from domain.notices import checklist_notice_id as workflow_id_for
from domain.onboarding import director_id_for
from store import checklists, clients, email_log
from store.pool import Pool
from tests.eventually import activities_completed, eventually
from tests.factories import Tenant, make_client
from workflows.checklist_notice import ChecklistNoticeWorkflow

ITEMS = [{"key": "bank", "kind": "document", "label": "Kontoauszüge", "required": True}]


async def _invited(pool: Pool, tenant: Tenant) -> tuple[uuid.UUID, uuid.UUID]:
    """A German client with its director, whose invitation the e-mail log says was sent."""
    onboarding_id, client_id = await make_client(pool, tenant, language="de", muted=True)
    await clients.add_director(
        pool,
        user_id=director_id_for(client_id),
        client_id=client_id,
        email="jonas@weber.example",
        first_name="Jonas",
        last_name="Weber",
        themes=[],
    )
    await email_log.reserve(
        pool,
        onboarding_id=onboarding_id,
        purpose="invitation",
        sequence=100,
        recipient="jonas@weber.example",
        subject="Einladung",
        message_id=f"<invitation.100.{onboarding_id}@test>",
    )
    await email_log.mark(
        pool, onboarding_id=onboarding_id, purpose="invitation", sequence=100, status="sent"
    )
    return onboarding_id, client_id


async def _assign(pool: Pool, tenant: Tenant, client_id: uuid.UUID, name: str) -> int:
    checklist_id = uuid.uuid4()
    await checklists.create(
        pool,
        partner_id=tenant.partner.id,
        checklist_id=checklist_id,
        name=name,
        language="de",
        items=ITEMS,
    )
    done = await checklists.set_assigned(
        pool, partner_id=tenant.partner.id, client_id=client_id, checklist_id=checklist_id
    )
    assert done is not None
    return done.row.assignment


async def _run(
    client: Client, settings: Settings, tenant: Tenant, client_id: uuid.UUID, assignment: int
) -> asyncio.Task[object]:
    handle = await client.start_workflow(
        ChecklistNoticeWorkflow.run,
        ChecklistNoticeWorkflowInput(
            partner_id=tenant.partner.id,
            client_id=client_id,
            assignment=assignment,
            recheck=timedelta(milliseconds=300),
        ),
        id=workflow_id_for(client_id, assignment),
        task_queue=settings.task_queue,
    )
    return asyncio.ensure_future(handle.result())


async def test_muted_notice_goes_once_its_timer_finds_the_client_unmuted(
    client: Client,
    worker: Worker,
    pool: Pool,
    settings: Settings,
    smtp_sink: SmtpSink,
    tenant: Tenant,
) -> None:
    """No signal: the notice waits while muted, then sends one German e-mail once unmuted."""
    _, client_id = await _invited(pool, tenant)
    assignment = await _assign(pool, tenant, client_id, "Jahresabschluss")
    result = await _run(client, settings, tenant, client_id, assignment)
    # Two checks have found the client muted (and so sent nothing): the notice waits.
    handle = client.get_workflow_handle(workflow_id_for(client_id, assignment))
    await eventually(
        lambda: activities_completed(handle, "notify_checklist"),
        until=lambda checks: checks >= 2,
        what="the notice checked twice",
    )
    assert smtp_sink.handler.messages == [] and not result.done()

    await clients.set_notifications(pool, client_id=client_id, muted=False)
    outcome = await asyncio.wait_for(result, timeout=20)
    assert getattr(outcome, "outcome", None) == NoticeOutcome.sent
    [mail] = await smtp_sink.handler.arrived(1)
    assert mail.rcpt_tos == ["jonas@weber.example"]
    text = mail.message.get_body(preferencelist=("plain",))
    assert text is not None and "Mit freundlichen Grüßen" in text.get_content()


async def test_replaced_assignment_notice_sends_nothing(
    client: Client,
    worker: Worker,
    pool: Pool,
    settings: Settings,
    smtp_sink: SmtpSink,
    tenant: Tenant,
) -> None:
    """A notice waiting for a muted client whose checklist was replaced meanwhile ends silent."""
    _, client_id = await _invited(pool, tenant)
    first = await _assign(pool, tenant, client_id, "Jahresabschluss")
    result = await _run(client, settings, tenant, client_id, first)
    handle = client.get_workflow_handle(workflow_id_for(client_id, first))
    await eventually(
        lambda: activities_completed(handle, "notify_checklist"),
        what="the notice's first check (muted) done",
    )
    second = await _assign(pool, tenant, client_id, "Umsatzsteuer")
    assert second == first + 1
    await clients.set_notifications(pool, client_id=client_id, muted=False)
    outcome = await asyncio.wait_for(result, timeout=20)
    assert getattr(outcome, "outcome", None) == NoticeOutcome.not_current
    # The notice has ended (its result above): nothing of it can still arrive.
    assert smtp_sink.handler.messages == []
