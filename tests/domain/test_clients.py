"""What a firm may change on a client after onboarding, and who may change what."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from domain.clients import ClientPatch, SubscriptionIn, forbidden_fields
from domain.setup import Role


def test_patch_changes_only_the_fields_sent_by_column_name() -> None:
    """Left-out fields are not changes; company_name is the client's name column; null clears."""
    patch = ClientPatch.model_validate(
        {"company_name": " Roux ", "address": None, "tags": ["a", "b", "a"], "language": "nl"}
    )
    assert patch.changes() == {
        "name": "Roux",
        "address": None,
        "tags": ["a", "b"],
        "language": "nl",
    }
    assert ClientPatch.model_validate({}).changes() == {}


@pytest.mark.parametrize("field", ["first_name", "last_name", "email", "company_name", "tags"])
def test_patch_refuses_null_where_a_value_is_required(field: str) -> None:
    """Only address and case manager can be cleared."""
    with pytest.raises(ValidationError) as caught:
        ClientPatch.model_validate({field: None})
    assert [e["loc"] for e in caught.value.errors()] == [(field,)]


def test_accountants_may_change_contact_and_tags_only() -> None:
    """Seed 003's roles, field by field; administrators and client managers change all."""
    patch = ClientPatch.model_validate(
        {"email": "a@b.example", "tags": [], "case_manager": "x", "language": "fr"}
    )
    assert forbidden_fields(Role.accountant, patch) == ["case_manager", "language"]
    assert forbidden_fields(Role.client_manager, patch) == []
    assert forbidden_fields(Role.administrator, patch) == []
    contact = ClientPatch.model_validate({"first_name": "A", "address": "Lyon", "tags": ["t"]})
    assert forbidden_fields(Role.accountant, contact) == []


def test_subscription_needs_payer_period_and_plan_key() -> None:
    """A PUT replaces the whole subscription: nothing is silently defaulted but the date."""
    with pytest.raises(ValidationError) as caught:
        SubscriptionIn.model_validate({})
    assert {e["loc"] for e in caught.value.errors()} == {("plan",), ("payer",), ("billing_period",)}
    made = SubscriptionIn.model_validate(
        {"plan": None, "payer": "client", "billing_period": "monthly", "add_ons": []}
    )
    assert made.effective_from is None
