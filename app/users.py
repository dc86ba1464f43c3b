"""The firm's users and their API keys, one function per use case: the JSON routes
(api/routers/users.py) and the console's settings pages call the same ones. Administrators only;
the store keeps one administrator per firm whatever is asked."""

from __future__ import annotations

import uuid

from app.errors import Conflict, NotFound
from app.roles import ADMINISTRATORS, require
from domain.setup import Role
from store import partners
from store.partners import ApiKeyRow, UserRow
from store.pool import Pool


def _last_administrator() -> Conflict:
    return Conflict(
        "A partner keeps one administrator.", slug="last-administrator", title="Last administrator"
    )


def _no_user(user_id: uuid.UUID) -> NotFound:
    return NotFound(f"No user {user_id}")


async def list_users(
    pool: Pool, *, partner_id: uuid.UUID, role: Role, limit: int, offset: int
) -> tuple[list[UserRow], int]:
    """The firm's users."""
    require(role, ADMINISTRATORS)
    return await partners.list_users(pool, partner_id=partner_id, limit=limit, offset=offset)


async def create_user(
    pool: Pool,
    *,
    partner_id: uuid.UUID,
    role: Role,
    email: str,
    name: str,
    user_role: Role,
    language: str,
) -> UserRow:
    """Add a user to the firm; an address already a user of it is a Conflict."""
    require(role, ADMINISTRATORS)
    row = await partners.create_user(
        pool, partner_id=partner_id, email=email, name=name, role=user_role, language=language
    )
    if row is None:
        raise Conflict(
            f"{email} is already a user of this partner", slug="conflict", title="Already exists"
        )
    return row


async def get_user(pool: Pool, *, partner_id: uuid.UUID, role: Role, user_id: uuid.UUID) -> UserRow:
    """One user of the firm (another firm's is NotFound)."""
    require(role, ADMINISTRATORS)
    row = await partners.get_user(pool, partner_id=partner_id, user_id=user_id)
    if row is None:
        raise _no_user(user_id)
    return row


async def update_user(
    pool: Pool,
    *,
    partner_id: uuid.UUID,
    role: Role,
    user_id: uuid.UUID,
    name: str | None = None,
    user_role: Role | None = None,
    language: str | None = None,
) -> UserRow:
    """Rename a user, change their role or their e-mails' language; never leaves the firm
    without an administrator."""
    require(role, ADMINISTRATORS)
    try:
        row = await partners.update_user(
            pool,
            partner_id=partner_id,
            user_id=user_id,
            name=name,
            role=user_role,
            language=language,
        )
    except partners.LastAdministrator:
        raise _last_administrator() from None
    if row is None:
        raise _no_user(user_id)
    return row


async def delete_user(
    pool: Pool, *, partner_id: uuid.UUID, role: Role, caller_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    """Remove a user and their API keys. Not oneself, nor the last administrator."""
    require(role, ADMINISTRATORS)
    if user_id == caller_id:
        # Deleting oneself takes the very key (or session) making the request: another
        # administrator does it.
        raise Conflict(
            "You cannot delete your own user; another administrator can.",
            slug="self-deletion",
            title="Cannot delete yourself",
        )
    try:
        deleted = await partners.delete_user(pool, partner_id=partner_id, user_id=user_id)
    except partners.LastAdministrator:
        raise _last_administrator() from None
    if not deleted:
        raise _no_user(user_id)


async def list_keys(
    pool: Pool, *, partner_id: uuid.UUID, role: Role, user_id: uuid.UUID | None
) -> list[ApiKeyRow]:
    """API keys (never the keys themselves): one user's, or the whole firm's with None."""
    require(role, ADMINISTRATORS)
    if user_id is not None:
        await get_user(pool, partner_id=partner_id, role=role, user_id=user_id)
    return await partners.list_keys(pool, partner_id=partner_id, user_id=user_id)


async def create_key(
    pool: Pool, *, partner_id: uuid.UUID, role: Role, user_id: uuid.UUID, name: str
) -> tuple[ApiKeyRow, str]:
    """A new key for a user of the firm: (its row, the key itself, to show this once)."""
    require(role, ADMINISTRATORS)
    await get_user(pool, partner_id=partner_id, role=role, user_id=user_id)
    return await partners.create_key(pool, partner_id=partner_id, user_id=user_id, name=name)


async def revoke_key(
    pool: Pool, *, partner_id: uuid.UUID, role: Role, key_id: uuid.UUID
) -> ApiKeyRow:
    """Revoke a key: it stops working at once. Revoking twice is harmless."""
    require(role, ADMINISTRATORS)
    row = await partners.revoke_key(pool, partner_id=partner_id, key_id=key_id)
    if row is None:
        raise NotFound(f"No API key {key_id}")
    return row
