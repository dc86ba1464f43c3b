"""The partners table."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from store.pool import Pool


@dataclass(frozen=True)
class PartnerRow:
    id: uuid.UUID
    name: str


async def get(pool: Pool, *, partner_id: uuid.UUID) -> PartnerRow | None:
    record = await pool.fetchrow("SELECT id, name FROM partners WHERE id = $1", partner_id)
    return PartnerRow(id=record["id"], name=record["name"]) if record else None
