"""Switching a client's notifications: one rule for the API route and the `onboarding unmute`
command, so an ops switch can never bypass what the onboarding workflow decides.

While the client's onboarding runs, its workflow owns the switch (it never invites a muted client
and, once unmuted, lets a waiting invitation go on according to its mode): the change goes through
its `set_notifications` update. Once the onboarding is over (or past retention) only the client
row changes.
"""

from __future__ import annotations

import uuid
from contextlib import suppress
from dataclasses import dataclass
from typing import Literal

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from app import roles
from domain.onboarding import SetNotificationsInput, workflow_id_for
from domain.setup import Role
from store import checklists, clients, partners
from store.clients import ClientErased
from store.pool import Pool
from workflows import checklist_notice
from workflows.onboarding import OnboardingWorkflow


class ClientNotFound(Exception):
    """No such client (for this partner, when one is named)."""


class SwitchRefused(Exception):
    """The running onboarding refused the switch."""


class OnboardingUnreachable(Exception):
    """Temporal could not be reached: nothing was changed."""


@dataclass(frozen=True)
class Switched:
    client_id: uuid.UUID
    enabled: bool
    applied: bool
    through: Literal["onboarding", "client"]
    onboarding_status: str
    invitation_state: str


async def switch(
    pool: Pool,
    temporal: Client,
    *,
    client_id: uuid.UUID,
    enabled: bool,
    partner_id: uuid.UUID,
) -> Switched:
    """Switch the client's notifications on or off, the client being one of `partner_id`'s (ops'
    command line finds the client's firm first, and calls app/clients.py as the API does)."""
    listed = await clients.get_listed(pool, partner_id=partner_id, client_id=client_id)
    if listed is None:
        raise ClientNotFound(client_id)
    if listed.erased_at is not None:
        raise ClientErased(str(client_id))
    handle = temporal.get_workflow_handle_for(
        OnboardingWorkflow.run, workflow_id_for(listed.onboarding_id)
    )
    try:
        changed = await handle.execute_update(
            OnboardingWorkflow.set_notifications, SetNotificationsInput(enabled=enabled)
        )
    except WorkflowUpdateFailedError as exc:
        raise SwitchRefused(client_id) from exc
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise OnboardingUnreachable(client_id) from exc
    else:
        if changed.enabled:
            await _wake_checklist_notice(pool, temporal, partner_id, client_id)
        return Switched(
            client_id=client_id,
            enabled=changed.enabled,
            applied=changed.applied,
            through="onboarding",
            onboarding_status=changed.status.value,
            invitation_state=changed.invitation.value,
        )
    # The onboarding is over (or past retention): only the client changes.
    written = await clients.set_notifications(pool, client_id=client_id, muted=not enabled)
    if written is None:
        raise ClientErased(str(client_id))  # erased between the read and the write
    if not written.notifications_muted:
        await _wake_checklist_notice(pool, temporal, partner_id, client_id)
    after = await clients.get_listed(pool, partner_id=partner_id, client_id=client_id)
    assert after is not None
    return Switched(
        client_id=client_id,
        enabled=not written.notifications_muted,
        applied=True,
        through="client",
        onboarding_status=after.onboarding_status,
        invitation_state=after.invitation_state,
    )


async def _wake_checklist_notice(
    pool: Pool, temporal: Client, partner_id: uuid.UUID, client_id: uuid.UUID
) -> None:
    """A checklist's notice held back while the client was muted goes now. Best effort: missed
    (no such run, Temporal busy), the notice's own timer finds the client unmuted later."""
    assigned = await checklists.get_assigned(pool, partner_id=partner_id, client_id=client_id)
    if assigned is None:
        return
    with suppress(RPCError):
        await checklist_notice.wake(temporal, client_id=client_id, assignment=assigned.assignment)


# ---- the firm's default for new clients ---------------------------------------------------------

# The firm's default is the firm's configuration: administrators change it; everyone of the firm
# may read it (the New client form preselects it for whoever starts onboardings).
DEFAULT_ROLES = roles.ADMINISTRATORS


async def keeps_muted(pool: Pool, *, partner_id: uuid.UUID, requested: bool | None) -> bool:
    """Whether a new client's notifications stay off once its setup completes: the request's
    `notifications.keep_muted` when it says, else the firm's setting. The one rule the API's and
    the console's starts and the bulk import's start apply."""
    if requested is not None:
        return requested
    return await partners.new_clients_muted(pool, partner_id=partner_id)


async def read_default(pool: Pool, *, partner_id: uuid.UUID, role: Role) -> bool:
    """The firm's setting: True keeps new clients' notifications off until switched on."""
    roles.require(role, roles.ANY_ROLE)
    return await partners.new_clients_muted(pool, partner_id=partner_id)


async def set_default(pool: Pool, *, partner_id: uuid.UUID, role: Role, muted: bool) -> bool:
    """Change the firm's setting (administrators); clients already started keep theirs."""
    roles.require(role, DEFAULT_ROLES)
    await partners.set_new_clients_muted(pool, partner_id=partner_id, muted=muted)
    return muted
