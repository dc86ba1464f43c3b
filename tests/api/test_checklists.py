"""Checklists through the API, against real PostgreSQL: the catalog (roles, tenants, validation),
the setup naming one, the director answering with the invitation token, the firm following
progress, and completion recorded once with its webhook event."""

from __future__ import annotations

import asyncio
import base64
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from temporalio.worker import Worker

from core.settings import Settings
from devstack.smtp_sink import SmtpSink
from domain.checklists import MAX_DOCUMENT_BYTES, StoredAnswer
from domain.invitation import TokenClaims, sign_token, token_hash
from domain.onboarding import client_id_for
from store import checklists, invitations, webhooks
from store.pool import Pool
from tests.factories import Tenant, make_client, make_tenant

CHECKLIST: dict[str, Any] = {
    "name": "Bilan annuel",
    "language": "fr",
    "items": [
        {"key": "activity", "kind": "question", "label": "Votre activité principale ?"},
        {"key": "bank", "kind": "document", "label": "Relevés bancaires de décembre"},
        {"key": "notes", "kind": "question", "label": "Remarques", "required": False},
    ],
}
PDF = base64.b64encode(b"%PDF-1.4 relev\xe9s").decode()


async def _accountant(api: httpx.AsyncClient) -> dict[str, str]:
    user = await api.post(
        "/v1/users",
        json={"email": f"acc-{uuid.uuid4().hex[:6]}@ex.com", "name": "A", "role": "accountant"},
    )
    key = await api.post(f"/v1/users/{user.json()['id']}/api-keys", json={"name": "k"})
    return {"Authorization": f"Bearer {key.json()['key']}"}


