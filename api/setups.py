"""Setup resolution for API requests: a setup that cannot resolve is a 422 naming each field.

Below the routers, so that any of them can resolve a setup without importing another router.
The rule itself is app/setups.py, which the console's pages call too.
"""

from __future__ import annotations

import uuid

from api.problems import FieldError, ProblemError
from app import setups as app_setups
from app.errors import Invalid
from domain.setup import Catalog, EffectiveSetup, SetupOverrides
from store.pool import Pool
from store.templates import TemplateRow


async def resolve_or_problem(
    pool: Pool, partner_id: uuid.UUID, template_id: uuid.UUID | None, overrides: SetupOverrides
) -> tuple[TemplateRow, EffectiveSetup, Catalog]:
    """Resolve a setup as an onboarding would, from one database round trip; raise
    ProblemError with every field at fault."""
    try:
        return await app_setups.resolve(
            pool, partner_id=partner_id, template_id=template_id, overrides=overrides
        )
    except Invalid as exc:
        raise _problem(exc) from exc


async def preview_or_problem(
    pool: Pool, partner_id: uuid.UUID, template_id: uuid.UUID | None, overrides: SetupOverrides
) -> app_setups.Preview:
    """The setup preview (app/setups.preview, as the console's New client page shows it); raise
    ProblemError with every field at fault."""
    try:
        return await app_setups.preview(
            pool, partner_id=partner_id, template_id=template_id, overrides=overrides
        )
    except Invalid as exc:
        raise _problem(exc) from exc


def _problem(exc: Invalid) -> ProblemError:
    return ProblemError(
        422,
        exc.slug,
        exc.title,
        exc.detail,
        errors=[FieldError(field=e.field, message=e.message) for e in exc.errors],
    )
