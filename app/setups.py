"""Setup resolution as an onboarding would do it, refusing with every field at fault: for the
JSON routes and the console alike (api/setups.py answers the same refusal as a problem)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from app import pricing as app_pricing
from app.errors import FieldIssue, Invalid
from domain.pricing import MonthlyCost
from domain.setup import Catalog, EffectiveSetup, SetupInvalid, SetupOverrides, resolve_setup
from store import setup_sources as setup_store
from store import templates as templates_store
from store.pool import Pool
from store.templates import TemplateRow


async def resolve(
    pool: Pool, *, partner_id: uuid.UUID, template_id: uuid.UUID | None, overrides: SetupOverrides
) -> tuple[TemplateRow, EffectiveSetup, Catalog]:
    """Resolve a setup from one database round trip; Invalid names each field at fault (another
    firm's template is unknown, like a made-up id)."""
    sources = await setup_store.load_sources(pool, partner_id=partner_id, template_id=template_id)
    row = sources.template
    if row is None:
        raise Invalid(
            f"No template {template_id}",
            errors=(FieldIssue("template_id", "unknown template", "unknown_template"),),
        )
    try:
        effective = resolve_setup(
            template=setup_store.template_body(row),
            template_id=row.id,
            template_version=row.version,
            billing=sources.billing,
            overrides=overrides,
            catalog=sources.catalog,
        )
    except SetupInvalid as exc:
        raise Invalid(
            str(exc),
            slug="invalid-setup",
            title="Invalid setup",
            errors=tuple(FieldIssue(i.field, i.message, "invalid_setup") for i in exc.issues),
        ) from exc
    return row, effective, sources.catalog


@dataclass(frozen=True)
class Preview:
    """The setup a client would start with, secret settings masked: safe to show anyone."""

    template_name: str
    setup: EffectiveSetup
    # What it would cost a month (app/pricing.py); None without a plan.
    monthly_cost: MonthlyCost | None = None


async def preview(
    pool: Pool, *, partner_id: uuid.UUID, template_id: uuid.UUID | None, overrides: SetupOverrides
) -> Preview:
    """The setup a client would get from this template (the firm's default when None) and these
    overrides, as an onboarding resolves it; starts and stores nothing. Every role may ask."""
    row, effective, catalog = await resolve(
        pool, partner_id=partner_id, template_id=template_id, overrides=overrides
    )
    cost = await app_pricing.setup_cost(
        pool, partner_id=partner_id, setup=effective, catalog=catalog
    )
    return Preview(template_name=row.name, setup=effective.masked(catalog), monthly_cost=cost)


async def templates(pool: Pool, *, partner_id: uuid.UUID) -> list[TemplateRow]:
    """The firm's templates to choose from, the default first (a firm has a few, not hundreds)."""
    rows, _ = await templates_store.list_(pool, partner_id=partner_id, limit=200, offset=0)
    return rows
