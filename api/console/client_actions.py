"""The client page's forms beyond send-now and reschedule: the notifications switch, cancelling
and resending the invitation, and company details for an onboarding waiting for them.

Each form calls the application function its JSON route calls (app/clients.py,
app/onboardings.py), so roles and rules are the API's; each POST is checked for the session's
CSRF token and our origin, then answered with a redirect to the client page and a confirmation
(post-redirect-get: a reload does not send it again). A refusal shows the client page again
saying why in the user's language; another firm's onboarding is 404.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import Response

from api.console import (
    PREFIX,
    _checked_form,
    _client_page,
    _env,
    _frame,
    _notice,
    _redirect,
    _session,
    _to_sign_in,
    _url,
    _uuid,
)
from api.console.texts import TEXTS
from api.deps import Services, ServicesDep
from app import clients as app_clients
from app import onboardings as app_onboardings
from app.errors import AppError, Invalid, NotFound
from domain.onboarding import CompanyDetails, client_id_for
from domain.setup import Role
from domain.text import Text
from store.console import SessionRow

router = APIRouter(include_in_schema=False)

# The company-details form's fields, in the API's names; their inputs' ids are prefixed so they
# cannot clash with the page's other fields.
COMPANY_FIELDS = ("name", "address", "postal_code", "city", "siret", "activity_code", "legal_form")
FIELD_PREFIX = "cd_"


def may_switch_notifications(role: Role) -> bool:
    """Whether the page offers the switch: the app's rule, so a page never offers a refusal."""
    return role in app_clients.NOTIFICATION_ROLES


_env.globals["may_switch_notifications"] = may_switch_notifications
_env.globals["company_fields"] = COMPANY_FIELDS
_env.globals["company_prefix"] = FIELD_PREFIX

# A refusal's stable slug -> the words that say it (the detail is the API's, in English).
_REASONS = {
    "forbidden": "why_forbidden",
    "onboarding-finished": "why_finished",
    "client-erased": "why_erased",
    "temporal-unavailable": "why_unavailable",
}


def reason(lang: str, exc: AppError) -> str:
    """Why an action was refused, in the user's language."""
    return TEXTS[lang][_REASONS.get(exc.slug, "why_not_now")]


Action = Callable[[SessionRow, uuid.UUID, FormData], Awaitable[str]]


async def _act(
    onboarding_id: str,
    request: Request,
    services: Services,
    action: Action,
) -> Response:
    """Check the session, the form and the id; run `action` (which answers the confirmation's
    key); redirect to the client page, or show it again with what went wrong."""
    session = await _session(request, services)
    if session is None:
        return _to_sign_in(request)
    frame = _frame(request, services, session)
    parsed = _uuid(onboarding_id)
    if parsed is None:
        return _notice(frame, "not_found", 404)
    form = await _checked_form(request, services, session)
    if form is None:
        return _notice(frame, "refused", 403)
    try:
        done = await action(session, parsed, form)
    except NotFound:
        return _notice(frame, "not_found", 404)
    except Invalid as exc:
        texts = TEXTS[frame.lang]
        errors = {
            FIELD_PREFIX + e.field: texts.get(f"error_{e.code}", texts["field_invalid"])
            for e in exc.errors
        }
        typed = {
            name: value.strip()[:500]
            for name in COMPANY_FIELDS
            if isinstance(value := form.get(name), str)
        }
        return await _client_page(
            request,
            services,
            session,
            onboarding_id=parsed,
            client_id=client_id_for(parsed),
            status=422,
            errors=errors,
            form=typed,
        )
    except AppError as exc:
        # Refused by the role rules or the onboarding, or Temporal out of reach: nothing done.
        return await _client_page(
            request,
            services,
            session,
            onboarding_id=parsed,
            client_id=client_id_for(parsed),
            status=exc.status,
            refused=reason(frame.lang, exc),
        )
    return _redirect(_url(frame, f"/onboardings/{parsed}?done={done}"))


@router.post(PREFIX + "/onboardings/{onboarding_id}/notifications")
async def create_console_notifications(
    onboarding_id: Text, request: Request, services: ServicesDep
) -> Response:
    """Switch the client's notifications on (enabled=1) or off: switched on for a client kept
    muted, the running onboarding sends its waiting invitation."""

    async def switch(session: SessionRow, parsed: uuid.UUID, form: FormData) -> str:
        enabled = form.get("enabled") == "1"
        await app_clients.switch_notifications(
            services.pool,
            services.temporal,
            partner_id=session.member.partner.id,
            client_id=client_id_for(parsed),
            role=session.member.user.role,
            enabled=enabled,
        )
        return "notifications_on" if enabled else "notifications_off"

    return await _act(onboarding_id, request, services, switch)


@router.post(PREFIX + "/onboardings/{onboarding_id}/invitation/cancel")
async def create_console_invitation_cancel(
    onboarding_id: Text, request: Request, services: ServicesDep
) -> Response:
    """Do not send the invitation (send-now or reschedule bring it back)."""

    async def cancel(session: SessionRow, parsed: uuid.UUID, form: FormData) -> str:
        await app_onboardings.cancel_invitation(
            services.pool,
            services.temporal,
            partner_id=session.member.partner.id,
            onboarding_id=parsed,
            role=session.member.user.role,
        )
        return "cancelled"

    return await _act(onboarding_id, request, services, cancel)


@router.post(PREFIX + "/onboardings/{onboarding_id}/invitation/resend")
async def create_console_invitation_resend(
    onboarding_id: Text, request: Request, services: ServicesDep
) -> Response:
    """Send a new invitation after an expiry or a bounce."""

    async def resend(session: SessionRow, parsed: uuid.UUID, form: FormData) -> str:
        await app_onboardings.resend_invitation(
            services.pool,
            services.temporal,
            partner_id=session.member.partner.id,
            onboarding_id=parsed,
            role=session.member.user.role,
        )
        return "resent"

    return await _act(onboarding_id, request, services, resend)


def company_details(form: FormData) -> CompanyDetails:
    """The form's company details, checked as the API checks its body (Invalid naming each
    field at fault, with a code the page words)."""
    values: dict[str, str] = {}
    for name in COMPANY_FIELDS:
        raw = form.get(name)
        text = raw.strip() if isinstance(raw, str) else ""
        if text:
            values[name] = text
    try:
        return CompanyDetails.model_validate(values)
    except ValidationError as exc:
        issues = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "name"
            kind = error["type"]
            if kind in ("missing", "string_too_short"):
                code = "required"
            elif kind == "string_too_long":
                code = "too_long"
            elif field == "siret":
                code = "siret"
            else:
                code = "invalid"
            issues.append(Invalid.field(field, error["msg"], code=code).errors[0])
        raise Invalid("Invalid field(s): company details", errors=tuple(issues)) from None


@router.post(PREFIX + "/onboardings/{onboarding_id}/company-details")
async def create_console_company_details(
    onboarding_id: Text, request: Request, services: ServicesDep
) -> Response:
    """Give the company details an onboarding waits for (AWAITING_COMPANY_DETAILS)."""

    async def give(session: SessionRow, parsed: uuid.UUID, form: FormData) -> str:
        await app_onboardings.provide_company_details(
            services.pool,
            services.temporal,
            partner_id=session.member.partner.id,
            onboarding_id=parsed,
            role=session.member.user.role,
            details=company_details(form),
        )
        return "company_details"

    return await _act(onboarding_id, request, services, give)
