"""/v1/company-lookups/{identifier}: what the register says of a SIRET or a Belgian enterprise
number, before an onboarding is started with it (app/company.py; the console's New client page
asks the same)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from api.deps import AnyRoleDep, ServicesDep
from api.problems import problem_responses
from app import company as app_company
from domain.company import CompanyRecord
from domain.text import Text

router = APIRouter(prefix="/v1", tags=["companies"])


class CompanyLookup(BaseModel):
    outcome: Literal["found", "unknown", "unreachable"] = Field(
        description="found; unknown to the register; or the register cannot be reached now"
    )
    company: CompanyRecord | None = None


@router.get(
    "/company-lookups/{identifier}",
    response_model=CompanyLookup,
    responses=problem_responses(422, 503),
)
async def read_company_lookup(
    identifier: Annotated[
        Text, Path(max_length=40, description="A SIRET or a Belgian enterprise number")
    ],
    caller: AnyRoleDep,
    services: ServicesDep,
    language: Annotated[
        Literal["fr", "nl", "en", "de"], Query(description="Of a Belgian name or address")
    ] = "fr",
) -> CompanyLookup:
    """A 14-digit SIRET (asked of the registry, within the fleet's request budget: 503 with
    Retry-After when it is spent for now) or a Belgian enterprise number (the local KBO tables).
    """
    kind = app_company.identifier_kind(identifier)
    found = await app_company.look_up(
        services.pool,
        services.registry(),
        siret=identifier if kind == "siret" else None,
        enterprise_number=identifier if kind == "enterprise_number" else None,
        language=language,
    )
    return CompanyLookup(outcome=found.outcome, company=found.company)
