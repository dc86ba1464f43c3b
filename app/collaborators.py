"""Who of the firm works on a client after onboarding: set exactly, the added ones told."""

from __future__ import annotations

import uuid

from temporalio.client import Client

from app import roles
from app.clients import client_not_found, ready_client
from app.errors import FieldIssue, Invalid, not_started
from core import workflow_starts
from domain.notices import CollaboratorsNoticeInput
from domain.setup import Role
from store import clients, folders, partners
from store.pool import Pool

CHANGE_ROLES = roles.CONFIGURERS


async def candidates(pool: Pool, *, partner_id: uuid.UUID) -> list[partners.UserRow]:
    """The firm's users, who may be made collaborators (a firm has tens, not thousands)."""
    rows, _ = await partners.list_users(pool, partner_id=partner_id, limit=500, offset=0)
    return rows


async def set_collaborators(
    pool: Pool,
    temporal: Client,
    *,
    partner_id: uuid.UUID,
    client_id: uuid.UUID,
    role: Role,
    user_ids: list[uuid.UUID],
    task_queue: str,
) -> clients.CollaboratorsChange:
    """Make exactly `user_ids` the client's collaborators (template users may be removed); the
    added ones are sent the "client ready" e-mail, each in their own language."""
    roles.require(role, CHANGE_ROLES)
    client = await ready_client(pool, partner_id=partner_id, client_id=client_id)
    try:
        changed = await clients.set_collaborators(
            pool, partner_id=partner_id, client_id=client_id, user_ids=user_ids
        )
    except clients.UnknownUsers as exc:
        position = {u: i for i, u in enumerate(user_ids)}
        issues = tuple(
            FieldIssue(f"user_ids.{position[u]}", f"unknown partner user {u}", "unknown_user")
            for u in exc.user_ids
        )
        raise Invalid(
            f"Invalid field(s): {', '.join(e.field for e in issues)}", errors=issues
        ) from exc
    if changed is None:
        raise client_not_found(client_id)
    if changed.added:
        # Sent by a workflow, not here: durable across a crash of this process, and its id
        # (this client, these users) makes a repeated request start nothing twice.
        notice = CollaboratorsNoticeInput(
            partner_id=partner_id,
            client_id=client_id,
            onboarding_id=client.onboarding_id,
            user_ids=changed.added,
            client_name=client.name,
            language=client.language,
            folder_count=await folders.count_folders(pool, client_id=client_id),
        )
        try:
            # A run that succeeded told them already (only a failed one runs again).
            await workflow_starts.start(
                temporal, workflow_starts.collaborators_notice(notice), task_queue=task_queue
            )
        except workflow_starts.StartFailed as exc:
            raise not_started(
                exc,
                what="collaborators' e-mail",
                unavailable="The collaborators are changed but the new ones' e-mail could not "
                "be queued: remove them and send the change again to have them told.",
            ) from exc
    return changed
