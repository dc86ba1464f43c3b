"""The console's Imports page and the clients list's tag, invitation and CSV export, over the real
stack (uvicorn, PostgreSQL, SMTP sink, Temporal worker, registry stand-in): an upload is kept and
reported row by row, Confirm onboards it once however often sent, forms are refused without their
CSRF token or from another origin with nothing changed, another firm's imports are 404, and the
export holds every client the list's filters match, formulas made harmless."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from api.console import CSRF_FIELD, client_export
from app import imports as app_imports
from devstack.registry_standin import RegistryStandin
from devstack.smtp_sink import SmtpSink
from domain.setup import Role
from store import imports, partners
from store.pool import Pool
from tests.console_helpers import EVIL, as_user, assert_strict, csrf_of, fresh_ip_limit, sign_in_as
from tests.eventually import eventually
from tests.factories import Tenant, make_client, make_tenant
from tests.import_files import ROWS, clients_csv

__all__ = ["fresh_ip_limit"]  # the sign-in budget fixture, autouse here too


async def _upload(
    http: httpx.AsyncClient,
    cookie: str,
    data: bytes,
    *,
    token: str | None,
    name: str = "clients.csv",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    form = {"invitation_mode": "manual"} | ({CSRF_FIELD: token} if token else {})
    return await http.post(
        "/console/imports",
        data=form,
        files={"file": (name, data, "text/csv")},
        headers={**as_user(cookie), **(headers or {})},
    )


async def _signed_in(http: httpx.AsyncClient, smtp_sink: SmtpSink, email: str) -> tuple[str, str]:
    """(cookie, CSRF token) of a session signed in as `email`, from the Imports page."""
    cookie, _ = await sign_in_as(http, smtp_sink, email)
    page = await http.get("/console/imports", headers=as_user(cookie))
    assert page.status_code == 200, page.text
    assert_strict(page)
    return cookie, csrf_of(page)


async def _onboardings_of(pool: Pool, tenant: Tenant) -> int:
    count: int = await pool.fetchval(
        "SELECT count(*) FROM onboardings WHERE partner_id = $1", tenant.partner.id
    )
    return count


async def test_import_upload_reports_rows_then_confirm_onboards_them_once(
    api_server: httpx.AsyncClient,
    worker: Worker,
    registry: RegistryStandin,
    smtp_sink: SmtpSink,
    tenant: Tenant,
    pool: Pool,
) -> None:
    """The upload is kept, not started: its page names each bad row's column (in French); the
    same file again is the same import; Confirm sent three times at once onboards the two valid
    rows once; the progress reaches the end and the report downloads as CSV."""
    cookie, token = await _signed_in(api_server, smtp_sink, tenant.admin.email)
    uploaded = await _upload(api_server, cookie, clients_csv(ROWS), token=token)
    assert uploaded.status_code == 303, uploaded.text
    location = uploaded.headers["location"]
    again = await _upload(api_server, cookie, clients_csv(ROWS), token=token)
    assert again.headers["location"] == location

    report = await api_server.get(location, headers=as_user(cookie))
    assert report.status_code == 200, report.text
    assert_strict(report)
    assert "4 ligne(s) lue(s) : 2 valide(s), 2 en erreur." in report.text
    table = report.text[report.text.index('id="row-errors"') :]
    for row, column in (("4", "Langue"), ("4", "SIRET"), ("5", "SIRET")):
        assert f">{row}</th>" in table and f"<td>{column}</td>" in table
    assert await _onboardings_of(pool, tenant) == 0  # nothing started before Confirm

    start = location + "/start"
    confirmed = await asyncio.gather(
        *(
            api_server.post(start, data={CSRF_FIELD: token}, headers=as_user(cookie))
            for _ in range(3)
        )
    )
    assert [r.status_code for r in confirmed] == [303] * 3

    async def progress() -> str:
        return (await api_server.get(location + "/progress", headers=as_user(cookie))).text

    fragment = await eventually(
        progress,
        until=lambda f: "download-report" in f,
        what="the report's download link",
        within=30,
        every=0.1,
    )
    assert 'max="2" value="2"' in fragment and "data-refresh" not in fragment
    assert await _onboardings_of(pool, tenant) == 2
    assert registry.stats.total_requests == 2

    page = await api_server.get(location, headers=as_user(cookie))
    assert "<progress" in page.text and "L&#39;import est terminé." in page.text
    downloaded = await api_server.get(location + "/report.csv", headers=as_user(cookie))
    assert downloaded.headers["content-disposition"].startswith("attachment;")
    outcomes = {(r[0], r[1]) for r in csv.reader(io.StringIO(downloaded.text.lstrip("\ufeff")))}
    assert {("2", "READY"), ("3", "READY"), ("4", "invalid"), ("5", "invalid")} <= outcomes
    listed = await api_server.get("/console/imports", headers=as_user(cookie))
    assert location.removeprefix("/console") in listed.text and "clients.csv" in listed.text


async def test_import_forms_refused_without_token_or_from_elsewhere_change_nothing(
    api_server: httpx.AsyncClient,
    client: Client,
    worker: Worker,
    smtp_sink: SmtpSink,
    tenant: Tenant,
    pool: Pool,
) -> None:
    """An upload or a Confirm without the session's CSRF token, with a wrong one or from
    another origin is refused (403): no import kept, none started."""
    cookie, token = await _signed_in(api_server, smtp_sink, tenant.admin.email)
    refused = [
        await _upload(api_server, cookie, clients_csv(ROWS), token=None),
        await _upload(api_server, cookie, clients_csv(ROWS), token="x" * 43),
        await _upload(api_server, cookie, clients_csv(ROWS), token=token, headers={"Origin": EVIL}),
    ]
    assert [r.status_code for r in refused] == [403] * 3
    kept = await pool.fetchval(
        "SELECT count(*) FROM imports WHERE partner_id = $1", tenant.partner.id
    )
    assert kept == 0

    location = (await _upload(api_server, cookie, clients_csv(ROWS), token=token)).headers[
        "location"
    ]
    start = location + "/start"
    for data, extra in (
        ({}, {}),
        ({CSRF_FIELD: "x" * 43}, {}),
        ({CSRF_FIELD: token}, {"Origin": EVIL}),
    ):
        answer = await api_server.post(start, data=data, headers={**as_user(cookie), **extra})
        assert answer.status_code == 403
    import_id = uuid.UUID(location.rsplit("/", 1)[1])
    # The refusals answered before anything was started: no import workflow exists at all.
    with pytest.raises(RPCError) as absent:
        await client.get_workflow_handle(f"import-{import_id}").describe()
    assert absent.value.status == RPCStatusCode.NOT_FOUND
    assert not await imports.started(pool, import_id=import_id)
    assert await _onboardings_of(pool, tenant) == 0


async def test_another_firms_import_is_404(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant, pool: Pool
) -> None:
    """Its report, progress, CSV and Confirm answer 404 to another firm's staff, like an
    unknown id; nothing starts."""
    cookie, token = await _signed_in(api_server, smtp_sink, tenant.admin.email)
    location = (await _upload(api_server, cookie, clients_csv(ROWS), token=token)).headers[
        "location"
    ]
    other = await make_tenant(pool, "Autre cabinet")
    their_cookie, their_token = await _signed_in(api_server, smtp_sink, other.admin.email)
    for path in (location, location + "/progress", location + "/report.csv"):
        answer = await api_server.get(path, headers=as_user(their_cookie))
        assert answer.status_code == 404, path
    confirm = await api_server.post(
        location + "/start", data={CSRF_FIELD: their_token}, headers=as_user(their_cookie)
    )
    assert confirm.status_code == 404
    unknown = await api_server.get(f"/console/imports/{uuid.uuid4()}", headers=as_user(cookie))
    assert unknown.status_code == 404
    assert await _onboardings_of(pool, tenant) == 0


async def test_import_upload_refused_names_the_problem_and_keeps_the_choices(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant, pool: Pool
) -> None:
    """No file, or a file without an e-mail column: the form back (422) with the error next to
    the file field and in the summary, the invitation choice kept; nothing kept."""
    cookie, token = await _signed_in(api_server, smtp_sink, tenant.admin.email)
    no_file = await api_server.post(
        "/console/imports",
        data={CSRF_FIELD: token, "invitation_mode": "immediate"},
        files={"file": ("", b"", "application/octet-stream")},
        headers=as_user(cookie),
    )
    assert no_file.status_code == 422, no_file.text
    assert 'href="#file"' in no_file.text and "Choisissez un fichier CSV ou Excel" in no_file.text
    assert 'value="immediate" checked' in no_file.text
    no_email = await _upload(
        api_server, cookie, "Prénom;Nom;Langue\r\nA;B;fr".encode("cp1252"), token=token
    )
    assert no_email.status_code == 422
    assert 'id="file-error"' in no_email.text and "email" in no_email.text
    kept = await pool.fetchval(
        "SELECT count(*) FROM imports WHERE partner_id = $1", tenant.partner.id
    )
    assert kept == 0


async def test_any_role_may_import_as_through_the_api(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant, pool: Pool
) -> None:
    """POST /v1/imports takes any role: an accountant's upload is kept and reported too."""
    user = await partners.create_user(
        pool,
        partner_id=tenant.partner.id,
        email=f"accountant-{uuid.uuid4().hex[:6]}@example.com",
        name="Comptable",
        role=Role.accountant,
        language="en",
    )
    assert user is not None
    cookie, token = await _signed_in(api_server, smtp_sink, user.email)
    uploaded = await _upload(api_server, cookie, clients_csv(ROWS), token=token)
    assert uploaded.status_code == 303
    page = await api_server.get(uploaded.headers["location"], headers=as_user(cookie))
    assert "4 row(s) read: 2 valid, 2 with errors." in page.text


