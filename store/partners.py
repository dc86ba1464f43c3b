"""Partners, their users and API keys."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from domain.setup import BillingDefaults, Role, TemplateBody
from store.pool import Conn, Pool

KEY_PREFIX = "onb"


@dataclass(frozen=True)
class PartnerRow:
    id: uuid.UUID
    name: str
    settings: dict[str, Any]
    # The firm's IANA time zone: the console shows and reads dates and times in it.
    time_zone: str


@dataclass(frozen=True)
class UserRow:
    id: uuid.UUID
    partner_id: uuid.UUID
    email: str
    name: str
    role: Role
    created_at: datetime
    # The language their own e-mails are written in (fr, nl, en, de).
    language: str = "fr"


@dataclass(frozen=True)
class ApiKeyRow:
    id: uuid.UUID
    partner_id: uuid.UUID
    user_id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class Caller:
    """Who an API key belongs to: every request is scoped to `partner`."""

    partner: PartnerRow
    user: UserRow
    key_id: uuid.UUID


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> tuple[str, str]:
    """A fresh API key and its display prefix. Only its hash is stored."""
    prefix = secrets.token_hex(4)
    return f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}", f"{KEY_PREFIX}_{prefix}"


_PARTNER_COLUMNS = "id, name, settings, time_zone"


def _partner(r: asyncpg.Record) -> PartnerRow:
    return PartnerRow(id=r["id"], name=r["name"], settings=r["settings"], time_zone=r["time_zone"])


# Named, not *: a column added to the table later is read only when a row type wants it.
_USER_COLUMNS = "id, partner_id, email, name, role, created_at, language"


def _user(r: asyncpg.Record) -> UserRow:
    return UserRow(
        id=r["id"],
        partner_id=r["partner_id"],
        email=r["email"],
        name=r["name"],
        role=Role(r["role"]),
        created_at=r["created_at"],
        language=r["language"],
    )


_KEY_COLUMNS = "id, partner_id, user_id, name, prefix, created_at, last_used_at, revoked_at"


def _key(r: asyncpg.Record) -> ApiKeyRow:
    return ApiKeyRow(**{k: r[k] for k in _KEY_COLUMNS.split(", ")})


async def get(pool: Pool, *, partner_id: uuid.UUID) -> PartnerRow | None:
    r = await pool.fetchrow(f"SELECT {_PARTNER_COLUMNS} FROM partners WHERE id = $1", partner_id)
    return _partner(r) if r else None


async def create_partner(
    pool: Pool, *, name: str, admin_email: str, admin_name: str
) -> tuple[PartnerRow, UserRow, str]:
    """A partner with its first administrator and API key, a default template and billing
    defaults, in one transaction. Returns the key in clear: the only time it is ever seen."""
    partner_id, user_id = uuid.uuid4(), uuid.uuid4()
    key, prefix = new_key()
    async with pool.acquire() as conn, conn.transaction():
        p = await conn.fetchrow(
            f"INSERT INTO partners (id, name) VALUES ($1, $2) RETURNING {_PARTNER_COLUMNS}",
            partner_id,
            name,
        )
        u = await conn.fetchrow(
            f"""
            INSERT INTO partner_users (id, partner_id, email, name, role)
            VALUES ($1, $2, $3, $4, 'administrator') RETURNING {_USER_COLUMNS}
            """,
            user_id,
            partner_id,
            admin_email,
            admin_name,
        )
        await conn.execute(
            """
            INSERT INTO api_keys (id, partner_id, user_id, name, prefix, secret_hash)
            VALUES ($1, $2, $3, 'bootstrap', $4, $5)
            """,
            uuid.uuid4(),
            partner_id,
            user_id,
            prefix,
            hash_key(key),
        )
        template_id = uuid.uuid4()
        body = TemplateBody().model_dump(mode="json")
        await conn.execute(
            """
            INSERT INTO configuration_templates
                (id, partner_id, name, description, is_default, body)
            VALUES ($1, $2, 'Standard', 'Created with the partner', true, $3)
            """,
            template_id,
            partner_id,
            body,
        )
        await conn.execute(
            """
            INSERT INTO configuration_template_versions
                (template_id, version, partner_id, name, body)
            VALUES ($1, 1, $2, 'Standard', $3)
            """,
            template_id,
            partner_id,
            body,
        )
        await conn.execute(
            "INSERT INTO billing_defaults (partner_id, body) VALUES ($1, $2)",
            partner_id,
            BillingDefaults().model_dump(mode="json"),
        )
    assert p is not None and u is not None
    return _partner(p), _user(u), key


async def authenticate(pool: Pool, *, key: str) -> Caller | None:
    """The caller owning an unrevoked key, or None. Records when the key was last used."""
    # One round trip for every authenticated request: the lookup, and the last-used stamp in
    # the same statement (a data-modifying CTE runs whether or not its rows are read). At most
    # one write a minute per key: last-used is for humans, not an audit trail.
    r = await pool.fetchrow(
        f"""
        WITH found AS (
            SELECT k.id AS key_id, k.last_used_at,
                   u.id, u.partner_id, u.email, u.name, u.role, u.created_at, u.language,
                   p.name AS partner_name, p.settings AS partner_settings,
                   p.time_zone AS partner_time_zone
            FROM api_keys k
            JOIN partner_users u ON u.id = k.user_id
            JOIN partners p ON p.id = k.partner_id
            WHERE k.secret_hash = $1 AND k.revoked_at IS NULL
        ), touched AS (
            UPDATE api_keys SET last_used_at = now()
            FROM found
            WHERE api_keys.id = found.key_id
              AND (api_keys.last_used_at IS NULL
                   OR api_keys.last_used_at < now() - interval '1 minute')
        )
        SELECT key_id, {_USER_COLUMNS}, partner_name, partner_settings, partner_time_zone
        FROM found
        """,
        hash_key(key),
    )
    if r is None:
        return None
    partner = PartnerRow(
        id=r["partner_id"],
        name=r["partner_name"],
        settings=r["partner_settings"],
        time_zone=r["partner_time_zone"],
    )
    return Caller(partner=partner, user=_user(r), key_id=r["key_id"])


# ---- users --------------------------------------------------------------------------------------


async def create_user(
    pool: Pool,
    *,
    partner_id: uuid.UUID,
    email: str,
    name: str,
    role: Role,
    language: str | None = None,
) -> UserRow | None:
    """None when the e-mail is already a user of this partner. No language: the column's
    default (French)."""
    r = await pool.fetchrow(
        f"""
        INSERT INTO partner_users (id, partner_id, email, name, role, language)
        VALUES ($1, $2, $3, $4, $5, COALESCE($6, 'fr'))
        ON CONFLICT DO NOTHING RETURNING {_USER_COLUMNS}
        """,
        uuid.uuid4(),
        partner_id,
        email,
        name,
        role.value,
        language,
    )
    return _user(r) if r else None


async def get_user(pool: Pool, *, partner_id: uuid.UUID, user_id: uuid.UUID) -> UserRow | None:
    r = await pool.fetchrow(
        f"SELECT {_USER_COLUMNS} FROM partner_users WHERE partner_id = $1 AND id = $2",
        partner_id,
        user_id,
    )
    return _user(r) if r else None


async def list_users(
    pool: Pool, *, partner_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[UserRow], int]:
    rows = await pool.fetch(
        f"""
        SELECT {_USER_COLUMNS}, count(*) OVER () AS total FROM partner_users WHERE partner_id = $1
        ORDER BY created_at, id LIMIT $2 OFFSET $3
        """,
        partner_id,
        limit,
        offset,
    )
    total = rows[0]["total"] if rows else await _count(pool, "partner_users", partner_id)
    return [_user(r) for r in rows], total


async def user_ids(pool: Pool, *, partner_id: uuid.UUID) -> set[uuid.UUID]:
    rows = await pool.fetch("SELECT id FROM partner_users WHERE partner_id = $1", partner_id)
    return {r["id"] for r in rows}


async def update_user(
    pool: Pool,
    *,
    partner_id: uuid.UUID,
    user_id: uuid.UUID,
    name: str | None,
    role: Role | None,
    language: str | None = None,
) -> UserRow | None:
    async with pool.acquire() as conn, conn.transaction():
        # Same lock as delete_user: a demotion and a deletion cannot both pass the check.
        await conn.execute("SELECT 1 FROM partners WHERE id = $1 FOR UPDATE", partner_id)
        current = await conn.fetchval(
            "SELECT role FROM partner_users WHERE partner_id = $1 AND id = $2", partner_id, user_id
        )
        if (
            current == Role.administrator.value
            and role not in (None, Role.administrator)
            and await _admins(conn, partner_id) <= 1
        ):
            raise LastAdministrator
        r = await conn.fetchrow(
            f"""
            UPDATE partner_users SET name = COALESCE($3, name), role = COALESCE($4, role),
                language = COALESCE($5, language)
            WHERE partner_id = $1 AND id = $2 RETURNING {_USER_COLUMNS}
            """,
            partner_id,
            user_id,
            name,
            role.value if role else None,
            language,
        )
    return _user(r) if r else None


class LastAdministrator(Exception):
    """The change would leave the partner without an administrator."""


async def delete_user(pool: Pool, *, partner_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """Delete a user (and their keys); refuse, with LastAdministrator, to remove the last admin.

    The check and the delete share a transaction holding the partner's row lock, so two
    administrators deleting each other at the same moment cannot both pass the check.
    """
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT 1 FROM partners WHERE id = $1 FOR UPDATE", partner_id)
        role = await conn.fetchval(
            "SELECT role FROM partner_users WHERE partner_id = $1 AND id = $2", partner_id, user_id
        )
        if role is None:
            return False
        if role == Role.administrator.value and await _admins(conn, partner_id) <= 1:
            raise LastAdministrator
        await conn.execute(
            "DELETE FROM partner_users WHERE partner_id = $1 AND id = $2", partner_id, user_id
        )
        return True


async def _admins(conn: Conn, partner_id: uuid.UUID) -> int:
    value = await conn.fetchval(
        "SELECT count(*) FROM partner_users WHERE partner_id = $1 AND role = 'administrator'",
        partner_id,
    )
    return int(value)


async def count_admins(pool: Pool, *, partner_id: uuid.UUID) -> int:
    value = await pool.fetchval(
        "SELECT count(*) FROM partner_users WHERE partner_id = $1 AND role = 'administrator'",
        partner_id,
    )
    return int(value)


# ---- API keys -----------------------------------------------------------------------------------


async def create_key(
    pool: Pool, *, partner_id: uuid.UUID, user_id: uuid.UUID, name: str
) -> tuple[ApiKeyRow, str]:
    key, prefix = new_key()
    r = await pool.fetchrow(
        f"""
        INSERT INTO api_keys (id, partner_id, user_id, name, prefix, secret_hash)
        VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_KEY_COLUMNS}
        """,
        uuid.uuid4(),
        partner_id,
        user_id,
        name,
        prefix,
        hash_key(key),
    )
    assert r is not None
    return _key(r), key


async def list_keys(
    pool: Pool, *, partner_id: uuid.UUID, user_id: uuid.UUID | None = None
) -> list[ApiKeyRow]:
    rows = await pool.fetch(
        f"""
        SELECT {_KEY_COLUMNS} FROM api_keys
        WHERE partner_id = $1 AND ($2::uuid IS NULL OR user_id = $2)
        ORDER BY created_at, id
        """,
        partner_id,
        user_id,
    )
    return [_key(r) for r in rows]


async def revoke_key(pool: Pool, *, partner_id: uuid.UUID, key_id: uuid.UUID) -> ApiKeyRow | None:
    r = await pool.fetchrow(
        f"""
        UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now())
        WHERE partner_id = $1 AND id = $2 RETURNING {_KEY_COLUMNS}
        """,
        partner_id,
        key_id,
    )
    return _key(r) if r else None


async def _count(pool: Pool, table: str, partner_id: uuid.UUID) -> int:
    value = await pool.fetchval(f"SELECT count(*) FROM {table} WHERE partner_id = $1", partner_id)
    return int(value)


async def set_branding(pool: Pool, *, partner_id: uuid.UUID, branding: dict[str, Any]) -> None:
    await pool.execute(
        "UPDATE partners SET settings = settings || jsonb_build_object('branding', $2::jsonb) "
        "WHERE id = $1",
        partner_id,
        branding,
    )


async def set_time_zone(pool: Pool, *, partner_id: uuid.UUID, time_zone: str) -> None:
    await pool.execute("UPDATE partners SET time_zone = $2 WHERE id = $1", partner_id, time_zone)


async def user_addresses(
    pool: Pool, *, partner_id: uuid.UUID, user_ids: list[uuid.UUID]
) -> list[tuple[uuid.UUID, str, str]]:
    """(id, e-mail, language) of these users of the partner, in id order."""
    rows = await pool.fetch(
        "SELECT id, email, language FROM partner_users "
        "WHERE partner_id = $1 AND id = ANY($2::uuid[]) ORDER BY id",
        partner_id,
        user_ids,
    )
    return [(r["id"], r["email"], r["language"]) for r in rows]


async def new_clients_muted(pool: Pool | Conn, *, partner_id: uuid.UUID) -> bool:
    """Whether the firm's new clients keep their notifications off after setup (until someone
    switches them on); False for an unknown partner, the behaviour before the setting."""
    value = await pool.fetchval("SELECT new_clients_muted FROM partners WHERE id = $1", partner_id)
    return bool(value)


async def set_new_clients_muted(pool: Pool, *, partner_id: uuid.UUID, muted: bool) -> None:
    await pool.execute(
        "UPDATE partners SET new_clients_muted = $2 WHERE id = $1", partner_id, muted
    )
