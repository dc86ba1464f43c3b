"""The client page's company record, national numbers and documents tree (issue 23): the
registry's record the client was made from with the corrections form and its history, a
re-lookup button whose answer (what changed at the registry) is shown with a button to apply
each change; the national register numbers, whole for administrators with their change form and
the last 3 digits for others; and the folders by fiscal year, on a page of their own, paged by
links.

Each form calls the application function its JSON route calls (app/company_record.py,
app/national_numbers.py, app/documents.py), through client_settings' `_act`: CSRF and origin
checked, post-redirect-get, a refusal shown on the page again with the values typed.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import Response

from api.console import (
    CLIENT_SECTIONS,
    PREFIX,
    _frame,
    _notice,
    _render,
    _session,
    _to_sign_in,
    _url,
    _uuid,
    _when,
    _zone,
)
from api.console.client_settings import _act, _text
from api.console.texts import TEXTS
from api.deps import Services, ServicesDep
from app import collaborators as app_collaborators
from app import company_record as app_company_record
from app import documents as app_documents
from app import national_numbers as app_national_numbers
from app import roles
from app.clients import ClientView
from app.errors import FieldIssue, Invalid, NotFound
from domain.client_records import CompanyCorrectionIn, NationalNumbersIn
from domain.text import Text
from email_templates import long_date
from store import clients, erasure
from store.console import SessionRow
from store.folders import FolderRow

router = APIRouter(include_in_schema=False)

_CO = "co_"
_NN = "nn_"
CO_FIELDS = ("name", "address", "legal_form")
NN_FIELDS = ("national_number", "partner_national_number")
# Fiscal years per documents page: each lists its whole tree.
YEARS_PER_PAGE = 2
# The client page summarises the newest years; the documents page has them all.
YEARS_ON_CLIENT_PAGE = 3


async def _sections(
    services: Services, session: SessionRow, view: ClientView, form: dict[str, str]
) -> dict[str, Any]:
    pool, partner_id = services.pool, session.member.partner.id
    lang = session.member.user.language if session.member.user.language in TEXTS else "en"
    role = session.member.user.role
    zone = _zone(session)
    client_id = view.row.id
    company = await app_company_record.read(pool, partner_id=partner_id, client_id=client_id)
    names = {u.id: u.name for u in await app_collaborators.candidates(pool, partner_id=partner_id)}
    numbers = await app_national_numbers.read(
        pool, partner_id=partner_id, client_id=client_id, role=role
    )
    years = await app_documents.by_fiscal_year(
        pool, partner_id=partner_id, client_id=client_id, limit=YEARS_ON_CLIENT_PAGE, offset=0
    )
    record = company.record
    last = company.last_relookup
    erased = await erasure.get(pool, client_id=client_id) is not None
    return {
        "records": {
            "client_id": client_id,
            "can_correct": roles.allows(role, app_company_record.CORRECT_ROLES) and not erased,
            "can_look_up": roles.allows(role, app_company_record.LOOKUP_ROLES)
            and not erased
            and (view.row.siret is not None or view.row.enterprise_number is not None),
            "record": None
            if record is None
            else {
                "source": record.source,
                "when": _when(record.looked_up_at, zone, lang),
                "fields": {f: (record.fields or {}).get(f) for f in CO_FIELDS},
            },
            "current": company.current,
            "co": {f: form.get(_CO + f, company.current.get(f) or "") for f in CO_FIELDS},
            "corrections": [
                {
                    "field": c.field,
                    "old": c.old_value,
                    "new": c.new_value,
                    "origin": c.origin,
                    "who": names.get(c.corrected_by) if c.corrected_by else None,
                    "when": _when(c.corrected_at, zone, lang),
                }
                for c in company.corrections
            ],
            "last": None
            if last is None
            else {
                "outcome": last.lookup.outcome,
                "when": _when(last.lookup.looked_up_at, zone, lang),
                "baseline_when": _when(last.baseline.looked_up_at, zone, lang)
                if last.baseline
                else None,
                "changes": [
                    {
                        "field": c.field,
                        "before": c.before,
                        "now": c.now,
                        "current": c.current,
                        "applied": c.now == c.current,
                    }
                    for c in last.changes
                ],
            },
            "numbers": {
                "national_number": numbers.national_number,
                "partner_national_number": numbers.partner_national_number,
                "masked": numbers.masked,
            },
            "can_change_numbers": roles.allows(role, app_national_numbers.CHANGE_ROLES)
            and not erased,
            "nn": {
                f: form.get(_NN + f, "" if numbers.masked else getattr(numbers, f) or "")
                for f in NN_FIELDS
            },
            "years": [_year(y, lang, with_folders=False) for y in years.items],
            "more_years": years.total > len(years.items),
        }
    }


CLIENT_SECTIONS.append(_sections)


def _year(y: app_documents.YearFolders, lang: str, *, with_folders: bool) -> dict[str, Any]:
    return {
        "start": long_date(y.year.starts_on, lang),
        "end": long_date(y.year.ends_on, lang),
        "state": y.year.folders_state or "onboarding",
        "present": y.month_folders,
        "expected": y.expected_month_folders,
        "complete": y.complete,
        "folders": _tree(y.folders) if with_folders else [],
    }


def _tree(rows: list[FolderRow]) -> list[dict[str, Any]]:
    """The folders as nested lists (a screen reader says each level), in path order."""
    nodes: dict[str, dict[str, Any]] = {
        f.path: {"name": f.name, "kind": f.kind, "children": []} for f in rows
    }
    roots: list[dict[str, Any]] = []
    for f in rows:
        parent = nodes.get(f.parent_path) if f.parent_path else None
        (parent["children"] if parent else roots).append(nodes[f.path])
    return roots


def _values(form: FormData, names: tuple[str, ...]) -> dict[str, str | None]:
    return {name: _text(form, name)[:600] or None for name in names if name in form}


@router.post(PREFIX + "/clients/{client_id}/company/corrections")
async def create_console_company_correction(
    client_id: Text, request: Request, services: ServicesDep
) -> Response:
    """Correct the company's name, address or legal form (or apply a re-lookup's change)."""

    async def correct(session: SessionRow, parsed: uuid.UUID, form: FormData) -> str:
        values: dict[str, Any] = _values(form, CO_FIELDS)
        values["from_registry"] = _text(form, "from_registry") == "1"
        try:
            body = CompanyCorrectionIn.model_validate(values)
        except ValidationError as exc:
            issues = [
                FieldIssue(str(e["loc"][0]), e["msg"], "invalid")
                for e in exc.errors()
                if e["loc"] and e["loc"][0] in CO_FIELDS
            ]
            raise Invalid("Invalid field(s)", errors=tuple(issues)) from None
        await app_company_record.correct(
            services.pool,
            partner_id=session.member.partner.id,
            client_id=parsed,
            role=session.member.user.role,
            corrected_by=session.member.user.id,
            body=body,
        )
        return "company_corrected"

    return await _act(client_id, request, services, correct, prefix=_CO, names=CO_FIELDS)


@router.post(PREFIX + "/clients/{client_id}/company/lookup")
async def create_console_company_lookup(
    client_id: Text, request: Request, services: ServicesDep
) -> Response:
    """Look the client's company up again; the page then shows what changed at the registry."""

    async def look_up(session: SessionRow, parsed: uuid.UUID, form: FormData) -> str:
        await app_company_record.relookup(
            services.pool,
            services.registry(),
            partner_id=session.member.partner.id,
            client_id=parsed,
            role=session.member.user.role,
            requested_by=session.member.user.id,
            language=session.member.user.language,
        )
        return "company_looked_up"

    return await _act(client_id, request, services, look_up, prefix="", names=())


