"""What a firm changes on a client at any time after day one, from the client page: the
subscription (and its dated history), the collaborators, later fiscal years, a failed
integration's retry, and, for administrators, erasing the client's personal data behind a
confirmation page. The checklist's progress is shown beside them.

Each form calls the application function its JSON route calls (app/subscriptions.py,
app/collaborators.py, app/fiscal_years.py, app/onboardings.py, app/erasure.py), so roles and
rules are the API's; each POST is checked for the session's CSRF token and our origin, then
answered with a redirect to the client page (post-redirect-get). A refusal shows the page again
saying why in the user's language, with the values typed; another firm's client is 404.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import Response

from api.console import (
    CLIENT_SECTIONS,
    PREFIX,
    _checked_form,
    _client_page,
    _env,
    _Frame,
    _frame,
    _notice,
    _redirect,
    _render,
    _session,
    _to_sign_in,
    _url,
    _uuid,
)
from api.console.client_actions import reason
from api.console.texts import TEXTS
from api.deps import Services, ServicesDep
from app import checklists as app_checklists
from app import collaborators as app_collaborators
from app import erasure as app_erasure
from app import fiscal_years as app_fiscal_years
from app import onboardings as app_onboardings
from app import roles
from app import subscriptions as app_subscriptions
from app.clients import ClientView
from app.errors import AppError, FieldIssue, Invalid, NotFound
from domain.clients import CollaboratorsIn, SubscriptionIn
from domain.fiscal_calendar import FiscalYear
from domain.fiscal_years import FiscalYearCreate
from domain.text import Text
from email_templates import long_date
from store import clients
from store.console import SessionRow

router = APIRouter(include_in_schema=False)

# -- the onboarding's waiting reason in the user's words ----------------------------------------

# What the onboarding workflow says it waits for (workflows/onboarding.py, in English for the
# API and operators) -> the catalogue's key; the first match wins, unknown text is shown as is.
_WAITING = (
    (re.compile(r"^a person to fix the cause, then resume"), "cs_waiting_resume"),
    (re.compile(r"^company details \("), "cs_waiting_company_details"),
    (re.compile(r"^a retry of the failed integrations"), "cs_waiting_integration_retry"),
    (re.compile(r"^the client's notifications to be switched on"), "cs_waiting_unmute"),
    (re.compile(r"^the invitation was cancelled"), "cs_waiting_cancelled"),
    (re.compile(r"^someone to send the invitation"), "cs_waiting_send"),
    (re.compile(r"^a corrected address, then resend_invitation"), "cs_waiting_address"),
    (re.compile(r"^the director to accept the invitation"), "cs_waiting_acceptance"),
    (re.compile(r"^resend_invitation \(the invitation expired\)"), "cs_waiting_expired"),
)


def waiting_key(raw: str) -> str | None:
    """The catalogue key saying what the onboarding waits for, None for a reason we do not know."""
    for pattern, key in _WAITING:
        if pattern.match(raw):
            return key
    return None


def waiting_text(t: Callable[..., str], raw: str) -> str:
    """What the onboarding waits for, in the page's language (the workflow's words otherwise)."""
    key = waiting_key(raw)
    return t(key) if key else raw


_env.globals["waiting_text"] = waiting_text

# -- what the client page's sections show -------------------------------------------------------

_SUB = "sub_"
_COL = "col_"
_FY = "fy_"


def _lines(value: str) -> set[str]:
    return {v for v in value.split("\n") if v}


async def _sections(
    services: Services, session: SessionRow, view: ClientView, form: dict[str, str]
) -> dict[str, Any]:
    pool, partner_id = services.pool, session.member.partner.id
    lang = session.member.user.language if session.member.user.language in TEXTS else "en"
    role = session.member.user.role
    row = view.row
    history, _ = await app_subscriptions.history(
        pool, partner_id=partner_id, client_id=row.id, limit=100, offset=0
    )
    current = view.subscription
    plans = await app_subscriptions.plans(pool, partner_id=partner_id)
    # The history says what a person chose: the plans' names, their codes if since removed.
    names = {p.code: p.name for p in plans}
    add_on_names = {a.code: a.name for p in plans for a in p.add_ons}
    candidates = await app_collaborators.candidates(pool, partner_id=partner_id)
    years = await app_fiscal_years.list_years(pool, partner_id=partner_id, client_id=row.id)
    checklist = await app_checklists.progress(pool, partner_id=partner_id, client_id=row.id)
    erased = await app_erasure.erased(pool, client_id=row.id)
    chosen = {str(c.user_id) for c in view.collaborators}
    if _COL + "user_ids" in form:
        chosen = _lines(form[_COL + "user_ids"])
    next_start = (
        max(y.ends_on for y in years).toordinal() + 1 if years else datetime.now(UTC).toordinal()
    )
    proposed = date.fromordinal(next_start)
    sub_form = {
        "plan": form.get(_SUB + "plan", current.plan or "" if current else ""),
        "add_ons": _lines(form[_SUB + "add_ons"])
        if _SUB + "add_ons" in form
        else set(current.add_ons if current else []),
        "billing_period": form.get(
            _SUB + "billing_period", current.billing_period if current else "monthly"
        ),
        "payer": form.get(_SUB + "payer", current.payer if current else "client"),
        "effective_from": form.get(_SUB + "effective_from", ""),
    }
    return {
        "settings": {
            "client_id": row.id,
            "can_configure": role in app_subscriptions.CHANGE_ROLES,
            "can_retry": role in app_onboardings.CARE_ROLES,
            "can_erase": role in app_erasure.ERASE_ROLES and erased is None,
            "erased": erased is not None,
            "ready": row.status == "ready",
            "history": [
                {
                    "plan": names.get(r.plan, r.plan) if r.plan else None,
                    "add_ons": ", ".join(add_on_names.get(a, a) for a in r.add_ons),
                    "billing_period": r.billing_period,
                    "payer": r.payer,
                    "effective_from": long_date(r.effective_from, lang),
                    "source": r.source,
                }
                for r in history
            ],
            "plans": [
                {"code": p.code, "name": p.name, "add_ons": [(a.code, a.name) for a in p.add_ons]}
                for p in plans
            ],
            "sub": sub_form,
            "collaborators": [
                {"name": c.name, "email": c.email, "role": c.role} for c in view.collaborators
            ],
            "candidates": [
                {
                    "id": str(u.id),
                    "name": u.name,
                    "email": u.email,
                    "checked": str(u.id) in chosen,
                }
                for u in candidates
            ],
            "years": [
                {
                    "start": long_date(y.starts_on, lang),
                    "end": long_date(y.ends_on, lang),
                    "state": y.folders_state or "onboarding",
                }
                for y in years
            ],
            "fy": {
                "start": form.get(_FY + "start", proposed.isoformat()),
                "end": form.get(_FY + "end", FiscalYear.from_start(proposed).end.isoformat()),
            },
            "checklist": None
            if checklist is None
            else {
                "name": checklist.name,
                "answered": len(checklist.answered),
                "total": len(checklist.items),
                "missing": len(checklist.missing_required),
                "completed": checklist.completed_at is not None,
            },
            "integrations": [
                {
                    "code": i.code,
                    "kind": i.kind,
                    "state": i.state,
                    "attempts": i.attempts,
                }
                for i in view.integrations
            ],
        }
    }


CLIENT_SECTIONS.append(_sections)

# -- the forms ----------------------------------------------------------------------------------

Action = Callable[[SessionRow, uuid.UUID, FormData], Awaitable[str]]


def _field_errors(lang: str, prefix: str, issues: tuple[FieldIssue, ...]) -> dict[str, str]:
    texts = TEXTS[lang]
    errors: dict[str, str] = {}
    for issue in issues:
        # add_ons.2, user_ids.0: the group's first box carries the group's id.
        field = prefix + issue.field.split(".")[0]
        errors.setdefault(field, texts.get(f"cs_error_{issue.code}", texts["cs_error_invalid"]))
    return errors


def _typed(form: FormData, prefix: str, names: tuple[str, ...]) -> dict[str, str]:
    typed: dict[str, str] = {}
    for name in names:
        values = [v.strip()[:200] for v in form.getlist(name) if isinstance(v, str)]
        typed[prefix + name] = "\n".join(values)
    return typed


def _invalid_from(exc: ValidationError, fields: tuple[str, ...]) -> Invalid:
    issues = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] and error["loc"][0] in fields else fields[0]
        code = "required" if error["type"] == "missing" else "invalid"
        issues.append(FieldIssue(field, error["msg"], code))
    return Invalid("Invalid field(s)", errors=tuple(issues))


async def _act(
    client_id: str,
    request: Request,
    services: Services,
    action: Action,
    *,
    prefix: str,
    names: tuple[str, ...],
) -> Response:
    """Check the session, the form and the id; run `action` (which answers the confirmation's
    key); redirect to the client page, or show it again with what went wrong."""
    session = await _session(request, services)
    if session is None:
        return _to_sign_in(request)
    frame = _frame(request, services, session)
    parsed = _uuid(client_id)
    if parsed is None:
        return _notice(frame, "not_found", 404)
    form = await _checked_form(request, services, session)
    if form is None:
        return _notice(frame, "refused", 403)
    try:
        done = await action(session, parsed, form)
    except NotFound:
        return _notice(frame, "not_found", 404)
    except AppError as exc:
        again: dict[str, Any] = {"status": exc.status}
        if exc.errors:
            # Invalid, or a conflict naming its field (a fiscal year overlapping another).
            again["errors"] = _field_errors(frame.lang, prefix, exc.errors)
            again["form"] = _typed(form, prefix, names)
        else:
            again["refused"] = reason(frame.lang, exc)
        return await _client_page(
            request, services, session, onboarding_id=None, client_id=parsed, **again
        )
    return _redirect(_url(frame, f"/clients/{parsed}?done={done}"))


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _date(form: FormData, name: str) -> date | None:
    text = _text(form, name)
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Invalid.field(name, "not a date", code="date") from None


SUB_FIELDS = (
    "plan",
    "add_ons",
    "billing_period",
    "payer",
    "effective_from",
    "pricing_acknowledged",
)


@router.post(PREFIX + "/clients/{client_id}/subscription")
async def update_console_subscription(
    client_id: Text, request: Request, services: ServicesDep
) -> Response:
    """Change the client's subscription (plan, add-ons, billing period, payer) from a date."""

    async def change(session: SessionRow, parsed: uuid.UUID, form: FormData) -> str:
        values = {
            "plan": _text(form, "plan") or None,
            "add_ons": [v for v in form.getlist("add_ons") if isinstance(v, str) and v],
            "billing_period": _text(form, "billing_period") or None,
            "payer": _text(form, "payer") or None,
            "effective_from": _date(form, "effective_from"),
            "pricing_acknowledged": form.get("pricing_acknowledged") == "1",
        }
        try:
            body = SubscriptionIn.model_validate(values)
        except ValidationError as exc:
            raise _invalid_from(exc, SUB_FIELDS) from None
        await app_subscriptions.change(
            services.pool,
            partner_id=session.member.partner.id,
            client_id=parsed,
            role=session.member.user.role,
            changed_by=session.member.user.id,
            body=body,
            today=datetime.now(UTC).date(),
        )
        return "subscription"

    return await _act(client_id, request, services, change, prefix=_SUB, names=SUB_FIELDS)