def _fields(response: httpx.Response) -> set[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return {e["field"] for e in response.json()["errors"]}


# ---- the catalog --------------------------------------------------------------------------------


async def test_checklist_catalog_create_read_list_replace_delete(api: httpx.AsyncClient) -> None:
    """A checklist is created with an id, read, listed, replaced whole, and deleted."""
    made = await api.post("/v1/checklists", json=CHECKLIST)
    assert made.status_code == 201, made.text
    checklist_id = made.json()["id"]
    assert [i["key"] for i in made.json()["items"]] == ["activity", "bank", "notes"]
    assert made.json()["items"][0]["required"] is True

    assert (await api.get(f"/v1/checklists/{checklist_id}")).json() == made.json()
    listing = (await api.get("/v1/checklists")).json()
    assert listing["total"] == 1 and listing["items"][0]["id"] == checklist_id

    changed = {**CHECKLIST, "name": "Bilan 2026", "items": CHECKLIST["items"][:1]}
    replaced = await api.put(f"/v1/checklists/{checklist_id}", json=changed)
    assert replaced.status_code == 200
    assert (await api.get(f"/v1/checklists/{checklist_id}")).json()["name"] == "Bilan 2026"

    assert (await api.delete(f"/v1/checklists/{checklist_id}")).status_code == 204
    gone = await api.get(f"/v1/checklists/{checklist_id}")
    assert gone.status_code == 404 and gone.json()["type"].endswith("/not-found")
    assert (await api.delete(f"/v1/checklists/{checklist_id}")).status_code == 404


async def test_checklist_catalog_accountant_reads_but_cannot_write(api: httpx.AsyncClient) -> None:
    """Accountants read the catalog; creating, replacing and deleting are for configurers."""
    checklist_id = (await api.post("/v1/checklists", json=CHECKLIST)).json()["id"]
    accountant = await _accountant(api)
    assert (await api.get(f"/v1/checklists/{checklist_id}", headers=accountant)).status_code == 200
    for method, path in (
        ("POST", "/v1/checklists"),
        ("PUT", f"/v1/checklists/{checklist_id}"),
        ("DELETE", f"/v1/checklists/{checklist_id}"),
    ):
        response = await api.request(method, path, json=CHECKLIST, headers=accountant)
        assert response.status_code == 403, (method, response.text)
        assert response.json()["type"].endswith("/forbidden")
    assert (await api.get(f"/v1/checklists/{checklist_id}")).json()["name"] == CHECKLIST["name"]


async def test_checklist_of_another_partner_is_404_and_unlisted(
    api: httpx.AsyncClient, pool: Pool
) -> None:
    """Partner B can neither see, change nor delete partner A's checklist, nor name it."""
    checklist_id = (await api.post("/v1/checklists", json=CHECKLIST)).json()["id"]
    other = await make_tenant(pool, "Other firm")
    for method in ("GET", "PUT", "DELETE"):
        response = await api.request(
            method, f"/v1/checklists/{checklist_id}", json=CHECKLIST, headers=other.auth
        )
        assert response.status_code == 404, (method, response.text)
    assert (await api.get("/v1/checklists", headers=other.auth)).json()["items"] == []
    named = await api.post(
        "/v1/templates", json={"name": "Stolen", "checklist_id": checklist_id}, headers=other.auth
    )
    assert _fields(named) == {"template.checklist_id"}
    assert (await api.get(f"/v1/checklists/{checklist_id}")).json()["name"] == CHECKLIST["name"]


async def test_checklist_validation_names_each_field(api: httpx.AsyncClient) -> None:
    """Duplicate keys, a bad key, an unknown kind, NUL in a label, no items: 422 by field."""
    items = CHECKLIST["items"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({**CHECKLIST, "items": [items[0], items[0]]}, "items"),
        ({**CHECKLIST, "items": [{**items[0], "key": "Not A Key"}]}, "items.0.key"),
        ({**CHECKLIST, "items": [{**items[0], "kind": "video"}]}, "items.0.kind"),
        ({**CHECKLIST, "items": [{**items[0], "label": "a\u0000b"}]}, "items.0.label"),
        ({**CHECKLIST, "items": []}, "items"),
        ({**CHECKLIST, "language": "xx"}, "language"),
        ({**CHECKLIST, "extra": 1}, "extra"),
    ]
    for body, field in cases:
        assert field in _fields(await api.post("/v1/checklists", json=body)), body
    assert (await api.get("/v1/checklists")).json()["total"] == 0


# ---- the setup names it -------------------------------------------------------------------------


async def test_template_checklist_and_request_override_resolve(api: httpx.AsyncClient) -> None:
    """A template's checklist is the setup's; a request's overrides it; unknown ids are 422."""
    first = (await api.post("/v1/checklists", json=CHECKLIST)).json()["id"]
    second = (await api.post("/v1/checklists", json={**CHECKLIST, "name": "Autre"})).json()["id"]
    template = await api.post("/v1/templates", json={"name": "With list", "checklist_id": first})
    assert template.status_code == 201 and template.json()["checklist_id"] == first
    template_id = template.json()["id"]

    preview = await api.post("/v1/setup-previews", json={"template_id": template_id})
    assert preview.json()["setup"]["checklist_id"] == first
    overridden = await api.post(
        "/v1/setup-previews",
        json={"template_id": template_id, "overrides": {"checklist_id": second}},
    )
    assert overridden.json()["setup"]["checklist_id"] == second
    unknown = await api.post(
        "/v1/setup-previews",
        json={"template_id": template_id, "overrides": {"checklist_id": str(uuid.uuid4())}},
    )
    assert _fields(unknown) == {"overrides.checklist_id"}


# ---- the director answers, the firm follows -----------------------------------------------------


@dataclass
class Invited:
    tenant: Tenant
    client_id: uuid.UUID
    onboarding_id: uuid.UUID
    token: str

    @property
    def path(self) -> str:
        return f"/v1/invitations/{self.token}/checklist"


async def _invite(
    pool: Pool,
    settings: Settings,
    tenant: Tenant,
    onboarding_id: uuid.UUID,
    *,
    sequence: int = 1,
    expires_in: timedelta = timedelta(days=14),
) -> str:
    """A token as the invitation e-mail carries it, recorded as send_invitation records it."""
    expires_at = (datetime.now(UTC) + expires_in).replace(microsecond=0)
    token = sign_token(
        TokenClaims(onboarding_id=onboarding_id, sequence=sequence, expires_at=expires_at),
        settings.secret_key.get_secret_value(),
    )
    await invitations.record(
        pool,
        onboarding_id=onboarding_id,
        sequence=sequence,
        token_hash=token_hash(token),
        recipient="director@example.com",
        expires_at=expires_at,
    )
    return token


async def _invited(
    api: httpx.AsyncClient, pool: Pool, settings: Settings, tenant: Tenant
) -> Invited:
    """A client with the checklist assigned (as at setup end) and an open invitation."""
    checklist_id = uuid.UUID((await api.post("/v1/checklists", json=CHECKLIST)).json()["id"])
    onboarding_id, client_id = await make_client(pool, tenant, muted=False)
    assigned = await checklists.assign(
        pool, partner_id=tenant.partner.id, client_id=client_id, checklist_id=checklist_id
    )
    assert assigned is not None
    token = await _invite(pool, settings, tenant, onboarding_id)
    return Invited(tenant, client_id, onboarding_id, token)


async def _listen(pool: Pool, tenant: Tenant, made: list[webhooks.EndpointRow]) -> None:
    made.append(
        await webhooks.create_endpoint(
            pool,
            partner_id=tenant.partner.id,
            url="https://hooks.example/checklists",
            event_types=[checklists.COMPLETED_EVENT],
            secret="whsec_" + base64.b64encode(b"k" * 24).decode(),
            created_by=tenant.admin.id,
        )
    )


async def _events(pool: Pool, tenant: Tenant) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT payload FROM webhook_deliveries WHERE partner_id = $1 AND event_type = $2",
        tenant.partner.id,
        checklists.COMPLETED_EVENT,
    )
    return [r["payload"] for r in rows]


