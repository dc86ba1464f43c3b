"""GET /v1/onboardings?stuck_for=...: unfinished onboardings whose status has not changed for
that long, from the projection's `status_since`, which only a real status change moves."""

from __future__ import annotations

import uuid

import httpx

from store import onboardings
from store.pool import Pool
from tests.factories import Tenant, make_client, make_tenant


async def _onboarding(pool: Pool, tenant: Tenant, status: str, *, days_ago: int = 0) -> str:
    onboarding_id, _ = await make_client(pool, tenant)
    await onboardings.set_status(pool, onboarding_id=onboarding_id, status=status)
    if days_ago:
        await pool.execute(
            "UPDATE onboardings SET status_since = now() - make_interval(days => $2) WHERE id = $1",
            onboarding_id,
            days_ago,
        )
    return str(onboarding_id)


async def test_stuck_for_lists_an_old_status_and_not_a_new_or_finished_one(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """NEEDS_ATTENTION since 3 days is stuck for PT48H; since now it is not; COMPLETED or FAILED
    long ago never is; the oldest comes first and `since` says when."""
    old = await _onboarding(pool, tenant, "NEEDS_ATTENTION", days_ago=3)
    older = await _onboarding(pool, tenant, "AWAITING_COMPANY_DETAILS", days_ago=5)
    await _onboarding(pool, tenant, "NEEDS_ATTENTION")
    await _onboarding(pool, tenant, "COMPLETED", days_ago=30)
    await _onboarding(pool, tenant, "FAILED", days_ago=30)

    page = await api.get("/v1/onboardings", params={"stuck_for": "PT48H"})
    assert page.status_code == 200, page.text
    body = page.json()
    assert [item["id"] for item in body["items"]] == [older, old]
    assert body["total"] == 2
    assert body["items"][1]["status"] == "NEEDS_ATTENTION"
    assert body["items"][1]["since"] < body["items"][1]["updated_at"]

    filtered = await api.get(
        "/v1/onboardings", params={"stuck_for": "P2D", "status": "NEEDS_ATTENTION"}
    )
    assert [item["id"] for item in filtered.json()["items"]] == [old]
    longer = await api.get("/v1/onboardings", params={"stuck_for": "P4D"})
    assert [item["id"] for item in longer.json()["items"]] == [older]
    everything = await api.get("/v1/onboardings")
    assert everything.json()["total"] == 5  # without the filter, nothing is left out


async def test_other_partners_stuck_onboardings_stay_invisible(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """The stuck filter is a filter on the caller's own onboardings, like every other one."""
    other = await make_tenant(pool, name="Cabinet Voisin")
    await _onboarding(pool, other, "NEEDS_ATTENTION", days_ago=10)
    page = await api.get("/v1/onboardings", params={"stuck_for": "PT1H"})
    assert page.json() == {
        "items": [],
        "total": 0,
        "total_exact": True,
        "limit": 50,
        "offset": 0,
    }


async def test_repeating_a_status_keeps_its_since_and_a_change_moves_it(
    pool: Pool, tenant: Tenant
) -> None:
    """A retried projection write (same status) must not reset the clock; a change does."""
    onboarding_id = uuid.UUID(await _onboarding(pool, tenant, "NEEDS_ATTENTION", days_ago=3))

    async def since() -> object:
        return await pool.fetchval(
            "SELECT status_since FROM onboardings WHERE id = $1", onboarding_id
        )

    before = await since()
    await onboardings.set_status(pool, onboarding_id=onboarding_id, status="NEEDS_ATTENTION")
    assert await since() == before
    await onboardings.set_status(pool, onboarding_id=onboarding_id, status="SETTING_UP")
    changed = await since()
    assert changed != before
    assert await pool.fetchval(
        "SELECT status_since > now() - interval '1 minute' FROM onboardings WHERE id = $1",
        onboarding_id,
    )


async def test_bad_stuck_for_is_a_problem_naming_the_field(api: httpx.AsyncClient) -> None:
    """Not ISO 8601, months (calendar-dependent), or absurdly long: 422 naming `stuck_for`."""
    for bad in ("48h", "P1M", "PT", "P", "P99999999D", "P3661D", "-PT1H", "P1DT"):
        response = await api.get("/v1/onboardings", params={"stuck_for": bad})
        assert response.status_code == 422, (bad, response.text)
        problem = response.json()
        assert response.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in problem["errors"]] == ["stuck_for"], bad
