"""The webhook outbox against real PostgreSQL: which writes emit which events, once, to whom, and
how the delivery loop's claims keep one onboarding's events in order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from domain.onboarding import OnboardingStatus
from store import email_log, imports, invitations, onboardings
from store import webhooks as store
from store.pool import Pool
from tests.factories import Tenant, make_client, make_tenant

ALL_TYPES = [t.value for t in store.EventType]


_made: list[store.EndpointRow] = []


@pytest.fixture(autouse=True)
def _cleanup(endpoints_made: list[store.EndpointRow]) -> None:
    """Endpoints made by a test are deleted after it (by `endpoints_made`): no other test's
    loop tries them."""
    global _made
    _made = endpoints_made


async def _endpoint(pool: Pool, tenant: Tenant, types: list[str] | None = None) -> uuid.UUID:
    row = await store.create_endpoint(
        pool,
        partner_id=tenant.partner.id,
        url="https://hooks.partner.invalid/in",
        event_types=types or ALL_TYPES,
        secret="whsec_" + "A" * 44,
        created_by=tenant.admin.id,
    )
    _made.append(row)
    return row.id


async def _events(pool: Pool, endpoint_id: uuid.UUID) -> list[tuple[str, dict[str, object]]]:
    rows, _ = await store.list_deliveries(pool, endpoint_id=endpoint_id, limit=200, offset=0)
    return [(r.event_type, r.payload) for r in reversed(rows)]


async def test_status_change_emits_once_and_setting_up_never(pool: Pool, tenant: Tenant) -> None:
    """A status written twice (a retried activity) is one event; SETTING_UP is not reported."""
    endpoint = await _endpoint(pool, tenant)
    onboarding_id, _ = await make_client(pool, tenant)
    for status in ("AWAITING_COMPANY_DETAILS", "SETTING_UP", "READY", "READY", "COMPLETED"):
        await onboardings.set_status(pool, onboarding_id=onboarding_id, status=status)
    events = await _events(pool, endpoint)
    assert [t for t, _ in events] == [
        "onboarding.awaiting_company_details",
        "onboarding.ready",
        "onboarding.completed",
    ]
    assert events[1][1] == {
        "onboarding_id": str(onboarding_id),
        "status": "READY",
        "previous_status": "SETTING_UP",
    }


async def test_every_reported_status_has_an_event_type(pool: Pool, tenant: Tenant) -> None:
    """Each status but SETTING_UP is reported under its own event type. A status added to the
    workflow fails this until it is added to STATUS_EVENTS and the trigger (migration 0011)."""
    endpoint = await _endpoint(pool, tenant)
    reported = [s for s in OnboardingStatus if s != OnboardingStatus.SETTING_UP]
    for status in reported:
        onboarding_id, _ = await make_client(pool, tenant)
        await onboardings.set_status(pool, onboarding_id=onboarding_id, status=status.value)
    assert [t for t, _ in await _events(pool, endpoint)] == [
        store.STATUS_EVENTS[s.value].value for s in reported
    ]


async def test_endpoint_receives_only_its_event_types_and_partner(pool: Pool) -> None:
    """Subscriptions filter by type; another partner's changes never reach this endpoint."""
    mine, other = await make_tenant(pool), await make_tenant(pool)
    ready_only = await _endpoint(pool, mine, ["onboarding.ready"])
    others = await _endpoint(pool, other)
    onboarding_id, _ = await make_client(pool, mine)
    await onboardings.set_status(pool, onboarding_id=onboarding_id, status="FAILED")
    await onboardings.set_status(pool, onboarding_id=onboarding_id, status="READY")
    assert [t for t, _ in await _events(pool, ready_only)] == ["onboarding.ready"]
    assert await _events(pool, others) == []


async def test_invitation_events_follow_the_email_log_and_acceptance(
    pool: Pool, tenant: Tenant
) -> None:
    """Sent, bounced (reminder), accepted and expired, each once, with ids and no address."""
    endpoint = await _endpoint(pool, tenant)
    onboarding_id, _ = await make_client(pool, tenant)
    common = {"recipient": "director@example.com", "subject": "s"}
    await email_log.reserve(
        pool,
        onboarding_id=onboarding_id,
        purpose="invitation",
        sequence=100,
        message_id=f"<100.{onboarding_id}>",
        **common,
    )
    for _ in range(2):  # a retry marks it sent again: still one event
        await email_log.mark(
            pool, onboarding_id=onboarding_id, purpose="invitation", sequence=100, status="sent"
        )
    await email_log.reserve(
        pool,
        onboarding_id=onboarding_id,
        purpose="reminder",
        sequence=101,
        message_id=f"<101.{onboarding_id}>",
        **common,
    )
    await email_log.mark(
        pool, onboarding_id=onboarding_id, purpose="reminder", sequence=101, status="bounced"
    )
    await invitations.record(
        pool,
        onboarding_id=onboarding_id,
        sequence=1,
        token_hash=f"h-{onboarding_id}",
        recipient="director@example.com",
        expires_at=datetime.now(UTC) + timedelta(days=1),
    )
    async with pool.acquire() as conn:
        assert await invitations.mark_accepted(conn, token_hash=f"h-{onboarding_id}")
        assert await invitations.mark_accepted(conn, token_hash=f"h-{onboarding_id}") is None
    await email_log.reserve(
        pool,
        onboarding_id=onboarding_id,
        purpose="expired",
        sequence=200,
        message_id=f"<200.{onboarding_id}>",
        **common,
    )
    events = await _events(pool, endpoint)
    assert [t for t, _ in events] == [
        "invitation.sent",
        "invitation.bounced",
        "invitation.accepted",
        "invitation.expired",
    ]
    assert [p["invitation_sequence"] for _, p in events] == [1, 1, 1, 2]
    assert all("director@example.com" not in str(p) for _, p in events)