async def test_director_answers_by_token_and_firm_sees_progress(
    api: httpx.AsyncClient,
    pool: Pool,
    settings: Settings,
    tenant: Tenant,
    endpoints_made: list[webhooks.EndpointRow],
) -> None:
    """The director reads and answers with the token alone; the firm sees answered and missing
    items; every required item answered records completion once, with one webhook event."""
    invited = await _invited(api, pool, settings, tenant)
    await _listen(pool, tenant, endpoints_made)
    firm = dict(api.headers)
    api.headers.pop("Authorization")  # the token is the director's only credential

    opened = await api.get(invited.path)
    assert opened.status_code == 200, opened.text
    assert opened.json()["missing_required"] == ["activity", "bank"]
    assert opened.json()["answered"] == [] and opened.json()["completed_at"] is None

    partial = await api.put(invited.path, json={"answers": {"activity": "  Boulangerie  "}})
    assert partial.status_code == 200, partial.text
    assert partial.json()["answered"] == ["activity"]
    assert partial.json()["missing_required"] == ["bank"]
    assert partial.json()["items"][0]["answer"]["text"] == "Boulangerie"

    progress = await api.get(f"/v1/clients/{invited.client_id}/checklist", headers=firm)
    assert progress.status_code == 200
    assert progress.json()["missing_required"] == ["bank"]
    assert await _events(pool, tenant) == []

    done = await api.put(
        invited.path,
        json={"answers": {"bank": {"filename": "releves.pdf", "content_base64": PDF}}},
    )
    assert done.status_code == 200, done.text
    completed_at = done.json()["completed_at"]
    assert completed_at is not None and done.json()["missing_required"] == []
    bank = done.json()["items"][1]["answer"]
    assert bank["filename"] == "releves.pdf" and bank["size"] == len(base64.b64decode(PDF))
    assert "content_base64" not in done.text
    stored = await checklists.document(pool, client_id=invited.client_id, item_key="bank")
    assert stored is not None and stored[2] == base64.b64decode(PDF)

    # Answering again (the optional item, and changing a required one) keeps the first time.
    again = await api.put(invited.path, json={"answers": {"notes": "RAS", "activity": "Pain"}})
    assert again.json()["completed_at"] == completed_at
    events = await _events(pool, tenant)
    assert events == [
        {
            "client_id": str(invited.client_id),
            "checklist_id": done.json()["checklist_id"],
            "completed_at": events[0]["completed_at"],
        }
    ]
    assert datetime.fromisoformat(events[0]["completed_at"]) == datetime.fromisoformat(completed_at)
    firm_view = (await api.get(f"/v1/clients/{invited.client_id}/checklist", headers=firm)).json()
    assert firm_view["answered"] == ["activity", "bank", "notes"]
    assert firm_view["completed_at"] == completed_at


