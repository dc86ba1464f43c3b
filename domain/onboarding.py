"""Onboarding requests, workflow inputs and the status every step reports."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from domain.setup import EffectiveSetup, SetupOverrides

# Stable namespace for ids derived from (partner, idempotency key): a retried POST with the same
# key lands on the same onboarding id, hence the same workflow id.
_ONBOARDING_NS = uuid.UUID("6f1d3c1e-8f0e-4c7a-9a51-3c9a0f2b7d10")
_CLIENT_NS = uuid.UUID("0b9e2d57-2f4c-4f3e-8b8e-5d7e2a1c9f44")


class Language(StrEnum):
    fr = "fr"
    nl = "nl"
    en = "en"
    de = "de"


class OnboardingStatus(StrEnum):
    """Coarse status, mirrored in the OnboardingStatus search attribute and the database."""

    SETTING_UP = "SETTING_UP"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class StepState(StrEnum):
    pending = "pending"
    running = "running"
    completed = "completed"
    failed = "failed"
    skipped = "skipped"


class Step(StrEnum):
    resolve_setup = "resolve_setup"
    create_client = "create_client"
    complete_setup = "complete_setup"
    send_welcome = "send_welcome"


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ClientIn(StrictModel):
    name: str = Field(min_length=1, max_length=200, description="Client company or person name")
    email: EmailStr
    language: Language


class OnboardingCreate(StrictModel):
    """Body of POST /v1/onboardings."""

    client: ClientIn
    template_id: uuid.UUID | None = Field(
        default=None, description="Configuration template; the partner's default if omitted"
    )
    overrides: SetupOverrides = Field(default_factory=SetupOverrides)

    def fingerprint(self) -> str:
        """Hash of the canonical request: the same Idempotency-Key with another body is a 409."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()


def onboarding_id_for(partner_id: uuid.UUID, idempotency_key: str) -> uuid.UUID:
    return uuid.uuid5(_ONBOARDING_NS, f"{partner_id}:{idempotency_key}")


def client_id_for(onboarding_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(_CLIENT_NS, str(onboarding_id))


def workflow_id_for(onboarding_id: uuid.UUID) -> str:
    # Only opaque ids: workflow ids are visible to anyone with access to the namespace.
    return f"onboarding-{onboarding_id}"


class OnboardingInput(BaseModel):
    """Input of OnboardingWorkflow."""

    onboarding_id: uuid.UUID
    partner_id: uuid.UUID
    partner_name: str
    client: ClientIn
    template_id: uuid.UUID | None = None
    # Secret integration settings are masked here: workflow inputs are visible in Temporal's
    # history and UI. The real values stay in the database (onboardings.secrets).
    overrides: SetupOverrides = Field(default_factory=SetupOverrides)


class StepStatus(BaseModel):
    name: Step
    state: StepState = StepState.pending
    attempts: int = 0
    last_error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class OnboardingView(BaseModel):
    """What the `status` query returns, and GET /v1/onboardings/{id}."""

    onboarding_id: uuid.UUID
    status: OnboardingStatus
    client_id: uuid.UUID | None = None
    setup: EffectiveSetup | None = None
    steps: list[StepStatus]
    failure: str | None = None