@router.post(PREFIX + "/clients/{client_id}/collaborators")
async def update_console_collaborators(
    client_id: Text, request: Request, services: ServicesDep
) -> Response:
    """Set exactly who of the firm works on the client; the added ones are told by e-mail."""

    async def change(session: SessionRow, parsed: uuid.UUID, form: FormData) -> str:
        try:
            body = CollaboratorsIn.model_validate(
                {"user_ids": [v for v in form.getlist("user_ids") if isinstance(v, str)]}
            )
        except ValidationError as exc:
            raise _invalid_from(exc, ("user_ids",)) from None
        await app_collaborators.set_collaborators(
            services.pool,
            services.temporal,
            partner_id=session.member.partner.id,
            client_id=parsed,
            role=session.member.user.role,
            user_ids=body.user_ids,
            task_queue=services.settings.task_queue,
        )
        return "collaborators"

    return await _act(client_id, request, services, change, prefix=_COL, names=("user_ids",))


@router.post(PREFIX + "/clients/{client_id}/fiscal-years")
async def create_console_fiscal_year(
    client_id: Text, request: Request, services: ServicesDep
) -> Response:
    """Add the client's next fiscal year (its end proposed 12 months after its start)."""

    async def add(session: SessionRow, parsed: uuid.UUID, form: FormData) -> str:
        start, end = _date(form, "start"), _date(form, "end")
        if start is None:
            raise Invalid.field("start", "is required", code="required")
        await app_fiscal_years.add(
            services.pool,
            services.temporal,
            partner_id=session.member.partner.id,
            client_id=parsed,
            role=session.member.user.role,
            requested_by=session.member.user.id,
            body=FiscalYearCreate(start=start, end=end),
            today=datetime.now(UTC).date(),
            task_queue=services.settings.task_queue,
        )
        return "fiscal_year"

    return await _act(client_id, request, services, add, prefix=_FY, names=("start", "end"))