@router.post(PREFIX + "/clients/{client_id}/national-numbers")
async def update_console_national_numbers(
    client_id: Text, request: Request, services: ServicesDep
) -> Response:
    """Change the client's and its partner's national numbers (administrators; empty clears)."""

    async def change(session: SessionRow, parsed: uuid.UUID, form: FormData) -> str:
        try:
            body = NationalNumbersIn.model_validate(_values(form, NN_FIELDS))
        except ValidationError as exc:
            # The code says which words to show; the number typed is in no message.
            issues = [
                FieldIssue(str(e["loc"][0]), "invalid national number", "national_number")
                for e in exc.errors()
                if e["loc"] and e["loc"][0] in NN_FIELDS
            ]
            raise Invalid("Invalid field(s)", errors=tuple(issues)) from None
        await app_national_numbers.change(
            services.pool,
            partner_id=session.member.partner.id,
            client_id=parsed,
            role=session.member.user.role,
            body=body,
        )
        return "national_numbers"

    return await _act(client_id, request, services, change, prefix=_NN, names=NN_FIELDS)


@router.get(PREFIX + "/clients/{client_id}/documents")
async def read_console_client_documents(
    client_id: Text, request: Request, services: ServicesDep
) -> Response:
    """The client's folders by fiscal year, newest first, a few years a page."""
    session = await _session(request, services)
    if session is None:
        return _to_sign_in(request)
    frame = _frame(request, services, session)
    parsed = _uuid(client_id)
    raw = request.query_params.get("page", "1")
    page = int(raw) if raw.isdigit() and 0 < len(raw) < 6 else 1
    page = max(page, 1)
    client = (
        await clients.get_for_partner(
            services.pool, partner_id=session.member.partner.id, client_id=parsed
        )
        if parsed
        else None
    )
    if parsed is None or client is None:
        return _notice(frame, "not_found", 404)
    try:
        found = await app_documents.by_fiscal_year(
            services.pool,
            partner_id=session.member.partner.id,
            client_id=parsed,
            limit=YEARS_PER_PAGE,
            offset=(page - 1) * YEARS_PER_PAGE,
        )
    except NotFound:
        return _notice(frame, "not_found", 404)
    pages = max(1, -(-found.total // YEARS_PER_PAGE))
    base = _url(frame, f"/clients/{parsed}/documents")
    return _render(
        frame,
        "client_documents.html",
        client_id=parsed,
        client_name=client.name,
        years=[_year(y, frame.lang, with_folders=True) for y in found.items],
        page=page,
        pages=pages,
        previous=f"{base}?page={page - 1}" if page > 1 else None,
        next=f"{base}?page={page + 1}" if page < pages else None,
    )
