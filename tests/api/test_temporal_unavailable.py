"""Temporal out of reach: every route that needs it gives the one same answer, 503
`temporal-unavailable` with Retry-After, names nothing of the RPC's own text, and changes nothing
the caller would have to undo."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from api.deps import Services
from api.main import create_app
from core import temporal
from core.settings import Settings
from devstack.partner_app import PartnerApp
from devstack.ports import free_port
from devstack.serving import serve_app as serve
from domain.invitation import TokenClaims, sign_token, token_hash
from domain.setup import SECRET_MASK
from store import imports, invitations
from store.pool import Pool
from tests.activity_helpers import _import
from tests.api.integration_helpers import crm, integration
from tests.factories import Tenant, make_client
from tests.import_files import FRENCH_HEADERS
from tests.workflow_helpers import onboarded_client

CSV = (
    ";".join(FRENCH_HEADERS)
    + "\nJeanne;Martin;jeanne@example.com;fr;Martin SARL;73282932000074;;;;;;\n"
).encode()


@pytest.fixture
async def down_api(
    settings: Settings, pool: Pool, tenant: Tenant
) -> AsyncIterator[httpx.AsyncClient]:
    """The API over a Temporal address nothing listens at; PostgreSQL is up."""
    down = settings.model_copy(update={"temporal_address": f"127.0.0.1:{free_port()}"})
    unreachable = await temporal.connect(down, lazy=True)
    app = create_app(down, services=Services(settings=down, pool=pool, temporal=unreachable))
    async with serve(app) as http:
        http.headers.update(tenant.auth)
        yield http


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"].endswith("/temporal-unavailable"), body
    assert body["title"] == "Temporal unavailable", body
    assert int(response.headers["Retry-After"]) > 0
    # The RPC's own words (addresses, gRPC codes) are for the logs, not for the caller.
    for leak in ("127.0.0.1", "grpc", "transport", "Connection refused", "tcp connect"):
        assert leak.lower() not in body["detail"].lower(), body


async def test_onboarding_routes_answer_one_unavailable_with_retry_after(
    down_api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """Each onboarding action with Temporal down: the same 503 problem, with Retry-After."""
    onboarding_id, client_id = await make_client(pool, tenant)
    later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    calls = [
        ("GET", f"/v1/onboardings/{onboarding_id}", None),
        ("POST", f"/v1/onboardings/{onboarding_id}/invitation/send", None),
        ("POST", f"/v1/onboardings/{onboarding_id}/invitation/cancel", None),
        ("POST", f"/v1/onboardings/{onboarding_id}/invitation/resend", None),
        (
            "POST",
            f"/v1/onboardings/{onboarding_id}/invitation/reschedule",
            {"scheduled_at": later},
        ),
        ("POST", f"/v1/onboardings/{onboarding_id}/resume", None),
        ("POST", f"/v1/clients/{client_id}/notifications", {"enabled": True}),
    ]
    for method, path, body in calls:
        _assert_unavailable(await down_api.request(method, path, json=body))


async def test_starting_an_onboarding_with_temporal_down_says_retry_with_the_same_key(
    down_api: httpx.AsyncClient, pool: Pool
) -> None:
    """POST /v1/onboardings with Temporal never reached: the one 503 saying to retry with the
    same Idempotency-Key (not "nothing was done"), the claim kept for that retry to finish."""
    key = f"down-{uuid.uuid4()}"
    client = {"first_name": "Paul", "last_name": "Martin", "email": "paul@x.be", "language": "nl"}
    body = {"client": client}
    response = await down_api.post("/v1/onboardings", json=body, headers={"Idempotency-Key": key})
    _assert_unavailable(response)
    assert "same Idempotency-Key" in response.json()["detail"], response.json()
    kept = await pool.fetchval("SELECT count(*) FROM onboardings WHERE idempotency_key = $1", key)
    assert kept == 1


async def test_import_with_temporal_down_is_503_and_can_be_sent_again(
    down_api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """An import whose workflow cannot be started: 503 (as documented), not 500."""
    files = {"file": ("clients.csv", CSV, "text/csv")}
    response = await down_api.post(
        "/v1/imports", files=files, headers={"Idempotency-Key": "import-down-1"}
    )
    _assert_unavailable(response)


async def test_integration_change_with_temporal_down_is_failed_not_left_running(
    down_api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """An integration change Temporal never received: the one 503, the app failed (not left
    connecting with nothing running), so a reconfigure is tried again instead of refused 409."""
    client_id = await onboarded_client(pool, tenant, tree=None)
    async with PartnerApp() as app:
        code = await crm(pool, tenant, app)
    url = f"/v1/clients/{client_id}/integrations"
    body = {"code": code, "settings": {"region": "eu", "token": "t0k3n-down"}}
    _assert_unavailable(await down_api.post(url, json=body, headers={"Idempotency-Key": "add-1"}))
    assert (await integration(down_api, client_id, code))["state"] == "failed"
    again = {"settings": {"region": "us", "token": SECRET_MASK}}
    _assert_unavailable(
        await down_api.patch(f"{url}/{code}", json=again, headers={"Idempotency-Key": "reconf-1"})
    )


async def test_fiscal_year_with_temporal_down_is_503_saying_the_year_is_kept(
    down_api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """A later fiscal year recorded but its folders not started: the one 503, whose detail says
    the year is kept (not "nothing was done"), and the same request again is the same year."""
    client_id = await onboarded_client(pool, tenant)
    url = f"/v1/clients/{client_id}/fiscal-years"
    response = await down_api.post(url, json={"start": "2026-01-01"})
    _assert_unavailable(response)
    assert "recorded" in response.json()["detail"], response.json()
    listed = (await down_api.get(url)).json()
    assert [y["start"] for y in listed] == ["2025-01-01", "2026-01-01"]


async def test_cancelling_an_import_with_temporal_down_says_so_in_its_own_words(
    down_api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """Cancel with Temporal down: 503 (the import may still be running), not a 409 quoting the
    RPC's error."""
    import_id = await _import(pool, tenant)
    _assert_unavailable(await down_api.post(f"/v1/imports/{import_id}/cancel"))


