"""The client page's integrations: where each app stands, adding one from the firm's catalogue,
reconfiguring its settings (secrets shown masked, never echoed: a secret field left empty keeps
its value), removing one behind a confirmation box, trying a failed one again, and the history
of changes (who, when, what).

Each form calls the application function its JSON route calls (app/integrations.py), so roles
and rules are the API's; an app failed during the onboarding is retried by the onboarding's own
update (client_settings.py's form). Every POST is checked for the session's CSRF token and our
origin, then answered with a redirect to the client page (post-redirect-get); a refusal shows
the page again saying why, next to the field at fault, with the values typed (never a secret).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from api.console import (
    CLIENT_SECTIONS,
    PREFIX,
    _checked_form,
    _client_page,
    _frame,
    _notice,
    _redirect,
    _session,
    _to_sign_in,
    _url,
    _uuid,
    _when,
    _zone,
)
from api.console.client_actions import reason
from api.console.texts import TEXTS
from api.deps import Services, ServicesDep
from app import erasure as app_erasure
from app import integrations as app_integrations
from app import onboardings as app_onboardings
from app.clients import ClientView
from app.errors import AppError, FieldIssue, Invalid, NotFound
from domain.integrations import IntegrationAdd, IntegrationReconfigure
from domain.setup import Integration, SettingSpec, SettingType
from domain.text import Text
from store import setup_sources as setup_store
from store.console import SessionRow

router = APIRouter(include_in_schema=False)

# Field ids: the app's code and the setting's place in its declaration, since a setting's name
# may hold characters an id may not. `ci_add_<code>` and `ci_edit_<code>` are the app's forms.
_HISTORY_SHOWN = 20


def field_id(form: str, code: str, index: int) -> str:
    """The id of setting `index` of app `code` in `form` (add or edit)."""
    return f"ci_{form}_{code}_{index}"


def _spec_fields(
    form: str, app: Integration, values: dict[str, Any], typed: dict[str, str]
) -> list[dict[str, Any]]:
    fields = []
    for index, spec in enumerate(app.settings):
        fid = field_id(form, app.code, index)
        value = values.get(spec.name)
        kept = "" if value is None else str(value)
        if spec.type == SettingType.boolean:
            kept = "true" if value is True else ""
        shown = typed.get(fid, kept)
        fields.append(
            {
                "id": fid,
                "name": f"settings.{spec.name}",
                "label": spec.name,
                "type": spec.type.value,
                "required": spec.required,
                "secret": spec.secret,
                # A secret is never put back in a page: the field stays empty, its hint says
                # whether a value is kept.
                "value": "" if spec.secret else shown,
                "kept": spec.secret and value is not None,
                "checked": shown == "true",
            }
        )
    return fields


async def _section(
    services: Services, session: SessionRow, view: ClientView, form: dict[str, str]
) -> dict[str, Any]:
    pool, partner_id = services.pool, session.member.partner.id
    lang = session.member.user.language if session.member.user.language in TEXTS else "en"
    zone = _zone(session)
    role = session.member.user.role
    client_id = view.row.id
    catalog = await setup_store.load_catalog(pool, partner_id=partner_id)
    rows = await app_integrations.list_integrations(
        pool, partner_id=partner_id, client_id=client_id
    )
    history, total = await app_integrations.history(
        pool, partner_id=partner_id, client_id=client_id, limit=_HISTORY_SHOWN, offset=0
    )
    present = {r.code for r in rows if r.state != "removed"}
    # An erased client keeps its history, but nothing more is connected for it.
    erased = await app_erasure.erased(pool, client_id=client_id) is not None
    items = []
    for r in rows:
        app = catalog.integrations.get(r.code)
        items.append(
            {
                "code": r.code,
                "name": r.name,
                "state": r.state,
                "attempts": r.attempts,
                "last_error": r.last_error if r.state == "failed" else None,
                "from_onboarding": r.change_id is None,
                "settings": [{"name": k, "value": v} for k, v in sorted(r.settings.items())],
                "fields": _spec_fields("edit", app, r.settings, form) if app else None,
                "open": f"ci_edit_{r.code}" in form,
            }
        )
    addable = [
        {
            "code": app.code,
            "name": app.name,
            "kind": app.kind.value,
            "fields": _spec_fields("add", app, {}, form),
            "open": f"ci_add_{app.code}" in form,
        }
        for app in sorted(catalog.integrations.values(), key=lambda a: a.name.casefold())
        if app.code not in present
    ]
    return {
        "integrations_part": {
            "client_id": client_id,
            "can_change": role in app_integrations.CHANGE_ROLES
            and view.row.status == "ready"
            and not erased,
            "erased": erased,
            "can_retry_onboarding": role in app_onboardings.CARE_ROLES,
            "apps": items,
            "addable": addable,
            "history": [
                {
                    "when": _when(c.requested_at, zone, lang),
                    "who": c.requested_by_name or "—",
                    "action": c.action,
                    "code": c.code,
                    "state": c.state,
                    "error": c.error,
                }
                for c in history
            ],
            "history_more": max(0, total - len(history)),
        }
    }


CLIENT_SECTIONS.append(_section)

# -- the forms ----------------------------------------------------------------------------------

Action = Callable[[SessionRow, uuid.UUID, FormData], Awaitable[str]]


def _value(spec: SettingSpec, raw: str) -> Any:
    """The form's text as the setting's type, or the text itself for the API's checks to name."""
    if spec.type == SettingType.boolean:
        return raw == "true"
    if spec.type == SettingType.integer:
        try:
            return int(raw)
        except ValueError:
            return raw
    return raw