@router.post(PREFIX + "/clients/{client_id}/integrations/{code}/retry")
async def create_console_integration_retry(
    client_id: Text, code: Text, request: Request, services: ServicesDep
) -> Response:
    """Try a failed integration again (the onboarding's update, as the JSON route sends it)."""

    async def retry(session: SessionRow, parsed: uuid.UUID, form: FormData) -> str:
        partner_id = session.member.partner.id
        client = await clients.get_for_partner(
            services.pool, partner_id=partner_id, client_id=parsed
        )
        if client is None or len(code) > 63:
            raise NotFound(f"No client {parsed}")
        await app_onboardings.retry_integration(
            services.pool,
            services.temporal,
            partner_id=partner_id,
            onboarding_id=client.onboarding_id,
            role=session.member.user.role,
            code=code,
        )
        return "integration_retried"

    return await _act(client_id, request, services, retry, prefix="", names=())


# -- erasure, behind its confirmation page ------------------------------------------------------


def _confirmed(typed: str, name: str) -> bool:
    return bool(name) and " ".join(typed.split()).casefold() == " ".join(name.split()).casefold()


async def _erase_page(
    frame: _Frame,
    client: clients.ClientRow,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    typed: str = "",
) -> Response:
    return _render(
        frame,
        "client_erase.html",
        status=status,
        client_id=client.id,
        client_name=client.name,
        errors=errors or {},
        typed=typed,
    )


