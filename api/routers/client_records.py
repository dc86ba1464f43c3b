"""/v1/clients/{id}/company, /national-numbers and /folders: the registry's record a client was
made from with its corrections and re-lookups, the national register numbers (whole for
administrators, masked for others), and the documents tree by fiscal year (app/company_record.py,
app/national_numbers.py, app/documents.py; the console's client page calls the same)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import AdminDep, AnyRoleDep, ConfigurerDep, PageDep, PoolDep, ServicesDep
from api.pagination import PageOf
from api.problems import problem_responses
from app import company_record as app_company_record
from app import documents as app_documents
from app import national_numbers as app_national_numbers
from domain.client_records import CompanyCorrectionIn, NationalNumbersIn
from store.company_records import CorrectionRow, LookupRow

router = APIRouter(prefix="/v1/clients", tags=["clients"])

# ---- the registry's record and corrections ---------------------------------------------------


class RegistryRecord(BaseModel):
    source: str = Field(
        description="Which register answered (recherche-entreprises, insee, kbo-open-data), or "
        "manual when a person gave the company details"
    )
    outcome: Literal["found", "unknown", "unreachable"]
    looked_up_at: datetime
    fields: dict[str, Any] | None = Field(description="What the register said, as it said it")


class CompanyFields(BaseModel):
    name: str | None
    address: str | None
    legal_form: str | None


class Correction(BaseModel):
    field: Literal["name", "address", "legal_form"]
    old_value: str | None
    new_value: str | None
    origin: Literal["person", "registry"] = Field(
        description="registry: a person applied what a re-lookup found"
    )
    corrected_by: uuid.UUID | None = Field(description="The partner user who made it")
    corrected_at: datetime


class FieldChange(BaseModel):
    field: Literal["name", "address", "legal_form"]
    before: str | None = Field(description="At the last look-up that found the company")
    now: str | None = Field(description="What the register says now")
    current: str | None = Field(description="The client's value today (after corrections)")


class Relookup(BaseModel):
    lookup: RegistryRecord
    compared_with: RegistryRecord | None = Field(
        description="The creation record or the previous re-lookup that found the company"
    )
    changes: list[FieldChange]


class CompanyPublic(BaseModel):
    record: RegistryRecord | None = Field(
        description="The registry's answer the client was made from; null: no record kept"
    )
    current: CompanyFields
    corrections: PageOf[Correction] = Field(description="Newest first")
    last_relookup: Relookup | None


def _record(row: LookupRow) -> RegistryRecord:
    return RegistryRecord(
        source=row.source,
        outcome=row.outcome,
        looked_up_at=row.looked_up_at,
        fields=row.fields,
    )


def _correction(row: CorrectionRow) -> Correction:
    return Correction(
        field=row.field,
        old_value=row.old_value,
        new_value=row.new_value,
        origin=row.origin,
        corrected_by=row.corrected_by,
        corrected_at=row.corrected_at,
    )


def _relookup(found: app_company_record.Relookup) -> Relookup:
    return Relookup(
        lookup=_record(found.lookup),
        compared_with=_record(found.baseline) if found.baseline else None,
        changes=[
            FieldChange(field=c.field, before=c.before, now=c.now, current=c.current)
            for c in found.changes
        ],
    )


def _company(view: app_company_record.CompanyView, limit: int, offset: int) -> CompanyPublic:
    return CompanyPublic(
        record=_record(view.record) if view.record else None,
        current=CompanyFields(**view.current),
        corrections=PageOf[Correction](
            items=[_correction(c) for c in view.corrections],
            total=view.corrections_total,
            limit=limit,
            offset=offset,
        ),
        last_relookup=_relookup(view.last_relookup) if view.last_relookup else None,
    )


@router.get("/{client_id}/company", response_model=CompanyPublic, responses=problem_responses(404))
async def read_client_company(
    client_id: uuid.UUID, caller: AnyRoleDep, pool: PoolDep, page: PageDep
) -> CompanyPublic:
    """The registry's record the client was made from (null: no record kept), its company
    fields today, the corrections (newest first, paged) and what the last re-lookup found."""
    view = await app_company_record.read(
        pool,
        partner_id=caller.partner.id,
        client_id=client_id,
        limit=page.limit,
        offset=page.offset,
    )
    return _company(view, page.limit, page.offset)


@router.post(
    "/{client_id}/company/corrections",
    response_model=CompanyPublic,
    status_code=201,
    responses=problem_responses(403, 404, 409, 422),
)
async def create_client_company_correction(
    client_id: uuid.UUID, body: CompanyCorrectionIn, caller: ConfigurerDep, pool: PoolDep
) -> CompanyPublic:
    """Correct the company's name, address or legal form; each changed field is dated in the
    history with who changed it (administrator or client_manager)."""
    await app_company_record.correct(
        pool,
        partner_id=caller.partner.id,
        client_id=client_id,
        role=caller.user.role,
        corrected_by=caller.user.id,
        body=body,
    )
    view = await app_company_record.read(pool, partner_id=caller.partner.id, client_id=client_id)
    return _company(view, 20, 0)


@router.post(
    "/{client_id}/company/lookups",
    response_model=Relookup,
    status_code=201,
    responses=problem_responses(403, 404, 409, 503),
)
async def create_client_company_lookup(
    client_id: uuid.UUID,
    caller: ConfigurerDep,
    services: ServicesDep,
    language: Annotated[
        Literal["fr", "nl", "en", "de"], Query(description="Of a Belgian name or address")
    ] = "fr",
) -> Relookup:
    """Look the client's SIRET (or enterprise number) up again, within the fleet's registry
    budget (503 with Retry-After when spent), and say what changed since the last look-up."""
    found = await app_company_record.relookup(
        services.pool,
        services.registry(),
        partner_id=caller.partner.id,
        client_id=client_id,
        role=caller.user.role,
        requested_by=caller.user.id,
        language=language,
    )
    return _relookup(found)


# ---- national numbers ------------------------------------------------------------------------


class NationalNumbersPublic(BaseModel):
    national_number: str | None = Field(description="Whole for administrators, else last 3")
    partner_national_number: str | None
    masked: bool = Field(description="True when only the last 3 digits are shown")


def _numbers(found: app_national_numbers.NationalNumbers) -> NationalNumbersPublic:
    return NationalNumbersPublic(
        national_number=found.national_number,
        partner_national_number=found.partner_national_number,
        masked=found.masked,
    )


@router.get(
    "/{client_id}/national-numbers",
    response_model=NationalNumbersPublic,
    responses=problem_responses(404),
)
async def read_client_national_numbers(
    client_id: uuid.UUID, caller: AnyRoleDep, pool: PoolDep
) -> NationalNumbersPublic:
    """The client's and its partner's national register numbers: whole for administrators,
    the last 3 digits for other roles."""
    found = await app_national_numbers.read(
        pool, partner_id=caller.partner.id, client_id=client_id, role=caller.user.role
    )
    return _numbers(found)


@router.patch(
    "/{client_id}/national-numbers",
    response_model=NationalNumbersPublic,
    responses=problem_responses(403, 404, 409, 422),
)
async def update_client_national_numbers(
    client_id: uuid.UUID, body: NationalNumbersIn, caller: AdminDep, pool: PoolDep
) -> NationalNumbersPublic:
    """Change the numbers given (null clears one); administrators only, 409 once the client's
    personal data was erased."""
    found = await app_national_numbers.change(
        pool, partner_id=caller.partner.id, client_id=client_id, role=caller.user.role, body=body
    )
    return _numbers(found)


# ---- the documents tree ----------------------------------------------------------------------


class Folder(BaseModel):
    path: str
    parent_path: str | None
    name: str
    kind: Literal["template", "month"] = Field(
        description="template: a folder every year shares; month: one of this year's months"
    )


class FiscalYearDocuments(BaseModel):
    start: date
    end: date
    folders_state: Literal["creating", "done", "failed"] | None = Field(
        description="Where a later year's folders stand; null: the onboarding's year"
    )
    months: int = Field(description="Calendar months the year touches")
    expected_month_folders: int
    month_folders: int
    complete: bool = Field(description="Every per-year folder holds all the year's months")
    folders: list[Folder] = Field(description="By path: parents first, months in date order")


@router.get(
    "/{client_id}/folders",
    response_model=PageOf[FiscalYearDocuments],
    responses=problem_responses(404),
)
async def read_client_folders(
    client_id: uuid.UUID,
    caller: AnyRoleDep,
    pool: PoolDep,
    limit: Annotated[int, Query(ge=1, le=20, description="Fiscal years per page")] = 5,
    offset: Annotated[int, Query(ge=0, le=10_000, description="Fiscal years to skip")] = 0,
) -> PageOf[FiscalYearDocuments]:
    """The client's folders by fiscal year, newest year first: the shared folders and the
    year's month folders, with how many month folders exist of those expected."""
    found = await app_documents.by_fiscal_year(
        pool, partner_id=caller.partner.id, client_id=client_id, limit=limit, offset=offset
    )
    return PageOf[FiscalYearDocuments](
        items=[
            FiscalYearDocuments(
                start=y.year.starts_on,
                end=y.year.ends_on,
                folders_state=y.year.folders_state,
                months=y.months,
                expected_month_folders=y.expected_month_folders,
                month_folders=y.month_folders,
                complete=y.complete,
                folders=[
                    Folder(path=f.path, parent_path=f.parent_path, name=f.name, kind=f.kind)
                    for f in y.folders
                ],
            )
            for y in found.items
        ],
        total=found.total,
        limit=limit,
        offset=offset,
    )