def _settings_from(form: FormData, app: Integration) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for spec in app.settings:
        raw = form.get(f"settings.{spec.name}")
        text = raw.strip() if isinstance(raw, str) else ""
        if spec.type == SettingType.boolean:
            settings[spec.name] = text == "true"
        elif text:
            settings[spec.name] = _value(spec, text)
        # Empty: left out, so a secret keeps its value and a required one is named missing.
    return settings


def _typed(form: FormData, which: str, app: Integration) -> dict[str, str]:
    """What was typed, by field id, secrets excepted: a page never shows one back."""
    typed = {}
    for index, spec in enumerate(app.settings):
        raw = form.get(f"settings.{spec.name}")
        if not spec.secret:
            value = raw.strip()[:200] if isinstance(raw, str) else ""
            typed[field_id(which, app.code, index)] = value
    return typed


def _errors(
    lang: str, which: str, code: str, app: Integration | None, issues: tuple[FieldIssue, ...]
) -> dict[str, str]:
    texts = TEXTS[lang]
    places = {f"settings.{s.name}": i for i, s in enumerate(app.settings)} if app else {}
    errors: dict[str, str] = {}
    for issue in issues:
        message = texts.get(f"ci_error_{issue.code}", texts["cs_error_invalid"])
        if issue.field in places:
            errors[field_id(which, code, places[issue.field])] = message
        elif issue.field == "confirm":
            errors[f"ci_remove_{code}"] = message
        else:
            errors.setdefault(f"ci_{which}_{code}", message)
    return errors


async def _app(services: Services, session: SessionRow, code: str) -> Integration | None:
    catalog = await setup_store.load_catalog(services.pool, partner_id=session.member.partner.id)
    return catalog.integrations.get(code)


