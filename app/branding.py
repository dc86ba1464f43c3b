"""The firm's branding (display name, sender, reply-to, logo, colour): how its e-mails and the
director's pages look. Read by everyone of the firm, changed by administrators; the JSON route
(/v1/branding) and the console's Branding page call these functions."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import ValidationError

from app import roles
from app.errors import FieldIssue, Invalid
from domain.email import Branding
from domain.setup import Role
from store import partners
from store.pool import Pool

FIELDS = tuple(Branding.model_fields)


def current(partner_name: str, settings: dict[str, Any]) -> Branding:
    """The branding as stored, the firm's name standing in for a display name never set."""
    stored = settings.get("branding") or {}
    known = {k: v for k, v in stored.items() if k in Branding.model_fields}
    return Branding.model_validate({"display_name": partner_name, **known})


def parse(values: dict[str, str]) -> Branding:
    """A form's values checked as the API checks its body (the same model); blank optional
    fields are left out. Invalid names each field at fault with a code a page can word."""
    given = {k: v.strip() for k, v in values.items() if k in Branding.model_fields and v.strip()}
    try:
        return Branding.model_validate(given)
    except ValidationError as exc:
        issues = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "display_name"
            kind = error["type"]
            if kind == "missing" or kind == "string_too_short":
                code = "required"
            elif kind == "string_too_long":
                code = "too_long"
            else:
                code = field
            issues.append(FieldIssue(field, error["msg"], code))
        names = ", ".join(dict.fromkeys(i.field for i in issues))
        raise Invalid(f"Invalid field(s): {names}", errors=tuple(issues)) from None


async def update(pool: Pool, *, partner_id: uuid.UUID, role: Role, branding: Branding) -> Branding:
    """Store the firm's branding (administrators): the next e-mail and page use it."""
    roles.require(role, roles.ADMINISTRATORS)
    await partners.set_branding(
        pool,
        partner_id=partner_id,
        branding=branding.model_dump(mode="json", include=set(Branding.model_fields)),
    )
    return branding
