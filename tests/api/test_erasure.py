"""DELETE /v1/clients/{id}/personal-data: the right to erasure, after a real onboarding (API,
workers, registry stand-in, SMTP), checked table by table in PostgreSQL."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import httpx
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import Worker

from devstack.registry_standin import RegistryStandin
from devstack.smtp_sink import SmtpSink
from domain.setup import Role
from store import imports, partners
from store.erasure import MARKER
from store.pool import Pool
from tests.e2e.helpers import ACCEPT, wait_status
from tests.eventually import eventually
from tests.factories import Tenant, make_client, make_tenant


def national_number() -> str:
    """A valid Belgian national number of this test's own (born 1972: 97 - first nine mod 97)."""
    first9 = f"720315{secrets.randbelow(997) + 1:03d}"
    return f"{first9}{97 - int(first9) % 97:02d}"


async def onboard(api: httpx.AsyncClient, smtp: SmtpSink, people: dict[str, str]) -> dict[str, Any]:
    """A client with a national number and a director other than the contact, its invitation
    sent (not accepted, so the onboarding still runs); returns the status."""
    body = {
        "client": {
            "first_name": people["first"],
            "last_name": people["last"],
            "email": people["email"],
            "language": "fr",
            "company_name": people["company"],
            "address": people["address"],
            "siret": "552 032 534 00646",
            "national_number": people["national"],
            "tags": [people["tag"]],
            "case_manager": "Julie",
        },
        "director": {
            "email": people["director"],
            "first_name": people["first"],
            "last_name": people["last"],
        },
        "fiscal_year": {"start": "2026-01-01"},
    }
    response = await api.post(
        "/v1/onboardings", json=body, headers={"Idempotency-Key": f"erase-{uuid.uuid4()}"}
    )
    assert response.status_code == 202, response.text
    onboarding_id = response.json()["id"]
    status = await wait_status(api, onboarding_id, "READY", "FAILED")
    assert status["status"] == "READY", status
    [mail] = [m for m in await smtp.handler.arrived(1) if people["director"] in m.rcpt_tos]
    text = mail.message.get_body(preferencelist=("plain",))
    assert text is not None
    link = ACCEPT.search(text.get_content())
    assert link
    # The sink has the mail before the activity marks it sent: wait for the mark too.

    async def view() -> dict[str, Any]:
        answer: dict[str, Any] = (await api.get(f"/v1/onboardings/{onboarding_id}")).json()
        return answer

    await eventually(
        view, until=lambda v: v["invitation"]["state"] == "sent", what="the invitation sent"
    )
    return {
        **status,
        "request": body,
        "workflow_id": response.json()["workflow_id"],
        "accept": link.group(1),
    }


async def tables_holding(pool: Pool, needles: list[str]) -> dict[str, int]:
    """Rows, per table of the schema, whose text holds any of the needles: every table, so a
    table added tomorrow is searched too."""
    names = await pool.fetch(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
    )
    patterns = [f"%{n}%" for n in needles]
    found: dict[str, int] = {}
    for record in names:
        table = record["table_name"]
        count = await pool.fetchval(
            f'SELECT count(*) FROM "{table}" t WHERE t::text ILIKE ANY($1::text[])', patterns
        )
        if count:
            found[table] = count
    return found


