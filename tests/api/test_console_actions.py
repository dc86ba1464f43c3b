"""The client page's actions and the needs-attention page over the real stack (uvicorn,
PostgreSQL, SMTP sink, Temporal worker): each form does what its JSON route does (the same app/
function), is refused without its CSRF token or from another origin with nothing changed, is 404
for another firm's onboarding, and follows the API's role rules."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from activities.invitations import InvitationPurpose, SendInvitationInput
from api.console import CSRF_FIELD
from core.settings import Settings
from devstack.smtp_sink import SmtpSink
from domain.setup import Role
from store import onboardings, partners
from store.pool import Pool
from tests.console_helpers import (
    BODY,
    EVIL,
    as_user,
    assert_strict,
    csrf_of,
    fresh_ip_limit,
    sign_in_as,
)
from tests.eventually import activity_inputs, eventually, updates_accepted
from tests.factories import Tenant, make_client, make_tenant

__all__ = ["fresh_ip_limit"]  # the sign-in budget fixture, autouse here too

# An invitation expires seconds after it is sent, so a resend can be tried within a test.
EXPIRY_SECONDS = 3.0
MUTED: dict[str, Any] = {
    **BODY,
    "notifications": {"keep_muted": True},
    "invitation": {"mode": "immediate"},
}
# A SIRET the registry stand-in does not know: the onboarding waits for company details.
UNKNOWN_SIRET = "73282932000074"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"invitation_expiry_days": EXPIRY_SECONDS / 86_400})


async def _start(http: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any]) -> str:
    started = await http.post(
        "/v1/onboardings",
        json=body,
        headers={"Idempotency-Key": f"console-actions-{uuid.uuid4()}", **tenant.auth},
    )
    assert started.status_code == 202, started.text
    return str(started.json()["id"])


async def _until(
    http: httpx.AsyncClient,
    tenant: Tenant,
    onboarding_id: str,
    *,
    status: str | None = None,
    invitation: str | None = None,
) -> dict[str, Any]:

    async def view() -> dict[str, Any]:
        answer = await http.get(f"/v1/onboardings/{onboarding_id}", headers=tenant.auth)
        body: dict[str, Any] = answer.json()
        return body

    return await eventually(
        view,
        until=lambda v: (
            status in (None, v.get("status"))
            and invitation in (None, v.get("invitation", {}).get("state"))
        ),
        what=f"the onboarding {status or ''} with its invitation {invitation or ''}",
        within=20,
    )


async def _page(http: httpx.AsyncClient, cookie: str, onboarding_id: str) -> httpx.Response:
    """The client page (or the onboarding's, before the client exists), following the hop."""
    page = await http.get(f"/console/onboardings/{onboarding_id}", headers=as_user(cookie))
    if page.status_code == 303:
        page = await http.get(page.headers["location"], headers=as_user(cookie))
    assert page.status_code == 200, page.text
    assert_strict(page)
    return page


async def _refused_without_token_or_from_elsewhere(
    http: httpx.AsyncClient, cookie: str, token: str, action: str, data: dict[str, str]
) -> None:
    missing = await http.post(action, data=data, headers=as_user(cookie))
    wrong = await http.post(action, data={**data, CSRF_FIELD: "x" * 43}, headers=as_user(cookie))
    crossed = await http.post(
        action, data={**data, CSRF_FIELD: token}, headers={**as_user(cookie), "Origin": EVIL}
    )
    assert [r.status_code for r in (missing, wrong, crossed)] == [403] * 3


async def test_notifications_switched_on_for_a_muted_client_send_its_invitation_once(
    api_server: httpx.AsyncClient,
    worker: Worker,
    client: Client,
    smtp_sink: SmtpSink,
    tenant: Tenant,
) -> None:
    """Kept muted, the invitation waits; a forged form changes nothing; the switch sends it
    (post-redirect-get, confirmed in French); switched on again, nothing more is sent."""
    onboarding_id = await _start(api_server, tenant, MUTED)
    await _until(api_server, tenant, onboarding_id, status="WAITING_FOR_UNMUTE")
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    smtp_sink.handler.clear()
    page = await _page(api_server, cookie, onboarding_id)
    assert "Activer les notifications" in page.text
    token = csrf_of(page)
    action = f"/console/onboardings/{onboarding_id}/notifications"

    await _refused_without_token_or_from_elsewhere(
        api_server, cookie, token, action, {"enabled": "1"}
    )
    handle = client.get_workflow_handle(f"onboarding-{onboarding_id}")
    assert await updates_accepted(handle) == 0  # the refused forms never reached the workflow
    view = await _until(api_server, tenant, onboarding_id)
    assert view["status"] == "WAITING_FOR_UNMUTE" and view["invitation"]["state"] == "muted"

    switched = await api_server.post(
        action, data={CSRF_FIELD: token, "enabled": "1"}, headers=as_user(cookie)
    )
    assert switched.status_code == 303, switched.text
    assert switched.headers["location"] == (
        f"/console/onboardings/{onboarding_id}?done=notifications_on"
    )
    [mail] = await smtp_sink.handler.arrived(1)
    assert mail.rcpt_tos == ["ines@garnier.example"]
    again = await api_server.post(
        action, data={CSRF_FIELD: token, "enabled": "1"}, headers=as_user(cookie)
    )
    assert again.status_code == 303
    await _until(api_server, tenant, onboarding_id, status="READY", invitation="sent")
    shown = await api_server.get(switched.headers["location"], headers=as_user(cookie))
    shown = await api_server.get(shown.headers["location"], headers=as_user(cookie))
    assert "Les notifications sont activées." in shown.text
    # The invitation expires seconds after it was sent (EXPIRY_SECONDS), and its expiry notice to
    # the staff goes through the same activity: a loaded machine reached it before the count, so
    # the count waits for it and tells the two apart.
    await _until(api_server, tenant, onboarding_id, invitation="expired")
    sends = await activity_inputs(
        handle, "send_invitation", SendInvitationInput, client.data_converter
    )
    assert [s.purpose for s in sends] == [InvitationPurpose.invitation, InvitationPurpose.expired]
    invitations = [m for m in smtp_sink.handler.messages if m.rcpt_tos == ["ines@garnier.example"]]
    assert invitations == [mail]


async def test_cancel_then_resend_do_what_the_api_does(
    api_server: httpx.AsyncClient,
    client: Client,
    worker: Worker,
    smtp_sink: SmtpSink,
    tenant: Tenant,
) -> None:
    """Cancel stops a waiting invitation (twice is once); resend is refused until the sent one
    expired, then sends one new invitation, and a second submit sends nothing more."""
    onboarding_id = await _start(api_server, tenant, BODY)
    await _until(api_server, tenant, onboarding_id, invitation="waiting_manual")
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    smtp_sink.handler.clear()
    page = await _page(api_server, cookie, onboarding_id)
    token = csrf_of(page)
    cancel = f"/console/onboardings/{onboarding_id}/invitation/cancel"
    resend = f"/console/onboardings/{onboarding_id}/invitation/resend"
    assert f'action="{cancel}"' in page.text and f'action="{resend}"' not in page.text

    await _refused_without_token_or_from_elsewhere(api_server, cookie, token, cancel, {})
    view = await _until(api_server, tenant, onboarding_id)
    assert view["invitation"]["state"] == "waiting_manual"
    for _ in range(2):
        cancelled = await api_server.post(cancel, data={CSRF_FIELD: token}, headers=as_user(cookie))
        assert cancelled.status_code == 303, cancelled.text
        assert cancelled.headers["location"].endswith("?done=cancelled")
    await _until(api_server, tenant, onboarding_id, invitation="cancelled")

    early = await api_server.post(resend, data={CSRF_FIELD: token}, headers=as_user(cookie))
    assert early.status_code == 409
    assert "n&#39;en est pas à cette étape" in early.text  # why, in the user's French

    sent = await api_server.post(
        f"/console/onboardings/{onboarding_id}/invitation/send",
        data={CSRF_FIELD: token},
        headers=as_user(cookie),
    )
    assert sent.status_code == 303
    await smtp_sink.handler.arrived(1)
    await _until(api_server, tenant, onboarding_id, invitation="expired")
    page = await _page(api_server, cookie, onboarding_id)
    assert f'action="{resend}"' in page.text
    await _refused_without_token_or_from_elsewhere(api_server, cookie, token, resend, {})
    resent = await api_server.post(resend, data={CSRF_FIELD: token}, headers=as_user(cookie))
    assert resent.status_code == 303, resent.text
    assert resent.headers["location"].endswith("?done=resent")
    await smtp_sink.handler.arrived(3)  # the first, the staff's expiry notice, the new one
    twice = await api_server.post(resend, data={CSRF_FIELD: token}, headers=as_user(cookie))
    assert twice.status_code == 409  # the new one is on its way or sent: nothing more
    # Exact, from the history once the workflow has acted on all it was sent: three sends, all
    # arrived above.
    handle = client.get_workflow_handle(f"onboarding-{onboarding_id}")
    sends = await activity_inputs(
        handle, "send_invitation", SendInvitationInput, client.data_converter
    )
    assert [s.purpose for s in sends] == [
        InvitationPurpose.invitation,
        InvitationPurpose.expired,
        InvitationPurpose.invitation,
    ]
    # The director got two invitations (the staff got the expiry notice): no third.
    invitations = [m for m in smtp_sink.handler.messages if m.rcpt_tos == ["ines@garnier.example"]]
    assert len(invitations) == 2


async def test_company_details_form_checks_fields_then_lets_the_onboarding_go_on(
    api_server: httpx.AsyncClient, worker: Worker, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """Waiting for company details: the page offers the form; a bad SIRET comes back with its
    error in French and what was typed kept; good details take the onboarding to READY, and a
    second submit is refused (nothing is given twice)."""
    body = {**BODY, "client": {**BODY["client"], "siret": UNKNOWN_SIRET}}
    onboarding_id = await _start(api_server, tenant, body)
    await _until(api_server, tenant, onboarding_id, status="AWAITING_COMPANY_DETAILS")
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    page = await _page(api_server, cookie, onboarding_id)
    token = csrf_of(page)
    action = f"/console/onboardings/{onboarding_id}/company-details"
    assert f'action="{action}"' in page.text
    data = {"name": "Boulangerie Dupont", "city": "Lyon"}

    await _refused_without_token_or_from_elsewhere(api_server, cookie, token, action, data)
    bad = await api_server.post(
        action,
        data={CSRF_FIELD: token, **data, "siret": "12345678901234"},
        headers=as_user(cookie),
    )
    assert bad.status_code == 422, bad.text
    assert "Saisissez un SIRET valable" in bad.text and 'href="#cd_siret"' in bad.text
    assert 'value="12345678901234"' in bad.text and 'value="Boulangerie Dupont"' in bad.text
    nameless = await api_server.post(
        action, data={CSRF_FIELD: token, "city": "Lyon"}, headers=as_user(cookie)
    )
    assert nameless.status_code == 422 and "Indiquez le nom de l&#39;entreprise" in nameless.text
    view = await _until(api_server, tenant, onboarding_id)
    assert view["status"] == "AWAITING_COMPANY_DETAILS"

    given = await api_server.post(action, data={CSRF_FIELD: token, **data}, headers=as_user(cookie))
    assert given.status_code == 303, given.text
    assert given.headers["location"].endswith("?done=company_details")
    await _until(api_server, tenant, onboarding_id, status="READY")
    again = await api_server.post(action, data={CSRF_FIELD: token, **data}, headers=as_user(cookie))
    assert again.status_code == 409
    assert_strict(again)


async def test_actions_on_another_firms_onboarding_are_not_found(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant, pool: Pool
) -> None:
    """Every new form with another firm's onboarding id is 404, like an unknown one."""
    other = await make_tenant(pool, "Another firm")
    onboarding_id, _ = await make_client(pool, other, name="Not yours")
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    token = csrf_of(await api_server.get("/console/clients", headers=as_user(cookie)))
    for target in (onboarding_id, uuid.uuid4()):
        for action in (
            "notifications",
            "invitation/cancel",
            "invitation/resend",
            "company-details",
            "resume",
        ):
            answer = await api_server.post(
                f"/console/onboardings/{target}/{action}",
                data={CSRF_FIELD: token, "enabled": "1", "name": "X"},
                headers=as_user(cookie),
            )
            assert answer.status_code == 404, action
            assert "Not yours" not in answer.text


async def test_roles_on_the_client_page_follow_the_api(
    api_server: httpx.AsyncClient, worker: Worker, smtp_sink: SmtpSink, tenant: Tenant, pool: Pool
) -> None:
    """An accountant may not switch notifications (403 from the API, refused on the page and
    not offered); a client manager may; both may cancel the invitation, as through the API."""
    onboarding_id = await _start(api_server, tenant, MUTED)
    await _until(api_server, tenant, onboarding_id, status="WAITING_FOR_UNMUTE")
    people = {}
    for role in (Role.accountant, Role.client_manager):
        user = await partners.create_user(
            pool,
            partner_id=tenant.partner.id,
            email=f"{role.value}-{uuid.uuid4().hex[:6]}@example.com",
            name=role.value,
            role=role,
            language="en",
        )
        assert user is not None
        people[role] = user.email

    cookie, _ = await sign_in_as(api_server, smtp_sink, people[Role.accountant])
    page = await _page(api_server, cookie, onboarding_id)
    assert "Switch notifications on" not in page.text
    token = csrf_of(page)
    refused = await api_server.post(
        f"/console/onboardings/{onboarding_id}/notifications",
        data={CSRF_FIELD: token, "enabled": "1"},
        headers=as_user(cookie),
    )
    assert refused.status_code == 403
    assert "your role does not allow this" in refused.text
    view = await _until(api_server, tenant, onboarding_id)
    assert view["status"] == "WAITING_FOR_UNMUTE"
    cancelled = await api_server.post(
        f"/console/onboardings/{onboarding_id}/invitation/cancel",
        data={CSRF_FIELD: token},
        headers=as_user(cookie),
    )
    assert cancelled.status_code == 303  # any role may, as POST .../invitation/cancel allows

    cookie, _ = await sign_in_as(api_server, smtp_sink, people[Role.client_manager])
    page = await _page(api_server, cookie, onboarding_id)
    assert "Switch notifications on" in page.text
    switched = await api_server.post(
        f"/console/onboardings/{onboarding_id}/notifications",
        data={CSRF_FIELD: csrf_of(page), "enabled": "1"},
        headers=as_user(cookie),
    )
    assert switched.status_code == 303, switched.text
    view = await _until(api_server, tenant, onboarding_id, status="READY")
    assert view["notifications_muted"] is False


async def test_needs_attention_lists_waiting_onboardings_by_kind(
    api_server: httpx.AsyncClient, worker: Worker, smtp_sink: SmtpSink, tenant: Tenant, pool: Pool
) -> None:
    """Waiting for company details, kept muted, and one stuck for two days each show in their
    list, linked to their page; the age select narrows the stuck list; another firm's do not
    show; the layout links to the page."""
    details = await _start(
        api_server, tenant, {**BODY, "client": {**BODY["client"], "siret": UNKNOWN_SIRET}}
    )
    muted = await _start(api_server, tenant, MUTED)
    await _until(api_server, tenant, details, status="AWAITING_COMPANY_DETAILS")
    await _until(api_server, tenant, muted, status="WAITING_FOR_UNMUTE")
    stuck, _ = await make_client(pool, tenant, name="Vieux Dossier")
    await pool.execute(
        "UPDATE onboardings SET status_since = now() - interval '2 days' WHERE id = $1", stuck
    )
    parked, _ = await make_client(pool, tenant, name="Dossier Arrêté")
    await onboardings.set_status(pool, onboarding_id=parked, status="NEEDS_ATTENTION")
    other = await make_tenant(pool, "Another firm")
    await make_client(pool, other, name="Not yours")

    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    clients_page = await api_server.get("/console/clients", headers=as_user(cookie))
    assert 'href="/console/attention"' in clients_page.text
    page = await api_server.get("/console/attention", headers=as_user(cookie))
    assert page.status_code == 200
    assert_strict(page)
    text = page.text

    def section(key: str) -> str:
        start = text.index(f'id="attention-{key}"')
        return text[start : text.index("</section>", start)]

    assert f'href="/console/onboardings/{details}"' in section("details")
    assert f'href="/console/onboardings/{muted}"' in section("unmute")
    assert "Garnier" in section("unmute")
    assert "Vieux Dossier" in section("stuck")
    assert "Dossier Arrêté" in section("needs_attention")
    assert f'action="/console/onboardings/{parked}/resume"' in section("needs_attention")
    assert "Not yours" not in text
    three_days = await api_server.get(
        "/console/attention", params={"age": "3d"}, headers=as_user(cookie)
    )
    assert "Vieux Dossier" not in three_days.text and 'value="3d" selected' in three_days.text


async def test_resume_from_needs_attention_is_refused_unless_parked_and_needs_csrf(
    api_server: httpx.AsyncClient, worker: Worker, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """Resume calls the API's resume: a forged form is refused; an onboarding not parked in
    NEEDS_ATTENTION says why, back on the page, in the user's language."""
    onboarding_id = await _start(api_server, tenant, MUTED)
    await _until(api_server, tenant, onboarding_id, status="WAITING_FOR_UNMUTE")
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    page = await api_server.get("/console/attention", headers=as_user(cookie))
    token = csrf_of(page)
    action = f"/console/onboardings/{onboarding_id}/resume"
    await _refused_without_token_or_from_elsewhere(api_server, cookie, token, action, {})
    answer = await api_server.post(
        action, data={CSRF_FIELD: token, "age": "1h"}, headers=as_user(cookie)
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/attention?age=1h&refused=not-now"
    shown = await api_server.get(answer.headers["location"], headers=as_user(cookie))
    assert "n&#39;en est pas à cette étape" in shown.text
    api_answer = await api_server.post(
        f"/v1/onboardings/{onboarding_id}/resume", headers=tenant.auth
    )
    assert api_answer.status_code == 409  # the same refusal through the JSON route
