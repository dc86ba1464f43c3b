"""Setup resolution for API requests: a setup that cannot resolve is a 422 naming each field.

Below the routers, so that any of them can resolve a setup without importing another router.
"""

from __future__ import annotations

import uuid

from api.problems import FieldError, ProblemError
from domain.setup import Catalog, EffectiveSetup, SetupInvalid, SetupOverrides, resolve_setup
from store import setup as setup_store
from store.pool import Pool
from store.templates import TemplateRow


async def resolve_or_problem(
    pool: Pool, partner_id: uuid.UUID, template_id: uuid.UUID | None, overrides: SetupOverrides
) -> tuple[TemplateRow, EffectiveSetup, Catalog]:
    """Resolve a setup as an onboarding would, from one database round trip; raise
    ProblemError with every field at fault."""
    sources = await setup_store.load_sources(pool, partner_id=partner_id, template_id=template_id)
    row = sources.template
    if row is None:
        raise ProblemError(
            422,
            "validation-error",
            "Invalid request",
            f"No template {template_id}",
            errors=[FieldError(field="template_id", message="unknown template")],
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
        raise ProblemError(
            422,
            "invalid-setup",
            "Invalid setup",
            str(exc),
            errors=[FieldError(field=i.field, message=i.message) for i in exc.issues],
        ) from exc
    return row, effective, sources.catalog
