"""A client's applied setup: its collaborators, its subscription and its integrations' state.

Every write is safe to replay: an activity retried after a lost acknowledgement finds what the
first attempt wrote and adds nothing. Secret integration settings are read here (for the one
activity that sends them to the partner app) and never written anywhere else.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg

from domain.setup import SECRET_MASK, Integration
from store.pool import Conn, Pool

IntegrationState = Literal[
    "pending", "connecting", "connected", "failed", "disconnecting", "removed"
]


@dataclass(frozen=True)
class SubscriptionRow:
    client_id: uuid.UUID
    plan: str | None
    add_ons: list[str]
    payer: str
    billing_period: str
    created_at: datetime


@dataclass(frozen=True)
class IntegrationRow:
    client_id: uuid.UUID
    code: str
    kind: str
    state: str
    attempts: int
    last_error: str | None
    external_ref: str | None
    connected_at: datetime | None
    updated_at: datetime
    # The later change (store/integration_changes.py) the state is about; None: the onboarding.
    change_id: uuid.UUID | None = None
    # The settings last asked for by a change, secrets masked; None: the setup snapshot's.
    settings: dict[str, Any] | None = None


_SUBSCRIPTION_COLUMNS = "client_id, plan, add_ons, payer, billing_period, created_at"
_INTEGRATION_COLUMNS = (
    "client_id, code, kind, state, attempts, last_error, external_ref, connected_at, updated_at,"
    " change_id, settings"
)


def _subscription(r: asyncpg.Record) -> SubscriptionRow:
    return SubscriptionRow(**{**dict(r), "add_ons": list(r["add_ons"])})


def _integration(r: asyncpg.Record) -> IntegrationRow:
    return IntegrationRow(**dict(r))


# ---- collaborators ------------------------------------------------------------------------------


async def assign_collaborators(
    pool: Pool, *, client_id: uuid.UUID, user_ids: list[uuid.UUID]
) -> int:
    """Assign partner users to the client; return how many were newly assigned.

    Only users of the client's own partner are taken: a user deleted since the setup was resolved,
    or one of another partner, is skipped rather than failing the whole step.
    """
    status = await pool.execute(
        """
        INSERT INTO client_collaborators (client_id, user_id)
        SELECT c.id, u.id
        FROM clients c JOIN partner_users u ON u.partner_id = c.partner_id
        WHERE c.id = $1 AND u.id = ANY($2::uuid[])
        ON CONFLICT DO NOTHING
        """,
        client_id,
        user_ids,
    )
    return int(str(status).rsplit(" ", 1)[-1])


async def list_collaborators(pool: Pool, *, client_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await pool.fetch(
        "SELECT user_id FROM client_collaborators WHERE client_id = $1 "
        "ORDER BY created_at, user_id",
        client_id,
    )
    return [r["user_id"] for r in rows]


# ---- subscription -------------------------------------------------------------------------------


async def apply_subscription(
    pool: Pool,
    *,
    client_id: uuid.UUID,
    plan: str | None,
    add_ons: list[str],
    payer: str,
    billing_period: str,
) -> bool:
    """Record the client's subscription once; False when it already had one (left unchanged)."""
    status = await pool.execute(
        """
        INSERT INTO client_subscriptions (client_id, plan, add_ons, payer, billing_period)
        VALUES ($1, $2, $3, $4, $5) ON CONFLICT (client_id) DO NOTHING
        """,
        client_id,
        plan,
        add_ons,
        payer,
        billing_period,
    )
    return str(status).endswith(" 1")


async def get_subscription(pool: Pool, *, client_id: uuid.UUID) -> SubscriptionRow | None:
    r = await pool.fetchrow(
        f"SELECT {_SUBSCRIPTION_COLUMNS} FROM client_subscriptions WHERE client_id = $1",
        client_id,
    )
    return _subscription(r) if r else None


# ---- integrations -------------------------------------------------------------------------------


