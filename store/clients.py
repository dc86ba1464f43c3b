"""The clients table and the client's own users (its director)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from store.pool import Conn, Pool


@dataclass(frozen=True)
class ClientRow:
    id: uuid.UUID
    partner_id: uuid.UUID
    onboarding_id: uuid.UUID
    name: str
    email: str
    language: str
    notifications_muted: bool
    status: str
    template_id: uuid.UUID | None
    template_version: int | None
    setup: dict[str, Any] | None
    first_name: str | None
    last_name: str | None
    siret: str | None
    company: dict[str, Any] | None
    tags: list[str]
    case_manager: str | None
    address: str | None = None
    enterprise_number: str | None = None


_COLUMNS = (
    "id, partner_id, onboarding_id, name, email, language, notifications_muted, status, "
    "template_id, template_version, setup, first_name, last_name, siret, company, tags, "
    "case_manager, address, enterprise_number"
)


class DuplicateSiret(Exception):
    """Another client of the same partner already has this SIRET."""


class DuplicateEnterpriseNumber(Exception):
    """Another client of the same partner already has this Belgian enterprise number."""


def _row(record: asyncpg.Record) -> ClientRow:
    return ClientRow(**{k: record[k] for k in _COLUMNS.split(", ")})


async def create(
    pool: Pool,
    *,
    client_id: uuid.UUID,
    partner_id: uuid.UUID,
    onboarding_id: uuid.UUID,
    name: str,
    email: str,
    language: str,
    notifications_muted: bool = True,
    setup: dict[str, Any] | None = None,
    template_id: uuid.UUID | None = None,
    template_version: int | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    siret: str | None = None,
    company: dict[str, Any] | None = None,
    tags: list[str] | None = None,
    case_manager: str | None = None,
    national_number: str | None = None,
    partner_national_number: str | None = None,
    address: str | None = None,
    enterprise_number: str | None = None,
) -> tuple[ClientRow, bool]:
    """Create the client of an onboarding once; a replay returns the existing row unchanged.

    Raises DuplicateSiret (DuplicateEnterpriseNumber) when the SIRET (enterprise number)
    belongs to another onboarding's client of the partner.
    """
    try:
        record = await pool.fetchrow(
            f"""
            INSERT INTO clients (id, partner_id, onboarding_id, name, email, language,
                                 notifications_muted, setup, template_id, template_version,
                                 first_name, last_name, siret, company, tags, case_manager,
                                 national_number, partner_national_number, address,
                                 enterprise_number)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                    $18, $19, $20)
            ON CONFLICT (onboarding_id) DO NOTHING
            RETURNING {_COLUMNS}
            """,
            client_id,
            partner_id,
            onboarding_id,
            name,
            email,
            language,
            notifications_muted,
            setup,
            template_id,
            template_version,
            first_name,
            last_name,
            siret,
            company,
            tags or [],
            case_manager,
            national_number,
            partner_national_number,
            address,
            enterprise_number,
        )
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "clients_partner_siret":
            raise DuplicateSiret(siret) from exc
        if exc.constraint_name == "clients_partner_enterprise_number":
            raise DuplicateEnterpriseNumber(enterprise_number) from exc
        raise
    if record is not None:
        return _row(record), True
    existing = await pool.fetchrow(
        f"SELECT {_COLUMNS} FROM clients WHERE onboarding_id = $1", onboarding_id
    )
    assert existing is not None
    return _row(existing), False


async def add_director(
    pool: Pool,
    *,
    user_id: uuid.UUID,
    client_id: uuid.UUID,
    email: str,
    first_name: str,
    last_name: str,
    themes: list[str],
) -> bool:
    status = await pool.execute(
        """
        INSERT INTO client_users (id, client_id, email, first_name, last_name, role, themes)
        VALUES ($1, $2, $3, $4, $5, 'director', $6)
        ON CONFLICT DO NOTHING
        """,
        user_id,
        client_id,
        email,
        first_name,
        last_name,
        themes,
    )
    return str(status).endswith(" 1")


async def list_users(pool: Pool | Conn, *, client_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT id, email, first_name, last_name, role, themes FROM client_users "
        "WHERE client_id = $1 ORDER BY created_at, id",
        client_id,
    )
    return [dict(r) for r in rows]


async def get(pool: Pool, *, client_id: uuid.UUID) -> ClientRow | None:
    record = await pool.fetchrow(f"SELECT {_COLUMNS} FROM clients WHERE id = $1", client_id)
    return _row(record) if record else None


async def get_for_partner(
    pool: Pool | Conn, *, partner_id: uuid.UUID, client_id: uuid.UUID
) -> ClientRow | None:
    record = await pool.fetchrow(
        f"SELECT {_COLUMNS} FROM clients WHERE partner_id = $1 AND id = $2", partner_id, client_id
    )
    return _row(record) if record else None


async def complete_setup(pool: Pool, *, client_id: uuid.UUID, keep_muted: bool) -> ClientRow:
    """Mark the client ready and, unless asked to stay muted, switch its notifications on."""
    record = await pool.fetchrow(
        f"""
        UPDATE clients
        SET status = 'ready', notifications_muted = (notifications_muted AND $2),
            updated_at = now()
        WHERE id = $1
        RETURNING {_COLUMNS}
        """,
        client_id,
        keep_muted,
    )
    if record is None:
        raise LookupError(f"client {client_id} does not exist")
    return _row(record)


async def set_notifications(pool: Pool, *, client_id: uuid.UUID, muted: bool) -> ClientRow | None:
    """Switch a client's notifications on or off (the onboarding, while it runs, decides when).
    None when there is no such client, or its personal data was erased (it stays muted)."""
    record = await pool.fetchrow(
        f"""
        UPDATE clients SET notifications_muted = $2, updated_at = now()
        WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM erasures WHERE client_id = $1)
        RETURNING {_COLUMNS}
        """,
        client_id,
        muted,
    )
    return _row(record) if record else None


async def siret_owner(pool: Pool, *, partner_id: uuid.UUID, siret: str) -> uuid.UUID | None:
    """The onboarding whose client has this SIRET in this partner, if any."""
    owner: uuid.UUID | None = await pool.fetchval(
        "SELECT onboarding_id FROM clients WHERE partner_id = $1 AND siret = $2", partner_id, siret
    )
    return owner


async def enterprise_number_owner(
    pool: Pool, *, partner_id: uuid.UUID, enterprise_number: str
) -> uuid.UUID | None:
    """The onboarding whose client has this enterprise number in this partner, if any."""
    owner: uuid.UUID | None = await pool.fetchval(
        "SELECT onboarding_id FROM clients WHERE partner_id = $1 AND enterprise_number = $2",
        partner_id,
        enterprise_number,
    )
    return owner


# ---- the client as a resource after onboarding --------------------------------------------------


class ClientErased(Exception):
    """The client's personal data was erased: nothing may write it again."""


