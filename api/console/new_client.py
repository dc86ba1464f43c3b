"""The console's "New client" page: the form that starts a client's onboarding.

The form is turned into the same request POST /v1/onboardings takes and handed to the same use
case (app/onboardings.start), so both refuse and start alike. A hidden per-form nonce is the
idempotency key: the form sent twice (a double click, a reload after a lost answer) starts one
onboarding. Errors give the form back, each field's message next to it and in a summary at the
top linking to it, with what was typed kept.
"""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import Response

from api.console import (
    PREFIX,
    _checked_form,
    _Frame,
    _frame,
    _notice,
    _redirect,
    _render,
    _session,
    _to_sign_in,
    _url,
    _zone,
)
from api.console.client_prices import cost_text
from api.console.texts import LANGUAGES, TEXTS
from api.deps import Services, ServicesDep
from app import collaborators as app_collaborators
from app import company as app_company
from app import notifications as app_notifications
from app import onboardings as app_onboardings
from app import setups as app_setups
from app import subscriptions as app_subscriptions
from app.errors import AppError, Conflict, FieldIssue, Forbidden, Invalid
from domain.fiscal_calendar import FiscalYear
from domain.setup import BillingPeriod, SetupOverrides
from store.console import SessionRow

router = APIRouter(include_in_schema=False)

NONCE_FIELD = "form_id"
_NONCE = re.compile(r"^[0-9a-f]{32}$")
INVITATION_MODES = ("immediate", "scheduled", "manual")
# Form field -> its longest sensible value (what is kept of a longer one, to show it back).
_FIELDS = {
    "first_name": 100,
    "last_name": 100,
    "email": 254,
    "language": 2,
    "company_name": 200,
    "siret": 40,
    "enterprise_number": 40,
    "case_manager": 100,
    "template_id": 36,
    "fy_start": 10,
    "fy_end": 10,
    "invitation_mode": 10,
    "scheduled_at": 16,
    "notifications": 3,
    "director_first_name": 100,
    "director_last_name": 100,
    "director_email": 254,
    # Up to 50 themes of up to 100 characters, comma-separated.
    "themes": 5100,
    "national_number": 40,
    "partner_national_number": 40,
    "override_plan": 63,
    "override_billing_period": 10,
}
# The request's field names (as the API names them) -> the form's field they come from.
_FORM_FIELD = {
    "client.first_name": "first_name",
    "client.last_name": "last_name",
    "client.email": "email",
    "client.language": "language",
    "client.company_name": "company_name",
    "client.siret": "siret",
    "client.enterprise_number": "enterprise_number",
    "enterprise_number": "enterprise_number",
    "siret": "siret",
    "client.case_manager": "case_manager",
    "client.national_number": "national_number",
    "client.partner_national_number": "partner_national_number",
    "template_id": "template_id",
    "fiscal_year": "fy_end",
    "fiscal_year.start": "fy_start",
    "fiscal_year.end": "fy_end",
    "invitation": "scheduled_at",
    "invitation.scheduled_at": "scheduled_at",
    "invitation.mode": "invitation_mode",
    "notifications": "notifications",
    "notifications.keep_muted": "notifications",
    "director": "director_email",
    "director.first_name": "director_first_name",
    "director.last_name": "director_last_name",
    "director.email": "director_email",
    "director.themes": "themes",
    "overrides.plan": "override_plan",
    "overrides.billing_period": "override_billing_period",
}
# The form's fields in page order: the error summary lists them in that order.
_ORDER = (
    "first_name",
    "last_name",
    "email",
    "language",
    "national_number",
    "partner_national_number",
    "company_name",
    "siret",
    "enterprise_number",
    "case_manager",
    "template_id",
    "override_plan",
    "override_billing_period",
    "fy_start",
    "fy_end",
    "director_first_name",
    "director_last_name",
    "director_email",
    "themes",
    "invitation_mode",
    "scheduled_at",
    "notifications",
)
# A director field is asked for only once another one is filled in (all empty: the contact).
_REQUIRED = {
    "first_name",
    "last_name",
    "email",
    "fy_start",
    "scheduled_at",
    "director_first_name",
    "director_last_name",
    "director_email",
}
_DIRECTOR = ("director_first_name", "director_last_name", "director_email")


def _nonce() -> str:
    return secrets.token_hex(16)


