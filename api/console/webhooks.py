"""The console's Webhooks pages (administrators, as /v1/webhooks): the firm's endpoints, a form
to add one (its URL judged by the outbound policy in app/webhooks.py, its signing secret shown
once), removing one, and each endpoint's deliveries (state, attempts, last answer, next retry)
with a Redeliver button.

Adding answers the secret in the POST's own page, since it may travel in no URL; the form's
nonce becomes the endpoint's id, so sending the same form again (a double click, a reload) adds
nothing and says the endpoint exists. Every other form redirects (post-redirect-get).
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from fastapi import APIRouter, Request
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
    _uuid,
    _when,
    _zone,
)
from api.console.texts import TEXTS
from api.deps import Services, ServicesDep
from app import webhooks as app_webhooks
from app.errors import Conflict, Forbidden, Invalid, NotFound
from domain.text import Text
from store.console import SessionRow
from store.webhooks import DeliveryRow, EndpointRow, EventType

router = APIRouter(include_in_schema=False)

NONCE_FIELD = "nonce"
ENDPOINTS_SHOWN = 100
DELIVERIES_SHOWN = 50
EVENT_TYPES = [t.value for t in EventType]
# The done= and refused= words a redirect may carry back (anything else is ignored).
_DONE = {"deleted", "redelivered", "exists"}
_REFUSED = {"pending"}


def _endpoint_id(partner_id: uuid.UUID, nonce: str) -> uuid.UUID:
    # The same form (same nonce) names the same endpoint: its second sending finds it made.
    return uuid.uuid5(partner_id, f"console-webhook:{nonce}")


def _state(row: EndpointRow) -> str:
    if row.disabled_at is not None:
        return "disabled"
    return "failing" if row.failing_since is not None else "active"


async def _list_page(
    frame: _Frame,
    services: Services,
    session: SessionRow,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    done: str | None = None,
) -> Response:
    rows, total = await app_webhooks.list_endpoints(
        services.pool,
        partner_id=session.member.partner.id,
        role=session.member.user.role,
        limit=ENDPOINTS_SHOWN,
        offset=0,
    )
    zone = _zone(session)
    return _render(
        frame,
        "webhooks.html",
        status=status,
        endpoints=[
            {
                "id": r.id,
                "url": r.url,
                "events": r.event_types,
                "state": _state(r),
                "created": _when(r.created_at, zone, frame.lang),
            }
            for r in rows
        ],
        more=max(0, total - len(rows)),
        event_types=EVENT_TYPES,
        errors=errors or {},
        values=values or {"url": "", "event_types": []},
        nonce_field=NONCE_FIELD,
        nonce=secrets.token_urlsafe(16),
        done=done,
    )


def _forbidden(frame: _Frame) -> Response:
    return _notice(frame, "forbidden", 403)


@router.get(PREFIX + "/settings/webhooks")
async def read_console_webhooks(request: Request, services: ServicesDep) -> Response:
    """The firm's webhook endpoints and the form to add one."""
    session = await _session(request, services)
    if session is None:
        return _to_sign_in(request)
    frame = _frame(request, services, session)
    done = request.query_params.get("done")
    try:
        return await _list_page(frame, services, session, done=done if done in _DONE else None)
    except Forbidden:
        return _forbidden(frame)


@router.post(PREFIX + "/settings/webhooks")
async def create_console_webhook(request: Request, services: ServicesDep) -> Response:
    """Add an endpoint; the answer shows its signing secret, this once."""
    session = await _session(request, services)
    if session is None:
        return _to_sign_in(request)
    frame = _frame(request, services, session)
    form = await _checked_form(request, services, session)
    if form is None:
        return _notice(frame, "refused", 403)
    raw_url = form.get("url")
    url = raw_url.strip() if isinstance(raw_url, str) else ""
    events = [e for e in form.getlist("event_types") if isinstance(e, str)]
    nonce = form.get(NONCE_FIELD)
    if not isinstance(nonce, str) or not 16 <= len(nonce) <= 64:
        nonce = secrets.token_urlsafe(16)
    texts = TEXTS[frame.lang]
    try:
        checked = app_webhooks.check_request(url=url, event_types=events)
        created = await app_webhooks.create(
            services.pool,
            services.settings,
            partner_id=session.member.partner.id,
            user_id=session.member.user.id,
            role=session.member.user.role,
            url=url,
            event_types=checked,
            endpoint_id=_endpoint_id(session.member.partner.id, nonce),
        )
    except Forbidden:
        return _forbidden(frame)
    except Invalid as exc:
        errors: dict[str, str] = {}
        for issue in exc.errors:
            key = f"wh_error_{issue.field}_{issue.code}"
            errors.setdefault(issue.field, texts.get(key, texts["field_invalid"]))
        if "url" in errors and any(i.code == "not_allowed" for i in exc.errors):
            # The policy's reason is our own wording, safe to show; the remote is never called.
            reason = next(i.message for i in exc.errors if i.code == "not_allowed")
            errors["url"] = f"{errors['url']} ({reason.removeprefix('not allowed: ')})"
        return await _list_page(
            frame,
            services,
            session,
            status=422,
            errors=errors,
            values={"url": url[:2100], "event_types": [e for e in events if e in EVENT_TYPES]},
        )
    except Conflict:
        return _redirect(_url(frame, "/settings/webhooks?done=exists"))
    return _render(
        frame,
        "webhook_created.html",
        endpoint_url=created.endpoint.url,
        endpoint_page=_url(frame, f"/settings/webhooks/{created.endpoint.id}"),
        secret=created.secret,
    )


