"""Configuration templates, their versions, and the partner's billing defaults."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from store import pricing
from store.pool import Conn, Pool


@dataclass(frozen=True)
class TemplateRow:
    id: uuid.UUID
    partner_id: uuid.UUID
    name: str
    description: str
    is_default: bool
    version: int
    body: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class DuplicateName(Exception):
    pass


class DefaultRequired(Exception):
    """The change would leave the partner without exactly one default template."""


_COLUMNS = "id, partner_id, name, description, is_default, version, body, created_at, updated_at"


def _row(r: asyncpg.Record) -> TemplateRow:
    return TemplateRow(**{k: r[k] for k in _COLUMNS.split(", ")})


async def _record_version(
    conn: Conn, row: TemplateRow, acknowledgement: pricing.Acknowledgement | None
) -> None:
    await conn.execute(
        """
        INSERT INTO configuration_template_versions (template_id, version, partner_id, name, body)
        VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING
        """,
        row.id,
        row.version,
        row.partner_id,
        row.name,
        row.body,
    )
    if acknowledgement is not None:
        await pricing.record_acknowledgement(
            conn,
            subject="template",
            subject_id=row.id,
            subject_version=row.version,
            acknowledgement=acknowledgement,
        )


async def create(
    pool: Pool,
    *,
    partner_id: uuid.UUID,
    name: str,
    description: str,
    body: dict[str, Any],
    make_default: bool,
    acknowledgement: pricing.Acknowledgement | None = None,
) -> TemplateRow:
    async with pool.acquire() as conn, conn.transaction():
        await _lock_partner_templates(conn, partner_id)
        if make_default:
            await conn.execute(
                "UPDATE configuration_templates SET is_default = false "
                "WHERE partner_id = $1 AND is_default",
                partner_id,
            )
        try:
            r = await conn.fetchrow(
                f"""
                INSERT INTO configuration_templates (id, partner_id, name, description, is_default,
                                                     body)
                VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_COLUMNS}
                """,
                uuid.uuid4(),
                partner_id,
                name,
                description,
                make_default,
                body,
            )
        except asyncpg.UniqueViolationError as exc:
            raise DuplicateName(name) from exc
        assert r is not None
        row = _row(r)
        await _record_version(conn, row, acknowledgement)
        await _commit_checked(conn)
    return row


async def _lock_partner_templates(conn: Conn, partner_id: uuid.UUID) -> None:
    """Serialise changes to who is default, per partner. Without it two concurrent set-default
    statements lock the partner's template rows in different orders and deadlock."""
    await conn.execute("SELECT 1 FROM partners WHERE id = $1 FOR UPDATE", partner_id)


async def _commit_checked(conn: Conn) -> None:
    """Run the deferred one-default checks now, inside the transaction, as a clear error."""
    try:
        await conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
    except (asyncpg.CheckViolationError, asyncpg.ExclusionViolationError) as exc:
        raise DefaultRequired(str(exc)) from exc


async def get(pool: Pool, *, partner_id: uuid.UUID, template_id: uuid.UUID) -> TemplateRow | None:
    r = await pool.fetchrow(
        f"SELECT {_COLUMNS} FROM configuration_templates WHERE partner_id = $1 AND id = $2",
        partner_id,
        template_id,
    )
    return _row(r) if r else None


async def get_default(pool: Pool, *, partner_id: uuid.UUID) -> TemplateRow | None:
    r = await pool.fetchrow(
        f"SELECT {_COLUMNS} FROM configuration_templates WHERE partner_id = $1 AND is_default",
        partner_id,
    )
    return _row(r) if r else None


async def list_(
    pool: Pool, *, partner_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[TemplateRow], int]:
    rows = await pool.fetch(
        f"""
        SELECT {_COLUMNS}, count(*) OVER () AS total FROM configuration_templates
        WHERE partner_id = $1 ORDER BY is_default DESC, lower(name), id LIMIT $2 OFFSET $3
        """,
        partner_id,
        limit,
        offset,
    )
    if rows:
        return [_row(r) for r in rows], int(rows[0]["total"])
    total = await pool.fetchval(
        "SELECT count(*) FROM configuration_templates WHERE partner_id = $1", partner_id
    )
    return [], int(total)


async def update(
    pool: Pool,
    *,
    partner_id: uuid.UUID,
    template_id: uuid.UUID,
    name: str,
    description: str,
    body: dict[str, Any],
    acknowledgement: pricing.Acknowledgement | None = None,
) -> TemplateRow | None:
    """Replace the template's content as a new version; earlier versions stay readable."""
    async with pool.acquire() as conn, conn.transaction():
        try:
            r = await conn.fetchrow(
                f"""
                UPDATE configuration_templates
                SET name = $3, description = $4, body = $5, version = version + 1,
                    updated_at = now()
                WHERE partner_id = $1 AND id = $2 RETURNING {_COLUMNS}
                """,
                partner_id,
                template_id,
                name,
                description,
                body,
            )
        except asyncpg.UniqueViolationError as exc:
            raise DuplicateName(name) from exc
        if r is None:
            return None
        row = _row(r)
        await _record_version(conn, row, acknowledgement)
    return row