async def test_accepting_with_temporal_down_is_the_same_answer_and_leaves_the_token_usable(
    down_api: httpx.AsyncClient, pool: Pool, tenant: Tenant, settings: Settings
) -> None:
    """The director's acceptance while Temporal is down: the one 503, and the token unused."""
    onboarding_id, _ = await make_client(pool, tenant)
    claims = TokenClaims(
        onboarding_id=onboarding_id, sequence=1, expires_at=datetime.now(UTC) + timedelta(days=3)
    )
    token = sign_token(claims, settings.secret_key.get_secret_value())
    await invitations.record(
        pool,
        onboarding_id=onboarding_id,
        sequence=1,
        token_hash=token_hash(token),
        recipient="director@example.com",
        expires_at=claims.expires_at,
    )
    down_api.headers.pop("Authorization")
    _assert_unavailable(await down_api.post(f"/v1/invitations/{token}/accept"))
    row = await invitations.find(pool, token_hash=token_hash(token))
    assert row is not None and row.accepted_at is None


async def test_cancelling_a_finished_import_is_409_in_our_words(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """Temporal up but the import's workflow gone (over, past retention): 409, and the detail is
    ours, not the server's message naming the workflow."""
    import_id = uuid.uuid4()
    row, _ = await imports.create(
        pool,
        import_id=import_id,
        partner_id=tenant.partner.id,
        idempotency_key=str(import_id),
        request_hash="h",
        workflow_id=f"import-{import_id}",
        filename="clients.csv",
        created_by=tenant.admin.id,
        rows=[],
    )
    response = await api.post(f"/v1/imports/{row.id}/cancel")
    assert response.status_code == 409, response.text
    detail = response.json()["detail"]
    assert "import-" not in detail and "workflow" not in detail.lower(), detail


def test_no_route_builds_the_shared_problems_by_hand() -> None:
    """Bad input and an unreachable Temporal are answered by app/errors.py's Invalid and
    Unavailable only: a route building its own drifts (two titles, a missing Retry-After)."""
    root = Path(__file__).resolve().parents[2]
    allowed = {root / "app" / "errors.py", root / "api" / "problem_handlers.py"}
    builders: list[str] = []
    for folder in ("api", "app", "cli"):
        for path in (root / folder).rglob("*.py"):
            text = path.read_text()
            for slug in ('"validation-error"', '"temporal-unavailable"'):
                if slug in text and path not in allowed and "ProblemError(" in text:
                    builders.extend(
                        f"{path.relative_to(root)}:{n}"
                        for n, line in enumerate(text.splitlines(), 1)
                        if slug in line
                    )
    assert builders == []
