"""Use cases on a firm's clients that the JSON API and the console share: the "My clients" list
(filters, search, paging) and everything about one client, read as of one moment."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from temporalio.client import Client

from app import notifications, roles
from app.errors import Conflict, Invalid, NotFound, Unavailable
from app.pricing import subscription_cost
from domain.pricing import MonthlyCost
from domain.setup import Role
from store import applied_setup, clients, folders, subscriptions
from store.clients import ClientErased
from store.pool import Conn, Pool, snapshot


def client_not_found(client_id: uuid.UUID) -> NotFound:
    return NotFound(f"No client {client_id}")


@dataclass(frozen=True)
class ClientFilters:
    """What narrows the list; None is "any". Times are aware (any zone), compared in UTC."""

    case_manager: str | None = None
    tag: str | None = None
    onboarding_status: str | None = None
    muted: bool | None = None
    invitation_state: str | None = None
    scheduled_from: datetime | None = None
    scheduled_to: datetime | None = None
    q: str | None = None
    enterprise_number: str | None = None  # 10 digits, normalised by the caller's type
    # Clients whose case manager is one of these come first, then `sort`.
    first_for: tuple[str, ...] = field(default=())
    # Only the clients this partner user collaborates on ("my clients"); another firm's user
    # finds none, as an unknown one.
    collaborator: uuid.UUID | None = None


def _utc(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise Invalid.field(name, "is out of range") from None


async def list_clients(
    pool: Pool,
    *,
    partner_id: uuid.UUID,
    filters: ClientFilters,
    sort: str,
    limit: int,
    offset: int = 0,
    cursor: str | None = None,
) -> clients.ClientPage:
    """One page of the firm's clients matching `filters`, and how many match (exact up to
    clients.TOTAL_CAP). Invalid on `cursor` when it is not one this list made for `sort`."""
    start = _utc(filters.scheduled_from, "scheduled_from")
    end = _utc(filters.scheduled_to, "scheduled_to")
    if start is not None and end is not None and end < start:
        raise Invalid.field("scheduled_to", "is before scheduled_from")
    q = filters.q.strip() or None if filters.q else None
    if cursor is not None and offset:
        raise Invalid.field("cursor", "cannot be used with offset")
    try:
        return await clients.list_for_partner(
            pool,
            partner_id=partner_id,
            case_manager=filters.case_manager,
            tag=filters.tag,
            onboarding_status=filters.onboarding_status,
            muted=filters.muted,
            invitation_state=filters.invitation_state,
            scheduled_from=start,
            scheduled_to=end,
            q=q,
            enterprise_number=filters.enterprise_number,
            sort=sort,
            limit=limit,
            offset=offset,
            cursor=cursor,
            first_for=list(filters.first_for) or None,
            collaborator=filters.collaborator,
        )
    except clients.BadCursor as exc:
        raise Invalid.field("cursor", "is not a cursor of this list and order") from exc


async def opens_on_mine(pool: Pool, *, partner_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """Whether the console's clients list opens on the user's own clients (those they
    collaborate on): yes as soon as they have one, else on every client, rather than on an
    empty page."""
    return await clients.collaborates_on_any(pool, partner_id=partner_id, user_id=user_id)


@dataclass(frozen=True)
class ClientView:
    """One client as of one moment: the list's row, the full row and what hangs off it."""

    listed: clients.ClientListRow
    row: clients.ClientRow
    subscription: subscriptions.RevisionRow | None
    collaborators: list[clients.Collaborator]
    users: list[dict[str, Any]]
    integrations: list[applied_setup.IntegrationRow]
    fiscal_years: list[folders.FiscalYearRow]
    folder_count: int
    # What the subscription in force costs a month (app/pricing.py); None without a plan.
    monthly_cost: MonthlyCost | None = None


async def read_client(pool: Pool, *, partner_id: uuid.UUID, client_id: uuid.UUID) -> ClientView:
    """Everything about one of the firm's clients; NotFound for another firm's."""
    # Eight reads, one moment: a step landing in between cannot show half in the answer.
    async with snapshot(pool) as conn:
        return await _client_view(conn, partner_id, client_id)


async def _client_view(conn: Conn, partner_id: uuid.UUID, client_id: uuid.UUID) -> ClientView:
    listed = await clients.get_listed(conn, partner_id=partner_id, client_id=client_id)
    row = await clients.get_for_partner(conn, partner_id=partner_id, client_id=client_id)
    if listed is None or row is None:
        raise client_not_found(client_id)
    today = datetime.now(UTC).date()
    subscription = await subscriptions.in_force(conn, client_id=client_id, on=today)
    return ClientView(
        listed=listed,
        row=row,
        subscription=subscription,
        collaborators=await clients.list_collaborator_users(conn, client_id=client_id),
        users=await clients.list_users(conn, client_id=client_id),
        integrations=await applied_setup.list_integrations(conn, client_id=client_id),
        fiscal_years=await folders.list_fiscal_years(conn, client_id=client_id),
        folder_count=await folders.count_folders(conn, client_id=client_id),
        monthly_cost=await subscription_cost(conn, partner_id=partner_id, revision=subscription),
    )


# Switching notifications is configuring the client: administrators and client managers.
NOTIFICATION_ROLES = roles.CONFIGURERS


async def switch_notifications(
    pool: Pool,
    temporal: Client,
    *,
    partner_id: uuid.UUID,
    client_id: uuid.UUID,
    role: Role,
    enabled: bool,
) -> notifications.Switched:
    """Switch one of the firm's clients' notifications on or off. While its onboarding runs the
    workflow decides (switched on, an invitation kept waiting goes on according to its mode);
    the same switch twice is once."""
    roles.require(role, NOTIFICATION_ROLES)
    try:
        return await notifications.switch(
            pool, temporal, partner_id=partner_id, client_id=client_id, enabled=enabled
        )
    except notifications.ClientNotFound:
        raise client_not_found(client_id) from None
    except ClientErased:
        raise erased(client_id) from None
    except notifications.SwitchRefused as exc:
        raise Conflict("The onboarding refused the switch.") from exc
    except notifications.OnboardingUnreachable as exc:
        raise Unavailable("Cannot reach the client's onboarding now; nothing was changed.") from exc


def erased(client_id: uuid.UUID) -> Conflict:
    """The one answer to a change of an erased client's personal data (or notifications)."""
    return Conflict(
        f"The personal data of client {client_id} was erased; it takes no new personal data "
        "and its notifications stay off.",
        slug="client-erased",
        title="Client erased",
    )


async def ready_client(
    pool: Pool, *, partner_id: uuid.UUID, client_id: uuid.UUID
) -> clients.ClientRow:
    """The firm's client once its setup is complete: a Conflict before, because the onboarding
    is still applying its own setup (collaborators, subscription, folders) and would apply it
    over a change made meanwhile."""
    row = await clients.get_for_partner(pool, partner_id=partner_id, client_id=client_id)
    if row is None:
        raise client_not_found(client_id)
    if row.status != "ready":
        raise Conflict(
            "The client's onboarding has not completed its setup yet; change it once the "
            "onboarding is READY.",
            slug="client-setting-up",
            title="Client still setting up",
        )
    return row
