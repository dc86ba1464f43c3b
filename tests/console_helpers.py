"""What the console's tests share: signing in, CSRF tokens, hostile inputs, strict page checks."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from api.console import CSRF_FIELD
from api.pages.form_guard import FORM_FIELD
from app import sign_in
from devstack.smtp_sink import SmtpSink
from domain.onboarding import client_id_for
from domain.setup import Role
from store import applied_setup, clients, limits, onboardings, partners
from store.pool import Pool
from tests.eventually import eventually
from tests.factories import Tenant

COOKIE = "console_session"


EVIL = "https://evil.example"


HOSTILE = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>')


@pytest.fixture(autouse=True)
async def fresh_ip_limit(pool: Pool) -> AsyncIterator[None]:
    """Every test here asks from 127.0.0.1: each starts with that IP's sign-in budget full."""
    key = f"console-sign-in:ip:{sign_in.digest('127.0.0.1')}"
    await limits.forget(pool, key=key)
    yield
    await limits.forget(pool, key=key)


def assert_strict(response: httpx.Response) -> None:
    """The page carries a CSP allowing no inline script or style, and is not framed."""
    csp = response.headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"


def cookie_of(response: httpx.Response) -> tuple[str, str]:
    """(value, attributes) of the session cookie the response sets."""
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        if name == COOKIE:
            value, _, attributes = rest.partition(";")
            return value, attributes.lower()
    raise AssertionError(response.headers)


async def ask_link(
    http: httpx.AsyncClient, smtp_sink: SmtpSink, email: str, *, next_path: str = ""
) -> str:
    """Ask for a sign-in link and read its path from the e-mail the sink received."""
    smtp_sink.handler.clear()
    asked = await http.post("/console/sign-in", data={"email": email, "next": next_path})
    assert asked.status_code == 303, asked.text
    assert asked.headers["location"].endswith("/console/sign-in/sent")
    [mail] = await smtp_sink.handler.arrived(1)
    assert mail.rcpt_tos == [email]
    text = mail.message.get_body(preferencelist=("plain",))
    assert text is not None
    match = re.search(r"https?://[^/\s]+(/console/sign-in/\S+)", text.get_content())
    assert match, text.get_content()
    return match.group(1)


async def sign_in_as(
    http: httpx.AsyncClient,
    smtp_sink: SmtpSink,
    email: str,
    *,
    next_path: str = "",
    cookie: str | None = None,
) -> tuple[str, httpx.Response]:
    """Sign in from the e-mailed link; (session cookie, the answer to the link's form)."""
    link = await ask_link(http, smtp_sink, email, next_path=next_path)
    opened = await http.get(link)
    assert opened.status_code == 200, opened.text
    assert_strict(opened)
    headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie else {}
    used = await http.post(link, headers=headers)
    assert used.status_code == 303, used.text
    value, _ = cookie_of(used)
    return value, used


def as_user(cookie: str) -> dict[str, str]:
    return {"Cookie": f"{COOKIE}={cookie}"}