def _message(texts: dict[str, str], issue: FieldIssue, field: str, empty: bool) -> str:
    """The error in the user's words: by field and kind, else the field's own."""
    if empty and field in _REQUIRED:
        return texts[f"nc_required_{field}"]
    if field in ("siret", "enterprise_number", "national_number", "partner_national_number"):
        # A wrong check digit is a typo to look for; any other fault, the number's format.
        return texts[
            f"nc_error_{field}_checksum" if issue.code == "checksum" else f"nc_error_{field}"
        ]
    if field in ("fy_start", "fy_end"):
        # A date that does not read as one, or two dates that make no fiscal year together.
        return texts["nc_error_date" if issue.field != "fiscal_year" else "nc_error_fy"]
    if field == "scheduled_at" and issue.code in ("past", "too_far"):
        return texts[f"error_{issue.code}"]
    if issue.code == "string_too_long":
        return texts["nc_error_too_long"]
    return texts[f"nc_error_{field}"]


async def _page(
    frame: _Frame,
    services: Services,
    session: SessionRow,
    *,
    values: dict[str, str],
    nonce: str,
    status: int = 200,
    errors: dict[str, str] | None = None,
    refused: str | None = None,
    preview: dict[str, Any] | None = None,
    lookup: dict[str, Any] | None = None,
) -> Response:
    rows = await app_setups.templates(services.pool, partner_id=session.member.partner.id)
    plans = await app_subscriptions.plans(services.pool, partner_id=session.member.partner.id)
    found = errors or {}
    return _render(
        frame,
        "new_client.html",
        status=status,
        values=values,
        errors={field: found[field] for field in _ORDER if field in found},
        templates=[{"id": str(r.id), "name": r.name, "default": r.is_default} for r in rows],
        languages=LANGUAGES,
        modes=INVITATION_MODES,
        zone=_zone(session).key,
        nonce_field=NONCE_FIELD,
        nonce=nonce,
        refused=refused,
        preview=preview,
        lookup=lookup,
        plans=[{"code": p.code, "name": p.name} for p in plans],
        periods=[period.value for period in BillingPeriod],
    )


async def _previewed(
    services: Services, session: SessionRow, values: dict[str, str]
) -> dict[str, Any]:
    """The chosen template's effective setup as the JSON setup preview computes it (secret
    settings masked), collaborators by name; Invalid names the field at fault."""
    partner_id = session.member.partner.id
    try:
        template_id = uuid.UUID(values["template_id"]) if values["template_id"] else None
    except ValueError:
        raise Invalid.field("template_id", "not a template id", code="uuid_parsing") from None
    try:
        overrides = SetupOverrides.model_validate(_overrides(values))
    except ValidationError:
        # Only the period can be malformed here (a plan is any text, checked in the catalog).
        raise Invalid.field("overrides.billing_period", "monthly or annual", code="enum") from None
    shown = await app_setups.preview(
        services.pool, partner_id=partner_id, template_id=template_id, overrides=overrides
    )
    setup = shown.setup
    names = {
        u.id: u.name
        for u in await app_collaborators.candidates(services.pool, partner_id=partner_id)
    }
    return {
        "template_name": shown.template_name,
        "plan": setup.plan,
        "add_ons": setup.add_ons,
        "payer": setup.payer.value,
        "billing_period": setup.billing_period.value,
        "monthly_cost": cost_text(
            shown.monthly_cost,
            session.member.user.language if session.member.user.language in TEXTS else "en",
        ),
        "integrations": [
            {"code": i.code, "kind": i.kind.value, "settings": sorted(i.settings.items())}
            for i in setup.integrations
        ],
        # A user removed since the template named them: not one of the firm's any more.
        "collaborators": [names[u] for u in setup.user_ids if u in names],
    }


def _blank(session: SessionRow, lang: str) -> dict[str, str]:
    today = datetime.now(_zone(session)).date()
    start = date(today.year, 1, 1)
    return {
        "first_name": "",
        "last_name": "",
        "email": "",
        "language": lang,
        "company_name": "",
        "siret": "",
        "enterprise_number": "",
        "case_manager": session.member.user.name,
        "template_id": "",
        "fy_start": start.isoformat(),
        "fy_end": FiscalYear.from_start(start).end.isoformat(),
        "invitation_mode": "manual",
        "scheduled_at": "",
        "notifications": "on",
        "director_first_name": "",
        "director_last_name": "",
        "director_email": "",
        "themes": "",
        "national_number": "",
        "partner_national_number": "",
        "override_plan": "",
        "override_billing_period": "",
    }


def _typed(form: FormData) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, longest in _FIELDS.items():
        raw = form.get(name)
        values[name] = raw.strip()[:longest] if isinstance(raw, str) else ""
    return values


