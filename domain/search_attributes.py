"""Search attributes ops filter on in the Temporal UI. Opaque values only, no personal data.

In domain/ because every side names them: the workflows that set them, the one client factory
and the namespace check (core/), the activities and application functions that start workflows
with them. Declarations only (`SearchAttributeKey` is a typed name), no I/O.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

ONBOARDING_STATUS = SearchAttributeKey.for_keyword("OnboardingStatus")
PARTNER_ID = SearchAttributeKey.for_keyword("PartnerId")
INVITATION_MODE = SearchAttributeKey.for_keyword("InvitationMode")
INVITATION_SCHEDULED_AT = SearchAttributeKey.for_datetime("InvitationScheduledAt")
# When OnboardingStatus last changed: with it the UI lists the onboardings stuck in a status
# (`OnboardingStatus = 'NEEDS_ATTENTION' AND StatusSince < "..."`), as the stuck list does.
STATUS_SINCE = SearchAttributeKey.for_datetime("StatusSince")

# Name -> type as `temporal operator search-attribute create` and `start-dev` spell it.
REGISTRY: dict[str, str] = {
    ONBOARDING_STATUS.name: "Keyword",
    PARTNER_ID.name: "Keyword",
    INVITATION_MODE.name: "Keyword",
    INVITATION_SCHEDULED_AT.name: "Datetime",
    STATUS_SINCE.name: "Datetime",
}

ALL_KEYS = (
    ONBOARDING_STATUS,
    PARTNER_ID,
    INVITATION_MODE,
    INVITATION_SCHEDULED_AT,
    STATUS_SINCE,
)


def cli_flags() -> list[str]:
    """`--search-attribute Name=Type` flags for `temporal server start-dev`."""
    flags: list[str] = []
    for name, kind in REGISTRY.items():
        flags += ["--search-attribute", f"{name}={kind}"]
    return flags
