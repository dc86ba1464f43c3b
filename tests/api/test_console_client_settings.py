"""The client page's settings after day one over the real stack (uvicorn, PostgreSQL, SMTP sink,
Temporal): subscription, collaborators, fiscal years, checklist, integrations and erasure each do
what their JSON route does (the same app/ function), are refused without the CSRF token or from
another origin with nothing changed, are 404 for another firm's client, follow the API's roles;
the onboarding's waiting reason is shown in the user's language."""

from __future__ import annotations

import ast
import re
import uuid
from datetime import UTC, datetime
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.worker import Worker

from api.console import CSRF_FIELD
from api.console.client_settings import waiting_key
from api.console.texts import TEXTS
from devstack.smtp_sink import SmtpSink
from domain.checklists import StoredAnswer
from domain.fiscal_calendar import FiscalYear
from domain.onboarding import client_id_for
from domain.setup import Role
from store import applied_setup, checklists, clients, erasure
from store.pool import Pool
from tests.console_helpers import (  # noqa: F401  (pytest fixtures: fresh_ip_limit)
    BODY,
    EVIL,
    PLANS,
    _refused,
    _user,
    as_user,
    assert_strict,
    csrf_of,
    fresh_ip_limit,
    ready_client,
    sign_in_as,
)
from tests.console_helpers import client_page as _page
from tests.eventually import eventually
from tests.factories import Tenant, make_tenant

__all__ = ["fresh_ip_limit"]  # the sign-in budget fixture, autouse here too

# The firm pays: the form confirms the pricing policy (app/pricing.py).
CHANGE = {
    "plan": "premium",
    "add_ons": "payroll",
    "payer": "partner",
    "billing_period": "annual",
    "pricing_acknowledged": "1",
}


@pytest.fixture
async def catalog(api_server: httpx.AsyncClient, tenant: Tenant) -> None:
    for plan in PLANS:
        made = await api_server.post("/v1/plans", json=plan, headers=tenant.auth)
        assert made.status_code == 201, made.text


async def _history(http: httpx.AsyncClient, tenant: Tenant, client_id: uuid.UUID) -> list[Any]:
    got = await http.get(f"/v1/clients/{client_id}/subscription/history", headers=tenant.auth)
    assert got.status_code == 200, got.text
    return list(got.json()["items"])


async def test_subscription_changed_from_the_client_page_is_a_dated_revision(
    api_server: httpx.AsyncClient, pool: Pool, smtp_sink: SmtpSink, tenant: Tenant, catalog: None
) -> None:
    """The page lists the subscription's history; forged forms change nothing; the form records
    the revision the JSON route would (once, however often sent); a wrong add-on is refused in
    French next to its field, the values typed kept."""
    client_id = await ready_client(pool, tenant)
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    page = await _page(api_server, cookie, client_id)
    assert "Abonnement" in page.text and "Essentials" in page.text
    token = csrf_of(page)
    action = f"/console/clients/{client_id}/subscription"

    await _refused(api_server, cookie, token, action, CHANGE)
    assert len(await _history(api_server, tenant, client_id)) == 1

    wrong = await api_server.post(
        action, data={**CHANGE, "add_ons": "ocr", CSRF_FIELD: token}, headers=as_user(cookie)
    )
    assert wrong.status_code == 422
    assert TEXTS["fr"]["cs_error_add_on"] in unescape(wrong.text)
    assert 'href="#sub_add_ons"' in wrong.text and 'id="sub_add_ons"' in wrong.text
    assert re.search(r'value="premium" selected', wrong.text)
    assert len(await _history(api_server, tenant, client_id)) == 1

    for _ in range(2):  # a double submit records one revision
        changed = await api_server.post(
            action, data={**CHANGE, CSRF_FIELD: token}, headers=as_user(cookie)
        )
        assert changed.status_code == 303, changed.text
        assert changed.headers["location"] == f"/console/clients/{client_id}?done=subscription"
    history = await _history(api_server, tenant, client_id)
    assert [(r["plan"], r["add_ons"], r["payer"], r["billing_period"]) for r in history] == [
        ("essentials", ["ocr"], "client", "monthly"),
        ("premium", ["payroll"], "partner", "annual"),
    ]
    assert history[1]["source"] == "change" and history[1]["changed_by"] == str(tenant.admin.id)
    shown = await api_server.get(changed.headers["location"], headers=as_user(cookie))
    assert TEXTS["fr"]["done_subscription"] in unescape(shown.text) and "Premium" in shown.text