async def set_default(
    pool: Pool, *, partner_id: uuid.UUID, template_id: uuid.UUID
) -> TemplateRow | None:
    """Make this template the default: one statement flips every row of the partner, under the
    partner's lock, so concurrent calls take turns and the last one wins, never leaving two."""
    async with pool.acquire() as conn, conn.transaction():
        await _lock_partner_templates(conn, partner_id)
        rows = await conn.fetch(
            f"""
            UPDATE configuration_templates SET is_default = (id = $2)
            WHERE partner_id = $1
              AND EXISTS (SELECT 1 FROM configuration_templates WHERE partner_id = $1 AND id = $2)
            RETURNING {_COLUMNS}
            """,
            partner_id,
            template_id,
        )
        await _commit_checked(conn)
    chosen = [_row(r) for r in rows if r["id"] == template_id]
    return chosen[0] if chosen else None


async def delete(
    pool: Pool,
    *,
    partner_id: uuid.UUID,
    template_id: uuid.UUID,
    new_default_id: uuid.UUID | None,
) -> bool:
    """Delete a template. Deleting the default needs `new_default_id`; otherwise the database's
    one-default check refuses and DefaultRequired is raised."""
    async with pool.acquire() as conn, conn.transaction():
        await _lock_partner_templates(conn, partner_id)
        if new_default_id is not None:
            await conn.execute(
                "UPDATE configuration_templates SET is_default = (id = $2) WHERE partner_id = $1",
                partner_id,
                new_default_id,
            )
        status = await conn.execute(
            "DELETE FROM configuration_templates WHERE partner_id = $1 AND id = $2",
            partner_id,
            template_id,
        )
        await _commit_checked(conn)
    return str(status).endswith(" 1")


# ---- billing defaults ---------------------------------------------------------------------------


async def get_billing(pool: Pool, *, partner_id: uuid.UUID) -> dict[str, Any] | None:
    body: dict[str, Any] | None = await pool.fetchval(
        "SELECT body FROM billing_defaults WHERE partner_id = $1", partner_id
    )
    return body


async def put_billing(
    pool: Pool,
    *,
    partner_id: uuid.UUID,
    body: dict[str, Any],
    acknowledgement: pricing.Acknowledgement | None = None,
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """
            INSERT INTO billing_defaults (partner_id, body) VALUES ($1, $2)
            ON CONFLICT (partner_id) DO UPDATE SET body = EXCLUDED.body, updated_at = now()
            """,
            partner_id,
            body,
        )
        if acknowledgement is not None:
            await pricing.record_acknowledgement(
                conn,
                subject="billing_defaults",
                subject_id=None,
                subject_version=None,
                acknowledgement=acknowledgement,
            )


@dataclass(frozen=True)
class HistoryRow:
    """One saved version of a template, with the pricing confirmation saved with it, if any."""

    version: int
    name: str
    body: dict[str, Any]
    saved_at: datetime
    acknowledged_by: uuid.UUID | None
    acknowledged_at: datetime | None
    monthly_cents: int | None
    currency: str | None


async def history(
    pool: Pool, *, partner_id: uuid.UUID, template_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[HistoryRow], int]:
    """One page of the template's versions, newest first, and how many there are."""
    records = await pool.fetch(
        """
        SELECT v.version, v.name, v.body, v.created_at AS saved_at,
               a.acknowledged_by, a.acknowledged_at, a.monthly_cents, a.currency,
               count(*) OVER () AS total
        FROM configuration_template_versions v
        LEFT JOIN pricing_acknowledgements a
          ON a.partner_id = v.partner_id AND a.subject = 'template'
         AND a.subject_id = v.template_id AND a.subject_version = v.version
        WHERE v.partner_id = $1 AND v.template_id = $2
        ORDER BY v.version DESC LIMIT $3 OFFSET $4
        """,
        partner_id,
        template_id,
        limit,
        offset,
    )
    if records:
        total = int(records[0]["total"])
        return [
            HistoryRow(**{k: r[k] for k in HistoryRow.__dataclass_fields__}) for r in records
        ], total
    count = await pool.fetchval(
        "SELECT count(*) FROM configuration_template_versions "
        "WHERE partner_id = $1 AND template_id = $2",
        partner_id,
        template_id,
    )
    return [], int(count)
