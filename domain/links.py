"""Links the service puts in its e-mails, built in one place so the console serves them."""

from __future__ import annotations

import uuid

# The console's page for one onboarding: the client's page once the client exists (api/console).
CONSOLE_ONBOARDING_PATH = "/console/onboardings/{onboarding_id}"


def client_page_url(public_base_url: str, onboarding_id: uuid.UUID) -> str:
    """Where staff e-mails send the firm's user: the client's page in the console (sign-in first
    when needed, then back there)."""
    path = CONSOLE_ONBOARDING_PATH.format(onboarding_id=onboarding_id)
    return f"{public_base_url.rstrip('/')}{path}"
