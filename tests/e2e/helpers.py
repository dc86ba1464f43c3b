"""What the end-to-end tests share: an accepted onboarding, waiting for a status."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx

ACCEPT = re.compile(r"(/v1/invitations/[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)")


async def wait_status(api: httpx.AsyncClient, onboarding_id: str, *status: str) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for _ in range(300):
        response = await api.get(f"/v1/onboardings/{onboarding_id}")
        assert response.status_code == 200, response.text
        body = response.json()
        if body["status"] in status:
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"onboarding never reached {status}: {body}")
