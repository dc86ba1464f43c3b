"""The client's and its partner's Belgian national register numbers, read back and changed:
administrators read them whole and change them; other roles see the last 3 digits only.

The numbers are personal data: no message here names one, and nothing logs them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from app import roles
from app.clients import client_not_found
from app.errors import Conflict, Invalid
from domain.client_records import NationalNumbersIn, mask_national_number
from domain.setup import Role
from store import clients, erasure
from store.pool import Pool

READ_WHOLE_ROLES = roles.ADMINISTRATORS
CHANGE_ROLES = roles.ADMINISTRATORS


@dataclass(frozen=True)
class NationalNumbers:
    national_number: str | None
    partner_national_number: str | None
    # True when the numbers are shown as their last 3 digits (the caller may not read them).
    masked: bool


async def read(
    pool: Pool, *, partner_id: uuid.UUID, client_id: uuid.UUID, role: Role
) -> NationalNumbers:
    """Both numbers, whole for an administrator and masked for anyone else; NotFound for another
    firm's client."""
    found = await clients.national_numbers(pool, partner_id=partner_id, client_id=client_id)
    if found is None:
        raise client_not_found(client_id)
    own, partner = found
    if roles.allows(role, READ_WHOLE_ROLES):
        return NationalNumbers(own, partner, masked=False)
    return NationalNumbers(mask_national_number(own), mask_national_number(partner), masked=True)


async def change(
    pool: Pool,
    *,
    partner_id: uuid.UUID,
    client_id: uuid.UUID,
    role: Role,
    body: NationalNumbersIn,
) -> NationalNumbers:
    """Change the numbers given (null clears one), administrators only; Conflict once the
    client's personal data was erased (a number would bring it back)."""
    roles.require(role, CHANGE_ROLES)
    if await clients.get_for_partner(pool, partner_id=partner_id, client_id=client_id) is None:
        raise client_not_found(client_id)
    if await erasure.get(pool, client_id=client_id) is not None:
        raise Conflict(
            "This client's personal data was erased; its national numbers stay erased.",
            slug="client-erased",
            title="Client erased",
        )
    values = {name: getattr(body, name) for name in body.model_fields_set}
    if not values:
        raise Invalid.field(
            "national_number", "give national_number or partner_national_number", code="required"
        )
    if not await clients.set_national_numbers(
        pool, partner_id=partner_id, client_id=client_id, values=values
    ):
        raise client_not_found(client_id)
    return await read(pool, partner_id=partner_id, client_id=client_id, role=role)