async def test_concurrent_last_answers_complete_once(
    api: httpx.AsyncClient,
    pool: Pool,
    settings: Settings,
    tenant: Tenant,
    endpoints_made: list[webhooks.EndpointRow],
) -> None:
    """Two requests answering the last items at the same moment record one completion."""
    invited = await _invited(api, pool, settings, tenant)
    await _listen(pool, tenant, endpoints_made)
    api.headers.pop("Authorization")
    await api.put(invited.path, json={"answers": {"activity": "Boulangerie"}})
    document = {"filename": "b.pdf", "content_base64": PDF}
    answers = await asyncio.gather(
        *(api.put(invited.path, json={"answers": {"bank": document}}) for _ in range(4))
    )
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["completed_at"] for a in answers}) == 1
    # And straight at the store, where the calls overlap more than through HTTP.
    stored = [StoredAnswer(key="bank", filename="b.pdf", content=b"b")]
    await pool.execute(
        "UPDATE client_checklists SET completed_at = NULL WHERE client_id = $1", invited.client_id
    )
    saved = await asyncio.gather(
        *(
            checklists.save_answers(
                pool,
                partner_id=tenant.partner.id,
                client_id=invited.client_id,
                stored=stored,
                cleared=[],
            )
            for _ in range(8)
        )
    )
    assert sorted(s[1] for s in saved if s is not None) == [False] * 7 + [True]
    assert len(await _events(pool, tenant)) == 2  # one per completion: the HTTP one, this one


async def test_answers_are_checked_per_item(
    api: httpx.AsyncClient, pool: Pool, settings: Settings, tenant: Tenant
) -> None:
    """Unknown keys, a document for a question, text for a document, bad base64 and an
    oversized document are 422 naming the item; nothing is stored."""
    invited = await _invited(api, pool, settings, tenant)
    api.headers.pop("Authorization")
    too_big = base64.b64encode(b"x" * (MAX_DOCUMENT_BYTES + 1)).decode()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"nope": "x"}, "answers.nope"),
        ({"activity": {"filename": "a.pdf", "content_base64": PDF}}, "answers.activity"),
        ({"bank": "here it is"}, "answers.bank"),
        ({"bank": {"filename": "a.pdf", "content_base64": "@@@"}}, "answers.bank.content_base64"),
        ({"bank": {"filename": "../etc/passwd", "content_base64": PDF}}, "answers.bank"),
        ({"activity": ""}, "answers.activity"),
        ({"activity": "a\u0000b"}, "answers.activity"),
    ]
    for answers, field in cases:
        response = await api.put(invited.path, json={"answers": {**answers, "notes": "ok"}})
        fields = _fields(response)
        assert any(f.startswith(field) for f in fields), (answers, fields)
    oversized = await api.put(
        invited.path, json={"answers": {"bank": {"filename": "a.pdf", "content_base64": too_big}}}
    )
    assert oversized.status_code in (413, 422), oversized.text
    assert (await api.get(invited.path)).json()["answered"] == []


async def test_checklist_token_states(
    api: httpx.AsyncClient, pool: Pool, settings: Settings, tenant: Tenant
) -> None:
    """Open and accepted invitations give access; forged is 404, expired and replaced are 410,
    an invitation whose client has no checklist is 404; no answer is stored by any of them."""
    invited = await _invited(api, pool, settings, tenant)
    api.headers.pop("Authorization")
    body = {"answers": {"notes": "x"}}

    async with pool.acquire() as conn:
        await invitations.mark_accepted(conn, token_hash=token_hash(invited.token))
    assert (await api.put(invited.path, json=body)).status_code == 200

    forged = invited.token[:-4] + ("AAAA" if not invited.token.endswith("AAAA") else "BBBB")
    expired = await _invite(
        pool, settings, tenant, invited.onboarding_id, sequence=2, expires_in=-timedelta(hours=1)
    )
    replaced = await _invite(pool, settings, tenant, invited.onboarding_id, sequence=3)
    await _invite(pool, settings, tenant, invited.onboarding_id, sequence=4)
    lone_onboarding, _ = await make_client(pool, tenant)
    lonely = await _invite(pool, settings, tenant, lone_onboarding)
    for token, status, kind in (
        (forged, 404, "invitation-not-found"),
        ("not-a-token", 404, "invitation-not-found"),
        (expired, 410, "invitation-expired"),
        (replaced, 410, "invitation-replaced"),
        (lonely, 404, "no-checklist"),
    ):
        for method in ("GET", "PUT"):
            response = await api.request(
                method, f"/v1/invitations/{token}/checklist", json=body if method == "PUT" else None
            )
            assert response.status_code == status, (kind, method, response.text)
            assert response.json()["type"].endswith(f"/{kind}")
    assert (await api.get(invited.path)).json()["answered"] == ["notes"]


