"""ChecklistActivities.assign_checklist against real PostgreSQL, the setup naming the checklist,
and the invitation e-mail listing what the director will be asked for (real SMTP)."""

from __future__ import annotations

import uuid

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.checklists import AssignChecklistInput, ChecklistActivities
from activities.email import SmtpConfig
from activities.invitations import InvitationActivities
from activities.setup import ResolveSetupInput, SetupActivities
from core.settings import Settings
from devstack.smtp_sink import SmtpSink
from domain.setup import SetupOverrides
from store import checklists, templates
from store.pool import Pool
from tests.activity_helpers import _activities, _case, _input, _text_and_html
from tests.factories import Tenant, make_client, make_tenant

ITEMS = [
    {
        "key": "activity",
        "kind": "question",
        "label": "Votre activité principale ?",
        "required": True,
    },
    {"key": "bank", "kind": "document", "label": "Relevés bancaires & extraits", "required": True},
]


async def _checklist(pool: Pool, tenant: Tenant, items: list[dict[str, object]]) -> uuid.UUID:
    row = await checklists.create(
        pool,
        partner_id=tenant.partner.id,
        checklist_id=uuid.uuid4(),
        name="Bilan",
        language="fr",
        items=items,
    )
    return row.id


async def test_assign_twice_keeps_one_copy_of_the_items_at_that_moment(
    pool: Pool, tenant: Tenant
) -> None:
    """A second run (a retry) keeps the one assignment, and a later catalog edit or deletion
    does not change the client's copy."""
    checklist_id = await _checklist(pool, tenant, ITEMS)
    _, client_id = await make_client(pool, tenant)
    data = AssignChecklistInput(
        partner_id=tenant.partner.id, client_id=client_id, checklist_id=checklist_id
    )
    env = ActivityEnvironment()
    acts = ChecklistActivities(pool)
    first = await env.run(acts.assign_checklist, data)
    assert (first.assigned, first.checklist_id, first.item_count) == (True, checklist_id, 2)

    await checklists.replace(
        pool,
        partner_id=tenant.partner.id,
        checklist_id=checklist_id,
        name="Changed",
        language="en",
        items=ITEMS[:1],
    )
    second = await env.run(acts.assign_checklist, data)
    assert (second.assigned, second.item_count) == (True, 2)
    rows = await pool.fetch(
        "SELECT name, items FROM client_checklists WHERE client_id = $1", client_id
    )
    assert [(r["name"], r["items"]) for r in rows] == [("Bilan", ITEMS)]

    assert await checklists.delete(pool, partner_id=tenant.partner.id, checklist_id=checklist_id)
    third = await env.run(acts.assign_checklist, data)
    assert third.item_count == 2
    assert await checklists.item_labels(pool, client_id=client_id) == [i["label"] for i in ITEMS]


async def test_assign_without_checklist_assigns_nothing(pool: Pool, tenant: Tenant) -> None:
    """A setup that names no checklist leaves the client without one."""
    _, client_id = await make_client(pool, tenant)
    result = await ActivityEnvironment().run(
        ChecklistActivities(pool).assign_checklist,
        AssignChecklistInput(partner_id=tenant.partner.id, client_id=client_id, checklist_id=None),
    )
    assert result.assigned is False
    assert (
        await checklists.get_assigned(pool, partner_id=tenant.partner.id, client_id=client_id)
        is None
    )


async def test_assign_another_partners_checklist_is_final_and_assigns_nothing(
    pool: Pool, tenant: Tenant
) -> None:
    """A checklist id that is not the client's partner's is refused without retry."""
    other = await make_tenant(pool, "Other firm")
    foreign = await _checklist(pool, other, ITEMS)
    _, client_id = await make_client(pool, tenant)
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(
            ChecklistActivities(pool).assign_checklist,
            AssignChecklistInput(
                partner_id=tenant.partner.id, client_id=client_id, checklist_id=foreign
            ),
        )
    assert caught.value.type == "ChecklistMissing" and caught.value.non_retryable
    assert await checklists.item_labels(pool, client_id=client_id) == []


async def test_resolve_setup_carries_the_template_checklist_or_the_override(
    pool: Pool, tenant: Tenant
) -> None:
    """The workflow's setup names the template's checklist, or the request's instead."""
    mine = await _checklist(pool, tenant, ITEMS)
    override = await _checklist(pool, tenant, ITEMS[:1])
    template = await templates.create(
        pool,
        partner_id=tenant.partner.id,
        name="T",
        description="",
        body={"checklist_id": str(mine)},
        make_default=True,
    )
    env = ActivityEnvironment()
    acts = SetupActivities(pool)
    plain = await env.run(
        acts.resolve_setup, ResolveSetupInput(partner_id=tenant.partner.id, template_id=template.id)
    )
    assert plain.setup.checklist_id == mine
    chosen = await env.run(
        acts.resolve_setup,
        ResolveSetupInput(
            partner_id=tenant.partner.id,
            template_id=template.id,
            overrides=SetupOverrides(checklist_id=override),
        ),
    )
    assert chosen.setup.checklist_id == override


@pytest.fixture
def invitation_activities(pool: Pool, settings: Settings) -> InvitationActivities:
    return _activities(pool, SmtpConfig.from_settings(settings))


async def test_invitation_lists_the_checklist_items(
    invitation_activities: InvitationActivities, pool: Pool, smtp_sink: SmtpSink
) -> None:
    """With a checklist assigned, the invitation (text and HTML) lists its items' labels,
    escaped in HTML; without one it says nothing of a checklist."""
    case = await _case(pool)
    checklist_id = await _checklist(pool, case.tenant, ITEMS)
    await ActivityEnvironment().run(
        ChecklistActivities(pool).assign_checklist,
        AssignChecklistInput(
            partner_id=case.tenant.partner.id, client_id=case.client_id, checklist_id=checklist_id
        ),
    )
    await ActivityEnvironment().run(invitation_activities.send_invitation, _input(case))
    [received] = await smtp_sink.handler.arrived(1)
    text, html = _text_and_html(received.message)
    assert "il vous sera aussi demandé" in text
    assert "- Votre activité principale ?" in text and "- Relevés bancaires & extraits" in text
    assert "Relevés bancaires &amp; extraits" in html

    bare = await _case(pool)
    await ActivityEnvironment().run(invitation_activities.send_invitation, _input(bare))
    second = (await smtp_sink.handler.arrived(2))[1]
    text, _ = _text_and_html(second.message)
    assert "il vous sera aussi demandé" not in text and "Relevés" not in text