@dataclass(frozen=True)
class ClientListRow:
    """A client as the "My clients" list shows it, with its onboarding and invitation."""

    id: uuid.UUID
    onboarding_id: uuid.UUID
    name: str
    company_name: str | None
    siret: str | None
    enterprise_number: str | None
    status: str
    onboarding_status: str
    case_manager: str | None
    tags: list[str]
    notifications_muted: bool
    invitation_state: str
    invitation_scheduled_at: datetime | None
    created_at: datetime
    updated_at: datetime
    erased_at: datetime | None


# Sort keys a caller may name -> SQL; the id breaks ties so pages never overlap.
LIST_SORTS: dict[str, str] = {
    "created_at": "created_at ASC, id ASC",
    "-created_at": "created_at DESC, id DESC",
    "name": "lower(name) ASC, id ASC",
    "-name": "lower(name) DESC, id DESC",
    "scheduled_at": "invitation_scheduled_at ASC NULLS LAST, id ASC",
    "-scheduled_at": "invitation_scheduled_at DESC NULLS LAST, id DESC",
    "status": "onboarding_status ASC, created_at DESC, id DESC",
}

# Where the invitation stands: the workflow's last report, else what the invitations table and
# the client row tell (runs that began before the workflow reported it).
_LISTED = """
    SELECT c.id, c.onboarding_id, c.name, c.company ->> 'name' AS company_name, c.siret,
           c.enterprise_number, c.status, o.status AS onboarding_status, c.case_manager, c.tags,
           c.notifications_muted,
           COALESCE(c.invitation_state, CASE
               WHEN i.accepted_at IS NOT NULL THEN 'accepted'
               WHEN i.revoked_at IS NOT NULL THEN 'cancelled'
               WHEN i.expires_at <= now() THEN 'expired'
               WHEN i.sequence IS NOT NULL THEN 'sent'
               WHEN c.status = 'ready' AND c.notifications_muted THEN 'muted'
               ELSE 'pending' END) AS invitation_state,
           c.invitation_scheduled_at, c.created_at, c.updated_at, e.erased_at
    FROM clients c
    JOIN onboardings o ON o.id = c.onboarding_id
    LEFT JOIN erasures e ON e.client_id = c.id
    LEFT JOIN LATERAL (
        SELECT sequence, accepted_at, revoked_at, expires_at FROM invitations
        WHERE onboarding_id = c.onboarding_id ORDER BY sequence DESC LIMIT 1
    ) i ON true
    WHERE c.partner_id = $1
"""