async def test_cross_site_answer_is_refused(
    api: httpx.AsyncClient, pool: Pool, settings: Settings, tenant: Tenant
) -> None:
    """A browser PUT from another site's page is 403 and stores nothing."""
    invited = await _invited(api, pool, settings, tenant)
    api.headers.pop("Authorization")
    response = await api.put(
        invited.path,
        json={"answers": {"activity": "x"}},
        headers={"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert (await api.get(invited.path)).json()["answered"] == []


async def test_client_checklist_progress_scoped_to_partner(
    api: httpx.AsyncClient, pool: Pool, settings: Settings, tenant: Tenant
) -> None:
    """Another partner gets 404 for our client's checklist; a client without one is 404."""
    invited = await _invited(api, pool, settings, tenant)
    other = await make_tenant(pool, "Other firm")
    path = f"/v1/clients/{invited.client_id}/checklist"
    response = await api.get(path, headers=other.auth)
    assert response.status_code == 404 and "Bilan" not in response.text
    accountant = await _accountant(api)
    assert (await api.get(path, headers=accountant)).status_code == 200
    _, bare = await make_client(pool, tenant)
    assert (await api.get(f"/v1/clients/{bare}/checklist")).status_code == 404


# ---- the director's page ------------------------------------------------------------------------

FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')
HTML = {"Accept": "text/html"}


async def test_page_after_acceptance_links_to_the_checklist_form_and_saves_it(
    api: httpx.AsyncClient, pool: Pool, settings: Settings, tenant: Tenant
) -> None:
    """An accepted link's page leads to the checklist; its form (multipart, form token) stores
    a text and a file, and completes the checklist."""
    invited = await _invited(api, pool, settings, tenant)
    api.headers.pop("Authorization")
    async with pool.acquire() as conn:
        await invitations.mark_accepted(conn, token_hash=token_hash(invited.token))

    landing = await api.get(f"/v1/invitations/{invited.token}", headers=HTML)
    assert landing.status_code == 409  # "already used", as before, now with the next step
    assert f'href="{invited.path}"' in landing.text

    page = await api.get(invited.path, headers=HTML)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert (
        "Relevés bancaires de décembre" in page.text
        and 'enctype="multipart/form-data"' in page.text
    )
    match = FORM_TOKEN.search(page.text)
    assert match is not None

    saved = await api.post(
        invited.path,
        data={"form_token": match.group(1), "answer.activity": "Boulangerie & pâtisserie"},
        files={"file.bank": ("releves.pdf", b"%PDF-1.4 data", "application/pdf")},
    )
    assert saved.status_code == 200, saved.text
    assert "Boulangerie &amp; pâtisserie" in saved.text and "releves.pdf" in saved.text
    progress = (await api.get(invited.path)).json()
    assert progress["answered"] == ["activity", "bank"] and progress["completed_at"] is not None
    stored = await checklists.document(pool, client_id=invited.client_id, item_key="bank")
    assert stored == ("releves.pdf", "application/pdf", b"%PDF-1.4 data")


async def test_page_form_without_its_token_or_from_another_site_stores_nothing(
    api: httpx.AsyncClient, pool: Pool, settings: Settings, tenant: Tenant
) -> None:
    """The checklist form is refused (403) without the page's form token, or cross-site."""
    invited = await _invited(api, pool, settings, tenant)
    api.headers.pop("Authorization")
    page = await api.get(invited.path, headers=HTML)
    match = FORM_TOKEN.search(page.text)
    assert match is not None
    forged = await api.post(invited.path, data={"form_token": "x", "answer.activity": "A"})
    assert forged.status_code == 403
    crossed = await api.post(
        invited.path,
        data={"form_token": match.group(1), "answer.activity": "A"},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert crossed.status_code == 403
    too_big = await api.post(
        invited.path,
        data={"form_token": match.group(1), "answer.activity": "A"},
        files={"file.bank": ("big.pdf", b"x" * (MAX_DOCUMENT_BYTES + 1), "application/pdf")},
    )
    assert too_big.status_code == 422 and "big.pdf" not in too_big.text
    assert (await api.get(invited.path)).json()["answered"] == []


async def test_erased_client_checklist_is_closed_to_the_token(
    api: httpx.AsyncClient, pool: Pool, settings: Settings, tenant: Tenant
) -> None:
    """Once the client's personal data is erased, its accepted token no longer reads or writes
    the checklist."""
    invited = await _invited(api, pool, settings, tenant)
    async with pool.acquire() as conn:
        await invitations.mark_accepted(conn, token_hash=token_hash(invited.token))
    api.headers.pop("Authorization")
    assert (await api.get(invited.path)).status_code == 200
    await pool.execute(
        """
        INSERT INTO erasures (id, partner_id, client_id, requested_by, onboarding, tables)
        VALUES ($1, $2, $3, $4, 'not_running', '{}')
        """,
        uuid.uuid4(),
        tenant.partner.id,
        invited.client_id,
        tenant.admin.id,
    )
    for method in ("GET", "PUT"):
        body = {"answers": {"notes": "x"}} if method == "PUT" else None
        response = await api.request(method, invited.path, json=body)
        assert response.status_code == 404 and response.json()["type"].endswith("/no-checklist")


async def test_a_real_onboarding_assigns_its_checklist_and_the_invitation_lists_it(
    api: httpx.AsyncClient, worker: Worker, smtp_sink: SmtpSink
) -> None:
    """End to end: the request names a checklist; once set up, the client has it (the firm sees
    every item missing) and the director's invitation says what will be asked."""
    checklist_id = (await api.post("/v1/checklists", json=CHECKLIST)).json()["id"]
    started = await api.post(
        "/v1/onboardings",
        json={
            "client": {
                "first_name": "Nadia",
                "last_name": "Perrin",
                "email": "nadia@perrin.example",
                "language": "fr",
                "company_name": "Perrin SARL",
            },
            "overrides": {"checklist_id": checklist_id},
        },
        headers={"Idempotency-Key": f"checklist-{uuid.uuid4()}"},
    )
    assert started.status_code == 202, started.text
    client_id = str(client_id_for(uuid.UUID(started.json()["id"])))
    [mail] = await smtp_sink.handler.arrived(1)
    text = mail.message.get_body(preferencelist=("plain",))
    assert text is not None
    assert all(item["label"] in text.get_content() for item in CHECKLIST["items"])
    progress = (await api.get(f"/v1/clients/{client_id}/checklist")).json()
    assert [i["key"] for i in progress["items"]] == ["activity", "bank", "notes"]
    assert progress["missing_required"] == ["activity", "bank"]


async def test_erasure_deletes_the_directors_answers(
    api: httpx.AsyncClient, pool: Pool, settings: Settings, tenant: Tenant
) -> None:
    """Answers and documents are personal data: the right to erasure takes them."""
    invited = await _invited(api, pool, settings, tenant)
    auth = api.headers.pop("Authorization")
    answered = await api.put(
        invited.path,
        json={
            "answers": {
                "activity": "Boulangerie artisanale",
                "bank": {
                    "filename": "releves.pdf",
                    "content_type": "application/pdf",
                    "content_base64": PDF,
                },
            }
        },
    )
    assert answered.status_code == 200, answered.text
    api.headers["Authorization"] = auth
    erased = await api.delete(f"/v1/clients/{invited.client_id}/personal-data")
    assert erased.status_code == 200, erased.text
    assert erased.json()["tables"]["client_checklist_answers"] == 2
    left = await pool.fetchval(
        "SELECT count(*) FROM client_checklist_answers WHERE client_id = $1", invited.client_id
    )
    assert left == 0
    progress = (await api.get(f"/v1/clients/{invited.client_id}/checklist")).json()
    assert progress["answered"] == [] and progress["missing_required"] == ["activity", "bank"]