def _proposed_end(values: dict[str, str]) -> None:
    """An empty end is the 12 months after the start: shown filled in when the form comes back."""
    if values["fy_end"] or not values["fy_start"]:
        return
    try:
        start = date.fromisoformat(values["fy_start"])
        values["fy_end"] = FiscalYear.from_start(start).end.isoformat()
    except ValueError:
        return


def _request(values: dict[str, str], session: SessionRow) -> dict[str, Any]:
    """The POST /v1/onboardings body the form stands for (empty optional fields left out)."""
    client: dict[str, Any] = {
        "first_name": values["first_name"],
        "last_name": values["last_name"],
        "email": values["email"],
        "language": values["language"],
    }
    for name in (
        "company_name",
        "siret",
        "enterprise_number",
        "case_manager",
        "national_number",
        "partner_national_number",
    ):
        if values[name]:
            client[name] = values[name]
    body: dict[str, Any] = {
        "client": client,
        "notifications": {"keep_muted": values["notifications"] == "off"},
    }
    if values["template_id"]:
        body["template_id"] = values["template_id"]
    overrides = _overrides(values)
    if overrides:
        body["overrides"] = overrides
    if values["fy_start"] or values["fy_end"]:
        body["fiscal_year"] = {"start": values["fy_start"] or None, "end": values["fy_end"] or None}
    director = _director(values)
    if director is not None:
        body["director"] = director
    mode = values["invitation_mode"]
    invitation: dict[str, Any] = {"mode": mode}
    if mode == "scheduled":
        invitation["scheduled_at"] = _scheduled_at(values["scheduled_at"], session)
    body["invitation"] = invitation
    return body


def _overrides(values: dict[str, str]) -> dict[str, str]:
    """The API's per-client overrides the form sets: empty is "as the template says"."""
    chosen = {
        "plan": values["override_plan"],
        "billing_period": values["override_billing_period"],
    }
    return {name: value for name, value in chosen.items() if value}


def themes_of(typed: str) -> list[str]:
    """The comma-separated themes, each trimmed, empty ones and repeats left out."""
    return list(dict.fromkeys(t for t in (part.strip() for part in typed.split(",")) if t))


def _director(values: dict[str, str]) -> dict[str, Any] | None:
    """The director as the API takes it: none when nothing is filled in (the API then invites
    the client contact); the contact with the themes when only themes are given."""
    themes = themes_of(values["themes"])
    if not any(values[name] for name in _DIRECTOR):
        if not themes:
            return None
        return {
            "first_name": values["first_name"],
            "last_name": values["last_name"],
            "email": values["email"],
            "themes": themes,
        }
    return {
        "first_name": values["director_first_name"],
        "last_name": values["director_last_name"],
        "email": values["director_email"],
        "themes": themes,
    }


def _form_field(field: str, values: dict[str, str]) -> str:
    """The form's field a request field's error belongs to (`director.themes.3`: the themes)."""
    if field.startswith("director.themes"):
        return "themes"
    if field.startswith("director.") and not any(values[name] for name in _DIRECTOR):
        # The director is the contact (only themes typed): its error is the contact's field's.
        return _FORM_FIELD.get("client." + field.removeprefix("director."), "email")
    if field in _FORM_FIELD:
        return _FORM_FIELD[field]
    return "template_id"


def _scheduled_at(typed: str, session: SessionRow) -> str | None:
    """The form's local date and time, in the firm's time zone, as an ISO instant."""
    if not typed:
        return None
    try:
        local = datetime.fromisoformat(typed)
    except ValueError:
        raise Invalid.field(
            "invitation.scheduled_at", "not a date and time", code="format"
        ) from None
    if local.tzinfo is None:
        local = local.replace(tzinfo=_zone(session))
    return local.isoformat()


