"""VIES, the EU's VAT number check: is this VAT number active? (REST: POST /check-vat-number)

Its own activity, retried on VIES's temporary refusals (a member state's service down, too many
concurrent requests, a timeout) and paced fleet-wide through PostgreSQL (store/limits.py), since
VIES refuses bursts. The workflow records what it learns (valid, invalid) and goes on without it
when VIES stays unavailable (unchecked, with the reason): the VAT check never fails an onboarding.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from core.settings import Settings
from domain.error_types import ErrorType
from store import limits
from store.pool import Pool

LIMIT_KEY = "vies"
# How far ahead a check may reserve its fleet slot before it is told to come back later.
_HORIZON = 5.0
# VIES's own words for "try again later" (its errorWrappers[].error); anything else is final.
TEMPORARY = frozenset(
    {
        "MS_UNAVAILABLE",
        "SERVICE_UNAVAILABLE",
        "TIMEOUT",
        "MS_MAX_CONCURRENT_REQ",
        "GLOBAL_MAX_CONCURRENT_REQ",
    }
)


class CheckVatInput(BaseModel):
    country_code: str  # BE
    vat_number: str  # digits, no country prefix


class CheckVatResult(BaseModel):
    valid: bool
    name: str | None = None
    checked_at: datetime
    attempt: int


@dataclass(frozen=True)
class ViesConfig:
    base_url: str
    rate: float  # checks a second, fleet-wide
    timeout: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> ViesConfig:
        return cls(
            base_url=settings.vies_base_url,
            rate=settings.vies_rate_limit,
            timeout=settings.vies_timeout_seconds,
        )


class ViesActivities:
    def __init__(
        self, pool: Pool, config: ViesConfig, *, http: httpx.AsyncClient | None = None
    ) -> None:
        self.pool = pool
        self.base_url = config.base_url.rstrip("/")
        self.interval = 1.0 / config.rate
        self.http = http or httpx.AsyncClient(timeout=config.timeout)

    @activity.defn
    async def check_vat(self, data: CheckVatInput) -> CheckVatResult:
        """Ask VIES once; a temporary refusal is a retryable error (Temporal retries it)."""
        slot = await limits.take(
            self.pool, key=LIMIT_KEY, interval=self.interval, tolerance=_HORIZON
        )
        if not slot.granted:
            raise ApplicationError(
                "VIES pacing: no slot free yet",
                type=ErrorType.ViesBusy,
                next_retry_delay=timedelta(seconds=slot.retry_in + 0.1),
            )
        if slot.starts_in:
            await asyncio.sleep(slot.starts_in)
        try:
            response = await self.http.post(
                f"{self.base_url}/check-vat-number",
                json={"countryCode": data.country_code, "vatNumber": data.vat_number},
            )
        except httpx.HTTPError as exc:
            raise ApplicationError(
                f"VIES unreachable: {type(exc).__name__}", type=ErrorType.ViesUnavailable
            ) from None
        body = _json(response)
        errors = [
            str(e.get("error")) for e in body.get("errorWrappers") or [] if isinstance(e, dict)
        ]
        if response.status_code >= 500 or any(e in TEMPORARY for e in errors):
            raise ApplicationError(
                f"VIES unavailable: {', '.join(errors) or f'HTTP {response.status_code}'}",
                type=ErrorType.ViesUnavailable,
            )
        if errors or response.status_code >= 400 or not isinstance(body.get("valid"), bool):
            raise ApplicationError(
                f"VIES refused the request: {', '.join(errors) or f'HTTP {response.status_code}'}",
                type=ErrorType.ViesRejected,
                non_retryable=True,
            )
        name = body.get("name")
        return CheckVatResult(
            valid=body["valid"],
            name=name if isinstance(name, str) and name.strip() not in ("", "---") else None,
            checked_at=datetime.now(UTC),
            attempt=activity.info().attempt,
        )


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
