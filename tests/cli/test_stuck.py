"""`onboarding stuck` as ops run it: the real command, in a subprocess, reading the session's
PostgreSQL directly (every partner, or one by id or name)."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass

import pytest
from typer.testing import CliRunner

from cli.main import app
from core.settings import Settings
from store import clients, onboardings
from store.pool import Pool
from tests.cli_helpers import ops_env, run_onboarding
from tests.factories import Tenant, make_client, make_tenant


async def _aged(
    pool: Pool, tenant: Tenant, status: str, hours: int, *, invitation: str | None = None
) -> str:
    onboarding_id, client_id = await make_client(pool, tenant)
    if invitation is not None:
        await clients.record_invitation(
            pool, client_id=client_id, state=invitation, scheduled_at=None
        )
    await onboardings.set_status(pool, onboarding_id=onboarding_id, status=status)
    await pool.execute(
        "UPDATE onboardings SET status_since = now() - make_interval(hours => $2) WHERE id = $1",
        onboarding_id,
        hours,
    )
    return str(onboarding_id)


@dataclass(frozen=True)
class Aged:
    partner: Tenant
    other: Tenant
    ids: dict[str, str]


@pytest.fixture
async def aged(pool: Pool) -> Aged:
    """A partner (named uniquely, to be found by name) with onboardings stuck 3 days and 1 hour,
    one completed long ago and a READY one waiting for a manual send-now; another partner with
    one stuck 5 days."""
    partner = await make_tenant(pool, name=f"Cabinet Lent {uuid.uuid4().hex[:8]}")
    other = await make_tenant(pool, name=f"Cabinet Voisin {uuid.uuid4().hex[:8]}")
    ids = {
        "ready": await _aged(pool, partner, "READY", 80, invitation="waiting_manual"),
        "old": await _aged(pool, partner, "NEEDS_ATTENTION", 72),
        "new": await _aged(pool, partner, "NEEDS_ATTENTION", 1),
        "done": await _aged(pool, partner, "COMPLETED", 500),
        "other": await _aged(pool, other, "AWAITING_COMPANY_DETAILS", 120),
    }
    return Aged(partner=partner, other=other, ids=ids)


async def test_stuck_lists_old_statuses_of_every_partner_or_of_one(
    settings: Settings, aged: Aged
) -> None:
    """--older-than 2d: the 5-day, 80-hour and 3-day ones (any partner), oldest first, each with
    its partner and what it waits for; not the 1-hour one, not the completed one. --partner by
    name (any case) with 30m keeps that partner's three, the 1-hour one included."""
    env = ops_env(settings)
    everyone, one = await asyncio.gather(
        run_onboarding(env, "stuck", "--older-than", "2d", "--json"),
        run_onboarding(
            env, "stuck", "--older-than", "30m", "--partner", aged.partner.partner.name.upper()
        ),
    )
    assert everyone.code == 0, everyone.err
    rows = [json.loads(line) for line in everyone.out.splitlines()]
    ids = [row["id"] for row in rows]
    found = aged.ids
    assert found["new"] not in ids and found["done"] not in ids
    assert ids.index(found["other"]) < ids.index(found["ready"]) < ids.index(found["old"])
    by_id = {row["id"]: row for row in rows}
    assert by_id[found["other"]]["partner"] == aged.other.partner.name
    assert by_id[found["other"]]["status"] == "AWAITING_COMPANY_DETAILS"
    assert by_id[found["old"]]["waiting_for"] == "a person to fix the cause, then resume"
    ready = by_id[found["ready"]]
    assert ready["waiting_for"] == "someone to send the invitation (send-invitation)"
    assert ready["since"] < by_id[found["old"]]["since"]

    assert one.code == 0, one.err
    lines = one.out.splitlines()
    assert [line.split()[0] for line in lines] == [found["ready"], found["old"], found["new"]]
    assert f"{aged.partner.partner.name}  NEEDS_ATTENTION  since " in lines[1]
    assert lines[1].endswith("-> a person to fix the cause, then resume")


def test_a_bad_threshold_is_refused_naming_the_option() -> None:
    """Refused before anything is read (in-process: no settings, no database touched)."""
    ran = CliRunner().invoke(app, ["stuck", "--older-than", "two days"])
    assert ran.exit_code == 2
    assert "--older-than" in ran.output and "2d, 36h" in ran.output
