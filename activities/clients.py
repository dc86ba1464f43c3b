"""Client rows: creation (muted) and setup completion."""

from __future__ import annotations

import uuid

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.onboarding import ClientIn, client_id_for
from domain.setup import EffectiveSetup
from store import clients, onboardings
from store.pool import Pool


class CreateClientInput(BaseModel):
    onboarding_id: uuid.UUID
    partner_id: uuid.UUID
    client: ClientIn
    setup: EffectiveSetup | None = None


class CreateClientResult(BaseModel):
    client_id: uuid.UUID
    created: bool
    attempt: int


class CompleteSetupInput(BaseModel):
    client_id: uuid.UUID
    keep_muted: bool = False


class CompleteSetupResult(BaseModel):
    notifications_muted: bool
    attempt: int


class RecordStatusInput(BaseModel):
    onboarding_id: uuid.UUID
    status: str


class ClientActivities:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    @activity.defn
    async def create_client(self, data: CreateClientInput) -> CreateClientResult:
        # The id derives from the onboarding id and the insert ignores conflicts on it, so a retry
        # after a lost acknowledgement finds the row it created the first time.
        row, created = await clients.create(
            self.pool,
            client_id=client_id_for(data.onboarding_id),
            partner_id=data.partner_id,
            onboarding_id=data.onboarding_id,
            name=data.client.name,
            email=str(data.client.email),
            language=data.client.language.value,
            notifications_muted=True,
            # The snapshot: later template or billing changes never touch this client.
            setup=data.setup.model_dump(mode="json") if data.setup else None,
            template_id=data.setup.template_id if data.setup else None,
            template_version=data.setup.template_version if data.setup else None,
        )
        activity.logger.info("client row ready", extra={"row_created": created})
        return CreateClientResult(
            client_id=row.id, created=created, attempt=activity.info().attempt
        )

    @activity.defn
    async def complete_setup(self, data: CompleteSetupInput) -> CompleteSetupResult:
        try:
            row = await clients.complete_setup(
                self.pool, client_id=data.client_id, keep_muted=data.keep_muted
            )
        except LookupError as exc:
            raise ApplicationError(str(exc), type="ClientMissing", non_retryable=True) from exc
        return CompleteSetupResult(
            notifications_muted=row.notifications_muted, attempt=activity.info().attempt
        )

    @activity.defn
    async def record_status(self, data: RecordStatusInput) -> None:
        """Keep the database projection (used for listing) in step with the workflow."""
        await onboardings.set_status(
            self.pool, onboarding_id=data.onboarding_id, status=data.status
        )