def _like_pattern(text: str) -> str:
    """`text` as a LIKE substring pattern that matches itself only (no wildcards of its own)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _number_typed(text: str) -> str:
    """A SIRET or enterprise number as people type it ("BE 0202.239.951"), compacted; text
    that is no number stays as it is but for its spaces."""
    compact = text.replace(" ", "")
    bare = compact.replace(".", "")
    if bare[:2].upper() == "BE":
        bare = bare[2:]
    return bare if bare.isascii() and bare.isdigit() else compact


def _list_row(record: asyncpg.Record) -> ClientListRow:
    return ClientListRow(
        **{k: record[k] for k in ClientListRow.__dataclass_fields__ if k != "tags"},
        tags=list(record["tags"]),
    )


async def list_for_partner(
    pool: Pool,
    *,
    partner_id: uuid.UUID,
    case_manager: str | None = None,
    tag: str | None = None,
    onboarding_status: str | None = None,
    muted: bool | None = None,
    invitation_state: str | None = None,
    scheduled_from: datetime | None = None,
    scheduled_to: datetime | None = None,
    q: str | None = None,
    enterprise_number: str | None = None,
    sort: str = "-created_at",
    limit: int = 50,
    offset: int = 0,
    first_for: list[str] | None = None,
    collaborator: uuid.UUID | None = None,
) -> tuple[list[ClientListRow], int]:
    """One page of the partner's clients matching every filter given, and how many match in all.

    `collaborator` keeps the clients this partner user collaborates on ("my clients"); read
    through the client_collaborators_user index (migration 0026).

    With `first_for`, clients whose case manager is one of these come first ("my clients"),
    each group in `sort`'s order. `q` matches a substring of the client's name, its registry
    name, its SIRET or its enterprise number (spaces, dots and a BE prefix in numbers as people
    type them are ignored), case-insensitively. `enterprise_number` (10 digits) is an exact
    filter.
    """
    order = LIST_SORTS[sort]  # KeyError for a key the API let through: a bug, not input
    pattern = _like_pattern(q) if q else None
    siret_pattern = _like_pattern(_number_typed(q)) if q else None
    args = (
        partner_id,
        case_manager,
        tag,
        onboarding_status,
        muted,
        invitation_state,
        scheduled_from,
        scheduled_to,
        pattern,
        siret_pattern,
        enterprise_number,
        collaborator,
    )
    matching = f"""
        SELECT * FROM ({_LISTED}
            AND ($2::text IS NULL OR c.case_manager = $2)
            AND ($3::text IS NULL OR $3 = ANY(c.tags))
            AND ($4::text IS NULL OR o.status = $4)
            AND ($5::boolean IS NULL OR c.notifications_muted = $5)
            AND ($7::timestamptz IS NULL OR c.invitation_scheduled_at >= $7)
            AND ($8::timestamptz IS NULL OR c.invitation_scheduled_at <= $8)
            AND ($9::text IS NULL OR c.name ILIKE $9 OR c.company ->> 'name' ILIKE $9
                 OR c.siret LIKE $10 OR c.enterprise_number LIKE $10)
            AND ($11::text IS NULL OR c.enterprise_number = $11)
            AND ($12::uuid IS NULL OR c.id IN (
                SELECT cc.client_id FROM client_collaborators cc WHERE cc.user_id = $12))
        ) listed
        WHERE $6::text IS NULL OR invitation_state = $6
    """
    if first_for:
        # The array is a parameter like every value; only the order's shape is built here.
        records = await pool.fetch(
            f"""
            SELECT *, count(*) OVER () AS total FROM ({matching}) m
            ORDER BY (case_manager = ANY($15::text[])) IS TRUE DESC, {order} LIMIT $13 OFFSET $14
            """,
            *args,
            limit,
            offset,
            first_for,
        )
    else:
        records = await pool.fetch(
            f"""
            SELECT *, count(*) OVER () AS total FROM ({matching}) m
            ORDER BY {order} LIMIT $13 OFFSET $14
            """,
            *args,
            limit,
            offset,
        )
    if records:
        return [_list_row(r) for r in records], int(records[0]["total"])
    if offset == 0:
        return [], 0
    # Past the last page the window function saw no row: count apart.
    total = await pool.fetchval(f"SELECT count(*) FROM ({matching}) m", *args)
    return [], int(total)


async def get_listed(
    pool: Pool | Conn, *, partner_id: uuid.UUID, client_id: uuid.UUID
) -> ClientListRow | None:
    """One client of the partner as the list shows it (its onboarding's status included)."""
    record = await pool.fetchrow(f"{_LISTED} AND c.id = $2", partner_id, client_id)
    return _list_row(record) if record else None


async def record_invitation(
    pool: Pool, *, client_id: uuid.UUID, state: str | None, scheduled_at: datetime | None
) -> None:
    """Project where the client's invitation stands, as the onboarding workflow reports it.

    `scheduled_at` is the time it is planned for while it waits for one (None otherwise), as the
    InvitationScheduledAt search attribute; the list's scheduled-between filter reads it. A None
    state lets the list derive it from the invitations table (pending, sent, accepted, expired).
    """
    await pool.execute(
        """
        UPDATE clients SET invitation_state = $2, invitation_scheduled_at = $3
        WHERE id = $1
          AND (invitation_state IS DISTINCT FROM $2
               OR invitation_scheduled_at IS DISTINCT FROM $3)
        """,
        client_id,
        state,
        scheduled_at,
    )


# Columns PATCH /v1/clients/{id} may set; the names come from this tuple only, never from input.
EDITABLE = (
    "first_name",
    "last_name",
    "email",
    "address",
    "name",
    "case_manager",
    "tags",
    "language",
)


async def update_fields(
    pool: Pool, *, partner_id: uuid.UUID, client_id: uuid.UUID, changes: dict[str, Any]
) -> ClientRow | None:
    """Change some of the client's own fields; None when the partner has no such client.

    A changed case manager is written on the onboarding too, so both lists filter alike.
    Raises ClientErased when its personal data was erased.
    """
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    async with pool.acquire() as conn, conn.transaction():
        # The lock orders this write after an erasure in flight, which the check below then sees.
        current = await conn.fetchrow(
            "SELECT onboarding_id FROM clients WHERE partner_id = $1 AND id = $2 FOR UPDATE",
            partner_id,
            client_id,
        )
        if current is None:
            return None
        if await conn.fetchval("SELECT 1 FROM erasures WHERE client_id = $1", client_id):
            raise ClientErased(str(client_id))
        names = [n for n in EDITABLE if n in changes]
        if names:
            assignments = ", ".join(f"{n} = ${i}" for i, n in enumerate(names, start=2))
            await conn.execute(
                f"UPDATE clients SET {assignments}, updated_at = now() WHERE id = $1",
                client_id,
                *(changes[n] for n in names),
            )
        if "case_manager" in changes:
            await conn.execute(
                "UPDATE onboardings SET case_manager = $2, updated_at = now() WHERE id = $1",
                current["onboarding_id"],
                changes["case_manager"],
            )
        record = await conn.fetchrow(f"SELECT {_COLUMNS} FROM clients WHERE id = $1", client_id)
    assert record is not None  # locked above: it cannot have gone
    return _row(record)


@dataclass(frozen=True)
class CollaboratorsChange:
    user_ids: list[uuid.UUID]
    added: list[uuid.UUID]
    removed: list[uuid.UUID]


class UnknownUsers(Exception):
    """Some of the users are not the client's partner's."""

    def __init__(self, user_ids: list[uuid.UUID]) -> None:
        super().__init__(f"{len(user_ids)} unknown user(s)")
        self.user_ids = user_ids


async def set_collaborators(
    pool: Pool, *, partner_id: uuid.UUID, client_id: uuid.UUID, user_ids: list[uuid.UUID]
) -> CollaboratorsChange | None:
    """Make exactly `user_ids` the client's collaborators, template users included.

    None when the partner has no such client; UnknownUsers (nothing changed) when a user is not
    one of the partner's. Sending the same set again changes nothing.
    """
    wanted = list(dict.fromkeys(user_ids))
    async with pool.acquire() as conn, conn.transaction():
        # Serialises two changes of the same client's collaborators.
        found = await conn.fetchval(
            "SELECT 1 FROM clients WHERE partner_id = $1 AND id = $2 FOR UPDATE",
            partner_id,
            client_id,
        )
        if found is None:
            return None
        known = {
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM partner_users WHERE partner_id = $1 AND id = ANY($2::uuid[])",
                partner_id,
                wanted,
            )
        }
        missing = [u for u in wanted if u not in known]
        if missing:
            raise UnknownUsers(missing)
        removed = [
            r["user_id"]
            for r in await conn.fetch(
                """
                DELETE FROM client_collaborators
                WHERE client_id = $1 AND NOT (user_id = ANY($2::uuid[]))
                RETURNING user_id
                """,
                client_id,
                wanted,
            )
        ]
        added = [
            r["user_id"]
            for r in await conn.fetch(
                """
                INSERT INTO client_collaborators (client_id, user_id)
                SELECT $1, u FROM unnest($2::uuid[]) AS u
                ON CONFLICT DO NOTHING
                RETURNING user_id
                """,
                client_id,
                wanted,
            )
        ]
    order = {u: i for i, u in enumerate(wanted)}
    return CollaboratorsChange(
        user_ids=wanted,
        added=sorted(added, key=order.__getitem__),
        removed=sorted(removed, key=str),
    )


