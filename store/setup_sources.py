"""Everything setup resolution needs from the database, read in one place."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from domain.setup import (
    BillingDefaults,
    Catalog,
    Integration,
    Plan,
    TemplateBody,
)
from store import templates
from store.pool import Pool

# The partner's catalog as one row: plans and apps as JSON arrays, folder trees and users as
# arrays. One round trip instead of four; asked on every onboarding (API and workflow).
_CATALOG = """
    (SELECT coalesce(jsonb_agg(body ORDER BY code), '[]') FROM plans WHERE partner_id = $1)
        AS catalog_plans,
    (SELECT coalesce(jsonb_agg(body ORDER BY code), '[]') FROM integrations WHERE partner_id = $1)
        AS catalog_integrations,
    ARRAY(SELECT code FROM folder_trees WHERE partner_id = $1) AS catalog_folder_trees,
    ARRAY(SELECT id FROM partner_users WHERE partner_id = $1) AS catalog_users,
    ARRAY(SELECT id FROM checklists WHERE partner_id = $1) AS catalog_checklists,
    (SELECT coalesce(jsonb_object_agg(code, names), '{}') FROM (
        SELECT code, jsonb_agg(name ORDER BY name) AS names FROM integration_secret_settings
        WHERE partner_id = $1 GROUP BY code) AS s) AS catalog_ever_secret
"""


@dataclass(frozen=True)
class SetupSources:
    """What resolving a setup reads: the template (None if unknown), catalog and billing."""

    template: templates.TemplateRow | None
    catalog: Catalog
    billing: BillingDefaults


def _catalog(record: asyncpg.Record) -> Catalog:
    plans = [Plan.model_validate(b) for b in record["catalog_plans"]]
    apps = [Integration.model_validate(b) for b in record["catalog_integrations"]]
    return Catalog(
        plans={p.code: p for p in plans},
        integrations={i.code: i for i in apps},
        folder_trees=set(record["catalog_folder_trees"]),
        users=set(record["catalog_users"]),
        checklists=set(record["catalog_checklists"]),
        ever_secret={code: set(names) for code, names in record["catalog_ever_secret"].items()},
    )


# The template's columns as the lateral join below names them (templates._row reads them).
_TEMPLATE_COLUMNS = ", ".join(f"t.{c}" for c in templates._COLUMNS.split(", "))


async def load_sources(
    pool: Pool, *, partner_id: uuid.UUID, template_id: uuid.UUID | None
) -> SetupSources:
    """Template (the named one, or the partner's default), catalog and billing in one round
    trip: the API resolves a setup on every onboarding it accepts."""
    record = await pool.fetchrow(
        f"""
        SELECT {_CATALOG},
               (SELECT body FROM billing_defaults WHERE partner_id = $1) AS billing_body,
               {_TEMPLATE_COLUMNS}
        FROM (SELECT 1) AS one
        LEFT JOIN LATERAL (
            SELECT {templates._COLUMNS} FROM configuration_templates
            WHERE partner_id = $1 AND CASE WHEN $2::uuid IS NULL THEN is_default ELSE id = $2 END
        ) AS t ON true
        """,
        partner_id,
        template_id,
    )
    assert record is not None  # one row, whatever the partner has
    billing = record["billing_body"]
    return SetupSources(
        template=templates._row(record) if record["id"] is not None else None,
        catalog=_catalog(record),
        billing=BillingDefaults.model_validate(billing) if billing else BillingDefaults(),
    )


async def load_catalog(pool: Pool, *, partner_id: uuid.UUID) -> Catalog:
    record = await pool.fetchrow(f"SELECT {_CATALOG}", partner_id)
    assert record is not None
    return _catalog(record)


async def load_billing(pool: Pool, *, partner_id: uuid.UUID) -> BillingDefaults:
    body = await templates.get_billing(pool, partner_id=partner_id)
    return BillingDefaults.model_validate(body) if body else BillingDefaults()


async def load_template(
    pool: Pool, *, partner_id: uuid.UUID, template_id: uuid.UUID | None
) -> templates.TemplateRow | None:
    """The named template, or the partner's default when none is named."""
    if template_id is None:
        return await templates.get_default(pool, partner_id=partner_id)
    return await templates.get(pool, partner_id=partner_id, template_id=template_id)


def template_body(row: templates.TemplateRow) -> TemplateBody:
    return TemplateBody.model_validate(row.body)