async def _looked_up(
    frame: _Frame, services: Services, session: SessionRow, *, values: dict[str, str], nonce: str
) -> Response:
    """The form back with the register's answer for the enterprise number typed, else the
    SIRET: found, unknown, unreachable or busy (never an error page)."""
    texts = TEXTS[frame.lang]
    if not values["enterprise_number"] and not values["siret"]:
        return await _page(
            frame,
            services,
            session,
            values=values,
            nonce=nonce,
            status=422,
            errors={"siret": texts["nc_lookup_nothing"]},
        )
    try:
        found = await app_company.look_up(
            services.pool,
            services.registry(),
            siret=None if values["enterprise_number"] else values["siret"],
            enterprise_number=values["enterprise_number"] or None,
            language=values["language"] if values["language"] in LANGUAGES else frame.lang,
        )
    except Invalid as exc:
        errors: dict[str, str] = {}
        for issue in exc.errors:
            field = _form_field(issue.field, values)
            errors.setdefault(field, _message(texts, issue, field, not values.get(field)))
        return await _page(
            frame, services, session, values=values, nonce=nonce, status=422, errors=errors
        )
    except app_company.RegistryBusy:
        return await _page(
            frame, services, session, values=values, nonce=nonce, lookup={"outcome": "busy"}
        )
    company = found.company
    return await _page(
        frame,
        services,
        session,
        values=values,
        nonce=nonce,
        lookup={
            "outcome": found.outcome,
            "company": None
            if company is None
            else {
                "name": company.name,
                "address": company.address,
                "legal_form": company.legal_form,
                "active": company.active,
            },
        },
    )


@router.get(PREFIX + "/clients/new")
async def read_console_new_client(request: Request, services: ServicesDep) -> Response:
    """The empty form: the firm's default template, this year, invitation later, a new nonce."""
    session = await _session(request, services)
    if session is None:
        return _to_sign_in(request)
    frame = _frame(request, services, session)
    values = _blank(session, frame.lang)
    # The firm's default chosen beforehand: the form sends it, so what is seen is what is asked.
    if await app_notifications.read_default(
        services.pool, partner_id=session.member.partner.id, role=session.member.user.role
    ):
        values["notifications"] = "off"
    return await _page(frame, services, session, values=values, nonce=_nonce())


@router.post(PREFIX + "/clients/new")
async def create_console_new_client(request: Request, services: ServicesDep) -> Response:
    """Start the client's onboarding, then its page (303); the form back when refused."""
    session = await _session(request, services)
    if session is None:
        return _to_sign_in(request)
    frame = _frame(request, services, session)
    form = await _checked_form(request, services, session)
    if form is None:
        return _notice(frame, "refused", 403)
    raw_nonce = form.get(NONCE_FIELD)
    if not isinstance(raw_nonce, str) or not _NONCE.match(raw_nonce):
        return _notice(frame, "refused", 403)
    values = _typed(form)
    texts = TEXTS[frame.lang]
    member = session.member
    if form.get("action") == "lookup":
        # The same form back with what the register says: nothing started, same nonce.
        return await _looked_up(frame, services, session, values=values, nonce=raw_nonce)
    if form.get("action") == "preview":
        # The same form back with the setup it would start with: nothing started, same nonce.
        try:
            preview = await _previewed(services, session, values)
        except Invalid as exc:
            wrong = {
                _form_field(i.field, values): texts[f"nc_error_{_form_field(i.field, values)}"]
                for i in exc.errors
            }
            return await _page(
                frame, services, session, values=values, nonce=raw_nonce, status=422, errors=wrong
            )
        return await _page(
            frame, services, session, values=values, nonce=raw_nonce, preview=preview
        )
    try:
        body = app_onboardings.parse_request(_request(values, session))
        started = await app_onboardings.start(
            services.pool,
            services.temporal,
            services.settings,
            partner=member.partner,
            user_id=member.user.id,
            role=member.user.role,
            body=body,
            # The nonce is per form: its second sending is the same onboarding, not another.
            idempotency_key=f"console-new-client:{raw_nonce}",
            now=datetime.now(UTC),
        )
    except Forbidden:
        return _notice(frame, "forbidden", 403)
    except Invalid as exc:
        errors: dict[str, str] = {}
        for issue in exc.errors:
            field = _form_field(issue.field, values)
            errors.setdefault(field, _message(texts, issue, field, not values.get(field)))
        _proposed_end(values)
        return await _page(
            frame, services, session, values=values, nonce=raw_nonce, status=422, errors=errors
        )
    except Conflict as exc:
        if exc.slug != "idempotency-key-reused":
            raise
        # This form already started a client and was then changed (back button): a new form,
        # with what was typed, so that sending it starts this other client.
        return await _page(
            frame,
            services,
            session,
            values=values,
            nonce=_nonce(),
            status=409,
            refused=texts["nc_already_sent"],
        )
    except AppError as exc:
        # Temporal out of reach or refusing: nothing started; the same form (same nonce) can be
        # sent again and finishes the start.
        return await _page(
            frame,
            services,
            session,
            values=values,
            nonce=raw_nonce,
            status=exc.status,
            refused=texts["nc_unavailable"],
        )
    return _redirect(_url(frame, f"/onboardings/{started.onboarding_id}"))