@dataclass(frozen=True)
class Collaborator:
    user_id: uuid.UUID
    name: str
    email: str
    role: str
    since: datetime


async def list_collaborator_users(pool: Pool | Conn, *, client_id: uuid.UUID) -> list[Collaborator]:
    """The client's collaborators with who they are (partner staff), earliest first."""
    rows = await pool.fetch(
        """
        SELECT u.id AS user_id, u.name, u.email, u.role, cc.created_at AS since
        FROM client_collaborators cc JOIN partner_users u ON u.id = cc.user_id
        WHERE cc.client_id = $1
        ORDER BY cc.created_at, u.id
        """,
        client_id,
    )
    return [Collaborator(**dict(r)) for r in rows]


async def collaborates_on_any(pool: Pool, *, partner_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """Whether the partner's user collaborates on at least one of its clients."""
    found: bool = await pool.fetchval(
        """
        SELECT EXISTS (
            SELECT 1 FROM client_collaborators cc JOIN clients c ON c.id = cc.client_id
            WHERE cc.user_id = $2 AND c.partner_id = $1
        )
        """,
        partner_id,
        user_id,
    )
    return found


# ---- national register numbers: kept apart from ClientRow so no listing ever carries them ------


async def national_numbers(
    pool: Pool | Conn, *, partner_id: uuid.UUID, client_id: uuid.UUID
) -> tuple[str | None, str | None] | None:
    """(the client's, the partner's) national register numbers; None when there is no client."""
    record = await pool.fetchrow(
        "SELECT national_number, partner_national_number FROM clients "
        "WHERE partner_id = $1 AND id = $2",
        partner_id,
        client_id,
    )
    if record is None:
        return None
    return record["national_number"], record["partner_national_number"]


async def set_national_numbers(
    pool: Pool | Conn,
    *,
    partner_id: uuid.UUID,
    client_id: uuid.UUID,
    values: dict[str, str | None],
) -> bool:
    """Set the numbers named in `values` (None clears one); False when there is no client."""
    status = await pool.execute(
        """
        UPDATE clients SET
            national_number = CASE WHEN $3 THEN $4 ELSE national_number END,
            partner_national_number = CASE WHEN $5 THEN $6 ELSE partner_national_number END,
            updated_at = now()
        WHERE partner_id = $1 AND id = $2
        """,
        partner_id,
        client_id,
        "national_number" in values,
        values.get("national_number"),
        "partner_national_number" in values,
        values.get("partner_national_number"),
    )
    return str(status) == "UPDATE 1"
