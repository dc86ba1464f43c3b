"""`onboarding clients` and `onboarding unmute` as ops run them, reading the session's PostgreSQL
and reaching its Temporal directly: once each through the installed command in a subprocess, the
variations in-process (a subprocess costs seconds of imports on this machine)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from core.settings import Settings
from devstack.smtp_sink import SmtpSink
from domain.onboarding import client_id_for
from store import clients, onboardings
from store.pool import Pool
from tests.cli_helpers import invoke, ops_env, run_onboarding
from tests.eventually import eventually
from tests.factories import Tenant, make_client, make_tenant


@dataclass(frozen=True)
class Firm:
    tenant: Tenant
    ids: dict[str, str]


async def _client(
    pool: Pool, tenant: Tenant, name: str, *, muted: bool, changes: dict[str, Any]
) -> str:
    _, client_id = await make_client(pool, tenant, name=name, muted=muted)
    await clients.update_fields(
        pool, partner_id=tenant.partner.id, client_id=client_id, changes=changes
    )
    return str(client_id)


@pytest.fixture
async def firm(pool: Pool) -> Firm:
    """A partner (named uniquely, to be found by name) with three clients that differ in case
    manager, tags, mute and onboarding status; another partner with a client of the same name."""
    tenant = await make_tenant(pool, name=f"Cabinet Liste {uuid.uuid4().hex[:8]}")
    other = await make_tenant(pool, name=f"Cabinet Autre {uuid.uuid4().hex[:8]}")
    ids = {
        "durand": await _client(
            pool,
            tenant,
            "Boulangerie Durand",
            muted=True,
            changes={"case_manager": "alice", "tags": ["vip", "bakery"]},
        ),
        "martin": await _client(
            pool, tenant, "Garage Martin", muted=False, changes={"case_manager": "bob"}
        ),
        "petit": await _client(
            pool, tenant, "Petit Durand SARL", muted=False, changes={"tags": ["vip"]}
        ),
        "foreign": await _client(
            pool, other, "Boulangerie Durand", muted=True, changes={"case_manager": "alice"}
        ),
    }
    martin = await clients.get(pool, client_id=uuid.UUID(ids["martin"]))
    assert martin is not None
    await onboardings.set_status(pool, onboarding_id=martin.onboarding_id, status="READY")
    return Firm(tenant=tenant, ids=ids)


def _ids(out: str) -> list[str]:
    return [json.loads(line)["id"] for line in out.splitlines()]


async def test_clients_lists_one_partners_clients_by_every_filter(
    settings: Settings, firm: Firm
) -> None:
    """Each filter alone, and together, as the API's list: newest first, never another
    partner's client; the partner named by name in any case or by id."""
    env = ops_env(settings)
    name = firm.tenant.partner.name
    by_id = str(firm.tenant.partner.id)
    ids = firm.ids
    runs = {
        "all": ("--partner", name.upper(), "--json"),
        "manager": ("--partner", by_id, "--case-manager", "alice", "--json"),
        "tag": ("--partner", name, "--tag", "vip", "--json"),
        "muted": ("--partner", name, "--muted", "--json"),
        "not_muted": ("--partner", name, "--not-muted", "--json"),
        "status": ("--partner", name, "--status", "READY", "--json"),
        "search": ("--partner", name, "--search", " durand ", "--json"),
        "both": ("--partner", name, "--search", "durand", "--tag", "vip", "--not-muted", "--json"),
        "limit": ("--partner", name, "--limit", "2"),
        "invitation": ("--partner", name, "--invitation-state", "sent", "--json"),
    }
    ran = {"all": await run_onboarding(env, "clients", *runs.pop("all"))}
    for key, args in runs.items():
        ran[key] = await invoke(env, "clients", *args)
    for key, result in ran.items():
        assert result.code == 0, (key, result.err)
    assert _ids(ran["all"].out) == [ids["petit"], ids["martin"], ids["durand"]]
    assert _ids(ran["manager"].out) == [ids["durand"]]
    assert _ids(ran["tag"].out) == [ids["petit"], ids["durand"]]
    assert _ids(ran["muted"].out) == [ids["durand"]]
    assert _ids(ran["not_muted"].out) == [ids["petit"], ids["martin"]]
    assert _ids(ran["status"].out) == [ids["martin"]]
    assert _ids(ran["search"].out) == [ids["petit"], ids["durand"]]
    assert _ids(ran["both"].out) == [ids["petit"]]
    assert ran["invitation"].out == ""
    durand = json.loads(ran["all"].out.splitlines()[2])
    assert durand | {"created_at": None, "onboarding_id": None} == {
        "id": ids["durand"],
        "name": "Boulangerie Durand",
        "company_name": None,
        "siret": None,
        "status": "setting_up",
        "onboarding_id": None,
        "onboarding_status": "SETTING_UP",
        "case_manager": "alice",
        "tags": ["vip", "bakery"],
        "notifications_muted": True,
        "invitation_state": "pending",
        "invitation_scheduled_at": None,
        "created_at": None,
        "erased": False,
    }
    lines = ran["limit"].out.splitlines()
    assert [line.split()[0] for line in lines[:2]] == [ids["petit"], ids["martin"]]
    assert lines[1].startswith(f"{ids['martin']}  Garage Martin  READY  notifying  ")
    assert lines[2] == "(2 of 3; --limit for more)"