async def _act(
    client_id: str,
    request: Request,
    services: Services,
    action: Action,
    *,
    which: str,
    code: str | None,
    settings_form: bool = True,
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
        chosen = code
        if chosen is None:
            picked = form.get("code")
            chosen = picked.strip()[:63] if isinstance(picked, str) else ""
        app = await _app(services, session, chosen) if chosen else None
        again: dict[str, Any] = {"status": exc.status}
        # Only a form with the settings' fields puts back what it typed; the others (remove,
        # try again) leave the fields as they stand.
        typed: dict[str, str] = _typed(form, which, app) if app and settings_form else {}
        typed[f"ci_{which}_{chosen}"] = "1"  # opens the app's form again
        if exc.errors:
            again["errors"] = _errors(frame.lang, which, chosen, app, exc.errors)
        else:
            again["refused"] = reason(frame.lang, exc)
        again["form"] = typed
        return await _client_page(
            request, services, session, onboarding_id=None, client_id=parsed, **again
        )
    return _redirect(_url(frame, f"/clients/{parsed}?done={done}"))


def _code(value: str) -> str:
    if len(value) > 63:
        raise NotFound("No such integration")
    return value


@router.post(PREFIX + "/clients/{client_id}/integrations")
async def create_console_client_integration(
    client_id: Text, request: Request, services: ServicesDep
) -> Response:
    """Add an app of the firm's catalogue to the client, with its settings."""

    async def add(session: SessionRow, parsed: uuid.UUID, form: FormData) -> str:
        raw = form.get("code")
        code = raw.strip() if isinstance(raw, str) else ""
        app = await _app(services, session, code) if code else None
        if app is None:
            raise Invalid.field("code", "is not an app of the firm's catalogue", code="unknown")
        await app_integrations.add(
            services.pool,
            services.temporal,
            partner_id=session.member.partner.id,
            client_id=parsed,
            role=session.member.user.role,
            requested_by=session.member.user.id,
            body=IntegrationAdd(code=code, settings=_settings_from(form, app)),
            idempotency_key=None,
            task_queue=services.settings.task_queue,
        )
        return "integration_added"

    return await _act(client_id, request, services, add, which="add", code=None)


@router.post(PREFIX + "/clients/{client_id}/integrations/{code}/settings")
async def update_console_client_integration(
    client_id: Text, code: Text, request: Request, services: ServicesDep
) -> Response:
    """Save the app's settings (an empty secret keeps its value) and connect it again."""

    async def change(session: SessionRow, parsed: uuid.UUID, form: FormData) -> str:
        app = await _app(services, session, _code(code))
        settings = _settings_from(form, app) if app else {}
        await app_integrations.reconfigure(
            services.pool,
            services.temporal,
            partner_id=session.member.partner.id,
            client_id=parsed,
            code=code,
            role=session.member.user.role,
            requested_by=session.member.user.id,
            body=IntegrationReconfigure(settings=settings),
            merge=False,
            idempotency_key=None,
            task_queue=services.settings.task_queue,
        )
        return "integration_reconfigured"

    return await _act(client_id, request, services, change, which="edit", code=code)


@router.post(PREFIX + "/clients/{client_id}/integrations/{code}/try-again")
async def create_console_client_integration_attempt(
    client_id: Text, code: Text, request: Request, services: ServicesDep
) -> Response:
    """Try an app whose last change failed again, with the settings it has."""

    async def retry(session: SessionRow, parsed: uuid.UUID, form: FormData) -> str:
        await app_integrations.retry(
            services.pool,
            services.temporal,
            partner_id=session.member.partner.id,
            client_id=parsed,
            code=_code(code),
            role=session.member.user.role,
            requested_by=session.member.user.id,
            task_queue=services.settings.task_queue,
        )
        return "integration_trying"

    return await _act(
        client_id, request, services, retry, which="edit", code=code, settings_form=False
    )


@router.post(PREFIX + "/clients/{client_id}/integrations/{code}/remove")
async def delete_console_client_integration(
    client_id: Text, code: Text, request: Request, services: ServicesDep
) -> Response:
    """Remove the app from the client once the confirmation box is ticked."""

    async def remove(session: SessionRow, parsed: uuid.UUID, form: FormData) -> str:
        if form.get("confirm") != "yes":
            raise Invalid.field("confirm", "tick the box to confirm", code="confirm")
        await app_integrations.remove(
            services.pool,
            services.temporal,
            partner_id=session.member.partner.id,
            client_id=parsed,
            code=_code(code),
            role=session.member.user.role,
            requested_by=session.member.user.id,
            idempotency_key=None,
            task_queue=services.settings.task_queue,
        )
        return "integration_removed"

    return await _act(
        client_id, request, services, remove, which="edit", code=code, settings_form=False
    )
