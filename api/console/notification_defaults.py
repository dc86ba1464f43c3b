"""Settings > New clients' notifications: the firm's "keep new clients' notifications off until
switched on", read by everyone of the firm and changed by administrators through
app/notifications.py (the functions GET and PUT /v1/notification-defaults call)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from api.console import PREFIX, _Frame, _render
from api.console.settings import BASE, _done, _done_key, _guarded, _who
from api.deps import ServicesDep
from app import notifications
from store.console import SessionRow

router = APIRouter(include_in_schema=False)

PATH = "/notifications"


@router.get(PREFIX + BASE + PATH)
async def read_console_notification_defaults(request: Request, services: ServicesDep) -> Response:
    """The firm's setting; a form for administrators."""

    async def page(session: SessionRow, frame: _Frame) -> Response:
        muted = await notifications.read_default(services.pool, **_who(session))
        return _render(frame, "settings_notifications.html", muted=muted, done=_done_key(request))

    return await _guarded(request, services, page, post=False)


@router.post(PREFIX + BASE + PATH)
async def update_console_notification_defaults(request: Request, services: ServicesDep) -> Response:
    """Keep new clients' notifications off until switched on, or not; started clients keep
    theirs."""

    async def page(session: SessionRow, frame: _Frame) -> Response:
        form = await request.form()
        await notifications.set_default(
            services.pool, **_who(session), muted=form.get("new_clients_muted") == "1"
        )
        return _done(frame, PATH, "notifications_saved")

    return await _guarded(request, services, page, post=True)
