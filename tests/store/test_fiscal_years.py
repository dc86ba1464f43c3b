"""The fiscal_years table never holds two overlapping years of a client (migration 0014's
trigger), whoever writes them and however many at once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date

import pytest

from store import folders
from store.pool import Pool
from tests.factories import Tenant, make_client


async def _add(pool: Pool, client_id: uuid.UUID, start: date, end: date) -> bool:
    return await folders.add_fiscal_year(
        pool,
        client_id=client_id,
        starts_on=start,
        ends_on=end,
        workflow_id=f"fiscal-year-{client_id}-{start}",
        requested_by=None,
    )


async def test_overlapping_years_asked_at_once_only_one_is_recorded(
    pool: Pool, tenant: Tenant
) -> None:
    """Two overlapping years inserted concurrently, many times over: one wins, the other is
    refused as an overlap, never both."""
    for _ in range(5):
        _, client_id = await make_client(pool, tenant)
        outcomes = await asyncio.gather(
            _add(pool, client_id, date(2026, 1, 1), date(2026, 12, 31)),
            _add(pool, client_id, date(2026, 6, 1), date(2027, 5, 31)),
            return_exceptions=True,
        )
        assert sorted(type(o).__name__ for o in outcomes) == ["FiscalYearOverlap", "bool"]
        assert len(await folders.list_fiscal_year_states(pool, client_id=client_id)) == 1


async def test_onboarding_insert_is_refused_too_and_same_start_is_no_error(
    pool: Pool, tenant: Tenant
) -> None:
    """The onboarding's own insert (create_fiscal_year) meets the same rule; a year with the same
    start is the same year: nothing inserted, nothing raised; adjacent years are fine."""
    _, client_id = await make_client(pool, tenant)
    assert await _add(pool, client_id, date(2026, 1, 1), date(2026, 12, 31))
    with pytest.raises(folders.FiscalYearOverlap):
        await _add(pool, client_id, date(2025, 6, 1), date(2026, 1, 1))
    with pytest.raises(Exception, match="overlaps the fiscal year 2026-01-01 to 2026-12-31"):
        await folders.create_fiscal_year(
            pool, client_id=client_id, starts_on=date(2026, 12, 31), ends_on=date(2027, 12, 30)
        )
    assert not await folders.create_fiscal_year(
        pool, client_id=client_id, starts_on=date(2026, 1, 1), ends_on=date(2026, 12, 31)
    )
    assert await _add(pool, client_id, date(2027, 1, 1), date(2027, 12, 31))
    assert await folders.create_fiscal_year(
        pool, client_id=client_id, starts_on=date(2025, 1, 1), ends_on=date(2025, 12, 31)
    )
    years = await folders.list_fiscal_year_states(pool, client_id=client_id)
    assert [(y.starts_on.year, y.folders_state) for y in years] == [
        (2025, None),
        (2026, "creating"),
        (2027, "creating"),
    ]
