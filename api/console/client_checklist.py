"""The client page's checklist part: assign or replace the director's checklist from the firm's
catalogue, or withdraw it behind a confirmation box, through app/checklists.py (the JSON
routes' functions: the same roles, the same one e-mail to an invited director). Each POST is
checked for the session's CSRF token and our origin and answered with a redirect to the client
page; a refusal shows the page again saying why, with what was chosen."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from api.console import CLIENT_SECTIONS, PREFIX
from api.console.client_settings import _act
from api.deps import Services, ServicesDep
from app import checklists as app_checklists
from app import erasure as app_erasure
from app.clients import ClientView
from app.errors import Invalid
from domain.text import Text
from store.console import SessionRow

router = APIRouter(include_in_schema=False)

# Field ids on the page: the prefix keeps them apart from the other parts' fields.
_CK = "ck_"


async def _section(
    services: Services, session: SessionRow, view: ClientView, form: dict[str, str]
) -> dict[str, Any]:
    pool, partner_id, role = services.pool, session.member.partner.id, session.member.user.role
    current = await app_checklists.progress(pool, partner_id=partner_id, client_id=view.row.id)
    # A firm's catalogue holds tens of checklists, not thousands: one page of them all.
    catalogue, _ = await app_checklists.list_checklists(
        pool, partner_id=partner_id, role=role, limit=500, offset=0
    )
    erased = await app_erasure.erased(pool, client_id=view.row.id)
    chosen = form.get(_CK + "checklist_id") or (str(current.checklist_id) if current else "")
    return {
        "client_checklist": {
            "client_id": view.row.id,
            "can_change": role in app_checklists.CLIENT_ROLES and erased is None,
            "current": None if current is None else current.name,
            "catalogue": [{"id": str(c.id), "name": c.name} for c in catalogue],
            "chosen": chosen,
        }
    }


CLIENT_SECTIONS.append(_section)


def _checklist_id(form: FormData) -> uuid.UUID:
    raw = form.get("checklist_id")
    try:
        return uuid.UUID(raw if isinstance(raw, str) else "")
    except ValueError:
        raise Invalid.field("checklist_id", "choose a checklist", code="unknown") from None


@router.post(PREFIX + "/clients/{client_id}/checklist")
async def update_console_client_checklist(
    client_id: Text, request: Request, services: ServicesDep
) -> Response:
    """Assign the chosen checklist to the client, or replace the one it has."""

    async def assign(session: SessionRow, parsed: uuid.UUID, form: FormData) -> str:
        await app_checklists.assign_to_client(
            services.pool,
            services.temporal,
            partner_id=session.member.partner.id,
            client_id=parsed,
            role=session.member.user.role,
            checklist_id=_checklist_id(form),
            task_queue=services.settings.task_queue,
        )
        return "checklist_assigned"

    return await _act(client_id, request, services, assign, prefix=_CK, names=("checklist_id",))


@router.post(PREFIX + "/clients/{client_id}/checklist/withdraw")
async def create_console_client_checklist_withdrawal(
    client_id: Text, request: Request, services: ServicesDep
) -> Response:
    """Withdraw the client's checklist, once the box confirming it is ticked."""

    async def withdraw(session: SessionRow, parsed: uuid.UUID, form: FormData) -> str:
        if form.get("confirm") != "yes":
            raise Invalid.field("confirm", "tick the box to confirm", code="confirm")
        await app_checklists.withdraw_from_client(
            services.pool,
            partner_id=session.member.partner.id,
            client_id=parsed,
            role=session.member.user.role,
        )
        return "checklist_withdrawn"

    return await _act(client_id, request, services, withdraw, prefix=_CK, names=("confirm",))
