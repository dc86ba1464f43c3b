"""Right to erasure: a client's personal data replaced by a marker in every table that holds it.

What is personal (the client contact, the director, what the partner typed about them) goes;
what the partner and we must keep stays: ids, the company's SIRET/SIREN and public registry
codes, statuses, timestamps and counts, i.e. the record of what was done. The case-manager tag is
kept: it names the partner's own staff member, not the person erased, and partners filter on it.

| table         | scrubbed                                                                    |
|---------------|-----------------------------------------------------------------------------|
| clients       | name, email, first/last name, national numbers, tags; company name/address  |
| client_users  | email, first/last name                                                      |
| invitations   | recipient (an unaccepted invitation is revoked too)                         |
| email_log     | recipient, subject, last_error (it holds no bodies: those live only in SMTP) |
| onboardings   | secrets (the client's integration credentials)                              |
| client_integration_changes | secrets (credentials given with a later change)               |
| import_rows   | the request's client and director fields                                    |
| client_checklist_answers | deleted: what the director answered and the documents sent        |
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from store.pool import Conn, Pool

MARKER = "[erased]"
# Keeps an erased import request valid as an OnboardingCreate (its e-mail fields must parse), so
# an import that reads its rows again does not fail on the erased one.
MARKER_EMAIL = "erased@erased.example"

_CLIENT_FIELDS = ("first_name", "last_name", "company_name", "address")
_CLIENT_DROPPED = ("national_number", "partner_national_number")
_DIRECTOR_FIELDS = ("first_name", "last_name")
# What the company record says of a person when the company is a sole trader: name and address.
_COMPANY_FIELDS = ("name", "address", "postal_code", "city")


@dataclass(frozen=True)
class ErasureRow:
    id: uuid.UUID
    partner_id: uuid.UUID
    client_id: uuid.UUID
    requested_by: uuid.UUID
    onboarding: str
    tables: dict[str, int]
    erased_at: datetime


_COLUMNS = "id, partner_id, client_id, requested_by, onboarding, tables, erased_at"


def _row(record: asyncpg.Record) -> ErasureRow:
    return ErasureRow(**dict(record))


async def get(pool: Pool | Conn, *, client_id: uuid.UUID) -> ErasureRow | None:
    record = await pool.fetchrow(f"SELECT {_COLUMNS} FROM erasures WHERE client_id = $1", client_id)
    return _row(record) if record else None


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


def _erased_request(request: dict[str, Any]) -> dict[str, Any]:
    erased = dict(request)
    client = dict(erased.get("client") or {})
    for name in _CLIENT_FIELDS:
        if client.get(name) is not None:
            client[name] = MARKER
    for name in _CLIENT_DROPPED:
        client.pop(name, None)
    if "email" in client:
        client["email"] = MARKER_EMAIL
    if client.get("tags"):
        client["tags"] = []
    erased["client"] = client
    if erased.get("director"):
        director = dict(erased["director"])
        for name in _DIRECTOR_FIELDS:
            director[name] = MARKER
        director["email"] = MARKER_EMAIL
        erased["director"] = director
    return erased


async def _scrub(conn: Conn, *, client_id: uuid.UUID, onboarding_id: uuid.UUID) -> dict[str, int]:
    """Replace the personal fields; returns rows changed per table. Running it again changes
    nothing already erased (it would catch a row a late activity wrote after the first run)."""
    counts: dict[str, int] = {}
    counts["clients"] = _count(
        await conn.execute(
            """
            UPDATE clients SET
                name = $2, email = $2,
                first_name = CASE WHEN first_name IS NULL THEN NULL ELSE $2 END,
                last_name = CASE WHEN last_name IS NULL THEN NULL ELSE $2 END,
                national_number = CASE WHEN national_number IS NULL THEN NULL ELSE $2 END,
                partner_national_number =
                    CASE WHEN partner_national_number IS NULL THEN NULL ELSE $2 END,
                tags = '{}',
                company = CASE WHEN company IS NULL THEN NULL ELSE company || COALESCE(
                    (SELECT jsonb_object_agg(key, to_jsonb($2::text))
                     FROM jsonb_object_keys(company) AS key
                     WHERE key = ANY($3::text[]) AND company->>key IS NOT NULL),
                    '{}'::jsonb) END,
                -- Nothing more may be sent to an erased client, whatever is still in flight.
                notifications_muted = true,
                updated_at = now()
            WHERE id = $1
            """,
            client_id,
            MARKER,
            list(_COMPANY_FIELDS),
        )
    )
    counts["client_users"] = _count(
        await conn.execute(
            # The e-mail stays unique per client (UNIQUE (client_id, email)): marker plus the id.
            """
            UPDATE client_users SET email = $2 || ' ' || id::text, first_name = $2, last_name = $2
            WHERE client_id = $1
            """,
            client_id,
            MARKER,
        )
    )
    counts["invitations"] = _count(
        await conn.execute(
            """
            UPDATE invitations SET
                recipient = $2,
                revoked_at = CASE WHEN accepted_at IS NULL THEN COALESCE(revoked_at, now())
                                  ELSE revoked_at END
            WHERE onboarding_id = $1
            """,
            onboarding_id,
            MARKER,
        )
    )
    counts["email_log"] = _count(
        await conn.execute(
            """
            UPDATE email_log SET
                recipient = $2, subject = $2,
                last_error = CASE WHEN last_error IS NULL THEN NULL ELSE $2 END
            WHERE onboarding_id = $1
            """,
            onboarding_id,
            MARKER,
        )
    )
    counts["onboardings"] = _count(
        await conn.execute(
            "UPDATE onboardings SET secrets = '{}'::jsonb, updated_at = now() WHERE id = $1",
            onboarding_id,
        )
    )
    # Integrations changed after onboarding keep their credentials per change (0023).
    counts["client_integration_changes"] = _count(
        await conn.execute(
            "UPDATE client_integration_changes SET secrets = '{}'::jsonb "
            "WHERE client_id = $1 AND secrets <> '{}'::jsonb",
            client_id,
        )
    )
    rows = await conn.fetch(
        "SELECT import_id, row, request FROM import_rows "
        "WHERE onboarding_id = $1 AND request IS NOT NULL FOR UPDATE",
        onboarding_id,
    )
    for r in rows:
        await conn.execute(
            "UPDATE import_rows SET request = $3 WHERE import_id = $1 AND row = $2",
            r["import_id"],
            r["row"],
            _erased_request(r["request"]),
        )
    counts["import_rows"] = len(rows)
    # The registry's records and corrections say what the company record says: a sole
    # trader's name and address are the person's.
    counts["client_company_lookups"] = _count(
        await conn.execute(
            """
            UPDATE client_company_lookups SET fields = fields || COALESCE(
                (SELECT jsonb_object_agg(key, to_jsonb($2::text))
                 FROM jsonb_object_keys(fields) AS key
                 WHERE key = ANY($3::text[]) AND fields->>key IS NOT NULL),
                '{}'::jsonb)
            WHERE client_id = $1 AND fields IS NOT NULL
            """,
            client_id,
            MARKER,
            list(_COMPANY_FIELDS),
        )
    )
    counts["client_company_corrections"] = _count(
        await conn.execute(
            """
            UPDATE client_company_corrections SET
                old_value = CASE WHEN old_value IS NULL THEN NULL ELSE $2 END,
                new_value = CASE WHEN new_value IS NULL THEN NULL ELSE $2 END
            WHERE client_id = $1 AND field IN ('name', 'address')
            """,
            client_id,
            MARKER,
        )
    )
    counts["client_checklist_answers"] = _count(
        await conn.execute("DELETE FROM client_checklist_answers WHERE client_id = $1", client_id)
    )
    return counts


async def erase_client(
    pool: Pool,
    *,
    partner_id: uuid.UUID,
    client_id: uuid.UUID,
    requested_by: uuid.UUID,
    onboarding: str,
) -> tuple[ErasureRow, bool] | None:
    """Erase a client's personal data and record it, in one transaction: (record, erased now).

    None when the partner has no such client. A client already erased keeps its first record
    (erased now = False): a second erasure records nothing new.
    """
    async with pool.acquire() as conn, conn.transaction():
        # The row lock serialises two erasures of the same client.
        client = await conn.fetchrow(
            "SELECT id, onboarding_id FROM clients WHERE partner_id = $1 AND id = $2 FOR UPDATE",
            partner_id,
            client_id,
        )
        if client is None:
            return None
        tables = await _scrub(conn, client_id=client_id, onboarding_id=client["onboarding_id"])
        record = await conn.fetchrow(
            f"""
            INSERT INTO erasures (id, partner_id, client_id, requested_by, onboarding, tables)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (client_id) DO NOTHING
            RETURNING {_COLUMNS}
            """,
            uuid.uuid4(),
            partner_id,
            client_id,
            requested_by,
            onboarding,
            tables,
        )
        if record is not None:
            return _row(record), True
        existing = await get(conn, client_id=client_id)
        assert existing is not None
        return existing, False