async def test_erasure_scrubs_every_table_stops_the_onboarding_and_is_idempotent(
    api: httpx.AsyncClient,
    worker: Worker,
    smtp_sink: SmtpSink,
    registry: RegistryStandin,
    pool: Pool,
    client: Client,
    tenant: Tenant,
) -> None:
    """After a real onboarding, the erasure cancels its workflow, leaves no personal value in
    any table (ids, SIRET and the audit stay), and a second call changes nothing."""
    tag = uuid.uuid4().hex[:10]
    people = {
        "first": f"Erasme{tag}",
        "last": f"Vanderplancke{tag}",
        "email": f"erasme.{tag}@client.example",
        "director": f"direction.{tag}@client.example",
        "company": f"Cabinet Erasme {tag}",
        "address": f"12 rue des Tanneurs {tag}",
        "national": national_number(),
        "tag": f"vip-{tag}",
    }
    status = await onboard(api, smtp_sink, people)
    onboarding_id, client_id = uuid.UUID(status["onboarding_id"]), status["client_id"]
    # What the API keeps of an integration's secret settings, and a bulk import's row that
    # started this onboarding: both hold the client's data too.
    await pool.execute(
        "UPDATE onboardings SET secrets = $2 WHERE id = $1",
        onboarding_id,
        {"portal": {"api_key": f"secret-{tag}"}},
    )
    import_id = uuid.uuid4()
    await imports.create(
        pool,
        import_id=import_id,
        partner_id=tenant.partner.id,
        idempotency_key=f"import-{tag}",
        request_hash="h",
        workflow_id=f"import-{import_id}",
        filename="clients.xlsx",
        created_by=tenant.admin.id,
        rows=[(2, "55203253400646", status["request"], [])],
    )
    await imports.link_row(
        pool, import_id=import_id, row=2, onboarding_id=onboarding_id, skipped=None
    )
    needles = [*people.values(), f"secret-{tag}"]
    before = await tables_holding(pool, needles)
    held = {"clients", "client_users", "invitations", "email_log", "onboardings", "import_rows"}
    assert set(before) == held, before

    erased = await api.delete(f"/v1/clients/{client_id}/personal-data")
    assert erased.status_code == 200, erased.text
    record = erased.json()
    assert record["onboarding"] == "cancelled"
    assert record["requested_by"] == str(tenant.admin.id)
    # The registry's record kept for the client is scrubbed as the client's company record is
    # (a sole trader's name and address are a person's), whoever the company is.
    assert {t for t, n in record["tables"].items() if n} == held | {"client_company_lookups"}

    assert await tables_holding(pool, needles) == {}, "personal data left after erasure"
    row = await pool.fetchrow("SELECT * FROM clients WHERE id = $1", uuid.UUID(client_id))
    assert row is not None
    assert (row["first_name"], row["email"], row["national_number"]) == (MARKER,) * 3
    assert row["siret"] == "55203253400646" and row["company"]["siren"] == "552032534"
    assert row["company"]["name"] == MARKER and row["notifications_muted"]
    assert row["onboarding_id"] == onboarding_id and row["case_manager"] == "Julie"
    sent = await pool.fetch(
        "SELECT purpose, status, recipient FROM email_log WHERE onboarding_id = $1", onboarding_id
    )
    assert sent and all(r["recipient"] == MARKER for r in sent)
    assert {(r["purpose"], r["status"]) for r in sent} >= {("invitation", "sent")}

    # The onboarding was stopped: its workflow is cancelled and its link no longer works.
    handle = client.get_workflow_handle(status["workflow_id"])

    async def cancelled() -> bool:
        return (await handle.describe()).status == WorkflowExecutionStatus.CANCELED

    await eventually(cancelled, what="the onboarding's workflow cancelled", within=10, every=0.1)
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    assert (await api.post(f"{status['accept']}/accept")).status_code != 200

    again = await api.delete(f"/v1/clients/{client_id}/personal-data")
    assert again.status_code == 200, again.text
    assert again.json() == record
    count = await pool.fetchval(
        "SELECT count(*) FROM erasures WHERE client_id = $1", uuid.UUID(client_id)
    )
    assert count == 1
    after = await pool.fetchrow("SELECT * FROM clients WHERE id = $1", uuid.UUID(client_id))
    assert after is not None and dict(after) | {"updated_at": None} == dict(row) | {
        "updated_at": None
    }


async def test_erasure_is_for_administrators_of_the_clients_partner(
    api_server: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """An accountant gets 403; another partner's administrator gets 404 and erases nothing."""
    _, client_id = await make_client(pool, tenant, email="kept@client.example")
    accountant = await partners.create_user(
        pool,
        partner_id=tenant.partner.id,
        email=f"acc-{uuid.uuid4().hex[:6]}@cabinet.example",
        name="Acc",
        role=Role.accountant,
    )
    assert accountant is not None
    _, key = await partners.create_key(
        pool, partner_id=tenant.partner.id, user_id=accountant.id, name="k"
    )
    url = f"/v1/clients/{client_id}/personal-data"
    refused = await api_server.delete(url, headers={"Authorization": f"Bearer {key}"})
    assert refused.status_code == 403, refused.text
    other = await make_tenant(pool, "Autre cabinet")
    hidden = await api_server.delete(url, headers=other.auth)
    assert hidden.status_code == 404, hidden.text
    assert hidden.json()["type"].endswith("/not-found")
    email = await pool.fetchval("SELECT email FROM clients WHERE id = $1", client_id)
    assert email == "kept@client.example"
    assert await pool.fetchval("SELECT count(*) FROM erasures WHERE client_id = $1", client_id) == 0
