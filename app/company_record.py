"""The registry's answer a client was made from, reviewed: the record kept at creation, staff
corrections of the company's name, address and legal form (each dated, with who made it), and a
re-lookup on demand that says what changed at the registry since the last look-up. The JSON
routes (api/routers/client_records.py) and the console's client page both call these."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from app import company as app_company
from app import roles
from app.clients import client_not_found
from app.errors import Conflict, FieldIssue, Invalid
from domain.client_records import CompanyCorrectionIn
from domain.kbo import KBO_SOURCE
from domain.setup import Role
from store import clients, company_records, erasure
from store.company_records import CORRECTABLE, CorrectionRow, LookupRow
from store.pool import Pool

READ_ROLES = roles.ANY_ROLE
CORRECT_ROLES = roles.CONFIGURERS
# A re-lookup spends the fleet's registry budget: the roles that may change the client.
LOOKUP_ROLES = roles.CONFIGURERS


@dataclass(frozen=True)
class Change:
    """One field the registry says differently now than at the last look-up that found it."""

    field: str
    before: str | None
    now: str | None
    # The client's value today: a person may have corrected it already.
    current: str | None


@dataclass(frozen=True)
class Relookup:
    lookup: LookupRow
    # The look-up compared with: the creation record or the previous re-lookup that found it.
    baseline: LookupRow | None
    changes: list[Change]


@dataclass(frozen=True)
class CompanyView:
    record: LookupRow | None
    current: dict[str, str | None]
    corrections: list[CorrectionRow]
    corrections_total: int
    last_relookup: Relookup | None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def current_fields(row: clients.ClientRow) -> dict[str, str | None]:
    company = row.company or {}
    return {
        "name": row.name,
        "address": _text(company.get("address")),
        "legal_form": _text(company.get("legal_form")),
    }


def diff(
    before: dict[str, Any] | None, now: dict[str, Any] | None, current: dict[str, str | None]
) -> list[Change]:
    """The correctable fields whose value differs between two answers of the registry."""
    if now is None:
        return []
    old = before or {}
    return [
        Change(field, _text(old.get(field)), _text(now.get(field)), current.get(field))
        for field in CORRECTABLE
        if _text(old.get(field)) != _text(now.get(field))
    ]


async def _client(pool: Pool, partner_id: uuid.UUID, client_id: uuid.UUID) -> clients.ClientRow:
    row = await clients.get_for_partner(pool, partner_id=partner_id, client_id=client_id)
    if row is None:
        raise client_not_found(client_id)
    return row


async def _not_erased(pool: Pool, client_id: uuid.UUID) -> None:
    # A sole trader's name and address are a person's: neither a correction nor the registry's
    # answer may bring them back once erased.
    if await erasure.get(pool, client_id=client_id) is not None:
        raise Conflict(
            "This client's personal data was erased; its company details stay as they are.",
            slug="client-erased",
            title="Client erased",
        )


async def _relookup_of(pool: Pool, lookup: LookupRow, current: dict[str, str | None]) -> Relookup:
    baseline = await company_records.latest_found(
        pool, client_id=lookup.client_id, before_id=lookup.id
    )
    changes = (
        diff(baseline.fields if baseline else None, lookup.fields, current)
        if lookup.outcome == "found"
        else []
    )
    return Relookup(lookup=lookup, baseline=baseline, changes=changes)


async def read(
    pool: Pool,
    *,
    partner_id: uuid.UUID,
    client_id: uuid.UUID,
    limit: int = 20,
    offset: int = 0,
) -> CompanyView:
    """The record kept, today's fields, the corrections (newest first, paged) and what the last
    re-lookup found (any role); NotFound for another firm's client."""
    row = await _client(pool, partner_id, client_id)
    current = current_fields(row)
    record = await company_records.creation_record(pool, client_id=client_id)
    history, total = await company_records.corrections(
        pool, client_id=client_id, limit=limit, offset=offset
    )
    latest = await company_records.latest_lookups(pool, client_id=client_id, limit=1)
    last = (
        await _relookup_of(pool, latest[0], current)
        if latest and latest[0].kind == "relookup"
        else None
    )
    return CompanyView(
        record=record,
        current=current,
        corrections=history,
        corrections_total=total,
        last_relookup=last,
    )


async def correct(
    pool: Pool,
    *,
    partner_id: uuid.UUID,
    client_id: uuid.UUID,
    role: Role,
    corrected_by: uuid.UUID,
    body: CompanyCorrectionIn,
) -> list[CorrectionRow]:
    """Correct the company's fields; each changed one is dated in the history with who changed
    it. Invalid when nothing is given; an unchanged value records nothing; Conflict once the
    client's personal data was erased."""
    roles.require(role, CORRECT_ROLES)
    await _client(pool, partner_id, client_id)
    await _not_erased(pool, client_id)
    values: dict[str, str | None] = {
        field: value
        for field, value in body.model_dump(include=set(CORRECTABLE)).items()
        if value is not None
    }
    if not values:
        raise Invalid(
            "Give at least one of name, address, legal_form",
            errors=(FieldIssue("name", "give at least one field to correct", "required"),),
        )
    try:
        return await company_records.correct(
            pool,
            client_id=client_id,
            values=values,
            origin="registry" if body.from_registry else "person",
            corrected_by=corrected_by,
        )
    except LookupError:
        raise client_not_found(client_id) from None


async def relookup(
    pool: Pool,
    registry: app_company.RegistryClient,
    *,
    partner_id: uuid.UUID,
    client_id: uuid.UUID,
    role: Role,
    requested_by: uuid.UUID,
    language: str = "fr",
) -> Relookup:
    """Ask the register again about the client's SIRET (or Belgian enterprise number), keep the
    answer, and say what changed since the last look-up that found it. Conflict when the client
    has neither number or was erased; RegistryBusy when the fleet's budget is spent for now."""
    roles.require(role, LOOKUP_ROLES)
    row = await _client(pool, partner_id, client_id)
    await _not_erased(pool, client_id)
    if row.siret is None and row.enterprise_number is None:
        raise Conflict(
            "This client has no SIRET or enterprise number to look up.",
            slug="no-company-number",
            title="Nothing to look up",
        )
    found = await app_company.look_up(
        pool,
        registry,
        siret=row.siret,
        enterprise_number=row.enterprise_number if row.siret is None else None,
        language=language,
    )
    if found.company is not None:
        source = found.company.source
    else:
        source = KBO_SOURCE if row.siret is None else "registry"
    lookup = await company_records.record_relookup(
        pool,
        client_id=client_id,
        source=source,
        outcome=found.outcome,
        fields=found.company.model_dump(mode="json") if found.company else None,
        requested_by=requested_by,
    )
    return await _relookup_of(pool, lookup, current_fields(row))
