"""A client's integrations after onboarding: the requests (add, reconfigure, remove) and the
models of the workflow that runs each change once (workflows/integrations.py). Pure."""

from __future__ import annotations

import uuid
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from domain.setup import EffectiveIntegration
from domain.text import JsonObject, Text

__all__ = [
    "ChangeState",
    "IntegrationAction",
    "IntegrationAdd",
    "IntegrationChangeInput",
    "IntegrationChangeView",
    "IntegrationReconfigure",
    "workflow_id_for",
]


class IntegrationAdd(BaseModel):
    """An app of the firm's catalogue to connect the client to."""

    model_config = ConfigDict(extra="forbid")

    code: Text = Field(min_length=1, max_length=63, description="The app's catalogue code")
    settings: JsonObject = Field(
        default_factory=dict, description="The app's settings (secret ones are never answered)"
    )


class IntegrationReconfigure(BaseModel):
    """New settings for a connected app; a secret given as the mask (or left out) is kept."""

    model_config = ConfigDict(extra="forbid")

    settings: JsonObject = Field(default_factory=dict)


class IntegrationAction(StrEnum):
    add = "add"
    reconfigure = "reconfigure"
    remove = "remove"


class ChangeState(StrEnum):
    running = "running"
    done = "done"
    failed = "failed"


class IntegrationChangeInput(BaseModel):
    """Input of IntegrationChangeWorkflow: everything fixed when the firm asked."""

    change_id: uuid.UUID
    client_id: uuid.UUID
    partner_id: uuid.UUID
    # The connect activity's input names the client's onboarding (its secrets' first home).
    onboarding_id: uuid.UUID
    action: IntegrationAction
    # Secret settings hold the mask here: this input is stored in workflow history.
    integration: EffectiveIntegration


class IntegrationChangeView(BaseModel):
    """What the workflow's `status` query and its result say."""

    change_id: uuid.UUID
    code: str
    action: IntegrationAction
    state: ChangeState
    error: str | None = Field(default=None, description="Why it failed, in our words")


def workflow_id_for(client_id: uuid.UUID, code: str, change_id: uuid.UUID) -> str:
    """One workflow per change: ids and the app's catalogue code, no personal data (workflow
    ids are stored in clear)."""
    return f"integration-{client_id}-{code}-{change_id}"
