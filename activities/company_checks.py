"""The company's checks against the database: is the SIRET (or Belgian enterprise number)
already a client of this partner, and what the KBO/BCE Open Data loaded here says of a Belgian
enterprise."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from pydantic import BaseModel
from temporalio import activity

from domain.company import CompanyRecord
from domain.kbo import KBO_SOURCE, STALE_AFTER_DAYS, company_from_kbo
from store import clients, kbo
from store.pool import Pool


class CheckSiretInput(BaseModel):
    partner_id: uuid.UUID
    onboarding_id: uuid.UUID
    siret: str


class CheckSiretResult(BaseModel):
    available: bool
    attempt: int


class LookupEnterpriseInput(BaseModel):
    partner_id: uuid.UUID
    onboarding_id: uuid.UUID
    enterprise_number: str  # 10 digits, validated by the request
    language: str  # the client's: picks the denomination and the address's language


class LookupEnterpriseResult(BaseModel):
    # False: another onboarding's client of the partner has this number (nothing looked up).
    available: bool
    company: CompanyRecord | None = None  # None: unknown to the data set in service
    answered_by: str = KBO_SOURCE
    extract_date: date | None = None  # None: no data set loaded yet
    extract_age_days: int | None = None
    stale: bool = False  # the extract is older than STALE_AFTER_DAYS
    attempt: int


class CompanyActivities:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    @activity.defn
    async def check_siret_available(self, data: CheckSiretInput) -> CheckSiretResult:
        """Free unless another onboarding's client of the same partner has it (a replay of this
        onboarding finds its own client, which does not count)."""
        owner = await clients.siret_owner(self.pool, partner_id=data.partner_id, siret=data.siret)
        return CheckSiretResult(
            available=owner is None or owner == data.onboarding_id,
            attempt=activity.info().attempt,
        )

    @activity.defn
    async def lookup_enterprise(self, data: LookupEnterpriseInput) -> LookupEnterpriseResult:
        """A Belgian enterprise in the local KBO tables: a query, so no rate limit and no
        remote failure; free unless another onboarding's client of the partner has it."""
        attempt = activity.info().attempt
        owner = await clients.enterprise_number_owner(
            self.pool, partner_id=data.partner_id, enterprise_number=data.enterprise_number
        )
        if owner is not None and owner != data.onboarding_id:
            return LookupEnterpriseResult(available=False, attempt=attempt)
        extract = await kbo.extract_in_service(self.pool)
        if extract is None:
            return LookupEnterpriseResult(available=True, attempt=attempt)
        # The activity's clock, not the workflow's: the answer is recorded in history.
        age = (datetime.now(UTC).date() - extract.snapshot_date).days
        found = await kbo.find_enterprise(self.pool, enterprise_number=data.enterprise_number)
        return LookupEnterpriseResult(
            available=True,
            company=company_from_kbo(
                enterprise_number=found.enterprise_number,
                status=found.status,
                juridical_form=found.juridical_form,
                denominations=found.denominations,
                address=found.address,
                language=data.language,
                extract=extract.snapshot_date,
            )
            if found
            else None,
            extract_date=extract.snapshot_date,
            extract_age_days=age,
            stale=age > STALE_AFTER_DAYS,
            attempt=attempt,
        )