async def _erase_target(
    client_id: str, request: Request, services: Services
) -> tuple[SessionRow, _Frame, clients.ClientRow] | Response:
    session = await _session(request, services)
    if session is None:
        return _to_sign_in(request)
    frame = _frame(request, services, session)
    parsed = _uuid(client_id)
    client = (
        await clients.get_for_partner(
            services.pool, partner_id=session.member.partner.id, client_id=parsed
        )
        if parsed
        else None
    )
    if client is None:
        return _notice(frame, "not_found", 404)
    if session.member.user.role not in roles.ADMINISTRATORS:
        return _notice(frame, "forbidden", 403)
    return session, frame, client


@router.get(PREFIX + "/clients/{client_id}/erase")
async def read_console_erase(client_id: Text, request: Request, services: ServicesDep) -> Response:
    """The confirmation page of erasing a client's personal data (administrators)."""
    found = await _erase_target(client_id, request, services)
    if isinstance(found, Response):
        return found
    _, frame, client = found
    if await app_erasure.erased(services.pool, client_id=client.id):
        return _redirect(_url(frame, f"/clients/{client.id}?done=erased"))
    return await _erase_page(frame, client)


@router.post(PREFIX + "/clients/{client_id}/erase")
async def delete_console_client_personal_data(
    client_id: Text, request: Request, services: ServicesDep
) -> Response:
    """Erase the client's personal data once its name is typed to confirm (administrators)."""
    found = await _erase_target(client_id, request, services)
    if isinstance(found, Response):
        return found
    session, frame, client = found
    form = await _checked_form(request, services, session)
    if form is None:
        return _notice(frame, "refused", 403)
    done = _url(frame, f"/clients/{client.id}?done=erased")
    if await app_erasure.erased(services.pool, client_id=client.id):
        return _redirect(done)  # a second submit: erased already, nothing more to do
    typed = _text(form, "confirm_name")[:200]
    if not _confirmed(typed, client.name):
        message = TEXTS[frame.lang]["cs_erase_mismatch"]
        return await _erase_page(
            frame, client, status=422, errors={"confirm_name": message}, typed=typed
        )
    try:
        await app_erasure.erase_personal_data(
            services.pool,
            services.temporal,
            partner_id=session.member.partner.id,
            client_id=client.id,
            role=session.member.user.role,
            requested_by=session.member.user.id,
        )
    except NotFound:
        return _notice(frame, "not_found", 404)
    except AppError as exc:
        return _render(
            frame,
            "client_erase.html",
            status=exc.status,
            client_id=client.id,
            client_name=client.name,
            errors={"confirm_name": reason(frame.lang, exc)},
            typed=typed,
        )
    return _redirect(done)
