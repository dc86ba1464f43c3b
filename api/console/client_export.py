"""The clients list as a CSV file: every client the list's filters match (all pages, in the
list's order), streamed page by page so a firm's whole list never sits in memory, its cells made
safe for spreadsheets (api/console/spreadsheet.py). The filters are the page's own
(`client_filters`), so the file holds what the list shows."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from starlette.responses import Response

from api.console import PREFIX, _session, _to_sign_in, _zone, client_filters
from api.console.spreadsheet import csv_response
from api.deps import ServicesDep
from app import clients as app_clients

router = APIRouter(include_in_schema=False)

# Rows read per query while the file streams out.
BATCH = 500
HEADER = (
    "name",
    "company_name",
    "siret",
    "onboarding_status",
    "notifications_muted",
    "case_manager",
    "tags",
    "invitation_state",
    "invitation_scheduled_at",
    "created_at",
)


@router.get(PREFIX + "/clients.csv")
async def read_console_clients_csv(request: Request, services: ServicesDep) -> Response:
    """Every client the list's filters match, as a CSV download (times in the firm's zone)."""
    session = await _session(request, services)
    if session is None:
        return _to_sign_in(request)
    filters, _ = await client_filters(request.query_params, session, services.pool)
    zone = _zone(session)
    partner_id = session.member.partner.id

    def when(value: datetime | None) -> str:
        return value.astimezone(zone).isoformat(timespec="minutes") if value else ""

    async def rows() -> AsyncIterator[Iterable[object]]:
        yield HEADER
        cursor: str | None = None
        while True:
            # The cursor: each batch costs the same however far the export has gone.
            listed = await app_clients.list_clients(
                services.pool,
                partner_id=partner_id,
                filters=filters,
                sort="-created_at",
                limit=BATCH,
                cursor=cursor,
            )
            for r in listed.rows:
                yield (
                    r.name,
                    r.company_name,
                    r.siret,
                    r.onboarding_status,
                    "yes" if r.notifications_muted else "no",
                    r.case_manager,
                    " ".join(r.tags),
                    r.invitation_state,
                    when(r.invitation_scheduled_at) if r.invitation_state == "scheduled" else "",
                    when(r.created_at),
                )
            cursor = listed.next_cursor
            if cursor is None:
                return

    stamp = datetime.now(UTC).astimezone(zone).strftime("%Y-%m-%d")
    return csv_response(rows(), filename=f"clients-{stamp}.csv")
