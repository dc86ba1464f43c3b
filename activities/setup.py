"""Setup resolution as an activity: read the partner's configuration, resolve, validate."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.error_types import ErrorType
from domain.setup import EffectiveSetup, SetupInvalid, SetupOverrides, resolve_setup
from store import setup_sources as setup_store
from store.pool import Pool


class ResolveSetupInput(BaseModel):
    partner_id: uuid.UUID
    template_id: uuid.UUID | None = None
    overrides: SetupOverrides = Field(default_factory=SetupOverrides)


class ResolveSetupResult(BaseModel):
    setup: EffectiveSetup
    attempt: int


class SetupActivities:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    @activity.defn
    async def resolve_setup(self, data: ResolveSetupInput) -> ResolveSetupResult:
        """The effective setup, secrets masked (it travels in workflow history)."""
        row = await setup_store.load_template(
            self.pool, partner_id=data.partner_id, template_id=data.template_id
        )
        if row is None:
            raise ApplicationError(
                f"template {data.template_id} no longer exists",
                type=ErrorType.SetupInvalid,
                non_retryable=True,
            )
        catalog = await setup_store.load_catalog(self.pool, partner_id=data.partner_id)
        try:
            effective = resolve_setup(
                template=setup_store.template_body(row),
                template_id=row.id,
                template_version=row.version,
                billing=await setup_store.load_billing(self.pool, partner_id=data.partner_id),
                overrides=data.overrides,
                catalog=catalog,
            )
        except SetupInvalid as exc:
            # The catalog changed since the API checked the request: a human must fix it.
            raise ApplicationError(
                str(exc), type=ErrorType.SetupInvalid, non_retryable=True
            ) from exc
        return ResolveSetupResult(setup=effective.masked(catalog), attempt=activity.info().attempt)
