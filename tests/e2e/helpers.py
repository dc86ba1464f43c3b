"""What the end-to-end tests share: an accepted onboarding, waiting for a status."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.eventually import eventually

ACCEPT = re.compile(r"(/v1/invitations/[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)")


async def wait_status(api: httpx.AsyncClient, onboarding_id: str, *status: str) -> dict[str, Any]:

    async def view() -> dict[str, Any]:
        response = await api.get(f"/v1/onboardings/{onboarding_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    return await eventually(
        view,
        until=lambda body: body["status"] in status,
        what=f"the onboarding {status}",
        within=30,
        every=0.1,
    )
