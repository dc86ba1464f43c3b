"""The clients table and the client's own users (its director)."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from store.pool import Conn, Pool, snapshot


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


@dataclass(frozen=True)
class _Key:
    """One key of a list order: its SQL, its direction, its type (for the cursor)."""

    sql: str
    descending: bool
    kind: str  # timestamptz | text | uuid | boolean
    nullable: bool = False  # NULLS LAST either way

    def order(self) -> str:
        nulls = " NULLS LAST" if self.nullable else ""
        return f"{self.sql} {'DESC' if self.descending else 'ASC'}{nulls}"


# Sort keys a caller may name -> their SQL keys; the id breaks ties so pages never overlap. Each
# has an index (migration 0027) led by the partner, so a page reads its 50 rows in order; the
# status sort walks the onboardings index (partner, status, created_at) instead.
LIST_SORTS: dict[str, tuple[_Key, ...]] = {
    "created_at": (_Key("c.created_at", False, "timestamptz"), _Key("c.id", False, "uuid")),
    "-created_at": (_Key("c.created_at", True, "timestamptz"), _Key("c.id", True, "uuid")),
    "name": (_Key("lower(c.name)", False, "text"), _Key("c.id", False, "uuid")),
    "-name": (_Key("lower(c.name)", True, "text"), _Key("c.id", True, "uuid")),
    "scheduled_at": (
        _Key("c.invitation_scheduled_at", False, "timestamptz", nullable=True),
        _Key("c.id", False, "uuid"),
    ),
    "-scheduled_at": (
        _Key("c.invitation_scheduled_at", True, "timestamptz", nullable=True),
        _Key("c.id", True, "uuid"),
    ),
    "status": (
        _Key("o.status", False, "text"),
        _Key("o.created_at", True, "timestamptz"),
        _Key("o.id", True, "uuid"),
    ),
}
# The leading key of a "mine first" list: the user's own clients, then the others.
_MINE = _Key("mine", True, "boolean")
# An exact count stops here: past it, `total` says "at least this many" (ClientPage.total_exact
# false). Counting every match of a large firm's unfiltered list would cost more than its page.
TOTAL_CAP = 1_000

# Where the invitation stands: the workflow's last report, else what the invitations table and
# the client row tell (runs that began before the workflow reported it).
_DERIVED_STATE = """CASE
               WHEN i.accepted_at IS NOT NULL THEN 'accepted'
               WHEN i.revoked_at IS NOT NULL THEN 'cancelled'
               WHEN i.expires_at <= now() THEN 'expired'
               WHEN i.sequence IS NOT NULL THEN 'sent'
               WHEN c.status = 'ready' AND c.notifications_muted THEN 'muted'
               ELSE 'pending' END"""
_INVITATION_STATE = f"COALESCE(c.invitation_state, {_DERIVED_STATE})"
_LAST_INVITATION = """LEFT JOIN LATERAL (
        SELECT sequence, accepted_at, revoked_at, expires_at FROM invitations
        WHERE onboarding_id = c.onboarding_id ORDER BY sequence DESC LIMIT 1
    ) i ON true"""
_LISTED_FROM = f"""
    FROM clients c
    JOIN onboardings o ON o.id = c.onboarding_id
    LEFT JOIN erasures e ON e.client_id = c.id
    {_LAST_INVITATION}
"""
_LISTED_COLUMNS = f"""
    c.id, c.onboarding_id, c.name, c.company ->> 'name' AS company_name, c.siret,
    c.enterprise_number, c.status, o.status AS onboarding_status, c.case_manager, c.tags,
    c.notifications_muted, {_INVITATION_STATE} AS invitation_state,
    c.invitation_scheduled_at, c.created_at, c.updated_at, e.erased_at