async def test_collaborators_saved_from_the_client_page_tell_the_added_ones(
    api_server: httpx.AsyncClient,
    worker: Worker,
    pool: Pool,
    smtp_sink: SmtpSink,
    tenant: Tenant,
) -> None:
    """Forged forms change nothing; ticking a colleague makes them the client's collaborator
    (as PUT /collaborators does) and sends them the "client ready" e-mail."""
    client_id = await ready_client(pool, tenant)
    colleague = await _user(pool, tenant, Role.accountant, "Bastien Comptable")
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    page = await _page(api_server, cookie, client_id)
    assert "Bastien Comptable" in page.text
    token = csrf_of(page)
    action = f"/console/clients/{client_id}/collaborators"
    data = {"user_ids": str(colleague.id)}
    await _refused(api_server, cookie, token, action, data)
    assert await clients.list_collaborator_users(pool, client_id=client_id) == []

    smtp_sink.handler.clear()
    saved = await api_server.post(action, data={**data, CSRF_FIELD: token}, headers=as_user(cookie))
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"].endswith("?done=collaborators")
    [who] = await clients.list_collaborator_users(pool, client_id=client_id)
    assert who.user_id == colleague.id
    [mail] = await smtp_sink.handler.arrived(1)
    assert mail.rcpt_tos == [colleague.email]

    unknown = await api_server.post(
        action, data={"user_ids": str(uuid.uuid4()), CSRF_FIELD: token}, headers=as_user(cookie)
    )
    assert unknown.status_code == 422 and TEXTS["fr"]["cs_error_unknown_user"] in unescape(
        unknown.text
    )
    assert [c.user_id for c in await clients.list_collaborator_users(pool, client_id=client_id)]


