"""The firm's console over the real stack (uvicorn, PostgreSQL, SMTP sink, Temporal worker):
passwordless sign-in and sessions, the pages and their security (CSRF, Origin, CSP, tenancy,
escaping, redirects)."""

from __future__ import annotations

import base64
import re
import time
import uuid
from datetime import datetime, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from api.console import CSRF_FIELD, cookie_name, cookie_secure
from api.console.texts import LANGUAGES, TEXTS
from app import sign_in, two_factor
from core.settings import Environment, Settings
from devstack.smtp_sink import SmtpSink
from domain import totp
from domain.onboarding import client_id_for
from domain.setup import Role
from store import clients, console, partners
from store.pool import Pool
from tests.console_helpers import (  # noqa: F401  (pytest fixtures: fresh_ip_limit)
    BODY,
    EVIL,
    HOSTILE,
    _until_invitation,
    as_user,
    ask_link,
    assert_strict,
    cookie_of,
    csrf_of,
    fresh_ip_limit,
    sign_in_as,
)
from tests.eventually import activities_scheduled, updates_accepted
from tests.factories import Tenant, make_client, make_tenant

# -- sign-in ------------------------------------------------------------------------------------


async def test_root_lands_on_the_sign_in_page_when_signed_out(
    api_server: httpx.AsyncClient,
) -> None:
    """`/` -> the clients -> the sign-in page (remembering where to go), with an e-mail field."""
    root = await api_server.get("/")
    assert root.status_code == 303 and root.headers["location"] == "/console/clients"
    clients_page = await api_server.get("/console/clients")
    assert clients_page.status_code == 303
    assert clients_page.headers["location"] == "/console/sign-in?next=%2Fconsole%2Fclients"
    page = await api_server.get(clients_page.headers["location"])
    assert page.status_code == 200
    assert_strict(page)
    assert '<input type="email" id="email" name="email"' in page.text
    assert 'name="next" value="/console/clients"' in page.text