async def test_clients_refuses_an_unknown_partner_or_status_naming_the_option(
    settings: Settings, firm: Firm
) -> None:
    env = ops_env(settings)
    unknown = await invoke(env, "clients", "--partner", f"Nobody {uuid.uuid4().hex}")
    status = await invoke(env, "clients", "--partner", str(firm.tenant.partner.id), "--status", "X")
    assert unknown.code == 2 and "--partner" in unknown.err and "no partner" in unknown.err
    assert status.code == 2 and "--status" in status.err


async def test_unmute_goes_through_the_running_onboarding_and_the_invitation_goes(
    settings: Settings,
    api: httpx.AsyncClient,
    worker: Worker,
    smtp_sink: SmtpSink,
    pool: Pool,
    client: Client,
) -> None:
    """A client kept muted waits; `unmute` switches it through its workflow's update, whose
    rule then sends the immediate invitation."""
    body = {
        "client": {
            "first_name": "Inès",
            "last_name": "Garnier",
            "email": "ines@garnier.example",
            "language": "fr",
            "company_name": "Garnier SAS",
        },
        "fiscal_year": {"start": "2026-01-01"},
        "director": {"email": "ines@garnier.example", "first_name": "Inès", "last_name": "G"},
        "notifications": {"keep_muted": True},
        "invitation": {"mode": "immediate"},
    }
    started = await api.post(
        "/v1/onboardings", json=body, headers={"Idempotency-Key": f"cli-{uuid.uuid4()}"}
    )
    assert started.status_code == 202, started.text
    onboarding_id = started.json()["id"]
    client_id = str(client_id_for(uuid.UUID(onboarding_id)))

    async def status() -> dict[str, Any]:
        answer: dict[str, Any] = (await api.get(f"/v1/onboardings/{onboarding_id}")).json()
        return answer

    view = await eventually(
        status,
        until=lambda v: v["status"] == "WAITING_FOR_UNMUTE",
        what="the onboarding waiting for unmute",
        within=20,
    )
    assert view["status"] == "WAITING_FOR_UNMUTE", view
    assert smtp_sink.handler.messages == []

    ran = await run_onboarding(ops_env(settings), "unmute", client_id, "--json")
    assert ran.code == 0, ran.err
    assert json.loads(ran.out) | {"onboarding_status": None} == {
        "client_id": client_id,
        "enabled": True,
        "applied": True,
        "through": "onboarding",
        "onboarding_status": None,
        "invitation_state": "pending",
    }
    [mail] = await smtp_sink.handler.arrived(1)
    assert mail.rcpt_tos == ["ines@garnier.example"]
    row = await clients.get(pool, client_id=uuid.UUID(client_id))
    assert row is not None and not row.notifications_muted


async def test_unmute_without_a_running_onboarding_changes_the_client_alone(
    settings: Settings, pool: Pool, tenant: Tenant
) -> None:
    """No workflow (over, or past retention): the client row changes, on then --off; an unknown
    client and a malformed id are refused."""
    _, client_id = await make_client(pool, tenant, muted=True)
    env = ops_env(settings)
    on = await invoke(env, "unmute", str(client_id))
    assert on.code == 0, on.err
    assert on.out.startswith(f"client {client_id}: notifications on, through the client; ")
    row = await clients.get(pool, client_id=client_id)
    assert row is not None and not row.notifications_muted

    off = await invoke(env, "unmute", str(client_id), "--off", "--json")
    unknown = await invoke(env, "unmute", str(uuid.uuid4()))
    bad = await invoke(env, "unmute", "not-an-id")
    assert off.code == 0, off.err
    assert (json.loads(off.out)["enabled"], json.loads(off.out)["through"]) == (False, "client")
    row = await clients.get(pool, client_id=client_id)
    assert row is not None and row.notifications_muted
    assert unknown.code == 1 and "No client" in unknown.err
    assert bad.code == 2 and "CLIENT" in bad.err