async def test_fiscal_year_added_from_the_client_page_with_its_end_proposed(
    api_server: httpx.AsyncClient, worker: Worker, pool: Pool, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """The form proposes the next year's start and an end 12 months later; forged forms add
    nothing; sent, the year is the client's (as POST /fiscal-years adds it), sent twice, once."""
    client_id = await ready_client(pool, tenant)
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    page = await _page(api_server, cookie, client_id)
    today = datetime.now(UTC).date()
    proposed = FiscalYear.from_start(today)
    assert f'id="fy_start" name="start" value="{today.isoformat()}"' in page.text
    assert f'id="fy_end" name="end" value="{proposed.end.isoformat()}"' in page.text
    token = csrf_of(page)
    action = f"/console/clients/{client_id}/fiscal-years"
    data = {"start": today.isoformat(), "end": proposed.end.isoformat()}
    await _refused(api_server, cookie, token, action, data)
    listed = await api_server.get(f"/v1/clients/{client_id}/fiscal-years", headers=tenant.auth)
    assert listed.json() == []

    bad = await api_server.post(
        action, data={"start": "2026-02-30", CSRF_FIELD: token}, headers=as_user(cookie)
    )
    assert bad.status_code == 422 and TEXTS["fr"]["cs_error_date"] in unescape(bad.text)
    assert 'value="2026-02-30"' in bad.text

    for _ in range(2):
        added = await api_server.post(
            action, data={**data, CSRF_FIELD: token}, headers=as_user(cookie)
        )
        assert added.status_code == 303, added.text
    listed = await api_server.get(f"/v1/clients/{client_id}/fiscal-years", headers=tenant.auth)
    assert [(y["start"], y["end"], y["source"]) for y in listed.json()] == [
        (today.isoformat(), proposed.end.isoformat(), "added")
    ]


async def test_integrations_shown_with_retry_for_a_failed_one_only(
    api_server: httpx.AsyncClient, pool: Pool, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """A failed integration is offered a Retry (a connected one is not); the retry answers as
    POST /v1/onboardings/{id}/integrations/{code}/retry does (here the workflow is gone: 404
    both), and forged forms are refused."""
    client_id = await ready_client(pool, tenant)
    for code, state in (("drive", "failed"), ("bank", "connected")):
        await applied_setup.upsert_integration_state(
            pool,
            client_id=client_id,
            code=code,
            kind="redirection",
            state="failed" if state == "failed" else "connected",
        )
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    page = await _page(api_server, cookie, client_id)
    assert "Réessayer drive" in page.text and "Réessayer bank" not in page.text
    token = csrf_of(page)
    action = f"/console/clients/{client_id}/integrations/drive/retry"
    await _refused(api_server, cookie, token, action, {})
    row = await clients.get(pool, client_id=client_id)
    assert row is not None
    json_answer = await api_server.post(
        f"/v1/onboardings/{row.onboarding_id}/integrations/drive/retry", headers=tenant.auth
    )
    page_answer = await api_server.post(action, data={CSRF_FIELD: token}, headers=as_user(cookie))
    assert json_answer.status_code == page_answer.status_code == 404


async def test_erasure_asks_an_administrator_to_type_the_client_s_name(
    api_server: httpx.AsyncClient, pool: Pool, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """An accountant is offered no erasure and is refused it; the administrator's confirmation
    page erases nothing on a forged form or a wrong name, then erases once (as DELETE
    /personal-data does), a second submit changing nothing."""
    client_id = await ready_client(pool, tenant)
    accountant = await _user(pool, tenant, Role.accountant, "Chloé Compta")
    theirs, _ = await sign_in_as(api_server, smtp_sink, accountant.email)
    page = await _page(api_server, theirs, client_id)
    assert f"/console/clients/{client_id}/erase" not in page.text
    assert (
        await api_server.get(f"/console/clients/{client_id}/erase", headers=as_user(theirs))
    ).status_code == 403
    refused = await api_server.post(
        f"/console/clients/{client_id}/erase",
        data={"confirm_name": "Dubois Conseil", CSRF_FIELD: csrf_of(page)},
        headers=as_user(theirs),
    )
    assert refused.status_code == 403 and await erasure.get(pool, client_id=client_id) is None

    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    page = await _page(api_server, cookie, client_id)
    assert f"/console/clients/{client_id}/erase" in page.text
    confirm = await api_server.get(f"/console/clients/{client_id}/erase", headers=as_user(cookie))
    assert confirm.status_code == 200 and "Dubois Conseil" in confirm.text
    assert_strict(confirm)
    token = csrf_of(confirm)
    action = f"/console/clients/{client_id}/erase"
    await _refused(api_server, cookie, token, action, {"confirm_name": "Dubois Conseil"})
    wrong = await api_server.post(
        action, data={"confirm_name": "Dubois", CSRF_FIELD: token}, headers=as_user(cookie)
    )
    assert wrong.status_code == 422 and TEXTS["fr"]["cs_erase_mismatch"] in unescape(wrong.text)
    assert 'value="Dubois"' in wrong.text
    assert await erasure.get(pool, client_id=client_id) is None

    for _ in range(2):
        erased = await api_server.post(
            action,
            data={"confirm_name": " dubois  conseil ", CSRF_FIELD: token},
            headers=as_user(cookie),
        )
        assert erased.status_code == 303, erased.text
        assert erased.headers["location"] == f"/console/clients/{client_id}?done=erased"
    done = await erasure.get(pool, client_id=client_id)
    assert done is not None and done.requested_by == tenant.admin.id
    row = await clients.get(pool, client_id=client_id)
    assert row is not None and "Dubois" not in row.name
    again = await api_server.delete(f"/v1/clients/{client_id}/personal-data", headers=tenant.auth)
    assert again.status_code == 200 and again.json()["id"] == str(done.id)


async def test_another_firm_s_client_is_404_and_left_unchanged(
    api_server: httpx.AsyncClient, pool: Pool, smtp_sink: SmtpSink, tenant: Tenant, catalog: None
) -> None:
    """Every settings page and form answers 404 for another firm's client, changing nothing."""
    other = await make_tenant(pool, "Cabinet Autre")
    theirs = await ready_client(pool, other)
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    token = csrf_of(await _page(api_server, cookie, await ready_client(pool, tenant)))
    today = datetime.now(UTC).date().isoformat()
    posts: dict[str, dict[str, str]] = {
        "subscription": CHANGE,
        "collaborators": {"user_ids": str(tenant.admin.id)},
        "fiscal-years": {"start": today},
        "integrations/drive/retry": {},
        "erase": {"confirm_name": "Dubois Conseil"},
    }
    for path, data in posts.items():
        answer = await api_server.post(
            f"/console/clients/{theirs}/{path}",
            data={**data, CSRF_FIELD: token},
            headers=as_user(cookie),
        )
        assert answer.status_code == 404, (path, answer.text)
    for path in ("", "/erase"):
        answer = await api_server.get(f"/console/clients/{theirs}{path}", headers=as_user(cookie))
        assert answer.status_code == 404
    assert len(await _history(api_server, other, theirs)) == 1
    assert await clients.list_collaborator_users(pool, client_id=theirs) == []
    assert await erasure.get(pool, client_id=theirs) is None


async def test_an_accountant_is_offered_no_changes_and_refused_them(
    api_server: httpx.AsyncClient, pool: Pool, smtp_sink: SmtpSink, tenant: Tenant, catalog: None
) -> None:
    """As the API: an accountant reads the subscription, collaborators and years but may not
    change them; a hand-made form is refused (403, said in French) with nothing changed."""
    client_id = await ready_client(pool, tenant)
    accountant = await _user(pool, tenant, Role.accountant, "Chloé Compta")
    cookie, _ = await sign_in_as(api_server, smtp_sink, accountant.email)
    page = await _page(api_server, cookie, client_id)
    assert "Essentials" in page.text
    assert f"/console/clients/{client_id}/subscription" not in page.text
    refused = await api_server.post(
        f"/console/clients/{client_id}/subscription",
        data={**CHANGE, CSRF_FIELD: csrf_of(page)},
        headers=as_user(cookie),
    )
    assert refused.status_code == 403 and TEXTS["fr"]["why_forbidden"] in unescape(refused.text)
    for path, data in (
        ("collaborators", {"user_ids": str(accountant.id)}),
        ("fiscal-years", {"start": datetime.now(UTC).date().isoformat()}),
    ):
        answer = await api_server.post(
            f"/console/clients/{client_id}/{path}",
            data={**data, CSRF_FIELD: csrf_of(page)},
            headers=as_user(cookie),
        )
        assert answer.status_code == 403, path
    assert len(await _history(api_server, tenant, client_id)) == 1
    assert await clients.list_collaborator_users(pool, client_id=client_id) == []
    listed = await api_server.get(f"/v1/clients/{client_id}/fiscal-years", headers=tenant.auth)
    assert listed.json() == []


def _waiting_reasons() -> list[str]:
    """Every text the onboarding workflow assigns to `waiting_for` (literals and f-strings,
    their placeholders filled with a sample)."""
    source = Path("workflows/onboarding.py").read_text()
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Assign):
            continue
        target = node.targets[0]
        if not (isinstance(target, ast.Attribute) and target.attr == "waiting_for"):
            continue
        value = node.value
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            found.append(value.value)
        elif isinstance(value, ast.JoinedStr):
            found.append(
                "".join(
                    str(v.value) if isinstance(v, ast.Constant) else "sample" for v in value.values
                )
            )
    return found


def test_every_waiting_reason_of_the_onboarding_is_worded_in_each_language() -> None:
    """Each reason the workflow gives maps to a catalogue key present in all four languages; an
    unknown one is shown as the workflow wrote it."""
    reasons = _waiting_reasons()
    assert len(reasons) >= 9
    for reason in reasons:
        key = waiting_key(reason)
        assert key is not None, reason
        assert all(key in TEXTS[lang] for lang in ("fr", "nl", "en", "de"))
    assert waiting_key("something new") is None


async def test_integration_retry_reaches_the_running_onboarding_as_the_json_route_does(
    api_server: httpx.AsyncClient, worker: Worker, pool: Pool, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """With the onboarding running, the page's Retry sends the workflow the JSON route's update:
    an integration that has not failed is refused by its validator (409 both), said in French,
    and the onboarding goes on untouched."""
    started = await api_server.post(
        "/v1/onboardings",
        json=BODY,
        headers={"Idempotency-Key": f"console-settings-{uuid.uuid4()}", **tenant.auth},
    )
    assert started.status_code == 202, started.text
    onboarding_id = uuid.UUID(started.json()["id"])
    client_id = client_id_for(onboarding_id)

    async def ready() -> bool:
        row = await clients.get(pool, client_id=client_id)
        return row is not None and row.status == "ready"

    await eventually(ready, what="the client's setup completed", within=20)
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    page = await _page(api_server, cookie, client_id)
    # Waiting for someone to send the invitation (manual): said in French, not the workflow's
    # English with its update's name.
    assert TEXTS["fr"]["cs_waiting_send"] in unescape(page.text)
    assert "send_invitation_now" not in page.text
    token = csrf_of(page)
    json_answer = await api_server.post(
        f"/v1/onboardings/{onboarding_id}/integrations/drive/retry", headers=tenant.auth
    )
    page_answer = await api_server.post(
        f"/console/clients/{client_id}/integrations/drive/retry",
        data={CSRF_FIELD: token},
        headers=as_user(cookie),
    )
    assert json_answer.status_code == page_answer.status_code == 409, page_answer.text
    assert TEXTS["fr"]["action_refused"].split("{")[0] in unescape(page_answer.text)
    view = await api_server.get(f"/v1/onboardings/{onboarding_id}", headers=tenant.auth)
    assert view.json()["status"] not in ("FAILED", "NEEDS_ATTENTION")


async def test_checklist_progress_shown_as_the_json_route_counts_it(
    api_server: httpx.AsyncClient, pool: Pool, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """A client without a checklist shows none; once assigned and partly answered, the page
    says how many items are answered of how many, and how many required ones are missing, as
    GET /v1/clients/{id}/checklist counts them."""
    client_id = await ready_client(pool, tenant)
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    assert 'id="checklist-progress"' not in (await _page(api_server, cookie, client_id)).text
    checklist_id = uuid.uuid4()
    await checklists.create(
        pool,
        partner_id=tenant.partner.id,
        checklist_id=checklist_id,
        name="Bilan annuel",
        language="fr",
        items=[
            {"key": "activity", "kind": "question", "label": "Activité ?", "required": True},
            {"key": "bank", "kind": "document", "label": "Relevés", "required": True},
            {"key": "notes", "kind": "question", "label": "Remarques", "required": False},
        ],
    )
    assert await checklists.assign(
        pool, partner_id=tenant.partner.id, client_id=client_id, checklist_id=checklist_id
    )
    await checklists.save_answers(
        pool,
        partner_id=tenant.partner.id,
        client_id=client_id,
        stored=[StoredAnswer(key="activity", text="Boulangerie")],
        cleared=[],
    )
    progress = (
        await api_server.get(f"/v1/clients/{client_id}/checklist", headers=tenant.auth)
    ).json()
    assert (len(progress["answered"]), len(progress["missing_required"])) == (1, 1)
    page = unescape((await _page(api_server, cookie, client_id)).text)
    assert "Bilan annuel : 1 éléments sur 3 fournis" in page
    assert "Éléments obligatoires manquants : 1" in page
