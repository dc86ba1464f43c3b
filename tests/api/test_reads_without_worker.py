"""Reads that ask a workflow (its status query) while no worker polls its task queue: every
worker down, or its task failing. Temporal holds such a query for 30 seconds before giving up;
the reads answer from the database long before, flagged, instead of holding the caller (and the
console's page) for that long."""

from __future__ import annotations

from typing import Any

import httpx

from devstack.smtp_sink import SmtpSink
from tests.console_helpers import as_user, fresh_ip_limit, sign_in_as
from tests.factories import Tenant
from tests.import_files import FRENCH_HEADERS

__all__ = ["fresh_ip_limit"]  # the sign-in budget fixture, autouse here too

# Well past the bound a query is given (core.temporal.QUERY_WAIT) and well under the 30 s
# Temporal holds an unanswered query: a read held by the query fails here.
PATIENCE = 20.0

CSV = (
    ";".join(FRENCH_HEADERS)
    + "\nJeanne;Martin;jeanne@example.com;fr;Martin SARL;73282932000074;;;;;;\n"
).encode()


async def test_onboarding_status_answers_from_the_projection_when_no_worker_polls(
    api: httpx.AsyncClient,
) -> None:
    """No worker: the onboarding's status comes from the database, saying why."""
    started = await api.post(
        "/v1/onboardings",
        json={
            "client": {
                "first_name": "Paul",
                "last_name": "Martin",
                "email": "paul@example.com",
                "language": "fr",
            },
            "invitation": {"mode": "manual"},
        },
    )
    assert started.status_code == 202, started.text
    answer = await api.get(f"/v1/onboardings/{started.json()['id']}", timeout=PATIENCE)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert body["source"] == "projection", body
    assert body["status"] == "SETTING_UP"
    assert "in time" in body["workflow_problem"]


async def test_import_progress_answers_from_the_database_when_no_worker_polls(
    api: httpx.AsyncClient,
) -> None:
    """No worker: the import's status still answers, its rows from the database, with no
    workflow progress and the reason."""
    posted = await api.post(
        "/v1/imports",
        files={"file": ("clients.csv", CSV, "text/csv")},
        data={"invitation_mode": "manual"},
    )
    assert posted.status_code == 202, posted.text
    answer = await api.get(f"/v1/imports/{posted.json()['id']}", timeout=PATIENCE)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert body["source"] == "database", body
    assert body["progress"] is None
    assert body["valid_rows"] == 1
    assert "in time" in body["workflow_problem"]


async def test_console_import_page_says_its_counts_come_from_the_rows_when_no_worker_polls(
    api: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """The console's import page, with no worker: it answers, says where its counts come from,
    does not call the import finished, and keeps refreshing."""
    posted = await api.post(
        "/v1/imports",
        files={"file": ("clients.csv", CSV, "text/csv")},
        data={"invitation_mode": "manual"},
    )
    assert posted.status_code == 202, posted.text
    cookie, _ = await sign_in_as(api, smtp_sink, tenant.admin.email)
    page = await api.get(
        f"/console/imports/{posted.json()['id']}", headers=as_user(cookie), timeout=PATIENCE
    )
    assert page.status_code == 200, page.text
    assert 'id="import-rows-only"' in page.text
    assert "data-refresh=" in page.text
    assert 'id="download-report"' not in page.text
