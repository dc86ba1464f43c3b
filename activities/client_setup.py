"""The onboarding's client-setup step before its integrations: the firm's collaborators and the
client's subscription, written once however often the activity is retried."""

from __future__ import annotations

import uuid

import asyncpg
from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.error_types import ErrorType
from domain.setup import BillingPeriod, Payer
from store import applied_setup as store
from store.pool import Pool


class AssignInput(BaseModel):
    client_id: uuid.UUID
    user_ids: list[uuid.UUID] = Field(default_factory=list)
    plan: str | None = None
    add_ons: list[str] = Field(default_factory=list)
    payer: Payer
    billing_period: BillingPeriod


class AssignResult(BaseModel):
    collaborators_added: int
    subscription_created: bool
    attempt: int


class ClientSetupActivities:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    @activity.defn
    async def assign_collaborators_and_subscription(self, data: AssignInput) -> AssignResult:
        """Both writes ignore what a previous attempt already wrote, so a retry is harmless."""
        try:
            added = await store.assign_collaborators(
                self.pool, client_id=data.client_id, user_ids=data.user_ids
            )
            created = await store.apply_subscription(
                self.pool,
                client_id=data.client_id,
                plan=data.plan,
                add_ons=data.add_ons,
                payer=data.payer.value,
                billing_period=data.billing_period.value,
            )
        except asyncpg.ForeignKeyViolationError as exc:
            raise ApplicationError(
                f"client {data.client_id} does not exist",
                type=ErrorType.ClientMissing,
                non_retryable=True,
            ) from exc
        activity.logger.info(
            "collaborators and subscription applied",
            extra={"collaborators_added": added, "subscription_created": created},
        )
        return AssignResult(
            collaborators_added=added,
            subscription_created=created,
            attempt=activity.info().attempt,
        )
