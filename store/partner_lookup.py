"""Finding a partner as ops name one on the command line: by id, or by name in any case."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from store.pool import Pool


@dataclass(frozen=True)
class PartnerRef:
    id: uuid.UUID
    name: str


async def matching(pool: Pool, *, id_or_name: str) -> list[PartnerRef]:
    """The partner with this id, else every partner with this name (names need not be unique:
    the caller decides what two of them mean), oldest first."""
    try:
        partner_id: uuid.UUID | None = uuid.UUID(id_or_name)
    except ValueError:
        partner_id = None
    records = await pool.fetch(
        """
        SELECT id, name FROM partners
        WHERE ($1::uuid IS NOT NULL AND id = $1) OR ($1::uuid IS NULL AND lower(name) = lower($2))
        ORDER BY created_at, id
        LIMIT 20
        """,
        partner_id,
        id_or_name,
    )
    return [PartnerRef(id=r["id"], name=r["name"]) for r in records]
