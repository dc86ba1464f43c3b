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
    # Signed in from the link, the second factor still to give.
    second_factor_due: bool = False


@dataclass(frozen=True)
class TotpRow:
    secret_sealed: str
    confirmed: bool


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
        partner=PartnerRow(
            id=r["partner_id"],
            name=r["partner_name"],
            settings=r["settings"],
            time_zone=r["time_zone"],
        ),
    )


_MEMBER_COLUMNS = """
    u.id AS user_id, u.partner_id, u.email, u.name, u.role, u.created_at AS user_created_at,
    u.language, p.name AS partner_name, p.settings, p.time_zone
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
    second_factor_due: bool = False,
) -> None:
    await db.execute(
        """
        INSERT INTO console_sessions
            (id_hash, partner_id, user_id, csrf_token, expires_at, second_factor_due)
        VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5), $6)
        """,
        id_hash,
        partner_id,
        user_id,
        csrf_token,
        absolute_seconds,
        second_factor_due,
    )


async def touch_session(db: Pool | Conn, *, id_hash: str, idle_seconds: float) -> SessionRow | None:
    """The live session with this id (not ended, within both expiries), its idle clock reset."""
    r = await db.fetchrow(
        f"""
        WITH live AS (
            UPDATE console_sessions SET last_seen_at = now()
            WHERE id_hash = $1 AND ended_at IS NULL AND expires_at > now()
              AND last_seen_at > now() - make_interval(secs => $2)
            RETURNING user_id, partner_id, csrf_token, second_factor_due
        )
        SELECT {_MEMBER_COLUMNS}, live.csrf_token, live.second_factor_due
        FROM live
        JOIN partner_users u ON u.id = live.user_id AND u.partner_id = live.partner_id
        JOIN partners p ON p.id = live.partner_id
        """,
        id_hash,
        idle_seconds,
    )
    if r is None:
        return None
    return SessionRow(
        member=_member(r), csrf_token=r["csrf_token"], second_factor_due=r["second_factor_due"]
    )


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


# ---- the second factor (TOTP) ------------------------------------------------------------------


async def get_totp(db: Pool | Conn, *, user_id: uuid.UUID) -> TotpRow | None:
    r = await db.fetchrow(
        "SELECT secret_sealed, confirmed_at FROM console_totp WHERE user_id = $1", user_id
    )
    return TotpRow(r["secret_sealed"], r["confirmed_at"] is not None) if r else None


async def start_totp(
    db: Pool | Conn, *, user_id: uuid.UUID, partner_id: uuid.UUID, secret_sealed: str
) -> bool:
    """Keep a new, unconfirmed secret; False when the user has a confirmed one already."""
    r = await db.fetchrow(
        """
        INSERT INTO console_totp (user_id, partner_id, secret_sealed) VALUES ($1, $2, $3)
        ON CONFLICT (user_id) DO UPDATE
            SET secret_sealed = EXCLUDED.secret_sealed, last_step = NULL
            WHERE console_totp.confirmed_at IS NULL
        RETURNING user_id
        """,
        user_id,
        partner_id,
        secret_sealed,
    )
    return r is not None


async def use_totp_step(
    db: Pool | Conn, *, user_id: uuid.UUID, step: int, confirming: bool
) -> bool:
    """Record the step of a code just checked; False when that step (or a later one) was used
    already: a code signs in once. `confirming` also marks the secret confirmed."""
    r = await db.fetchrow(
        """
        UPDATE console_totp
        SET last_step = $2, confirmed_at = COALESCE(confirmed_at, CASE WHEN $3 THEN now() END)
        WHERE user_id = $1 AND (last_step IS NULL OR last_step < $2)
          AND (confirmed_at IS NOT NULL OR $3)
        RETURNING user_id
        """,
        user_id,
        step,
        confirming,
    )
    return r is not None


# Partner settings key: every user of the firm must use a second factor in the console.
TWO_FACTOR_REQUIRED = "console_two_factor_required"


async def set_two_factor_required(
    db: Pool | Conn, *, partner_id: uuid.UUID, required: bool
) -> None:
    await db.execute(
        "UPDATE partners SET settings = settings || jsonb_build_object($2::text, $3::boolean) "
        "WHERE id = $1",
        partner_id,
        TWO_FACTOR_REQUIRED,
        required,
    )


async def two_factor_required(db: Pool | Conn, *, partner_id: uuid.UUID) -> bool:
    required: bool | None = await db.fetchval(
        "SELECT (settings ->> $2)::boolean FROM partners WHERE id = $1",
        partner_id,
        TWO_FACTOR_REQUIRED,
    )
    return bool(required)
