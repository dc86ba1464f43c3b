"""/v1/notification-defaults: whether the firm's new clients keep their notifications off until
someone switches them on, unless the onboarding request says (`notifications.keep_muted`)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import AdminDep, AnyRoleDep, PoolDep
from api.problems import problem_responses
from app import notifications
from domain.exact import ExactBool

router = APIRouter(prefix="/v1", tags=["templates"])


class NotificationDefaults(BaseModel):
    new_clients_muted: ExactBool = Field(
        description="true: a new client's notifications stay off after setup until someone "
        "switches them on (nothing is sent to its director, the invitation waits); false: they "
        "are switched on when setup completes. An onboarding's `notifications.keep_muted` "
        "overrides it. New firms start with true."
    )


@router.get("/notification-defaults", response_model=NotificationDefaults)
async def read_notification_defaults(caller: AnyRoleDep, pool: PoolDep) -> NotificationDefaults:
    """Whether new clients' notifications stay off until switched on."""
    muted = await notifications.read_default(
        pool, partner_id=caller.partner.id, role=caller.user.role
    )
    return NotificationDefaults(new_clients_muted=muted)


@router.put(
    "/notification-defaults",
    response_model=NotificationDefaults,
    responses=problem_responses(403, 422),
)
async def update_notification_defaults(
    body: NotificationDefaults, caller: AdminDep, pool: PoolDep
) -> NotificationDefaults:
    """Set whether new clients' notifications stay off until switched on (administrators);
    clients already started keep theirs."""
    muted = await notifications.set_default(
        pool, partner_id=caller.partner.id, role=caller.user.role, muted=body.new_clients_muted
    )
    return NotificationDefaults(new_clients_muted=muted)
