"""Everything setup resolution needs from the database, read in one place."""

from __future__ import annotations

import uuid

from domain.setup import (
    BillingDefaults,
    Catalog,
    Integration,
    Plan,
    TemplateBody,
)
from store import catalogs, partners, templates
from store.pool import Pool


async def load_catalog(pool: Pool, *, partner_id: uuid.UUID) -> Catalog:
    plans = [
        Plan.model_validate(b)
        for b in await catalogs.all_bodies(pool, "plans", partner_id=partner_id)
    ]
    apps = [
        Integration.model_validate(b)
        for b in await catalogs.all_bodies(pool, "integrations", partner_id=partner_id)
    ]
    trees = await catalogs.codes(pool, "folder_trees", partner_id=partner_id)
    return Catalog(
        plans={p.code: p for p in plans},
        integrations={i.code: i for i in apps},
        folder_trees=trees,
        users=await partners.user_ids(pool, partner_id=partner_id),
    )


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
