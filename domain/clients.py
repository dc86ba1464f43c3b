"""A client after its onboarding: what a firm may change, who may change what, and how it lists."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, EmailStr, Field, field_validator

from domain.exact import ExactBool, ExactDate
from domain.onboarding import Language, StrictModel
from domain.setup import BillingPeriod, Payer, Role
from domain.text import Text


class ClientSort(StrEnum):
    """How GET /v1/clients orders its items; a leading '-' is descending."""

    created_at = "created_at"
    created_at_desc = "-created_at"
    name = "name"
    name_desc = "-name"
    scheduled_at = "scheduled_at"
    scheduled_at_desc = "-scheduled_at"
    status = "status"


# The caller's own user, wherever a partner user's id is asked for.
ME = "me"


def _user_or_me(value: str) -> str:
    if value == ME:
        return value
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError("must be a partner user's id (a UUID) or `me`") from None


UserOrMe = Annotated[
    Text,
    AfterValidator(_user_or_me),
    Field(
        description="A partner user's id, or `me` for the caller",
        examples=[ME],
        # For the OpenAPI document (and the fuzzer's inputs); the validator above is the rule.
        json_schema_extra={"pattern": "^(me|[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12})$"},
    ),
]


def user_of(value: str, *, me: uuid.UUID) -> uuid.UUID:
    """The user a valid `UserOrMe` names, `me` being the caller's `me`."""
    return me if value == ME else uuid.UUID(value)


class ClientPatch(StrictModel):
    """Body of PATCH /v1/clients/{id}: only the fields sent change; null clears a clearable one."""

    first_name: Text | None = Field(default=None, min_length=1, max_length=100)
    last_name: Text | None = Field(default=None, min_length=1, max_length=100)
    email: EmailStr | None = Field(default=None, description="The client's contact address")
    address: Text | None = Field(
        default=None, min_length=1, max_length=500, description="Postal address; null clears it"
    )
    company_name: Text | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The name the firm knows the client by (the registry's record is kept as is)",
    )
    case_manager: Text | None = Field(
        default=None, max_length=100, description="The case-manager tag; null clears it"
    )
    tags: list[Annotated[Text, Field(min_length=1, max_length=50)]] | None = Field(
        default=None, max_length=20
    )
    language: Language | None = None

    @field_validator("first_name", "last_name", "email", "company_name", "tags", "language")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Only runs for values sent (defaults are not validated): an explicit null lands here.
        if value is None:
            raise ValueError("cannot be cleared (send a value, or leave the field out)")
        return value

    @field_validator("tags")
    @classmethod
    def _distinct(cls, value: list[str] | None) -> list[str] | None:
        return list(dict.fromkeys(value)) if value is not None else None

    def changes(self) -> dict[str, object]:
        """The fields sent, by the client row's column names."""
        sent = self.model_dump(mode="json", include=self.model_fields_set)
        if "company_name" in sent:
            sent["name"] = sent.pop("company_name")
        return sent


# What accountants may change (seed 003's roles): the contact and the tags. Administrators and
# client managers change everything.
ACCOUNTANT_FIELDS = frozenset({"first_name", "last_name", "email", "address", "tags"})


def forbidden_fields(role: Role, patch: ClientPatch) -> list[str]:
    """The fields of `patch` that `role` may not change, in the model's field order."""
    if role in (Role.administrator, Role.client_manager):
        return []
    return [
        name
        for name in ClientPatch.model_fields
        if name in patch.model_fields_set and name not in ACCOUNTANT_FIELDS
    ]


class SubscriptionIn(StrictModel):
    """Body of PUT /v1/clients/{id}/subscription: the whole subscription from a date."""

    plan: Text | None = Field(max_length=63, description="A plan of the partner's catalog, or none")
    add_ons: list[Annotated[Text, Field(max_length=63)]] = Field(
        default_factory=list, max_length=50, description="Add-ons of that plan"
    )
    payer: Payer
    billing_period: BillingPeriod
    effective_from: ExactDate | None = Field(default=None, description="Default: today (UTC)")
    pricing_acknowledged: ExactBool = Field(
        default=False,
        description="Required true when payer is `partner`: the firm confirms it pays at the "
        "prices shown (recorded with who and when); otherwise 409",
    )

    @field_validator("add_ons")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


# How far ahead a change may be dated: a later date is surely a typo.
EFFECTIVE_HORIZON_DAYS = 731


class CollaboratorsIn(StrictModel):
    """Body of PUT /v1/clients/{id}/collaborators: exactly the partner users to assign."""

    user_ids: list[uuid.UUID] = Field(max_length=200)

    @field_validator("user_ids")
    @classmethod
    def _distinct(cls, value: list[uuid.UUID]) -> list[uuid.UUID]:
        return list(dict.fromkeys(value))