def csrf_of(page: httpx.Response) -> str:
    match = re.search(rf'name="{CSRF_FIELD}" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


BODY: dict[str, Any] = {
    "client": {
        "first_name": "Inès",
        "last_name": "Garnier",
        "email": "ines@garnier.example",
        "language": "fr",
        "company_name": "Garnier SAS",
    },
    "fiscal_year": {"start": "2026-01-01"},
    "director": {"email": "ines@garnier.example", "first_name": "Inès", "last_name": "Garnier"},
    "invitation": {"mode": "manual"},
}


async def _until_invitation(
    http: httpx.AsyncClient, tenant: Tenant, onboarding_id: str, state: str
) -> dict[str, Any]:

    async def view() -> dict[str, Any]:
        answer = await http.get(f"/v1/onboardings/{onboarding_id}", headers=tenant.auth)
        body: dict[str, Any] = answer.json()
        return body

    return await eventually(
        view,
        until=lambda v: v.get("invitation", {}).get("state") == state,
        what=f"the invitation {state}",
        within=20,
    )


PLANS = [
    {"code": "essentials", "name": "Essentials", "add_ons": [{"code": "ocr", "name": "OCR"}]},
    {"code": "premium", "name": "Premium", "add_ons": [{"code": "payroll", "name": "Payroll"}]},
]


async def ready_client(pool: Pool, tenant: Tenant, *, name: str = "Dubois Conseil") -> uuid.UUID:
    """A client whose onboarding applied `essentials` and completed its setup."""
    onboarding_id = uuid.uuid4()
    await onboardings.claim(
        pool,
        onboarding_id=onboarding_id,
        partner_id=tenant.partner.id,
        idempotency_key=str(onboarding_id),
        request_hash="h",
        workflow_id=f"onboarding-{onboarding_id}",
        status="READY",
    )
    row, _ = await clients.create(
        pool,
        client_id=client_id_for(onboarding_id),
        partner_id=tenant.partner.id,
        onboarding_id=onboarding_id,
        name=name,
        email="dubois@example.com",
        language="fr",
    )
    await applied_setup.apply_subscription(
        pool,
        client_id=row.id,
        plan="essentials",
        add_ons=["ocr"],
        payer="client",
        billing_period="monthly",
    )
    await clients.complete_setup(pool, client_id=row.id, keep_muted=False)
    return row.id


async def _refused(
    http: httpx.AsyncClient, cookie: str, token: str, action: str, data: dict[str, Any]
) -> None:
    missing = await http.post(action, data=data, headers=as_user(cookie))
    wrong = await http.post(action, data={**data, CSRF_FIELD: "x" * 43}, headers=as_user(cookie))
    crossed = await http.post(
        action, data={**data, CSRF_FIELD: token}, headers={**as_user(cookie), "Origin": EVIL}
    )
    assert [r.status_code for r in (missing, wrong, crossed)] == [403] * 3


async def _user(pool: Pool, tenant: Tenant, role: Role, name: str) -> partners.UserRow:
    user = await partners.create_user(
        pool,
        partner_id=tenant.partner.id,
        email=f"{role.value}-{uuid.uuid4().hex[:6]}@example.com",
        name=name,
        role=role,
    )
    assert user is not None
    return user


NEW = "/console/clients/new"


def nonce_of(page: httpx.Response) -> str:
    match = re.search(r'name="form_id" value="([0-9a-f]{32})"', page.text)
    assert match, page.text
    return match.group(1)


async def open_form(
    http: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant
) -> tuple[dict[str, str], httpx.Response]:
    cookie, _ = await sign_in_as(http, smtp_sink, tenant.admin.email)
    page = await http.get(NEW, headers=as_user(cookie))
    assert page.status_code == 200, page.text
    return as_user(cookie), page


def filled(page: httpx.Response, **changes: str) -> dict[str, str]:
    """The form as a person fills it for Inès Garnier, from the page's own hidden fields."""
    form = {
        "csrf_token": csrf_of(page),
        "form_id": nonce_of(page),
        "first_name": "Inès",
        "last_name": "Garnier",
        "email": "ines@garnier.example",
        "language": "fr",
        "company_name": "Garnier SAS",
        "siret": "",
        "case_manager": "Ada",
        "template_id": re.findall(r'<option value="([0-9a-f-]{36})" selected>', page.text)[0],
        "fy_start": "2026-01-01",
        "fy_end": "",
        "invitation_mode": "manual",
        "scheduled_at": "",
        "notifications": "on",
    }
    form.update(changes)
    return form


BROWSER = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Authorization": "",  # the token is the director's only credential
}


FORM_INPUT = re.compile(rf'name="{FORM_FIELD}" value="([^"]+)"')


async def client_page(http: httpx.AsyncClient, cookie: str, client_id: uuid.UUID) -> httpx.Response:
    """The console's page of one client, as the signed-in user sees it (200, strict headers)."""
    page = await http.get(f"/console/clients/{client_id}", headers=as_user(cookie))
    assert page.status_code == 200, page.text
    assert_strict(page)
    return page