"""
_LISTED = f"SELECT {_LISTED_COLUMNS} {_LISTED_FROM} WHERE c.partner_id = $1"


class BadCursor(ValueError):
    """A cursor this list did not make, or made for another order or filter set."""


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


# The list's columns by the names _LISTED_COLUMNS gives them: a row of the list is these.
_LISTED_NAMES = tuple(ClientListRow.__dataclass_fields__)


def _list_row(record: asyncpg.Record) -> ClientListRow:
    return ClientListRow(
        **{k: record[k] for k in ClientListRow.__dataclass_fields__ if k != "tags"},
        tags=list(record["tags"]),
    )


def _encode_cursor(sort: str, values: list[Any]) -> str:
    shown = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    shown = [str(v) if isinstance(v, uuid.UUID) else v for v in shown]
    raw = json.dumps({"s": sort, "v": shown}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: str, keys: tuple[_Key, ...]) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        body = json.loads(raw)
        values = body["v"]
        if body["s"] != sort or not isinstance(values, list) or len(values) != len(keys):
            raise BadCursor("made for another order")
        decoded: list[Any] = []
        for key, value in zip(keys, values, strict=True):
            if value is None:
                if not key.nullable:
                    raise BadCursor("a missing value")
                decoded.append(None)
            elif key.kind == "timestamptz":
                when = datetime.fromisoformat(value)
                if when.tzinfo is None:
                    raise BadCursor("a time without its zone")
                decoded.append(when)
            elif key.kind == "uuid":
                decoded.append(uuid.UUID(value))
            elif key.kind == "boolean":
                if not isinstance(value, bool):
                    raise BadCursor("not a boolean")
                decoded.append(value)
            else:
                if not isinstance(value, str):
                    raise BadCursor("not a text")
                decoded.append(value)
        return decoded
    except BadCursor:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise BadCursor("not a cursor of this list") from exc


def _after(keys: tuple[_Key, ...], values: list[Any], arg: Any) -> str:
    """Rows strictly after `values` in the order of `keys`. One row comparison when every key
    goes the same way and none may be null (an index range); else key by key."""
    if len({k.descending for k in keys}) == 1 and not any(k.nullable for k in keys):
        op = "<" if keys[0].descending else ">"
        left = ", ".join(k.sql for k in keys)
        right = ", ".join(f"{arg(v)}::{k.kind}" for k, v in zip(keys, values, strict=True))
        return f"({left}) {op} ({right})"
    branches: list[str] = []
    for n, key in enumerate(keys):
        equal = [
            f"{k.sql} = {arg(v)}::{k.kind}" if v is not None else f"{k.sql} IS NULL"
            for k, v in zip(keys[:n], values[:n], strict=True)
        ]
        value = values[n]
        if value is None:
            continue  # nothing comes after NULL on this key but NULLs (NULLS LAST)
        op = "<" if key.descending else ">"
        later = f"{key.sql} {op} {arg(value)}::{key.kind}"
        if key.nullable:
            later = f"({later} OR {key.sql} IS NULL)"
        branches.append("(" + " AND ".join([*equal, later]) + ")")
    return "(" + (" OR ".join(branches) or "false") + ")"


@dataclass(frozen=True)
class ClientPage:
    rows: list[ClientListRow]
    # Exact up to TOTAL_CAP matches; past it TOTAL_CAP, with total_exact false.
    total: int
    total_exact: bool
    # The cursor of the page after this one (None: this is the last one).
    next_cursor: str | None


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
    cursor: str | None = None,
    first_for: list[str] | None = None,
    collaborator: uuid.UUID | None = None,
) -> ClientPage:
    """One page of the partner's clients matching every filter given, and how many match.

    `collaborator` keeps the clients this partner user collaborates on ("my clients"); read
    through the client_collaborators_user index (migration 0026).

    With `first_for`, clients whose case manager is one of these come first ("my clients"),
    each group in `sort`'s order. `q` matches a substring of the client's name, its registry
    name, its SIRET or its enterprise number (spaces, dots and a BE prefix in numbers as people
    type them are ignored), case-insensitively. `enterprise_number` (10 digits) is an exact
    filter. `cursor` (a page's `next_cursor`) continues after that page, at the cost of one
    page whatever its depth; `offset` reads and skips the rows before. BadCursor for a cursor
    of another order.

    The SQL names only the filters given, so each combination is a statement of its own
    whose plan (even a cached generic one) uses the indexes that combination needs.
    """
    args: list[Any] = [partner_id]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    where = ["c.partner_id = $1"]
    if case_manager is not None:
        where.append(f"c.case_manager = {arg(case_manager)}")
    if tag is not None:
        where.append(f"c.tags @> ARRAY[{arg(tag)}::text]")  # the GIN index's operator
    if onboarding_status is not None:
        # The partner on both sides: the onboardings' (partner, status) index finds them.
        where.append(f"o.partner_id = $1 AND o.status = {arg(onboarding_status)}")
    if muted is not None:
        where.append(f"c.notifications_muted = {arg(muted)}")
    if scheduled_from is not None:
        where.append(f"c.invitation_scheduled_at >= {arg(scheduled_from)}")
    if scheduled_to is not None:
        where.append(f"c.invitation_scheduled_at <= {arg(scheduled_to)}")
    if q:
        pattern, number = arg(_like_pattern(q)), arg(_like_pattern(_number_typed(q)))
        where.append(
            f"(c.name ILIKE {pattern} OR (c.company ->> 'name') ILIKE {pattern}"
            f" OR c.siret LIKE {number} OR c.enterprise_number LIKE {number})"
        )
    if enterprise_number is not None:
        where.append(f"c.enterprise_number = {arg(enterprise_number)}")
    if collaborator is not None:
        # client_collaborators_user (0026) finds the user's clients.
        where.append(
            "c.id IN (SELECT cc.client_id FROM client_collaborators cc"
            f" WHERE cc.user_id = {arg(collaborator)})"
        )
    if invitation_state is not None:
        # Spelt so that the projected state's index finds the rows: only clients whose run
        # never projected one (few, older) need their invitations read.
        # The first clause reads the client alone (the second one its invitations too), so
        # the planner can take it to the index.
        state = arg(invitation_state)
        where.append(f"(c.invitation_state = {state} OR c.invitation_state IS NULL)")
        where.append(
            f"(c.invitation_state = {state}"
            f" OR (c.invitation_state IS NULL AND {_DERIVED_STATE} = {state}))"
        )
    # The count joins only what its filters read: every client has its onboarding.
    count_from = "FROM clients c"
    if onboarding_status is not None:
        count_from += " JOIN onboardings o ON o.id = c.onboarding_id"
    if invitation_state is not None:
        count_from += f" {_LAST_INVITATION}"
    # In the list's own order: the planner then weighs walking the order's index to the cap
    # (cheap when matches are many) against collecting every match (when they are few).
    count_keys = LIST_SORTS["-created_at"]
    count_sql = f"""
        SELECT count(*) FROM (
            SELECT 1 {count_from} WHERE {" AND ".join(where)}
            ORDER BY {", ".join(k.order() for k in count_keys)} LIMIT {TOTAL_CAP + 1}
        ) capped
    """
    count_args = list(args)

    keys = LIST_SORTS[sort]  # KeyError for a key the API let through: a bug, not input
    if sort == "status":
        # Lets the planner walk the onboardings' (partner, status, created_at) index.
        where = [*where, "o.partner_id = $1"]
    # limit + 1 rows tell whether a next page exists. The limit is written in (an int): as a
    # parameter, a cached generic plan would assume a tenth of the table.
    take = int(limit) + 1 + int(offset)
    after = _decode_cursor(cursor, sort, (_MINE, *keys) if first_for else keys) if cursor else None

    def ordered(conditions: list[str], mine: str = "") -> str:
        columns = ", ".join(f"{k.sql} AS sort_key_{n}" for n, k in enumerate(keys, start=1))
        return f"""
            SELECT {_LISTED_COLUMNS}, {mine or "NULL::boolean"} AS sort_key_0, {columns}
            {_LISTED_FROM}
            WHERE {" AND ".join(conditions)}
            ORDER BY {", ".join(k.order() for k in keys)}
            LIMIT {take}
        """

    if first_for:
        # "Mine first": the user's clients in order, then the others in order, each read
        # from its own index walk (a leading boolean in one ORDER BY would sort them all).
        mine = f"c.case_manager = ANY({arg(first_for)}::text[])"
        branches = []
        if after is None or after[0]:
            tail = [_after(keys, after[1:], arg)] if after is not None else []
            branches.append(ordered([*where, mine, *tail], "true"))
        tail = [_after(keys, after[1:], arg)] if after is not None and not after[0] else []
        branches.append(ordered([*where, f"({mine}) IS NOT TRUE", *tail], "false"))
        outer = ", ".join(
            f"sort_key_{n} {'DESC' if k.descending else 'ASC'}{' NULLS LAST' if k.nullable else ''}"
            for n, k in enumerate((_MINE, *keys))
        )
        named = ", ".join([*_LISTED_NAMES, *(f"sort_key_{n}" for n in range(len(keys) + 1))])
        page_sql = f"""
            SELECT {named} FROM ({" UNION ALL ".join(f"({b})" for b in branches)}) listed
            ORDER BY {outer} LIMIT {int(limit) + 1} OFFSET {arg(offset)}
        """
        width = len(keys) + 1
    else:
        # The page's ids first, joining only what the filters and the order read; then the
        # rest of its 50 rows: an offset skips index entries, not joined rows.
        tail = [_after(keys, after, arg)] if after is not None else []
        inner_from = "FROM clients c"
        if onboarding_status is not None or sort == "status":
            inner_from += " JOIN onboardings o ON o.id = c.onboarding_id"
        if invitation_state is not None:
            inner_from += f" {_LAST_INVITATION}"
        columns = ", ".join(f"{k.sql} AS sort_key_{n}" for n, k in enumerate(keys, start=1))
        outer = ", ".join(
            f"page.sort_key_{n} {'DESC' if k.descending else 'ASC'}"
            f"{' NULLS LAST' if k.nullable else ''}"
            for n, k in enumerate(keys, start=1)
        )
        sort_keys = ", ".join(f"page.sort_key_{n}" for n in range(len(keys) + 1))
        page_sql = f"""
            SELECT {_LISTED_COLUMNS}, {sort_keys}
            FROM (
                SELECT c.id AS page_id, NULL::boolean AS sort_key_0, {columns} {inner_from}
                WHERE {" AND ".join([*where, *tail])}
                ORDER BY {", ".join(k.order() for k in keys)}
                LIMIT {int(limit) + 1} OFFSET {arg(offset)}
            ) page
            JOIN clients c ON c.id = page.page_id
            JOIN onboardings o ON o.id = c.onboarding_id
            LEFT JOIN erasures e ON e.client_id = c.id
            {_LAST_INVITATION}
            ORDER BY {outer}
        """
        width = len(keys)
    async with snapshot(pool) as conn:  # the page and its total as of one moment
        records = await conn.fetch(page_sql, *args)
        counted = int(await conn.fetchval(count_sql, *count_args))
    more = len(records) > limit
    records = records[:limit]
    next_cursor = None
    if more and records:
        last, first = records[-1], 0 if first_for else 1
        next_cursor = _encode_cursor(
            sort, [last[f"sort_key_{n}"] for n in range(first, first + width)]
        )
    return ClientPage(
        rows=[_list_row(r) for r in records],
        total=min(counted, TOTAL_CAP),
        total_exact=counted <= TOTAL_CAP,
        next_cursor=next_cursor,
    )


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
