"""Looking a company up before onboarding it: what the register says of a SIRET (the French
registry, through the registry client and its fleet-wide pacing) or of a Belgian enterprise
number (the KBO tables loaded locally). Used by GET /v1/company-lookups/{identifier} and by the
console's New client page, so both answer alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from activities.registry import (
    RegistryClient as RegistryClient,  # what a look-up needs, named for the API's services
)
from activities.registry import (
    RegistryConfig,
    RegistryError,
    RegistryRateLimited,
    build_registry_client,
)
from app.errors import AppError, Invalid
from core.settings import Settings
from domain.company import CompanyRecord
from domain.identifiers import (
    InvalidIdentifier,
    validate_be_enterprise_number,
    validate_siret,
)
from domain.kbo import company_from_kbo
from store import kbo
from store.pool import Pool

# How long a person waits for a free slot of the registry's fleet-wide budget before being told
# to try again shortly.
WAIT_FOR_SLOT_SECONDS = 2.0


def registry_client(settings: Settings, pool: Pool) -> RegistryClient:
    """The client a person's look-ups use: the workers' configuration and their fleet-wide
    budget in PostgreSQL, waiting at most WAIT_FOR_SLOT_SECONDS for a slot."""
    return build_registry_client(
        RegistryConfig.from_settings(settings), pool=pool, wait_at_most=WAIT_FOR_SLOT_SECONDS
    )


Outcome = Literal["found", "unknown", "unreachable"]


class RegistryBusy(AppError):
    """The registry's request budget is spent for now: nothing was asked."""

    status = 503
    slug = "registry-busy"
    title = "Registry busy"


@dataclass(frozen=True)
class Lookup:
    outcome: Outcome
    company: CompanyRecord | None = None


def identifier_kind(identifier: str) -> Literal["siret", "enterprise_number"]:
    """A Belgian enterprise number is 10 digits (or BE-prefixed); anything else is a SIRET."""
    compact = "".join(ch for ch in identifier if ch.isalnum())
    if compact.upper().startswith("BE") or len(compact) in (9, 10):
        return "enterprise_number"
    return "siret"


async def look_up(
    pool: Pool,
    registry: RegistryClient,
    *,
    siret: str | None = None,
    enterprise_number: str | None = None,
    language: str = "fr",
) -> Lookup:
    """What the register says of this SIRET or enterprise number. Invalid names the field when
    the number is malformed; RegistryBusy when no request slot is free soon. The registry being
    down is an answer ("unreachable"), not an error: the person can still go on."""
    if enterprise_number is not None:
        try:
            number = validate_be_enterprise_number(enterprise_number)
        except InvalidIdentifier as exc:
            raise Invalid.field("enterprise_number", str(exc), code=_code(exc)) from None
        found = await kbo.find_enterprise(pool, enterprise_number=number)
        extract = await kbo.extract_in_service(pool)
        if found is None or extract is None:
            return Lookup("unknown")
        return Lookup(
            "found",
            company_from_kbo(
                enterprise_number=number,
                status=found.status,
                juridical_form=found.juridical_form,
                denominations=found.denominations,
                address=found.address,
                language=language,
                extract=extract.snapshot_date,
            ),
        )
    try:
        number = validate_siret(siret or "")
    except InvalidIdentifier as exc:
        raise Invalid.field("siret", str(exc), code=_code(exc)) from None
    try:
        company = await registry.lookup_siret(number)
    except RegistryRateLimited as exc:
        raise RegistryBusy(
            "the registry's request budget is spent for now; try again shortly",
            retry_after=max(1, round(exc.retry_after)),
        ) from None
    except RegistryError:
        return Lookup("unreachable")
    return Lookup("found", company) if company is not None else Lookup("unknown")


def _code(exc: InvalidIdentifier) -> str:
    return "checksum" if "checksum" in str(exc) else "format"