async def test_import_finished_once_when_its_last_row_settles(pool: Pool, tenant: Tenant) -> None:
    """import.finished comes when every valid row is skipped or past SETTING_UP, and only once."""
    endpoint = await _endpoint(pool, tenant)
    import_id = uuid.uuid4()
    request = {"client": {"first_name": "A", "last_name": "B", "email": "a@b.example"}}
    await imports.create(
        pool,
        import_id=import_id,
        partner_id=tenant.partner.id,
        idempotency_key=str(import_id),
        request_hash="h",
        workflow_id=f"import-{import_id}",
        filename="clients.csv",
        created_by=tenant.admin.id,
        rows=[(1, None, request, []), (2, None, request, []), (3, None, None, [{"e": 1}])],
    )
    onboarding_id = uuid.uuid4()
    await onboardings.claim(
        pool,
        onboarding_id=onboarding_id,
        partner_id=tenant.partner.id,
        idempotency_key=f"import:{import_id}:1",
        request_hash="h",
        workflow_id=f"onboarding-{onboarding_id}",
        status="SETTING_UP",
        import_id=import_id,
    )
    await imports.link_row(
        pool, import_id=import_id, row=1, onboarding_id=onboarding_id, skipped=None
    )
    await onboardings.set_status(pool, onboarding_id=onboarding_id, status="READY")
    assert await _events(pool, endpoint) == [
        ("onboarding.ready", {"onboarding_id": str(onboarding_id), "status": "READY",
                              "previous_status": "SETTING_UP"}),
    ]  # fmt: skip
    # The last open row is skipped (already a client): the import is over.
    await imports.link_row(
        pool, import_id=import_id, row=2, onboarding_id=None, skipped="already a client"
    )
    await onboardings.set_status(pool, onboarding_id=onboarding_id, status="COMPLETED")
    events = await _events(pool, endpoint)
    assert [t for t, _ in events] == ["onboarding.ready", "import.finished", "onboarding.completed"]
    assert events[1][1] == {"import_id": str(import_id), "statuses": {"READY": 1}, "skipped": 1}


async def test_claim_keeps_one_onboarding_in_order_and_leases(pool: Pool, tenant: Tenant) -> None:
    """One delivery per (endpoint, onboarding) at a time, the oldest first; a lease hides it."""
    endpoint = await _endpoint(pool, tenant)
    first, _ = await make_client(pool, tenant)
    second, _ = await make_client(pool, tenant)
    for status in ("READY", "COMPLETED"):
        await onboardings.set_status(pool, onboarding_id=first, status=status)
    await onboardings.set_status(pool, onboarding_id=second, status="FAILED")
    claimed = [
        c
        for c in await store.claim(pool, limit=100, lease=timedelta(minutes=1))
        if c.endpoint_id == endpoint
    ]
    assert sorted(c.event_type for c in claimed) == ["onboarding.failed", "onboarding.ready"]
    again = await store.claim(pool, limit=100, lease=timedelta(minutes=1))
    assert not [c for c in again if c.endpoint_id == endpoint]  # leased, and completed waits
    ready = next(c for c in claimed if c.event_type == "onboarding.ready")
    await store.record_success(pool, delivery=ready, status_code=204, latency_ms=3)
    after = [
        c
        for c in await store.claim(pool, limit=100, lease=timedelta(minutes=1))
        if c.endpoint_id == endpoint
    ]
    assert [c.event_type for c in after] == ["onboarding.completed"]
    assert after[0].attempt == 1


async def test_a_delivery_reads_as_one_moment(
    pool: Pool, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The delivery and its log agree even when an attempt's outcome is committed between the
    statements that read them (seen in CI: the log said 503, the delivery still nothing)."""
    endpoint = await _endpoint(pool, tenant)
    onboarding_id, _ = await make_client(pool, tenant)
    await onboardings.set_status(pool, onboarding_id=onboarding_id, status="READY")
    [claimed] = [
        c
        for c in await store.claim(pool, limit=100, lease=timedelta(minutes=1))
        if c.endpoint_id == endpoint
    ]
    read_log = store._with_log
    writes = 0

    async def outcome_lands_in_between(conn: object, records: list[object]) -> object:
        nonlocal writes
        if writes == 0:  # the first read only: the second must see the outcome whole
            writes += 1
            await store.record_failure(
                pool,
                delivery=claimed,
                status_code=503,
                latency_ms=7,
                error="the endpoint answered 503",
                retry_at=datetime.now(UTC) + timedelta(minutes=1),
                disable_after=timedelta(hours=1),
            )
        return await read_log(conn, records)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "_with_log", outcome_lands_in_between)
    [listed], total = await store.list_deliveries(pool, endpoint_id=endpoint, limit=10, offset=0)
    assert writes == 1 and total == 1
    assert (listed.last_status_code, listed.log[0].status_code) == (None, None)
    assert listed.attempts == 1 and listed.log[0].error is None
    got = await store.get_delivery(pool, endpoint_id=endpoint, delivery_id=claimed.id)
    assert got is not None
    assert (got.last_status_code, got.log[0].status_code) == (503, 503)
    assert got.last_error == got.log[0].error == "the endpoint answered 503"