def _delivery(row: DeliveryRow, frame: _Frame, zone: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "event_type": row.event_type,
        "event_id": row.event_id,
        "created": _when(row.created_at, zone, frame.lang),
        "state": row.state,
        "attempts": row.attempts,
        "status_code": row.last_status_code,
        "error": row.last_error,
        "next_attempt": _when(row.next_attempt_at, zone, frame.lang)
        if row.state == "pending"
        else None,
    }


@router.get(PREFIX + "/settings/webhooks/{endpoint_id}")
async def read_console_webhook(
    endpoint_id: Text, request: Request, services: ServicesDep
) -> Response:
    """One endpoint and its deliveries, newest first, each with Redeliver when finished."""
    session = await _session(request, services)
    if session is None:
        return _to_sign_in(request)
    frame = _frame(request, services, session)
    parsed = _uuid(endpoint_id)
    if parsed is None:
        return _notice(frame, "not_found", 404)
    try:
        endpoint = await app_webhooks.read(
            services.pool,
            partner_id=session.member.partner.id,
            role=session.member.user.role,
            endpoint_id=parsed,
        )
        rows, total = await app_webhooks.list_deliveries(
            services.pool,
            partner_id=session.member.partner.id,
            role=session.member.user.role,
            endpoint_id=parsed,
            limit=DELIVERIES_SHOWN,
            offset=0,
        )
    except Forbidden:
        return _forbidden(frame)
    except NotFound:
        return _notice(frame, "not_found", 404)
    zone = _zone(session)
    done = request.query_params.get("done")
    refused = request.query_params.get("refused")
    return _render(
        frame,
        "webhook.html",
        endpoint={
            "id": endpoint.id,
            "url": endpoint.url,
            "events": endpoint.event_types,
            "state": _state(endpoint),
            "created": _when(endpoint.created_at, zone, frame.lang),
            "disabled_reason": endpoint.disabled_reason,
        },
        deliveries=[_delivery(r, frame, zone) for r in rows],
        more=max(0, total - len(rows)),
        zone=zone.key,
        done=done if done in _DONE else None,
        refused=refused if refused in _REFUSED else None,
    )


@router.post(PREFIX + "/settings/webhooks/{endpoint_id}/delete")
async def delete_console_webhook(
    endpoint_id: Text, request: Request, services: ServicesDep
) -> Response:
    """Remove the endpoint; back to the list (a second sending finds it gone: 404)."""
    session = await _session(request, services)
    if session is None:
        return _to_sign_in(request)
    frame = _frame(request, services, session)
    parsed = _uuid(endpoint_id)
    if parsed is None:
        return _notice(frame, "not_found", 404)
    if await _checked_form(request, services, session) is None:
        return _notice(frame, "refused", 403)
    try:
        await app_webhooks.delete(
            services.pool,
            partner_id=session.member.partner.id,
            role=session.member.user.role,
            endpoint_id=parsed,
        )
    except Forbidden:
        return _forbidden(frame)
    except NotFound:
        return _notice(frame, "not_found", 404)
    return _redirect(_url(frame, "/settings/webhooks?done=deleted"))


@router.post(PREFIX + "/settings/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver")
async def create_console_redelivery(
    endpoint_id: Text, delivery_id: Text, request: Request, services: ServicesDep
) -> Response:
    """Send a finished delivery again (same webhook-id); one still being tried is left alone,
    so a double submit sends it once."""
    session = await _session(request, services)
    if session is None:
        return _to_sign_in(request)
    frame = _frame(request, services, session)
    parsed, delivery = _uuid(endpoint_id), _uuid(delivery_id)
    if parsed is None or delivery is None:
        return _notice(frame, "not_found", 404)
    if await _checked_form(request, services, session) is None:
        return _notice(frame, "refused", 403)
    back = f"/settings/webhooks/{parsed}"
    try:
        await app_webhooks.redeliver(
            services.pool,
            partner_id=session.member.partner.id,
            role=session.member.user.role,
            endpoint_id=parsed,
            delivery_id=delivery,
        )
    except Forbidden:
        return _forbidden(frame)
    except NotFound:
        return _notice(frame, "not_found", 404)
    except Conflict:
        return _redirect(_url(frame, f"{back}?refused=pending"))
    return _redirect(_url(frame, f"{back}?done=redelivered"))
