"""Client rows: creation (muted, with its director and setup snapshot) and setup completion."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.error_types import ErrorType
from domain.onboarding import ClientIn, DirectorIn, client_id_for, director_id_for
from domain.setup import EffectiveSetup
from store import clients, company_records, onboardings
from store.pool import Pool


class CreateClientInput(BaseModel):
    onboarding_id: uuid.UUID
    partner_id: uuid.UUID
    client: ClientIn
    director: DirectorIn | None = None
    setup: EffectiveSetup | None = None
    # The company as the registry (or a person) described it; its name names the client.
    company_name: str | None = None
    siret: str | None = None
    company: dict[str, Any] | None = None
    # Belgian clients (issue 26); older runs never set it.
    enterprise_number: str | None = None


class CreateClientResult(BaseModel):
    client_id: uuid.UUID
    created: bool
    attempt: int


class CompleteSetupInput(BaseModel):
    client_id: uuid.UUID
    keep_muted: bool = False
    # Set by runs that fold the status write into this step (READY): one step fewer. Older runs
    # leave them unset and record the status with record_status.
    onboarding_id: uuid.UUID | None = None
    status: str | None = None


class CompleteSetupResult(BaseModel):
    notifications_muted: bool
    attempt: int


class ClientNotificationsInput(BaseModel):
    client_id: uuid.UUID
    muted: bool


class RecordInvitationInput(BaseModel):
    client_id: uuid.UUID
    # None: the clients list derives it (pending, sent, accepted, expired) from the invitations.
    state: str | None
    scheduled_at: datetime | None = None


class RecordStatusInput(BaseModel):
    onboarding_id: uuid.UUID
    status: str


class ClientActivities:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    @activity.defn
    async def create_client(self, data: CreateClientInput) -> CreateClientResult:
        """Create the client, notifications muted, and its director user."""
        # Ids derive from the onboarding id and inserts ignore conflicts on them, so a retry
        # after a lost acknowledgement finds the rows it created the first time.
        c = data.client
        client_id = client_id_for(data.onboarding_id)
        try:
            row, created = await clients.create(
                self.pool,
                client_id=client_id,
                partner_id=data.partner_id,
                onboarding_id=data.onboarding_id,
                name=data.company_name or c.display_name,
                email=str(c.email),
                language=c.language.value,
                notifications_muted=True,
                # The snapshot: later template or billing changes never touch this client.
                setup=data.setup.model_dump(mode="json") if data.setup else None,
                template_id=data.setup.template_id if data.setup else None,
                template_version=data.setup.template_version if data.setup else None,
                first_name=c.first_name,
                last_name=c.last_name,
                siret=data.siret,
                company=data.company,
                tags=c.tags,
                case_manager=c.case_manager,
                address=c.address,
                national_number=c.national_number,
                partner_national_number=c.partner_national_number,
                enterprise_number=data.enterprise_number,
            )
        except clients.DuplicateSiret as exc:
            raise ApplicationError(
                "the SIRET is already used by another client of this partner",
                type=ErrorType.DuplicateSiret,
                non_retryable=True,
            ) from exc
        except clients.DuplicateEnterpriseNumber as exc:
            raise ApplicationError(
                "the enterprise number is already used by another client of this partner",
                type=ErrorType.DuplicateEnterpriseNumber,
                non_retryable=True,
            ) from exc
        if data.company is not None:
            # The record the client was made from, kept once (a retry keeps the first): a
            # registry's answer names its source, company details a person gave do not.
            await company_records.record_creation(
                self.pool,
                client_id=row.id,
                source=str(data.company.get("source") or "manual"),
                fields=data.company,
            )
        director = data.director or DirectorIn(
            email=c.email, first_name=c.first_name, last_name=c.last_name
        )
        await clients.add_director(
            self.pool,
            user_id=director_id_for(row.id),
            client_id=row.id,
            email=str(director.email),
            first_name=director.first_name,
            last_name=director.last_name,
            themes=director.themes,
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
            raise ApplicationError(
                str(exc), type=ErrorType.ClientMissing, non_retryable=True
            ) from exc
        if data.onboarding_id is not None and data.status is not None:
            # After the client row: a retry redoes both, and both writes are idempotent.
            await onboardings.set_status(
                self.pool, onboarding_id=data.onboarding_id, status=data.status
            )
        return CompleteSetupResult(
            notifications_muted=row.notifications_muted, attempt=activity.info().attempt
        )

    @activity.defn
    async def record_status(self, data: RecordStatusInput) -> None:
        """Keep the database projection (used for listing) in step with the workflow."""
        await onboardings.set_status(
            self.pool, onboarding_id=data.onboarding_id, status=data.status
        )

    @activity.defn
    async def set_notifications(self, data: ClientNotificationsInput) -> None:
        """The client's switch, written when its onboarding lets it change (setup complete)."""
        row = await clients.set_notifications(self.pool, client_id=data.client_id, muted=data.muted)
        if row is None:
            raise ApplicationError(
                f"client {data.client_id} does not exist",
                type=ErrorType.ClientMissing,
                non_retryable=True,
            )

    @activity.defn
    async def record_invitation(self, data: RecordInvitationInput) -> None:
        """Where the client's invitation stands (and when it is planned), for the clients list."""
        await clients.record_invitation(
            self.pool, client_id=data.client_id, state=data.state, scheduled_at=data.scheduled_at
        )
