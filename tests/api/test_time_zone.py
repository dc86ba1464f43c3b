"""The firm's time zone: set through the JSON API (an IANA name, checked), used by the console's
pages to show dates and times."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from temporalio.worker import Worker

from devstack.smtp_sink import SmtpSink
from tests.console_helpers import BODY, _until_invitation, as_user, fresh_ip_limit, sign_in_as  # noqa: F401  # the autouse fixture: each test's sign-in budget starts full
from tests.factories import Tenant


async def test_update_time_zone_refuses_an_unknown_zone(api: httpx.AsyncClient) -> None:
    """An unknown zone (or a path) is a 422 naming `time_zone` and changes nothing; a real
    IANA name is kept and read back."""
    assert (await api.get("/v1/time-zone")).json() == {"time_zone": "Europe/Paris"}
    for unknown in ("Mars/Olympus_Mons", "europe/paris", "../../etc/passwd", "localtime", ""):
        refused = await api.put("/v1/time-zone", json={"time_zone": unknown})
        assert refused.status_code == 422, (unknown, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in refused.json()["errors"]] == ["time_zone"]
    assert (await api.get("/v1/time-zone")).json() == {"time_zone": "Europe/Paris"}

    changed = await api.put("/v1/time-zone", json={"time_zone": "America/New_York"})
    assert changed.status_code == 200, changed.text
    assert (await api.get("/v1/time-zone")).json() == {"time_zone": "America/New_York"}


async def test_console_shows_a_scheduled_invitation_in_the_firms_time_zone(
    api_server: httpx.AsyncClient, worker: Worker, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """A firm in New York sees its client's scheduled invitation at New York's hour, not
    Paris's, on the clients list and on the client's page."""
    set_zone = await api_server.put(
        "/v1/time-zone", json={"time_zone": "America/New_York"}, headers=tenant.auth
    )
    assert set_zone.status_code == 200, set_zone.text
    now = datetime.now(UTC)
    # Half an hour off the clock's minute: the timeline's own times (now) cannot match it.
    when = (now + timedelta(days=20)).replace(
        hour=14, minute=(now.minute + 30) % 60, second=0, microsecond=0
    )
    body = {**BODY, "invitation": {"mode": "scheduled", "scheduled_at": when.isoformat()}}
    started = await api_server.post(
        "/v1/onboardings",
        json=body,
        headers={"Idempotency-Key": f"zone-{uuid.uuid4()}", **tenant.auth},
    )
    assert started.status_code == 202, started.text
    onboarding_id = started.json()["id"]
    await _until_invitation(api_server, tenant, onboarding_id, "scheduled")
    new_york = f"{when.astimezone(ZoneInfo('America/New_York')):%H:%M}"
    paris = f"{when.astimezone(ZoneInfo('Europe/Paris')):%H:%M}"

    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    listed = await api_server.get("/console/clients", headers=as_user(cookie))
    assert listed.status_code == 200, listed.text
    assert new_york in listed.text and paris not in listed.text
    assert "America/New_York" in listed.text  # "times are shown in ..."

    page = await api_server.get(f"/console/onboardings/{onboarding_id}", headers=as_user(cookie))
    page = await api_server.get(page.headers["location"], headers=as_user(cookie))
    assert page.status_code == 200, page.text
    assert new_york in page.text and paris not in page.text
