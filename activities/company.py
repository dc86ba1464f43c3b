"""The SIRET's other check: is it already a client of this partner?"""

from __future__ import annotations

import uuid

from pydantic import BaseModel
from temporalio import activity

from store import clients
from store.pool import Pool


class CheckSiretInput(BaseModel):
    partner_id: uuid.UUID
    onboarding_id: uuid.UUID
    siret: str


class CheckSiretResult(BaseModel):
    available: bool
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
