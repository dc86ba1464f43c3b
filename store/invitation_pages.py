"""What the director's page shows about an invitation: one read, by the token's hash."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from store.pool import Conn, Pool


@dataclass(frozen=True)
class InvitationPageRow:
    onboarding_id: uuid.UUID
    sequence: int
    expires_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None
    partner_name: str
    partner_settings: dict[str, Any]
    # None until the workflow has created the client (or never, for a broken row): the page then
    # falls back to the browser's language and leaves the names out.
    client_name: str | None
    language: str | None
    director_first_name: str | None
    director_last_name: str | None
    director_themes: list[str]


async def find(pool: Pool | Conn, *, token_hash: str) -> InvitationPageRow | None:
    """The invitation behind a token hash, with its partner, client and director."""
    r = await pool.fetchrow(
        """
        SELECT i.onboarding_id, i.sequence, i.expires_at, i.accepted_at, i.revoked_at,
               p.name AS partner_name, p.settings AS partner_settings,
               c.name AS client_name, c.language,
               d.first_name AS director_first_name, d.last_name AS director_last_name,
               COALESCE(d.themes, '{}') AS director_themes
        FROM invitations i
        JOIN onboardings o ON o.id = i.onboarding_id
        JOIN partners p ON p.id = o.partner_id
        LEFT JOIN clients c ON c.onboarding_id = i.onboarding_id
        LEFT JOIN LATERAL (
            SELECT first_name, last_name, themes FROM client_users
            WHERE client_id = c.id AND role = 'director'
            ORDER BY created_at, id LIMIT 1
        ) d ON true
        WHERE i.token_hash = $1
        """,
        token_hash,
    )
    if r is None:
        return None
    return InvitationPageRow(**{**dict(r), "director_themes": list(r["director_themes"])})


async def set_accept_url_template(
    pool: Pool, *, partner_id: uuid.UUID, template: str | None
) -> None:
    """Where the partner's own front end takes directors (None: our page), in its settings."""
    await pool.execute(
        """
        UPDATE partners SET settings = CASE
            WHEN $2::text IS NULL THEN settings - 'accept_url_template'
            ELSE settings || jsonb_build_object('accept_url_template', $2::text)
        END
        WHERE id = $1
        """,
        partner_id,
        template,
    )
