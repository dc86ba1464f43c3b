"""The console's sign-in links and sessions (tables console_sign_in_links, console_sessions).

Callers pass hashes, never the tokens or session ids themselves: what is stored cannot sign
anybody in.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from domain.setup import Role
from store.partners import PartnerRow, UserRow
from store.pool import Conn, Pool


@dataclass(frozen=True)
class StaffMember:
    """A firm's user as the console knows them: who, and in which firm."""

    user: UserRow
    partner: PartnerRow


@dataclass(frozen=True)
class LinkUse:
    partner_id: uuid.UUID
    user_id: uuid.UUID
    next_path: str | None


@dataclass(frozen=True)
class SessionRow:
    member: StaffMember
    csrf_token: str


def _member(r: asyncpg.Record) -> StaffMember:
    return StaffMember(
        user=UserRow(
            id=r["user_id"],
            partner_id=r["partner_id"],
            email=r["email"],
            name=r["name"],
            role=Role(r["role"]),
            created_at=r["user_created_at"],
            language=r["language"],
        ),
        partner=PartnerRow(id=r["partner_id"], name=r["partner_name"], settings=r["settings"]),
    )


_MEMBER_COLUMNS = """
    u.id AS user_id, u.partner_id, u.email, u.name, u.role, u.created_at AS user_created_at,
    u.language, p.name AS partner_name, p.settings
"""


async def members_by_email(db: Pool | Conn, *, email: str) -> list[StaffMember]:
    """Every firm's user with this address (one person may work for several firms)."""
    rows = await db.fetch(
        f"""
        SELECT {_MEMBER_COLUMNS}
        FROM partner_users u JOIN partners p ON p.id = u.partner_id
        WHERE lower(u.email) = lower($1)
        ORDER BY p.name, p.id
        """,
        email,
    )
    return [_member(r) for r in rows]


async def create_link(
    db: Pool | Conn,
    *,
    token_hash: str,
    partner_id: uuid.UUID,
    user_id: uuid.UUID,
    next_path: str | None,
    ttl_seconds: float,
) -> None:
    await db.execute(
        """
        INSERT INTO console_sign_in_links (token_hash, partner_id, user_id, next_path, expires_at)
        VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))
        """,
        token_hash,
        partner_id,
        user_id,
        next_path,
        ttl_seconds,
    )


async def link_usable(db: Pool | Conn, *, token_hash: str) -> bool:
    """The link exists, is unused and unexpired (it is not used by asking)."""
    found: bool = await db.fetchval(
        """
        SELECT EXISTS (SELECT FROM console_sign_in_links
                       WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now())
        """,
        token_hash,
    )
    return found


async def use_link(db: Pool | Conn, *, token_hash: str) -> LinkUse | None:
    """Consume the link: the one UPDATE that succeeds, so two clicks at once sign in once."""
    r = await db.fetchrow(
        """
        UPDATE console_sign_in_links SET used_at = now()
        WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
        RETURNING partner_id, user_id, next_path
        """,
        token_hash,
    )
    return LinkUse(r["partner_id"], r["user_id"], r["next_path"]) if r else None


async def create_session(
    db: Pool | Conn,
    *,
    id_hash: str,
    partner_id: uuid.UUID,
    user_id: uuid.UUID,
    csrf_token: str,
    absolute_seconds: float,
) -> None:
    await db.execute(
        """
        INSERT INTO console_sessions (id_hash, partner_id, user_id, csrf_token, expires_at)
        VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))
        """,
        id_hash,
        partner_id,
        user_id,
        csrf_token,
        absolute_seconds,
    )


async def touch_session(db: Pool | Conn, *, id_hash: str, idle_seconds: float) -> SessionRow | None:
    """The live session with this id (not ended, within both expiries), its idle clock reset."""
    r = await db.fetchrow(
        f"""
        WITH live AS (
            UPDATE console_sessions SET last_seen_at = now()
            WHERE id_hash = $1 AND ended_at IS NULL AND expires_at > now()
              AND last_seen_at > now() - make_interval(secs => $2)
            RETURNING user_id, partner_id, csrf_token
        )
        SELECT {_MEMBER_COLUMNS}, live.csrf_token
        FROM live
        JOIN partner_users u ON u.id = live.user_id AND u.partner_id = live.partner_id
        JOIN partners p ON p.id = live.partner_id
        """,
        id_hash,
        idle_seconds,
    )
    return SessionRow(member=_member(r), csrf_token=r["csrf_token"]) if r else None


async def end_session(db: Pool | Conn, *, id_hash: str) -> None:
    await db.execute(
        "UPDATE console_sessions SET ended_at = now() WHERE id_hash = $1 AND ended_at IS NULL",
        id_hash,
    )


async def prune(db: Pool | Conn, *, keep_seconds: float) -> None:
    """Forget links and sessions over for longer than `keep_seconds` (used, expired, ended)."""
    await db.execute(
        "DELETE FROM console_sign_in_links WHERE expires_at < now() - make_interval(secs => $1)",
        keep_seconds,
    )
    await db.execute(
        """
        DELETE FROM console_sessions
        WHERE COALESCE(ended_at, expires_at) < now() - make_interval(secs => $1)
        """,
        keep_seconds,
    )
