"""Per-API-key rate limits: a token bucket per key and budget, shared by every API process.

Each bucket is a GCRA row in PostgreSQL (store/limits.py), keyed by the API key's id (never the
key itself): a key may make `burst` requests at once, then one every `1 / per_second` seconds,
whichever API process answers. Reading an import's progress has a larger budget of its own, so a
progress bar polling an import does not starve the partner's other calls, and the other way round.

Every answer to an authenticated request carries the draft IETF fields (RateLimit-Limit: the
burst; RateLimit-Remaining: requests that would go through right now; RateLimit-Reset: seconds
until the bucket is full again); a refusal is a 429 problem with Retry-After. Routes that build
their own Response (file downloads) answer without them on success.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass

from fastapi import Request, Response

from api.problems import ProblemError
from core.settings import Settings
from store import limits
from store.pool import Pool

IMPORTS_PATH = "/v1/imports"


@dataclass(frozen=True)
class Budget:
    name: str
    per_second: float
    burst: int

    @classmethod
    def from_settings(cls, settings: Settings, *, import_reads: bool) -> Budget:
        """The import-progress reads' own budget, or the default one every other call spends."""
        if import_reads:
            return cls(
                "import-reads",
                settings.api_rate_limit_import_reads_per_second,
                settings.api_rate_limit_import_reads_burst,
            )
        return cls("default", settings.api_rate_limit_per_second, settings.api_rate_limit_burst)

    @property
    def interval(self) -> float:
        return 1.0 / self.per_second

    @property
    def tolerance(self) -> float:
        """GCRA's burst tolerance: `burst` requests at once, the first one included."""
        return (self.burst - 1) * self.interval


def budget_for(settings: Settings, request: Request) -> Budget:
    """The budget a request draws on: import reads (progress polling) or everything else."""
    path = request.url.path
    if request.method in ("GET", "HEAD") and (
        path == IMPORTS_PATH or path.startswith(IMPORTS_PATH + "/")
    ):
        return Budget.from_settings(settings, import_reads=True)
    return Budget.from_settings(settings, import_reads=False)


def limiter_key(key_id: uuid.UUID, budget: Budget) -> str:
    return f"api-key:{key_id}:{budget.name}"


def headers(budget: Budget, slot: limits.Slot) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(budget.burst),
        "RateLimit-Remaining": str(slot.remaining),
        "RateLimit-Reset": str(math.ceil(slot.reset_in)),
    }


async def enforce(
    pool: Pool, settings: Settings, *, key_id: uuid.UUID, request: Request, response: Response
) -> None:
    """Count this request against its key's budget: 429 past it, RateLimit-* fields either way."""
    budget = budget_for(settings, request)
    slot = await limits.take(
        pool,
        key=limiter_key(key_id, budget),
        interval=budget.interval,
        tolerance=budget.tolerance,
    )
    fields = headers(budget, slot)
    if not slot.granted:
        # Whole seconds (RFC 9110), rounded up: asking at the time said is never refused again
        # for this request's sake.
        retry_after = max(1, math.ceil(slot.retry_in))
        raise ProblemError(
            429,
            "rate-limited",
            "Too many requests",
            f"This API key may make {budget.burst} requests at once, then "
            f"{budget.per_second:g} a second; ask again in {retry_after} s.",
            headers={**fields, "Retry-After": str(retry_after)},
        )
    response.headers.update(fields)
