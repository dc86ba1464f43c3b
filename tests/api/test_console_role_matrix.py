"""The role matrix over the console's pages as over the API: every GET page of /console answers
each role exactly as the app/ function behind it (the one its JSON route calls) lets that role
in, carries a strict Content-Security-Policy, and answers 404 for another firm's ids."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from temporalio.client import Client

from api.deps import Services
from api.main import create_app
from app import branding as app_branding
from app import checklists as app_checklists
from app import clients as app_clients
from app import documents as app_documents
from app import erasure as app_erasure
from app import imports as app_imports
from app import notifications as app_notifications
from app import onboardings as app_onboardings
from app import templates as app_templates
from app import users as app_users
from app import webhooks as app_webhooks
from app.roles import ADMINISTRATORS, ANY_ROLE, CONFIGURERS
from core.settings import Settings
from devstack.serving import serve_app
from devstack.smtp_sink import SmtpSink
from domain.setup import Role
from store import checklists, imports, partners, templates, webhooks
from store.pool import Pool
from tests.console_helpers import as_user, assert_strict, fresh_ip_limit, sign_in_as
from tests.factories import Tenant, make_client, make_tenant

__all__ = ["fresh_ip_limit"]  # the sign-in budget fixture, autouse here too

# Pages of the sign-in itself: answered before anyone is known, so no role applies.
SIGN_IN_PAGES = {
    "/console",
    "/console/",
    "/console/sign-in",
    "/console/sign-in/sent",
    "/console/sign-in/{token}",
    "/console/two-factor",
    "/console/two-factor/setup",
    "/console/static/{name}",
}

# Each signed-in GET page -> (the app/ function its JSON route calls, the roles it lets in).
# A function without its own role check reads for any member of the firm (ANY_ROLE).
PAGES: dict[str, tuple[Callable[..., Any], tuple[Role, ...]]] = {
    "/console/clients": (app_clients.list_clients, ANY_ROLE),
    "/console/clients.csv": (app_clients.list_clients, ANY_ROLE),
    "/console/clients/new": (app_onboardings.start, app_onboardings.START_ROLES),
    "/console/clients/{client_id}": (app_clients.read_client, ANY_ROLE),
    "/console/clients/{client_id}/erase": (
        app_erasure.erase_personal_data,
        app_erasure.ERASE_ROLES,
    ),
    "/console/clients/{client_id}/documents": (app_documents.by_fiscal_year, ANY_ROLE),
    "/console/onboardings/{onboarding_id}": (app_onboardings.read_status, ANY_ROLE),
    "/console/onboardings/{onboarding_id}/timeline": (app_onboardings.read_status, ANY_ROLE),
    "/console/attention": (app_onboardings.needing_attention, ANY_ROLE),
    "/console/imports": (app_imports.read, ANY_ROLE),
    "/console/imports/{import_id}": (app_imports.read, ANY_ROLE),
    "/console/imports/{import_id}/progress": (app_imports.read, ANY_ROLE),
    "/console/imports/{import_id}/report.csv": (app_imports.report, ANY_ROLE),
    "/console/settings": (app_templates.list_templates, ANY_ROLE),
    "/console/settings/templates": (app_templates.list_templates, ANY_ROLE),
    "/console/settings/templates/new": (app_templates.create_template, CONFIGURERS),
    "/console/settings/templates/{template_id}": (app_templates.get_template, ANY_ROLE),
    "/console/settings/billing": (app_templates.read_billing, ANY_ROLE),
    "/console/settings/users": (app_users.list_users, ADMINISTRATORS),
    "/console/settings/api-keys": (app_users.list_keys, ADMINISTRATORS),
    "/console/settings/branding": (app_branding.current, ANY_ROLE),
    "/console/settings/branding/preview/page": (app_branding.parse, ANY_ROLE),
    "/console/settings/branding/preview/email": (app_branding.parse, ANY_ROLE),
    "/console/settings/webhooks": (app_webhooks.list_endpoints, ADMINISTRATORS),
    "/console/settings/webhooks/{endpoint_id}": (app_webhooks.read, ADMINISTRATORS),
    "/console/settings/checklists": (app_checklists.list_checklists, ANY_ROLE),
    "/console/settings/checklists/new": (app_checklists.create, CONFIGURERS),
    "/console/settings/checklists/{checklist_id}": (app_checklists.read, ANY_ROLE),
    "/console/settings/notifications": (app_notifications.read_default, ANY_ROLE),
}


def assert_no_inline_script(answer: httpx.Response, path: str) -> None:
    """The answer's CSP runs no inline script: its script-src (or, without one, its
    default-src) has no 'unsafe-inline' or 'unsafe-eval'. The e-mail preview may inline styles
    (an e-mail has nothing else), never scripts."""
    csp = answer.headers.get("content-security-policy")
    assert csp, f"{path}: no Content-Security-Policy"
    parts = [d.strip().partition(" ") for d in csp.split(";") if d.strip()]
    directives = {name: value for name, _, value in parts}
    scripts = directives.get("script-src", directives.get("default-src"))
    assert scripts is not None, f"{path}: {csp}"
    assert "unsafe-inline" not in scripts and "unsafe-eval" not in scripts, f"{path}: {csp}"
    assert answer.headers["x-content-type-options"] == "nosniff", path


def _routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # an included router (FastAPI >= 0.16x)
            yield from _routes(route.original_router.routes)


def console_get_routes(app: Any) -> set[str]:
    """Every GET route of the app under /console."""
    return {
        route.path
        for route in _routes(app.routes)
        if "GET" in (route.methods or set()) and route.path.startswith("/console")
    }


@pytest.fixture
async def served(
    settings: Settings, pool: Pool, client: Client
) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """The API app itself (to list its routes) and a client for it served by real uvicorn."""
    app = create_app(settings, services=Services(settings=settings, pool=pool, temporal=client))
    async with serve_app(app) as http:
        yield app, http


async def _objects(pool: Pool, tenant: Tenant) -> dict[str, str]:
    """One real object of the firm for every id a console path names."""
    onboarding_id, client_id = await make_client(pool, tenant, name="Matrix SARL")
    template = await templates.get_default(pool, partner_id=tenant.partner.id)
    assert template is not None
    checklist = await checklists.create(
        pool,
        partner_id=tenant.partner.id,
        checklist_id=uuid.uuid4(),
        name="Pièces",
        language="fr",
        items=[{"key": "kbis", "label": "Kbis", "kind": "document", "required": True}],
    )
    endpoint = await webhooks.create_endpoint(
        pool,
        partner_id=tenant.partner.id,
        url=f"https://hooks.{uuid.uuid4().hex[:6]}.example/in",
        event_types=["onboarding.ready"],
        secret="whsec_" + "B" * 32,
        created_by=tenant.admin.id,
    )
    import_id = uuid.uuid4()
    await imports.create(
        pool,
        import_id=import_id,
        partner_id=tenant.partner.id,
        idempotency_key=str(import_id),
        request_hash=hashlib.sha256(import_id.bytes).hexdigest(),
        workflow_id=f"import-{import_id}",
        filename="clients.csv",
        created_by=tenant.admin.id,
        rows=[(2, None, None, [{"field": "email", "message": "missing"}])],
    )
    return {
        "client_id": str(client_id),
        "onboarding_id": str(onboarding_id),
        "template_id": str(template.id),
        "checklist_id": str(checklist.id),
        "endpoint_id": str(endpoint.id),
        "import_id": str(import_id),
    }


# The previews show the branding their query gives, as the branding form links to them.
QUERIES = {
    "/console/settings/branding/preview/page": "?display_name=Cabinet",
    "/console/settings/branding/preview/email": "?display_name=Cabinet",
}


def _filled(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path) + QUERIES.get(path, "")


async def _member_email(pool: Pool, tenant: Tenant, role: Role) -> str:
    if role is Role.administrator:
        return tenant.admin.email
    user = await partners.create_user(
        pool,
        partner_id=tenant.partner.id,
        email=f"{role.value}-{uuid.uuid4().hex[:6]}@example.com",
        name=f"{role.value} user",
        role=role,
        language="en",
    )
    assert user is not None
    return user.email


async def test_every_console_get_page_has_its_role_rule(
    served: tuple[Any, httpx.AsyncClient],
) -> None:
    """A new console page fails here until it names the app/ function and roles it follows."""
    app, _ = served
    unmapped = console_get_routes(app) - SIGN_IN_PAGES - PAGES.keys()
    assert not unmapped, f"console pages without a role rule in PAGES: {sorted(unmapped)}"
    gone = PAGES.keys() - console_get_routes(app)
    assert not gone, f"PAGES names routes the app no longer has: {sorted(gone)}"


@pytest.mark.parametrize("role", list(Role))
async def test_console_pages_let_in_exactly_the_roles_the_api_lets_in(
    served: tuple[Any, httpx.AsyncClient],
    smtp_sink: SmtpSink,
    pool: Pool,
    tenant: Tenant,
    role: Role,
) -> None:
    """Each page answers 200 (or its redirect) to a role its app/ function lets in and 403 or
    404 to any other, always with a CSP allowing no inline script."""
    _, http = served
    ids = await _objects(pool, tenant)
    cookie, _ = await sign_in_as(http, smtp_sink, await _member_email(pool, tenant, role))
    wrong: list[str] = []
    for path, (function, allowed) in sorted(PAGES.items()):
        answer = await http.get(_filled(path, ids), headers=as_user(cookie))
        expected = "let in" if role in allowed else "refused"
        if role in allowed:
            ok = answer.status_code in (200, 303)
        else:
            ok = answer.status_code in (403, 404)
        if not ok:
            wrong.append(f"{path}: {answer.status_code}, {function.__name__} says {expected}")
        if answer.status_code != 303:
            assert_no_inline_script(answer, path)
    assert not wrong, wrong


async def test_sign_in_pages_carry_the_strict_policy_too(
    served: tuple[Any, httpx.AsyncClient],
) -> None:
    """The pages before sign-in answer with the same CSP (no inline script)."""
    _, http = served
    for path in ("/console/sign-in", "/console/sign-in/sent", "/console/sign-in/not-a-token"):
        answer = await http.get(path)
        assert answer.status_code in (200, 400, 404, 410), (path, answer.status_code)
        assert_strict(answer)
        assert_no_inline_script(answer, path)


async def test_every_console_page_with_another_firms_ids_is_not_found(
    served: tuple[Any, httpx.AsyncClient], smtp_sink: SmtpSink, pool: Pool, tenant: Tenant
) -> None:
    """Every page that names an object answers 404 for another firm's object, to an
    administrator (who may open every page)."""
    _, http = served
    other = await make_tenant(pool, "Cabinet Voisin")
    theirs = await _objects(pool, other)
    cookie, _ = await sign_in_as(http, smtp_sink, tenant.admin.email)
    with_ids = [path for path in PAGES if "{" in path]
    assert with_ids
    for path in with_ids:
        answer = await http.get(_filled(path, theirs), headers=as_user(cookie))
        assert answer.status_code == 404, (path, answer.status_code)
        assert "Matrix SARL" not in answer.text
