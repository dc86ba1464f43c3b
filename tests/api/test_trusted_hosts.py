"""Only the configured host names are served (ONBOARDING_ALLOWED_HOSTS and the public base URL's
host): a forged Host header is a 400 problem, never echoed in a redirect, and the accept form's
Origin is compared with the configured public origin, not with whatever Host the request names.
Real uvicorn, PostgreSQL and Temporal."""

from __future__ import annotations

import re

import httpx
import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from api.deps import Services
from api.main import create_app
from api.pages.form_guard import FORM_FIELD
from core.settings import Settings
from devstack.serving import serve_app as serve
from devstack.smtp_sink import SmtpSink
from domain.invitation import token_hash
from store import invitations
from store.pool import Pool
from tests.api_helpers import _invited
from tests.console_helpers import BROWSER, FORM_INPUT


def _port(api: httpx.AsyncClient) -> int:
    port = api.base_url.port
    assert port is not None
    return port


@pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "127.0.0.1.evil.example"])
async def test_request_for_an_unknown_host_is_refused_and_never_echoed(
    api: httpx.AsyncClient, host: str
) -> None:
    """`Host: evil.example` was echoed in the trailing-slash redirect (307 Location:
    http://evil.example/v1/clients); now every route answers 400 naming the Host header."""
    for path in ("/v1/clients/", "/healthz", "/v1/plans"):
        answer = await api.get(path, headers={"Host": host})
        assert answer.status_code == 400, (path, answer.status_code, answer.headers)
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["errors"] == [
            {"field": "Host", "message": "not a host name this service answers for"}
        ]
        assert "evil" not in answer.text and "location" not in answer.headers


async def test_known_hosts_are_served(api: httpx.AsyncClient) -> None:
    """The defaults (127.0.0.1, localhost, ::1), with or without a port or a final dot, and the
    trailing-slash redirect then names the host asked for."""
    port = _port(api)
    for host in (f"127.0.0.1:{port}", "localhost", f"LOCALHOST.:{port}", f"[::1]:{port}"):
        answer = await api.get("/v1/clients/", headers={"Host": host})
        assert answer.status_code == 307, (host, answer.text)
        assert answer.headers["location"].endswith("/v1/clients")


async def test_configured_host_names_replace_the_defaults(
    settings: Settings, pool: Pool, client: Client
) -> None:
    """ONBOARDING_ALLOWED_HOSTS lists the names (a `*.` suffix allowed); the public base URL's
    host is always served; a name not listed (here localhost) is refused."""
    configured = settings.model_copy(
        update={
            "allowed_hosts": ["127.0.0.1", "*.partner.example"],
            "public_base_url": "https://onboarding.example",
        }
    )
    app = create_app(configured, services=Services(settings=configured, pool=pool, temporal=client))
    async with serve(app) as http:
        for host, status in (
            ("127.0.0.1", 200),
            ("onboarding.example", 200),
            ("api.partner.example", 200),
            ("partner.example", 400),
            ("localhost", 400),
            ("evil.example", 400),
        ):
            assert (await http.get("/healthz", headers={"Host": host})).status_code == status, host


async def test_accept_form_from_a_forged_host_and_origin_records_nothing(
    api: httpx.AsyncClient, worker: Worker, smtp_sink: SmtpSink, pool: Pool
) -> None:
    """The page's own form token, posted with `Host` and `Origin` of another site (what an old
    browser without Sec-Fetch-Site sends from a page of evil.example that a DNS trick points at
    us), or with an allowed Host that is not the public origin: refused, nothing recorded."""
    _, path = await _invited(api, smtp_sink)
    token = path.rsplit("/", 1)[1]
    api.headers.pop("Authorization")
    [value] = FORM_INPUT.findall((await api.get(path, headers=BROWSER)).text)
    forged = await api.post(
        f"{path}/accept",
        data={FORM_FIELD: value},
        headers={**BROWSER, "Host": "evil.example", "Origin": "http://evil.example"},
    )
    assert forged.status_code == 400
    # localhost is served, but the public base URL says 127.0.0.1: another origin to a browser.
    local = f"localhost:{_port(api)}"
    other = await api.post(
        f"{path}/accept",
        data={FORM_FIELD: value},
        headers={**BROWSER, "Host": local, "Origin": f"http://{local}"},
    )
    assert other.status_code == 403
    assert re.search(FORM_INPUT, other.text)
    row = await invitations.find(pool, token_hash=token_hash(token))
    assert row is not None and row.accepted_at is None


@pytest.mark.parametrize(
    "entry", ["http://api.example", "api.example:8000", "[::1]", "api.example/x", "*api", "", "a*"]
)
def test_allowed_hosts_setting_refuses_what_is_not_a_host_name(entry: str) -> None:
    """A URL, a port, brackets or a stray wildcard would never match a Host: refused at start."""
    with pytest.raises(ValueError, match="host name"):
        Settings(allowed_hosts=[entry])


def test_allowed_hosts_setting_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """ONBOARDING_ALLOWED_HOSTS is a JSON list; the public base URL's host is added to it."""
    monkeypatch.setenv("ONBOARDING_ALLOWED_HOSTS", '["API.example", "*.partner.example", "::1"]')
    monkeypatch.setenv("ONBOARDING_PUBLIC_BASE_URL", "https://onboarding.example")
    assert Settings().served_hosts() == [
        "api.example",
        "*.partner.example",
        "::1",
        "onboarding.example",
    ]
