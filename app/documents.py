"""A client's documents tree by fiscal year: for each year, the shared folders and the year's
month folders, so staff can see that every month folder exists (any role)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from app.clients import client_not_found
from domain.fiscal_calendar import FiscalYear, months
from store import clients, folders
from store.folders import FiscalYearStateRow, FolderRow
from store.pool import Pool


@dataclass(frozen=True)
class YearFolders:
    year: FiscalYearStateRow
    folders: list[FolderRow]
    # Months the year touches, and how many month folders the per-year folders (those holding
    # month folders in any year) should hold for them.
    months: int
    expected_month_folders: int
    month_folders: int

    @property
    def complete(self) -> bool:
        return self.month_folders >= self.expected_month_folders


@dataclass(frozen=True)
class YearsPage:
    items: list[YearFolders]
    total: int


async def by_fiscal_year(
    pool: Pool, *, partner_id: uuid.UUID, client_id: uuid.UUID, limit: int, offset: int
) -> YearsPage:
    """The client's fiscal years, newest first, `limit` of them from `offset`, each with its
    folders; NotFound for another firm's client."""
    if await clients.get_for_partner(pool, partner_id=partner_id, client_id=client_id) is None:
        raise client_not_found(client_id)
    # A client has a handful of fiscal years: paging them here costs one small read.
    years = list(reversed(await folders.list_fiscal_year_states(pool, client_id=client_id)))
    holders = await folders.month_folder_parents(pool, client_id=client_id)
    items = []
    for year in years[offset : offset + limit]:
        tree = await folders.list_year_folders(
            pool, client_id=client_id, starts_on=year.starts_on, ends_on=year.ends_on
        )
        month_count = len(months(FiscalYear(start=year.starts_on, end=year.ends_on)))
        present = sum(1 for f in tree if f.kind == "month")
        items.append(
            YearFolders(
                year=year,
                folders=tree,
                months=month_count,
                expected_month_folders=month_count * len(holders),
                month_folders=present,
            )
        )
    return YearsPage(items=items, total=len(years))
