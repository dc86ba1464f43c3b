"""The application functions the JSON API and the console share, called directly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import Client

from app import clients as app_clients
from app import onboardings as app_onboardings
from app.errors import Forbidden, Invalid, NotFound
from app.roles import require
from domain.setup import Role
from store import clients, onboardings
from store.pool import Pool
from tests.factories import Tenant, make_client, make_tenant


async def test_list_clients_puts_the_users_own_clients_first(pool: Pool, tenant: Tenant) -> None:
    """ "My clients": those whose case manager is the user come first, then the rest, by name."""
    made = {}
    for name, manager in (("Alpha", "bob"), ("Bravo", "ada"), ("Charlie", None), ("Delta", "ada")):
        _, client_id = await make_client(pool, tenant, name=name)
        if manager:
            await clients.update_fields(
                pool,
                partner_id=tenant.partner.id,
                client_id=client_id,
                changes={"case_manager": manager},
            )
        made[name] = client_id
    listed = await app_clients.list_clients(
        pool,
        partner_id=tenant.partner.id,
        filters=app_clients.ClientFilters(first_for=("ada",)),
        sort="name",
        limit=10,
        offset=0,
    )
    assert (listed.total, listed.total_exact, listed.next_cursor) == (4, True, None)
    assert [r.name for r in listed.rows] == ["Bravo", "Delta", "Alpha", "Charlie"]


@pytest.mark.parametrize("mine_first", [False, True])
@pytest.mark.parametrize("sort", sorted(clients.LIST_SORTS))
async def test_list_clients_cursor_walks_each_order_without_gap_or_overlap(
    pool: Pool, sort: str, mine_first: bool
) -> None:
    """Following next_cursor two by two gives the one-page order exactly, ties, equal names
    and unscheduled clients (NULLs) included, "mine first" or not."""
    tenant = await make_tenant(pool)
    soon = datetime.now(UTC) + timedelta(days=2)
    plan = [
        ("Alpha", "ada", soon, "READY"),
        ("alpha", None, None, "SETTING_UP"),
        ("Bravo", "ada", None, "READY"),
        ("Bravo", "bob", soon, "COMPLETED"),
        ("Charlie", None, soon + timedelta(hours=1), "READY"),
        ("Delta", "ada", None, "SETTING_UP"),
        ("Echo", None, soon, "COMPLETED"),
    ]
    for name, manager, scheduled, status in plan:
        onboarding_id, client_id = await make_client(pool, tenant, name=name)
        await onboardings.set_status(pool, onboarding_id=onboarding_id, status=status)
        if manager:
            await clients.update_fields(
                pool,
                partner_id=tenant.partner.id,
                client_id=client_id,
                changes={"case_manager": manager},
            )
        if scheduled:
            await clients.record_invitation(
                pool, client_id=client_id, state="scheduled", scheduled_at=scheduled
            )
    filters = app_clients.ClientFilters(first_for=("ada",) if mine_first else ())

    async def page(limit: int, cursor: str | None) -> clients.ClientPage:
        return await app_clients.list_clients(
            pool,
            partner_id=tenant.partner.id,
            filters=filters,
            sort=sort,
            limit=limit,
            cursor=cursor,
        )

    whole = [r.id for r in (await page(100, None)).rows]
    walked: list[object] = []
    cursor = None
    for _ in range(10):
        listed = await page(2, cursor)
        walked += [r.id for r in listed.rows]
        cursor = listed.next_cursor
        if cursor is None:
            break
    assert len(whole) == len(plan)
    assert walked == whole


async def test_list_clients_refuses_a_cursor_of_another_order(pool: Pool, tenant: Tenant) -> None:
    """A cursor made for one sort, or not made by the list at all, is refused on its field."""
    for name in ("A", "B", "C"):
        await make_client(pool, tenant, name=name)
    listed = await app_clients.list_clients(
        pool,
        partner_id=tenant.partner.id,
        filters=app_clients.ClientFilters(),
        sort="name",
        limit=1,
    )
    assert listed.next_cursor is not None
    for cursor in (listed.next_cursor, "bm90IGEgY3Vyc29y", "%%%"):
        with pytest.raises(Invalid) as refused:
            await app_clients.list_clients(
                pool,
                partner_id=tenant.partner.id,
                filters=app_clients.ClientFilters(),
                sort="-created_at",
                limit=1,
                cursor=cursor,
            )
        assert [e.field for e in refused.value.errors] == ["cursor"]


async def test_list_clients_refuses_a_window_that_ends_before_it_starts(
    pool: Pool, tenant: Tenant
) -> None:
    """The error names the field, for the API's problem and the console's form alike."""
    now = datetime.now(UTC)
    with pytest.raises(Invalid) as refused:
        await app_clients.list_clients(
            pool,
            partner_id=tenant.partner.id,
            filters=app_clients.ClientFilters(scheduled_from=now, scheduled_to=now - timedelta(1)),
            sort="name",
            limit=10,
            offset=0,
        )
    assert [e.field for e in refused.value.errors] == ["scheduled_to"]


async def test_read_client_of_another_firm_is_not_found(pool: Pool, tenant: Tenant) -> None:
    """Another firm's client id is answered exactly like an unknown one."""
    other = await make_tenant(pool, "Another firm")
    _, client_id = await make_client(pool, other)
    with pytest.raises(NotFound):
        await app_clients.read_client(pool, partner_id=tenant.partner.id, client_id=client_id)
    view = await app_clients.read_client(pool, partner_id=other.partner.id, client_id=client_id)
    assert view.row.id == client_id


def test_check_schedule_refuses_the_past_naming_the_field() -> None:
    """A time already past would fire the workflow's timer at once: refused before Temporal."""
    now = datetime.now(UTC)
    with pytest.raises(Invalid) as refused:
        app_onboardings.check_schedule(
            now - timedelta(minutes=1), now=now, horizon=timedelta(days=30), field="when"
        )
    assert refused.value.errors[0].field == "when"
    assert refused.value.status == 422


async def test_send_invitation_now_for_another_firms_onboarding_is_not_found(
    pool: Pool, tenant: Tenant, client: Client
) -> None:
    """The firm is checked before Temporal is asked anything."""
    other = await make_tenant(pool, "Another firm")
    onboarding_id, _ = await make_client(pool, other)
    with pytest.raises(NotFound):
        await app_onboardings.send_invitation_now(
            pool,
            client,
            partner_id=tenant.partner.id,
            onboarding_id=onboarding_id,
            role=Role.accountant,
        )


def test_require_refuses_a_role_outside_the_rule() -> None:
    """One rule, one place: the API and the console both get this refusal (403)."""
    require(Role.accountant, (Role.administrator, Role.accountant))
    with pytest.raises(Forbidden) as refused:
        require(Role.accountant, (Role.administrator,))
    assert refused.value.status == 403 and "accountant" in refused.value.detail
