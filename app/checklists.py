"""A client's checklist as the firm follows it: the items, the answers so far, what is missing."""

from __future__ import annotations

import uuid

from domain.checklists import ChecklistProgress
from store import checklists
from store.pool import Pool


async def progress(
    pool: Pool, *, partner_id: uuid.UUID, client_id: uuid.UUID
) -> ChecklistProgress | None:
    """The client's checklist with its answers; None when it has none (or is another firm's)."""
    return await checklists.read_progress(pool, partner_id=partner_id, client_id=client_id)
