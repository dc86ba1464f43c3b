"""The VIES check against the stand-in speaking VIES's REST format: valid, invalid, and a member
state's service down (retryable, so Temporal tries again), paced fleet-wide in PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.vies import LIMIT_KEY, CheckVatInput, ViesActivities, ViesConfig
from devstack.serving import serve_app
from devstack.vies_standin import vies_app
from store import limits
from store.pool import Pool


@pytest.fixture
async def vies(pool: Pool) -> AsyncIterator[tuple[ViesActivities, httpx.AsyncClient]]:
    await limits.forget(pool, key=LIMIT_KEY)
    async with serve_app(vies_app(), access_log=False) as http:
        config = ViesConfig(base_url=str(http.base_url), rate=5.0)
        yield ViesActivities(pool, config, http=http), http


async def test_check_vat_valid_and_invalid_numbers(
    vies: tuple[ViesActivities, httpx.AsyncClient],
) -> None:
    """Proximus's VAT number is valid with its name; a number no state knows is invalid."""
    activities, _ = vies
    env = ActivityEnvironment()
    valid = await env.run(
        activities.check_vat, CheckVatInput(country_code="BE", vat_number="0202239951")
    )
    assert (valid.valid, valid.name) == (True, "Proximus")
    invalid = await env.run(
        activities.check_vat, CheckVatInput(country_code="BE", vat_number="0999999097")
    )
    assert (invalid.valid, invalid.name) == (False, None)


async def test_check_vat_member_state_down_is_retryable_then_answers(
    vies: tuple[ViesActivities, httpx.AsyncClient],
) -> None:
    """MS_UNAVAILABLE is a retryable ViesUnavailable naming VIES's code; once the fault is gone
    the next attempt answers."""
    activities, http = vies
    await http.post("/_control", json={"fault": "MS_UNAVAILABLE", "times": 1})
    env = ActivityEnvironment()
    data = CheckVatInput(country_code="BE", vat_number="0214596464")
    with pytest.raises(ApplicationError) as caught:
        await env.run(activities.check_vat, data)
    assert caught.value.type == "ViesUnavailable" and not caught.value.non_retryable
    assert "MS_UNAVAILABLE" in str(caught.value)
    assert (await env.run(activities.check_vat, data)).valid


async def test_check_vat_paced_fleet_wide(
    vies: tuple[ViesActivities, httpx.AsyncClient],
) -> None:
    """At 5 checks/s, six checks in a row take at least one second (slots 0.2 s apart)."""
    activities, _ = vies
    env = ActivityEnvironment()
    started = time.monotonic()
    for _ in range(6):
        await env.run(
            activities.check_vat, CheckVatInput(country_code="BE", vat_number="0403053608")
        )
    assert time.monotonic() - started >= 0.95
