"""A partner's client as the routes that change it after onboarding find it: below the routers,
so that each of them shares it without importing another."""

from __future__ import annotations

import uuid

from api.problems import ProblemError
from store import clients
from store.pool import Pool


def client_not_found(client_id: uuid.UUID) -> ProblemError:
    return ProblemError(404, "not-found", "Not found", f"No client {client_id}")


async def ready_client(
    pool: Pool, partner_id: uuid.UUID, client_id: uuid.UUID
) -> clients.ClientRow:
    """The partner's client, once its setup is complete (409 before: the onboarding is still
    applying its own setup, collaborators, subscription and folders included, and would apply
    it over a change made meanwhile)."""
    row = await clients.get_for_partner(pool, partner_id=partner_id, client_id=client_id)
    if row is None:
        raise client_not_found(client_id)
    if row.status != "ready":
        raise ProblemError(
            409,
            "client-setting-up",
            "Client still setting up",
            "The client's onboarding has not completed its setup yet; change it once the "
            "onboarding is READY.",
        )
    return row
