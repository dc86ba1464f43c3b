"""The right to erasure: a client's personal data scrubbed for good, by an administrator."""

from __future__ import annotations

import uuid

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from app import roles
from app.clients import client_not_found
from app.errors import Unavailable
from domain.onboarding import workflow_id_for
from domain.setup import Role
from store import clients, erasure
from store.pool import Pool

ERASE_ROLES = roles.ADMINISTRATORS


async def _stop_onboarding(temporal: Client, onboarding_id: uuid.UUID) -> str:
    """Cancel the onboarding's workflow if it still runs: 'cancelled' or 'not_running'.

    Cancelled rather than terminated: Temporal records the request with its reason, and the
    workflow is told at its next wait, so it stops sending (the client is also muted in the same
    transaction as the erasure, for anything already in flight). The reason is stored in clear
    in the history: ids only.
    """
    handle = temporal.get_workflow_handle(workflow_id_for(onboarding_id))
    try:
        described = await handle.describe()
        if described.status != WorkflowExecutionStatus.RUNNING:
            return "not_running"
        await handle.cancel(
            reason=f"right to erasure: the personal data of onboarding {onboarding_id} was erased"
        )
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return "not_running"  # the workflow is past retention, or finished meanwhile
        # Erasing while the onboarding runs on would let it write the data again: not now.
        raise Unavailable(
            "The client's onboarding could not be stopped now; nothing was erased.",
        ) from exc
    return "cancelled"


async def erase_personal_data(
    pool: Pool,
    temporal: Client,
    *,
    partner_id: uuid.UUID,
    client_id: uuid.UUID,
    role: Role,
    requested_by: uuid.UUID,
) -> erasure.ErasureRow:
    """Erase the client's personal data and stop its onboarding; a second call changes
    nothing and answers the first one's record."""
    roles.require(role, ERASE_ROLES)
    client = await clients.get_for_partner(pool, partner_id=partner_id, client_id=client_id)
    if client is None:
        raise client_not_found(client_id)
    done = await erasure.get(pool, client_id=client_id)
    stopped = done.onboarding if done else await _stop_onboarding(temporal, client.onboarding_id)
    result = await erasure.erase_client(
        pool,
        partner_id=partner_id,
        client_id=client_id,
        requested_by=requested_by,
        onboarding=stopped,
    )
    if result is None:
        raise client_not_found(client_id)
    return result[0]


async def erased(pool: Pool, *, client_id: uuid.UUID) -> erasure.ErasureRow | None:
    """The client's erasure, if its personal data was erased."""
    return await erasure.get(pool, client_id=client_id)
