"""The firm's checklist catalogue: what a client's director is asked for (questions and documents
to provide). Everyone of the firm reads it; administrators and client managers change it. A
client gets a copy when its setup completes, so changing an entry here never changes what a client
was already asked. The JSON routes (/v1/checklists) and the console's Checklists pages call
these; and a client's checklist as the firm follows it (`progress`), assigned, replaced or
withdrawn at any time (`assign_to_client`, `withdraw_from_client`)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from pydantic import ValidationError
from temporalio.client import Client

from app import roles
from app.errors import Conflict, FieldIssue, Invalid, NotFound, not_started
from core import workflow_starts
from domain.checklists import ChecklistBody, ChecklistProgress
from domain.notices import ChecklistNoticeWorkflowInput
from domain.setup import Role
from store import checklists
from store.checklists import ChecklistRow
from store.pool import Pool


def _missing(checklist_id: uuid.UUID) -> NotFound:
    return NotFound(f"No checklist {checklist_id}")


def _items(body: ChecklistBody) -> list[dict[str, object]]:
    return [i.model_dump(mode="json") for i in body.items]


async def list_checklists(
    pool: Pool, *, partner_id: uuid.UUID, role: Role, limit: int, offset: int
) -> tuple[list[ChecklistRow], int]:
    """One page of the catalogue and its size."""
    roles.require(role, roles.ANY_ROLE)
    return await checklists.list_(pool, partner_id=partner_id, limit=limit, offset=offset)


async def read(
    pool: Pool, *, partner_id: uuid.UUID, role: Role, checklist_id: uuid.UUID
) -> ChecklistRow:
    """One checklist of the firm (another firm's: NotFound, like an unknown one)."""
    roles.require(role, roles.ANY_ROLE)
    row = await checklists.get(pool, partner_id=partner_id, checklist_id=checklist_id)
    if row is None:
        raise _missing(checklist_id)
    return row


async def create(
    pool: Pool,
    *,
    partner_id: uuid.UUID,
    role: Role,
    body: ChecklistBody,
    checklist_id: uuid.UUID | None = None,
) -> ChecklistRow:
    """Add a checklist; templates and onboarding requests name it by its id. A caller that
    chooses the id (a form's nonce) gets the one already made on a second try."""
    roles.require(role, roles.CONFIGURERS)
    chosen = checklist_id or uuid.uuid4()
    if checklist_id is not None:
        found = await checklists.get(pool, partner_id=partner_id, checklist_id=chosen)
        if found is not None:
            return found
    try:
        return await checklists.create(
            pool,
            partner_id=partner_id,
            checklist_id=chosen,
            name=body.name,
            language=body.language.value,
            items=_items(body),
        )
    except asyncpg.UniqueViolationError:
        # The same form sent twice at once: the first insert won, this one answers its row.
        found = await checklists.get(pool, partner_id=partner_id, checklist_id=chosen)
        if found is None:
            raise
        return found


async def replace(
    pool: Pool, *, partner_id: uuid.UUID, role: Role, checklist_id: uuid.UUID, body: ChecklistBody
) -> ChecklistRow:
    """Replace a checklist; clients that already have it keep their copy."""
    roles.require(role, roles.CONFIGURERS)
    row = await checklists.replace(
        pool,
        partner_id=partner_id,
        checklist_id=checklist_id,
        name=body.name,
        language=body.language.value,
        items=_items(body),
    )
    if row is None:
        raise _missing(checklist_id)
    return row


async def delete(pool: Pool, *, partner_id: uuid.UUID, role: Role, checklist_id: uuid.UUID) -> None:
    """Remove a checklist from the catalogue; clients that have it keep their copy."""
    roles.require(role, roles.CONFIGURERS)
    if not await checklists.delete(pool, partner_id=partner_id, checklist_id=checklist_id):
        raise _missing(checklist_id)


def parse(values: dict[str, Any]) -> ChecklistBody:
    """A checklist given as plain values (a form's), checked by the API's model. Invalid names
    each field at fault as the API does (`name`, `items.2.label`) with a code a page can word."""
    try:
        return ChecklistBody.model_validate(values)
    except ValidationError as exc:
        issues = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "items"
            kind = error["type"]
            if kind in ("missing", "string_too_short", "too_short"):
                code = "required"
            elif kind in ("string_too_long", "too_long"):
                code = "too_long"
            elif kind == "enum":
                code = "choice"
            else:
                code = "invalid"
            issues.append(FieldIssue(field, error["msg"], code))
        names = ", ".join(dict.fromkeys(i.field for i in issues))
        raise Invalid(f"Invalid field(s): {names}", errors=tuple(issues)) from None


async def progress(
    pool: Pool, *, partner_id: uuid.UUID, client_id: uuid.UUID
) -> ChecklistProgress | None:
    """The client's checklist with its answers; None when it has none (or is another firm's)."""
    return await checklists.read_progress(pool, partner_id=partner_id, client_id=client_id)


# Giving a client a checklist is changing the client: as every other change of a client.
CLIENT_ROLES = roles.CONFIGURERS


def _client_gone(client_id: uuid.UUID) -> NotFound:
    return NotFound(f"No client {client_id}")


async def assign_to_client(
    pool: Pool,
    temporal: Client,
    *,
    partner_id: uuid.UUID,
    client_id: uuid.UUID,
    role: Role,
    checklist_id: uuid.UUID,
    task_queue: str,
) -> ChecklistProgress:
    """Make the catalog's checklist the client's (assign, or replace the one it has: its answers
    go with it). An invited director is told by e-mail, once per assignment, when the client's
    notifications are on (a muted client's notice waits until they are switched on); the same
    request again changes nothing and sends nothing more."""
    roles.require(role, CLIENT_ROLES)
    try:
        done = await checklists.set_assigned(
            pool, partner_id=partner_id, client_id=client_id, checklist_id=checklist_id
        )
    except checklists.ClientGone:
        raise _client_gone(client_id) from None
    if done is None:
        raise Invalid.field("checklist_id", f"unknown checklist {checklist_id}", code="unknown")
    # After the commit, and again on a repeated request: a start lost with this process the
    # first time is made by the retry (the workflow's id keeps it to one run).
    notice = ChecklistNoticeWorkflowInput(
        partner_id=partner_id, client_id=client_id, assignment=done.row.assignment
    )
    try:
        # A run that succeeded told the director already: nothing more to say then.
        await workflow_starts.start(
            temporal, workflow_starts.checklist_notice(notice), task_queue=task_queue
        )
    except workflow_starts.StartFailed as exc:
        raise not_started(
            exc,
            what="checklist's e-mail",
            unavailable="The checklist is assigned but the director's e-mail could not be "
            "queued: send the same request again to queue it.",
        ) from exc
    found = await checklists.read_progress(pool, partner_id=partner_id, client_id=client_id)
    if found is None:
        raise Conflict("The checklist was withdrawn meanwhile.")
    return found


async def withdraw_from_client(
    pool: Pool, *, partner_id: uuid.UUID, client_id: uuid.UUID, role: Role
) -> None:
    """Take the client's checklist away: the director's page no longer shows it, and the answers
    given are deleted with it (documents a firm no longer asks for are not kept). A notice still
    waiting for it sends nothing."""
    roles.require(role, CLIENT_ROLES)
    try:
        withdrawn = await checklists.withdraw(pool, partner_id=partner_id, client_id=client_id)
    except checklists.ClientGone:
        raise _client_gone(client_id) from None
    if withdrawn is None:
        raise NotFound(f"No checklist for client {client_id}")