async def upsert_integration_state(
    pool: Pool,
    *,
    client_id: uuid.UUID,
    code: str,
    kind: str,
    state: IntegrationState,
    error: str | None = None,
    external_ref: str | None = None,
    attempted: bool = True,
) -> IntegrationRow:
    """Record where the client's connection to one app stands.

    `attempted` says this write ends a connection attempt ('failed' or 'connected'), which counts
    in `attempts`; a verdict recorded afterwards (the workflow giving up) passes False.
    A connected row stays connected: a late failure from an attempt that timed out while another
    one succeeded must not undo the success, and writing 'connected' again counts nothing.
    `last_error` keeps the latest error, even once connected, for the step's history.
    """
    r = await pool.fetchrow(
        f"""
        INSERT INTO client_integrations AS ci (client_id, code, kind, state, attempts, last_error,
                                               external_ref, connected_at)
        VALUES ($1, $2, $3, $4::text,
                CASE WHEN $7 AND $4::text IN ('failed', 'connected') THEN 1 ELSE 0 END,
                $5, $6, CASE WHEN $4::text = 'connected' THEN now() END)
        ON CONFLICT (client_id, code) DO UPDATE SET
            kind = EXCLUDED.kind,
            state = CASE WHEN ci.state = 'connected' THEN ci.state ELSE EXCLUDED.state END,
            attempts = ci.attempts + CASE
                WHEN ci.state = 'connected' THEN 0
                WHEN $7 AND EXCLUDED.state IN ('failed', 'connected') THEN 1
                ELSE 0 END,
            last_error = CASE WHEN ci.state = 'connected' THEN ci.last_error
                              ELSE COALESCE(EXCLUDED.last_error, ci.last_error) END,
            external_ref = CASE WHEN ci.state = 'connected'
                                THEN COALESCE(ci.external_ref, EXCLUDED.external_ref)
                                ELSE COALESCE(EXCLUDED.external_ref, ci.external_ref) END,
            connected_at = COALESCE(ci.connected_at, EXCLUDED.connected_at),
            updated_at = now()
        RETURNING {_INTEGRATION_COLUMNS}
        """,
        client_id,
        code,
        kind,
        state,
        error,
        external_ref,
        attempted,
    )
    assert r is not None  # an upsert always returns its row
    return _integration(r)


async def get_integration(pool: Pool, *, client_id: uuid.UUID, code: str) -> IntegrationRow | None:
    r = await pool.fetchrow(
        f"SELECT {_INTEGRATION_COLUMNS} FROM client_integrations "
        "WHERE client_id = $1 AND code = $2",
        client_id,
        code,
    )
    return _integration(r) if r else None


async def list_integrations(pool: Pool | Conn, *, client_id: uuid.UUID) -> list[IntegrationRow]:
    rows = await pool.fetch(
        f"SELECT {_INTEGRATION_COLUMNS} FROM client_integrations "
        "WHERE client_id = $1 ORDER BY code",
        client_id,
    )
    return [_integration(r) for r in rows]


async def integration_secrets(
    pool: Pool, *, onboarding_id: uuid.UUID, template_id: uuid.UUID | None, code: str
) -> dict[str, Any]:
    """The real values of one app's secret settings for an onboarding; never log the result.

    The template's stored settings for the app (the version the onboarding's client was made with,
    else the template as it is now), overlaid with the secrets sent with the onboarding request,
    which win. Only settings the app declares, or ever declared, secret are returned: the
    others travel in the effective setup, where the request's overrides were already applied.
    Everything is read within the onboarding's partner, so another partner's template or app
    never contributes.
    """
    r = await pool.fetchrow(
        """
        SELECT o.secrets -> $3::text AS request,
               COALESCE(
                   (SELECT v.body FROM configuration_template_versions v
                    JOIN clients c ON c.onboarding_id = o.id
                                  AND c.template_id = v.template_id
                                  AND c.template_version = v.version
                    WHERE v.template_id = $2 AND v.partner_id = o.partner_id),
                   (SELECT t.body FROM configuration_templates t
                    WHERE t.id = $2 AND t.partner_id = o.partner_id)
               ) AS template,
               (SELECT i.body FROM integrations i
                WHERE i.partner_id = o.partner_id AND i.code = $3::text) AS app,
               ARRAY(SELECT s.name FROM integration_secret_settings s
                     WHERE s.partner_id = o.partner_id AND s.code = $3::text) AS ever_secret
        FROM onboardings o WHERE o.id = $1
        """,
        onboarding_id,
        template_id,
        code,
    )
    if r is None or r["app"] is None:
        return {}
    # Secret now or ever before: those were masked in the effective setup (domain.setup).
    names = Integration.model_validate(r["app"]).secret_names() | set(r["ever_secret"])
    values: dict[str, Any] = {}
    template: dict[str, Any] = r["template"] or {}
    for choice in template.get("integrations", []):
        if isinstance(choice, dict) and choice.get("code") == code:
            values.update(choice.get("settings") or {})
    values.update(r["request"] or {})
    # A mask is not a value: it only ever stands for one kept elsewhere.
    return {k: v for k, v in values.items() if k in names and v != SECRET_MASK}
