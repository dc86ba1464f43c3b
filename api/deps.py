"""Process-wide services (created in the lifespan) and the dependencies that hand them out."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from temporalio.client import Client

from core.settings import Settings
from store import partners
from store.pool import Pool

# Until partner authentication lands, the API acts for the development partner the first
# migration creates.
DEV_PARTNER_ID = uuid.UUID("00000000-0000-0000-0000-000000000001")


@dataclass
class Services:
    settings: Settings
    pool: Pool
    temporal: Client


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_pool(services: ServicesDep) -> Pool:
    return services.pool


def get_temporal(services: ServicesDep) -> Client:
    return services.temporal


PoolDep = Annotated[Pool, Depends(get_pool)]
TemporalDep = Annotated[Client, Depends(get_temporal)]


async def get_current_partner(pool: PoolDep) -> partners.PartnerRow:
    partner = await partners.get(pool, partner_id=DEV_PARTNER_ID)
    if partner is None:
        raise RuntimeError("the development partner is missing: run `onboarding migrate`")
    return partner


CurrentPartnerDep = Annotated[partners.PartnerRow, Depends(get_current_partner)]