async def test_sign_in_link_signs_in_once_with_a_strict_cookie(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """The first administrator signs in at once from the link; the link works once only."""
    link = await ask_link(api_server, smtp_sink, tenant.admin.email)
    used = await api_server.post(link)
    assert used.status_code == 303 and used.headers["location"] == "/console/clients"
    cookie, attributes = cookie_of(used)
    assert "httponly" in attributes and "samesite=lax" in attributes
    assert "secure" in attributes  # ONBOARDING_ENV=test: outside development
    page = await api_server.get("/console/clients", headers=as_user(cookie))
    assert page.status_code == 200
    assert_strict(page)
    assert tenant.partner.name in page.text
    signed_in = await api_server.get("/console/sign-in", headers=as_user(cookie))
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/console/clients"
    again = await api_server.post(link)
    assert again.status_code == 400
    assert "set-cookie" not in again.headers
    reopened = await api_server.get(link)
    assert reopened.status_code == 400


async def test_sign_in_answers_the_same_whether_the_address_is_known(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """An unknown address gets the same answer and no e-mail; a known one gets its link."""
    unknown = await api_server.post("/console/sign-in", data={"email": "nobody@nowhere.example"})
    known = await api_server.post("/console/sign-in", data={"email": tenant.admin.email})
    assert (unknown.status_code, unknown.headers["location"]) == (
        known.status_code,
        known.headers["location"],
    )
    # Exact, not "wait and see": an e-mail carries a link stored before the answer, and the
    # unknown address has no user to store one for (test_sign_in_from_another_origin_... reads
    # that table).
    received = await smtp_sink.handler.arrived(1)
    assert [m.rcpt_tos for m in smtp_sink.handler.messages] == [[tenant.admin.email]]
    assert len(received) == 1


async def test_sign_in_form_refuses_a_malformed_address_keeping_it(
    api_server: httpx.AsyncClient,
) -> None:
    """The form comes back with the field's error, linked from the summary, the value kept."""
    page = await api_server.post("/console/sign-in", data={"email": "not-an-address"})
    assert page.status_code == 422
    assert 'href="#email"' in page.text and 'value="not-an-address"' in page.text
    assert 'aria-describedby="email-hint email-error"' in page.text


async def test_sign_in_link_expired_or_altered_is_refused(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant, pool: Pool
) -> None:
    """An altered link and an expired one sign nobody in."""
    link = await ask_link(api_server, smtp_sink, tenant.admin.email)
    altered = link[:-2] + ("AA" if not link.endswith("AA") else "BB")
    refused = await api_server.post(altered)
    assert refused.status_code == 400 and "set-cookie" not in refused.headers
    token = link.rsplit("/", 1)[1]
    await pool.execute(
        "UPDATE console_sign_in_links SET expires_at = now() - interval '1 second' "
        "WHERE token_hash = $1",
        sign_in.digest(token),
    )
    expired = await api_server.post(link)
    assert expired.status_code == 400 and "set-cookie" not in expired.headers


async def test_sign_in_is_rate_limited_per_address(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, pool: Pool
) -> None:
    """Past the address's burst, the next request is refused (429, Retry-After)."""
    address = f"someone-{uuid.uuid4().hex[:8]}@example.com"
    for _ in range(sign_in.ADDRESS_BURST):
        asked = await api_server.post("/console/sign-in", data={"email": address})
        assert asked.status_code == 303
    refused = await api_server.post("/console/sign-in", data={"email": address.upper()})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert_strict(refused)


async def test_sign_in_from_another_origin_is_refused(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant, pool: Pool
) -> None:
    """A page elsewhere cannot make a browser ask for (or use) a link."""
    refused = await api_server.post(
        "/console/sign-in", data={"email": tenant.admin.email}, headers={"Origin": EVIL}
    )
    assert refused.status_code == 403
    # Exact, not "wait and see": the e-mail is sent after the answer, but only with a link
    # stored before it; none was.
    links = await pool.fetchval(
        "SELECT count(*) FROM console_sign_in_links WHERE user_id = $1", tenant.admin.id
    )
    assert links == 0


async def test_session_id_changes_at_sign_in_and_the_old_one_ends(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """Signing in again gives a new id; the one presented before no longer works, nor does
    one planted before sign-in."""
    first, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email, cookie="planted")
    assert first != "planted"
    second, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email, cookie=first)
    assert second != first
    old = await api_server.get("/console/clients", headers=as_user(first))
    assert old.status_code == 303 and "/console/sign-in" in old.headers["location"]
    planted = await api_server.get("/console/clients", headers=as_user("planted"))
    assert planted.status_code == 303
    assert (await api_server.get("/console/clients", headers=as_user(second))).status_code == 200


async def test_sign_out_ends_the_session_for_good(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """Without its CSRF token or from another origin sign-out is refused; with it the old
    cookie no longer signs in."""
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    page = await api_server.get("/console/clients", headers=as_user(cookie))
    token = csrf_of(page)
    missing = await api_server.post("/console/sign-out", headers=as_user(cookie))
    assert missing.status_code == 403
    crossed = await api_server.post(
        "/console/sign-out", data={CSRF_FIELD: token}, headers={**as_user(cookie), "Origin": EVIL}
    )
    assert crossed.status_code == 403
    assert (await api_server.get("/console/clients", headers=as_user(cookie))).status_code == 200
    out = await api_server.post(
        "/console/sign-out", data={CSRF_FIELD: token}, headers=as_user(cookie)
    )
    assert out.status_code == 303 and out.headers["location"] == "/console/sign-in?signed_out=1"
    after = await api_server.get("/console/clients", headers=as_user(cookie))
    assert after.status_code == 303


async def test_session_past_its_idle_time_signs_nobody_in(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant, pool: Pool
) -> None:
    """A session unused for longer than the idle expiry is over."""
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    await pool.execute(
        "UPDATE console_sessions SET last_seen_at = now() - make_interval(secs => $2) "
        "WHERE id_hash = $1",
        sign_in.digest(cookie),
        sign_in.SESSION_IDLE.total_seconds() + 1,
    )
    assert (await api_server.get("/console/clients", headers=as_user(cookie))).status_code == 303


async def test_after_sign_in_only_our_own_paths_are_followed(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """A `next` outside the console (another site, a scheme-relative URL) lands on the clients."""
    for target in (f"{EVIL}/x", "//evil.example/console/", "/console/..//evil.example", "/v1/x"):
        _, used = await sign_in_as(api_server, smtp_sink, tenant.admin.email, next_path=target)
        assert used.headers["location"] == "/console/clients", target


# -- pages --------------------------------------------------------------------------------------


async def test_staff_email_link_opens_the_client_page_after_sign_in(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant, pool: Pool
) -> None:
    """The e-mails' client link: sign-in first, then back to it, which is the client's page."""
    onboarding_id, client_id = await make_client(pool, tenant, name="Boulangerie Lefèvre")
    path = f"/console/onboardings/{onboarding_id}"
    first = await api_server.get(path)
    assert first.status_code == 303
    assert first.headers["location"] == f"/console/sign-in?next={quote(path, safe='')}"
    cookie, used = await sign_in_as(api_server, smtp_sink, tenant.admin.email, next_path=path)
    assert used.headers["location"] == path
    landed = await api_server.get(path, headers=as_user(cookie))
    assert landed.status_code == 303
    assert landed.headers["location"] == f"/console/clients/{client_id}"
    page = await api_server.get(landed.headers["location"], headers=as_user(cookie))
    assert page.status_code == 200
    assert_strict(page)
    assert "Boulangerie Lefèvre" in page.text


async def test_pages_for_another_firms_objects_are_not_found(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant, pool: Pool
) -> None:
    """Another firm's client and onboarding are 404 on every page and form, like unknown ids."""
    other = await make_tenant(pool, "Another firm")
    onboarding_id, client_id = await make_client(pool, other, name="Not yours")
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    page = await api_server.get("/console/clients", headers=as_user(cookie))
    token = csrf_of(page)
    assert "Not yours" not in page.text
    for path in (
        f"/console/clients/{client_id}",
        f"/console/onboardings/{onboarding_id}",
        f"/console/onboardings/{onboarding_id}/timeline",
        f"/console/clients/{uuid.uuid4()}",
        "/console/clients/not-a-uuid",
    ):
        answer = await api_server.get(path, headers=as_user(cookie))
        assert answer.status_code == 404, path
        assert "Not yours" not in answer.text
    for action in ("send", "reschedule"):
        answer = await api_server.post(
            f"/console/onboardings/{onboarding_id}/invitation/{action}",
            data={CSRF_FIELD: token, "scheduled_at": "2030-01-01T09:00"},
            headers=as_user(cookie),
        )
        assert answer.status_code == 404, action


async def test_hostile_names_render_as_text(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant, pool: Pool
) -> None:
    """Markup in a client's name or case manager is shown, never run."""
    made = []
    for name in HOSTILE:
        _, client_id = await make_client(pool, tenant, name=name)
        await clients.update_fields(
            pool, partner_id=tenant.partner.id, client_id=client_id, changes={"case_manager": name}
        )
        made.append(client_id)
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    pages = [await api_server.get("/console/clients", headers=as_user(cookie))]
    pages += [await api_server.get(f"/console/clients/{c}", headers=as_user(cookie)) for c in made]
    pages.append(
        await api_server.get("/console/clients", params={"q": HOSTILE[0]}, headers=as_user(cookie))
    )
    for page in pages:
        assert page.status_code == 200
        assert "<script>alert(1)</script>" not in page.text
        assert "<img src=x" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[0].text
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in pages[0].text


async def test_clients_list_puts_mine_first_and_filters(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant, pool: Pool
) -> None:
    """The user's own clients (case manager) come first; search and filters narrow the list."""
    _, theirs = await make_client(pool, tenant, name="Zèbre Conseil")
    _, mine = await make_client(pool, tenant, name="Abeille Services")
    await clients.update_fields(
        pool,
        partner_id=tenant.partner.id,
        client_id=theirs,
        changes={"case_manager": tenant.admin.name},
    )
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    page = await api_server.get("/console/clients", headers=as_user(cookie))
    assert page.text.index("Zèbre Conseil") < page.text.index("Abeille Services")
    found = await api_server.get(
        "/console/clients", params={"q": "abeille"}, headers=as_user(cookie)
    )
    assert "Abeille Services" in found.text and "Zèbre Conseil" not in found.text
    week = await api_server.get(
        "/console/clients", params={"this_week": "1"}, headers=as_user(cookie)
    )
    assert week.status_code == 200 and "Abeille Services" not in week.text
    assert str(mine) in page.text


async def test_static_assets_are_served_from_our_origin(api_server: httpx.AsyncClient) -> None:
    """The stylesheet and script the CSP allows; nothing else under /console/static."""
    page = await api_server.get("/console/sign-in")
    css = re.search(r'href="(/console/static/console\.css\?v=\w+)"', page.text)
    assert css
    served = await api_server.get(css.group(1))
    assert served.status_code == 200 and served.headers["content-type"].startswith("text/css")
    js = await api_server.get("/console/static/console.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert (await api_server.get("/console/static/..%2Fpyproject.toml")).status_code == 404


# -- the invitation's actions, with a real onboarding --------------------------------------------


async def test_send_now_needs_its_csrf_token_and_our_origin_and_happens_once(
    api_server: httpx.AsyncClient,
    worker: Worker,
    client: Client,
    smtp_sink: SmtpSink,
    tenant: Tenant,
) -> None:
    """A form without the token, or from another origin, changes nothing; the real one sends
    the invitation (post-redirect-get); submitting it again sends nothing more."""
    started = await api_server.post(
        "/v1/onboardings",
        json=BODY,
        headers={"Idempotency-Key": f"console-{uuid.uuid4()}", **tenant.auth},
    )
    assert started.status_code == 202, started.text
    onboarding_id = started.json()["id"]
    await _until_invitation(api_server, tenant, onboarding_id, "waiting_manual")
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    smtp_sink.handler.clear()
    page_path = f"/console/clients/{client_id_for(uuid.UUID(onboarding_id))}"
    page = await api_server.get(page_path, headers=as_user(cookie))
    assert page.status_code == 200 and "Garnier" in page.text
    token = csrf_of(page)
    action = f"/console/onboardings/{onboarding_id}/invitation/send"

    missing = await api_server.post(action, headers=as_user(cookie))
    wrong = await api_server.post(action, data={CSRF_FIELD: "x" * 43}, headers=as_user(cookie))
    crossed = await api_server.post(
        action, data={CSRF_FIELD: token}, headers={**as_user(cookie), "Origin": EVIL}
    )
    fetched = await api_server.post(
        action,
        data={CSRF_FIELD: token},
        headers={**as_user(cookie), "Sec-Fetch-Site": "cross-site"},
    )
    assert [r.status_code for r in (missing, wrong, crossed, fetched)] == [403] * 4
    assert_strict(missing)
    handle = client.get_workflow_handle(f"onboarding-{onboarding_id}")
    assert await updates_accepted(handle) == 0  # the refused forms never reached the workflow
    view = await _until_invitation(api_server, tenant, onboarding_id, "waiting_manual")
    assert view["invitation"]["state"] == "waiting_manual"

    sent = await api_server.post(action, data={CSRF_FIELD: token}, headers=as_user(cookie))
    assert sent.status_code == 303
    assert sent.headers["location"] == f"/console/onboardings/{onboarding_id}?done=sent"
    [mail] = await smtp_sink.handler.arrived(1)
    assert mail.rcpt_tos == ["ines@garnier.example"]
    again = await api_server.post(action, data={CSRF_FIELD: token}, headers=as_user(cookie))
    assert again.status_code == 409
    assert_strict(again)
    assert await activities_scheduled(handle, "send_invitation") == 1
    assert len(smtp_sink.handler.messages) == 1


async def test_reschedule_in_the_past_gives_the_form_back_with_the_error(
    api_server: httpx.AsyncClient, worker: Worker, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """A time already past: 422, the field's error in the user's language, the value kept."""
    started = await api_server.post(
        "/v1/onboardings",
        json=BODY,
        headers={"Idempotency-Key": f"console-{uuid.uuid4()}", **tenant.auth},
    )
    onboarding_id = started.json()["id"]
    await _until_invitation(api_server, tenant, onboarding_id, "waiting_manual")
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    page = await api_server.get(f"/console/onboardings/{onboarding_id}", headers=as_user(cookie))
    page = await api_server.get(page.headers["location"], headers=as_user(cookie))
    answer = await api_server.post(
        f"/console/onboardings/{onboarding_id}/invitation/reschedule",
        data={CSRF_FIELD: csrf_of(page), "scheduled_at": "2020-01-01T09:00"},
        headers=as_user(cookie),
    )
    assert answer.status_code == 422
    assert "Cette heure est passée" in answer.text  # the administrator reads French
    assert 'value="2020-01-01T09:00"' in answer.text and 'href="#scheduled_at"' in answer.text
    later = await api_server.post(
        f"/console/onboardings/{onboarding_id}/invitation/reschedule",
        data={CSRF_FIELD: csrf_of(page), "scheduled_at": "2099-01-01T09:00"},
        headers=as_user(cookie),
    )
    assert later.status_code == 422  # past the horizon
    when = (datetime.now(ZoneInfo("Europe/Paris")) + timedelta(days=3)).replace(
        hour=9, minute=30, second=0, microsecond=0
    )
    soon = await api_server.post(
        f"/console/onboardings/{onboarding_id}/invitation/reschedule",
        data={CSRF_FIELD: csrf_of(page), "scheduled_at": when.strftime("%Y-%m-%dT%H:%M")},
        headers=as_user(cookie),
    )
    assert soon.status_code == 303, soon.text
    view = await _until_invitation(api_server, tenant, onboarding_id, "scheduled")
    # Typed in the firm's time zone (Europe/Paris), kept as that instant.
    assert datetime.fromisoformat(view["invitation"]["scheduled_at"]) == when
    shown = await api_server.get(soon.headers["location"], headers=as_user(cookie))
    shown = await api_server.get(shown.headers["location"], headers=as_user(cookie))
    assert "L&#39;invitation est replanifiée." in shown.text or "replanifiée" in shown.text
    assert f"{when:%H:%M}" in shown.text


def test_console_texts_every_language_has_every_key() -> None:
    """fr, nl, en and de each say everything the pages say, with the same placeholders."""
    english = TEXTS["en"]
    for language in LANGUAGES:
        assert set(TEXTS[language]) == set(english), language
        for key, text in TEXTS[language].items():
            assert set(re.findall(r"{(\w+)}", text)) == set(re.findall(r"{(\w+)}", english[key]))


def test_session_cookie_is_host_bound_over_https_and_secure_outside_development() -> None:
    """`__Host-` over https; Secure everywhere but a development stack served over http."""
    https = Settings(env=Environment.test, public_base_url="https://onboarding.example")
    assert (cookie_name(https), cookie_secure(https)) == ("__Host-console", True)
    test = Settings(env=Environment.test, public_base_url="http://127.0.0.1:8000")
    assert (cookie_name(test), cookie_secure(test)) == ("console_session", True)
    dev = Settings(env=Environment.development, public_base_url="http://127.0.0.1:8000")
    assert (cookie_name(dev), cookie_secure(dev)) == ("console_session", False)


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "/console//evil.example",
        "/v1/clients",
        "/console/x\r\nSet-Cookie: a=b",
        "",
        None,
    ],
)
def test_safe_next_keeps_only_console_paths(target: str | None) -> None:
    """Nothing but the console's own paths is followed after sign-in (no open redirect)."""
    assert sign_in.safe_next(target) is None


def test_safe_next_keeps_a_console_page_with_its_query() -> None:
    """The page asked for, filters included, is where sign-in lands."""
    path = "/console/clients?q=dupont&page=2"
    assert sign_in.safe_next(path) == path


async def test_old_staff_email_links_open_the_console_in_a_browser(
    api_server: httpx.AsyncClient, tenant: Tenant, pool: Pool
) -> None:
    """A link to /v1/onboardings/{id} from an e-mail sent before the console: a browser goes to
    the client's page; an API caller still gets JSON (401 without a key, the view with one)."""
    onboarding_id, _ = await make_client(pool, tenant)
    path = f"/v1/onboardings/{onboarding_id}"
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    opened = await api_server.get(path, headers=browser)
    assert opened.status_code == 303
    assert opened.headers["location"] == f"/console/onboardings/{onboarding_id}"
    assert (await api_server.get(path)).status_code == 401
    with_key = await api_server.get(path, headers={**browser, **tenant.auth})
    assert with_key.status_code != 303  # no workflow behind this row: its problem, in JSON
    assert with_key.headers["content-type"].startswith("application/")


async def test_sign_in_forgets_links_and_sessions_long_over(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant, pool: Pool
) -> None:
    """Rows over for longer than KEEP_ENDED are deleted at the next sign-in; live ones stay."""
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    old = (sign_in.KEEP_ENDED.total_seconds() + 60) * -1
    await pool.execute(
        "UPDATE console_sessions SET ended_at = now() + make_interval(secs => $2) "
        "WHERE id_hash = $1",
        sign_in.digest(cookie),
        old,
    )
    await pool.execute(
        "UPDATE console_sign_in_links SET expires_at = now() + make_interval(secs => $2) "
        "WHERE user_id = $1",
        tenant.admin.id,
        old,
    )
    fresh, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    hashes = {
        r["id_hash"]
        for r in await pool.fetch(
            "SELECT id_hash FROM console_sessions WHERE user_id = $1", tenant.admin.id
        )
    }
    assert hashes == {sign_in.digest(fresh)}
    links = await pool.fetchval(
        "SELECT count(*) FROM console_sign_in_links WHERE user_id = $1", tenant.admin.id
    )
    assert links == 1  # the one just used


async def test_sign_in_link_never_reaches_a_log_line(
    api_server: httpx.AsyncClient,
    smtp_sink: SmtpSink,
    tenant: Tenant,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The link's token is a credential: the access log shows the path with it masked."""
    link = await ask_link(api_server, smtp_sink, tenant.admin.email)
    token = link.rsplit("/", 1)[1]
    caplog.clear()
    await api_server.get(link)
    await api_server.post(link)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "/console/sign-in/***" in logged
    assert token not in logged
    assert tenant.admin.email not in logged


# -- the second factor --------------------------------------------------------------------------


def code_now(secret: str, *, steps_ahead: int = 0) -> str:
    return totp.code_for_step(secret, totp.step_at(time.time()) + steps_ahead)


async def turn_on_two_factor(http: httpx.AsyncClient, cookie: str) -> str:
    """Set up the second factor as a user would; its secret."""
    page = await http.get("/console/two-factor/setup", headers=as_user(cookie))
    assert page.status_code == 200
    assert_strict(page)
    match = re.search(r'<code id="totp-key">([A-Z2-7]+)</code>', page.text)
    assert match and "otpauth://totp/" in page.text
    secret = match.group(1)
    wrong = await http.post(
        "/console/two-factor/setup",
        data={CSRF_FIELD: csrf_of(page), "code": "000000"},
        headers=as_user(cookie),
    )
    if wrong.status_code != 422:  # 000000 was, by one chance in a million, the right code
        raise AssertionError(wrong.text)
    assert secret in wrong.text  # the same key again, to try another code
    on = await http.post(
        "/console/two-factor/setup",
        data={CSRF_FIELD: csrf_of(page), "code": code_now(secret)},
        headers=as_user(cookie),
    )
    assert on.status_code == 303
    shown = await http.get("/console/two-factor/setup", headers=as_user(cookie))
    assert '<code id="totp-key">' not in shown.text  # never shown again once on
    return secret


async def test_second_factor_is_asked_after_the_link_once_set_up(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """With TOTP on, the link alone opens nothing; a wrong code is refused with the field's
    error; the right one gives a new session id and lands on the page asked for."""
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    secret = await turn_on_two_factor(api_server, cookie)

    link = await ask_link(api_server, smtp_sink, tenant.admin.email, next_path="/console/clients")
    used = await api_server.post(link)
    assert used.status_code == 303
    assert used.headers["location"] == "/console/two-factor?next=%2Fconsole%2Fclients"
    pending, _ = cookie_of(used)
    blocked = await api_server.get("/console/clients", headers=as_user(pending))
    assert blocked.status_code == 303 and "/console/sign-in" in blocked.headers["location"]
    page = await api_server.get(used.headers["location"], headers=as_user(pending))
    assert page.status_code == 200
    assert_strict(page)
    assert 'autocomplete="one-time-code"' in page.text
    token = csrf_of(page)
    wrong = await api_server.post(
        "/console/two-factor",
        data={
            CSRF_FIELD: token,
            "code": code_now(secret, steps_ahead=5),
            "next": "/console/clients",
        },
        headers=as_user(pending),
    )
    assert wrong.status_code == 422 and 'href="#code"' in wrong.text
    crossed = await api_server.post(
        "/console/two-factor",
        data={CSRF_FIELD: token, "code": code_now(secret)},
        headers={**as_user(pending), "Origin": EVIL},
    )
    assert crossed.status_code == 403
    # The next step's code: the current one was spent turning it on.
    right = await api_server.post(
        "/console/two-factor",
        data={
            CSRF_FIELD: token,
            "code": code_now(secret, steps_ahead=1),
            "next": "/console/clients",
        },
        headers=as_user(pending),
    )
    assert right.status_code == 303 and right.headers["location"] == "/console/clients"
    full, _ = cookie_of(right)
    assert full != pending
    assert (await api_server.get("/console/clients", headers=as_user(full))).status_code == 200
    # The pending id ended with the upgrade.
    assert (
        await api_server.get("/console/two-factor", headers=as_user(pending))
    ).status_code == 303


async def test_second_factor_code_works_once(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """A code already used (or older than the last one used) signs nobody in again."""
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    secret = await turn_on_two_factor(api_server, cookie)
    link = await ask_link(api_server, smtp_sink, tenant.admin.email)
    pending, _ = cookie_of(await api_server.post(link))
    page = await api_server.get("/console/two-factor", headers=as_user(pending))
    # The code the setup used: its step is spent.
    replay = await api_server.post(
        "/console/two-factor",
        data={CSRF_FIELD: csrf_of(page), "code": code_now(secret)},
        headers=as_user(pending),
    )
    assert replay.status_code == 422
    later = await api_server.post(
        "/console/two-factor",
        data={CSRF_FIELD: csrf_of(page), "code": code_now(secret, steps_ahead=1)},
        headers=as_user(pending),
    )
    assert later.status_code == 303
    again = await api_server.post(
        "/console/two-factor",
        data={CSRF_FIELD: csrf_of(page), "code": code_now(secret, steps_ahead=1)},
        headers=as_user(pending),
    )
    assert again.status_code == 303 and "/console/sign-in" in again.headers["location"]


async def test_second_factor_guesses_are_rate_limited(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """Past the burst of wrong codes the session is told to wait (429)."""
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    await turn_on_two_factor(api_server, cookie)
    link = await ask_link(api_server, smtp_sink, tenant.admin.email)
    pending, _ = cookie_of(await api_server.post(link))
    page = await api_server.get("/console/two-factor", headers=as_user(pending))
    statuses = [
        (
            await api_server.post(
                "/console/two-factor",
                data={CSRF_FIELD: csrf_of(page), "code": "12345x"},
                headers=as_user(pending),
            )
        ).status_code
        for _ in range(two_factor.GUESS_BURST + 1)
    ]
    assert statuses == [422] * two_factor.GUESS_BURST + [429]


async def test_second_factor_secret_is_stored_sealed(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant, pool: Pool
) -> None:
    """The database holds the secret encrypted with the payload keys, never in clear."""
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    secret = await turn_on_two_factor(api_server, cookie)
    stored = await pool.fetchval(
        "SELECT secret_sealed FROM console_totp WHERE user_id = $1", tenant.admin.id
    )
    assert secret not in stored and secret.encode() not in base64.b64decode(stored)


async def test_firm_wide_second_factor_is_set_by_administrators_and_enforced(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant, pool: Pool
) -> None:
    """An accountant may not require it; the administrator does; a user without a second
    factor then sets one up right after the link before any other page opens."""
    accountant = await partners.create_user(
        pool,
        partner_id=tenant.partner.id,
        email=f"compta-{uuid.uuid4().hex[:6]}@example.com",
        name="Compta",
        role=Role.accountant,
    )
    assert accountant is not None
    theirs, _ = await sign_in_as(api_server, smtp_sink, accountant.email)
    page = await api_server.get("/console/two-factor/setup", headers=as_user(theirs))
    assert 'action="/console/two-factor/policy"' not in page.text
    refused = await api_server.post(
        "/console/two-factor/policy",
        data={CSRF_FIELD: csrf_of(page), "required": "1"},
        headers=as_user(theirs),
    )
    assert refused.status_code == 403
    assert not await console.two_factor_required(pool, partner_id=tenant.partner.id)

    admin, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    page = await api_server.get("/console/two-factor/setup", headers=as_user(admin))
    assert 'action="/console/two-factor/policy"' in page.text
    set_on = await api_server.post(
        "/console/two-factor/policy",
        data={CSRF_FIELD: csrf_of(page), "required": "1"},
        headers=as_user(admin),
    )
    assert set_on.status_code == 303
    assert await console.two_factor_required(pool, partner_id=tenant.partner.id)

    link = await ask_link(api_server, smtp_sink, accountant.email, next_path="/console/clients")
    used = await api_server.post(link)
    pending, _ = cookie_of(used)
    assert (await api_server.get("/console/clients", headers=as_user(pending))).status_code == 303
    asked = await api_server.get(used.headers["location"], headers=as_user(pending))
    assert asked.status_code == 303
    assert asked.headers["location"] == "/console/two-factor/setup?next=%2Fconsole%2Fclients"
    setup = await api_server.get(asked.headers["location"], headers=as_user(pending))
    assert setup.status_code == 200
    match = re.search(r'<code id="totp-key">([A-Z2-7]+)</code>', setup.text)
    assert match
    done = await api_server.post(
        "/console/two-factor/setup",
        data={
            CSRF_FIELD: csrf_of(setup),
            "code": code_now(match.group(1)),
            "next": "/console/clients",
        },
        headers=as_user(pending),
    )
    assert done.status_code == 303 and done.headers["location"] == "/console/clients"
    full, _ = cookie_of(done)
    assert full != pending
    assert (await api_server.get("/console/clients", headers=as_user(full))).status_code == 200