async def test_clients_list_filters_by_tag_and_invitation_state(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant, pool: Pool
) -> None:
    """The tag and invitation filters narrow the list as the JSON API's do, shown selected."""
    _, vip = await make_client(pool, tenant, name="Client VIP")
    await make_client(pool, tenant, name="Client ordinaire")
    await pool.execute("UPDATE clients SET tags = '{vip}' WHERE id = $1", vip)
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    tagged = await api_server.get("/console/clients?tag=vip", headers=as_user(cookie))
    assert "Client VIP" in tagged.text and "Client ordinaire" not in tagged.text
    assert 'id="tag" name="tag" value="vip"' in tagged.text
    pending = await api_server.get(
        "/console/clients?invitation_state=pending", headers=as_user(cookie)
    )
    assert "Client VIP" in pending.text and 'value="pending" selected' in pending.text
    sent = await api_server.get("/console/clients?invitation_state=sent", headers=as_user(cookie))
    assert "Client VIP" not in sent.text and "Client ordinaire" not in sent.text


async def test_clients_export_streams_every_page_with_the_filters_and_no_formula(
    api_server: httpx.AsyncClient,
    smtp_sink: SmtpSink,
    tenant: Tenant,
    pool: Pool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """All the matching clients over several reads, none of another firm's; a name a
    spreadsheet would run as a formula starts with an apostrophe."""
    monkeypatch.setattr(client_export, "BATCH", 2)
    names = ['=HYPERLINK("http://evil.example","x")', "+SUM(1)", "-2+3", "@cmd", "Dupont"]
    for name in names:
        _, client_id = await make_client(pool, tenant, name=name)
        if name != "Dupont":
            await pool.execute("UPDATE clients SET tags = '{vip}' WHERE id = $1", client_id)
    other = await make_tenant(pool, "Autre cabinet")
    await make_client(pool, other, name="Client d'un autre cabinet")
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    page = await api_server.get("/console/clients?tag=vip", headers=as_user(cookie))
    # With the list's "My clients / All clients" choice (all: the user collaborates on none).
    assert 'href="/console/clients.csv?tag=vip&amp;show=all"' in page.text

    every = await api_server.get("/console/clients.csv", headers=as_user(cookie))
    assert every.status_code == 200
    assert every.headers["content-type"].startswith("text/csv")
    assert every.headers["content-disposition"].startswith("attachment;")
    rows = list(csv.reader(io.StringIO(every.text.lstrip("\ufeff"))))
    assert rows[0][0] == "name"
    assert sorted(r[0] for r in rows[1:]) == sorted(
        ['\'=HYPERLINK("http://evil.example","x")', "'+SUM(1)", "'-2+3", "'@cmd", "Dupont"]
    )
    tagged = await api_server.get("/console/clients.csv?tag=vip", headers=as_user(cookie))
    tagged_rows = list(csv.reader(io.StringIO(tagged.text.lstrip("\ufeff"))))[1:]
    assert len(tagged_rows) == 4 and all(r[6] == "vip" for r in tagged_rows)
    signed_out = await api_server.get("/console/clients.csv")
    assert signed_out.status_code == 303


def test_time_left_follows_the_pace_so_far() -> None:
    """10 rows settled in 20 s with 30 left: about 60 s; unknown before the first settles."""
    since = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
    now = since + timedelta(seconds=20)
    assert app_imports.eta_seconds(settled=10, remaining=30, since=since, now=now) == 60
    assert app_imports.eta_seconds(settled=0, remaining=30, since=since, now=now) is None
    assert app_imports.eta_seconds(settled=10, remaining=0, since=since, now=now) is None


async def test_import_file_named_like_markup_renders_as_text(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """A file named `"><img src=x onerror=alert(1)>` is shown as its name on its report and in
    the list, never as markup."""
    hostile = '"><img src=x onerror=alert(1)>.csv'
    cookie, token = await _signed_in(api_server, smtp_sink, tenant.admin.email)
    uploaded = await _upload(api_server, cookie, clients_csv(ROWS), token=token, name=hostile)
    assert uploaded.status_code == 303, uploaded.text
    for path in (uploaded.headers["location"], "/console/imports"):
        page = await api_server.get(path, headers=as_user(cookie))
        assert "<img src=x" not in page.text
        assert "&gt;&lt;img src=x onerror=alert(1)&gt;.csv" in page.text
