"""The console's "Imports" page: a CSV or Excel file of clients, read and checked row by row,
then onboarded on a person's confirmation, with a progress bar and the report to download.

Uploading keeps the file server-side as an import not started yet (app/imports.keep: every row
with its errors, one import per firm and file), and answers with a redirect to that import's
page: a reload shows the same report and uploads nothing again. Confirm starts its workflow,
once however often it is sent (app/imports.confirm). The import's page shows a <progress> bar
and a refresh link; a small script from our own origin refreshes it while the import runs.
(No meta refresh: a page that reloads by itself is refused by axe, timing WCAG 2.2.1, and
would read the whole page out again to a screen reader user.)
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile
from starlette.responses import HTMLResponse, Response

from api.console import (
    PREFIX,
    SECURITY_HEADERS,
    _checked_form,
    _env,
    _Frame,
    _frame,
    _notice,
    _redirect,
    _render,
    _session,
    _to_sign_in,
    _url,
    _uuid,
    _when,
    _zone,
)
from api.console.spreadsheet import csv_response
from api.console.texts import TEXTS
from api.deps import Services, ServicesDep
from app import imports as app_imports
from app import setups as app_setups
from app.errors import AppError, NotFound, TooLarge
from domain.setup import InvitationMode
from domain.text import Text
from store.console import SessionRow

router = APIRouter(include_in_schema=False)

MODES = (InvitationMode.manual.value, InvitationMode.immediate.value)
LISTED = 50
# The columns a row's error can name, in the file's usual order (others say the field's name).
COLUMNS = (
    "first_name",
    "last_name",
    "email",
    "language",
    "company_name",
    "siret",
    "address",
    "case_manager",
    "national_number",
    "partner_national_number",
    "fiscal_year_start",
    "fiscal_year_end",
    "director_email",
    "director_first_name",
    "director_last_name",
)


async def _list_page(
    frame: _Frame,
    services: Services,
    session: SessionRow,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    partner_id = session.member.partner.id
    templates = await app_setups.templates(services.pool, partner_id=partner_id)
    rows = await app_imports.list_imports(services.pool, partner_id=partner_id, limit=LISTED)
    zone = _zone(session)
    return _render(
        frame,
        "imports.html",
        status=status,
        errors=errors or {},
        values=values or {"template_id": "", "invitation_mode": InvitationMode.manual.value},
        templates=[{"id": str(r.id), "name": r.name, "default": r.is_default} for r in templates],
        modes=MODES,
        zone=zone.key,
        imports=[
            {
                "url": _url(frame, f"/imports/{r.id}"),
                "filename": r.filename,
                "total": r.total_rows,
                "valid": r.valid_rows,
                "onboardings": r.onboardings,
                "when": _when(r.created_at, zone, frame.lang),
            }
            for r in rows
        ],
    )


@router.get(PREFIX + "/imports")
async def read_console_imports(request: Request, services: ServicesDep) -> Response:
    """The firm's imports, newest first, and the form to upload a file."""
    session = await _session(request, services)
    if session is None:
        return _to_sign_in(request)
    return await _list_page(_frame(request, services, session), services, session)


def _upload_errors(frame: _Frame, exc: AppError) -> dict[str, str]:
    """A refused file in the user's words, on the field it belongs to."""
    texts = TEXTS[frame.lang]
    fields = {issue.field for issue in exc.errors}
    if "template_id" in fields or exc.slug == "invalid-setup":
        return {"template_id": texts["imp_error_template"]}
    if exc.slug == "imports-busy":
        return {"file": texts["imp_error_busy"]}
    if "invitation_mode" in fields:
        return {"invitation_mode": texts["imp_error_mode"]}
    if exc.slug == "import-limit-exceeded" or isinstance(exc, TooLarge):
        return {"file": texts["imp_error_too_large"]}
    if "mapping" in fields:
        # The reader's own words name the missing column and the headers found (never a
        # cell's value): the firm needs them to fix its file.
        detail = exc.errors[0].message if exc.errors else exc.detail
        return {"file": texts["imp_error_columns"].format(detail=detail)}
    return {"file": texts["imp_error_unreadable"]}


@router.post(PREFIX + "/imports")
async def create_console_import(request: Request, services: ServicesDep) -> Response:
    """Read and keep the file (not started), then its dry-run report (303); the form back with
    the error when the file cannot be imported."""
    session = await _session(request, services)
    if session is None:
        return _to_sign_in(request)
    frame = _frame(request, services, session)
    form = await _checked_form(request, services, session)
    if form is None:
        return _notice(frame, "refused", 403)
    texts = TEXTS[frame.lang]
    raw_template, raw_mode, file = (
        form.get("template_id"),
        form.get("invitation_mode"),
        form.get("file"),
    )
    values = {
        "template_id": raw_template[:36] if isinstance(raw_template, str) else "",
        "invitation_mode": raw_mode[:10] if isinstance(raw_mode, str) else "",
    }
    errors: dict[str, str] = {}
    template_id = _uuid(values["template_id"]) if values["template_id"] else None
    if values["template_id"] and template_id is None:
        errors["template_id"] = texts["imp_error_template"]
    if values["invitation_mode"] not in MODES:
        errors["invitation_mode"] = texts["imp_error_mode"]
    if not isinstance(file, UploadFile) or not file.filename:
        errors["file"] = texts["imp_error_no_file"]
    if errors or not isinstance(file, UploadFile):
        return await _list_page(frame, services, session, status=422, errors=errors, values=values)
    limits = services.settings.import_limits()
    try:
        kept = await app_imports.keep(
            services.pool,
            services.import_readers(),
            partner_id=session.member.partner.id,
            user_id=session.member.user.id,
            file=app_imports.ImportFile(
                # Past the limit by one byte, so that reading it sees the file is over it.
                data=await file.read(limits.max_bytes + 1),
                filename=(file.filename or "upload")[:200],
                template_id=template_id,
                invitation_mode=InvitationMode(values["invitation_mode"]),
            ),
            # The file and its options name the import: the same file sent twice is one.
            idempotency_key=None,
        )
    except AppError as exc:
        status = exc.status if exc.status in (413, 422, 503) else 422
        page = await _list_page(
            frame,
            services,
            session,
            status=status,
            errors=_upload_errors(frame, exc),
            values=values,
        )
        if exc.retry_after:
            page.headers["Retry-After"] = str(exc.retry_after)
        return page
    finally:
        await file.close()
    return _redirect(_url(frame, f"/imports/{kept.row.id}"))


def _progress_context(
    frame: _Frame, state: app_imports.ImportState, import_id: uuid.UUID
) -> dict[str, Any]:
    """The numbers the progress bar and its counters show, and whether it still moves."""
    valid = state.row.valid_rows
    progress = state.progress
    if progress is None and state.workflow_problem is not None:
        # Its workflow does not answer (no worker, or its task failing): what its onboardings'
        # rows say, not finished, and the page keeps asking.
        by = state.onboardings_by_status
        by_state = {
            "ready": sum(n for s, n in by.items() if s in ("READY", "COMPLETED")),
            "failed": by.get("FAILED", 0),
            "waiting_details": by.get("AWAITING_COMPANY_DETAILS", 0),
        }
        started = sum(by.values())
        return {
            "valid": valid,
            "done": sum(by_state.values()),
            **by_state,
            "waiting_registry": started - sum(by_state.values()),
            "skipped": 0,
            "not_started": max(0, valid - started),
            "finished": False,
            "cancelled": False,
            "eta": None,
            "rows_only": True,
            "refresh_url": _url(frame, f"/imports/{import_id}/progress"),
        }
    if progress is None:
        # Past its workflow's retention: it is over; its onboardings say how it ended.
        by = state.onboardings_by_status
        failed = by.get("FAILED", 0)
        waiting = by.get("AWAITING_COMPANY_DETAILS", 0)
        return {
            "valid": valid,
            "done": valid,
            "ready": valid - failed - waiting,
            "failed": failed,
            "waiting_registry": 0,
            "waiting_details": waiting,
            "skipped": 0,
            "not_started": 0,
            "finished": True,
            "cancelled": False,
            "eta": None,
            "rows_only": False,
            "refresh_url": None,
        }
    counts = progress.counts
    settled = counts.ready + counts.waiting_for_input + counts.failed
    done = settled + counts.skipped
    finished = progress.finished or progress.done
    eta = None
    if not finished and state.started_at is not None:
        eta = app_imports.eta_seconds(
            settled=settled,
            remaining=valid - done,
            since=state.started_at,
            now=datetime.now(UTC),
        )
    return {
        "valid": valid,
        "done": valid if finished and not progress.cancelled else done,
        "ready": counts.ready,
        "failed": counts.failed,
        "waiting_registry": progress.in_flight,
        "waiting_details": counts.waiting_for_input,
        "skipped": counts.skipped,
        "not_started": max(0, valid - counts.started - counts.skipped),
        "finished": finished,
        "cancelled": progress.cancelled,
        "eta": _eta_text(frame, eta),
        "rows_only": False,
        "refresh_url": None if finished else _url(frame, f"/imports/{import_id}/progress"),
    }


def _eta_text(frame: _Frame, seconds: int | None) -> str | None:
    if seconds is None:
        return None
    texts = TEXTS[frame.lang]
    if seconds < 60:
        return texts["imp_eta_seconds"]
    return texts["imp_eta_minutes"].format(minutes=str(round(seconds / 60)))


async def _state(
    services: Services, session: SessionRow, import_id: uuid.UUID
) -> app_imports.ImportState:
    return await app_imports.read(
        services.pool,
        services.temporal,
        partner_id=session.member.partner.id,
        import_id=import_id,
        with_start_time=True,
    )


@router.get(PREFIX + "/imports/{import_id}")
async def read_console_import(import_id: Text, request: Request, services: ServicesDep) -> Response:
    """Not started: the dry-run report, row by row, and Confirm. Started: its progress."""
    session = await _session(request, services)
    if session is None:
        return _to_sign_in(request)
    frame = _frame(request, services, session)
    parsed = _uuid(import_id)
    if parsed is None:
        return _notice(frame, "not_found", 404)
    try:
        state = await _state(services, session, parsed)
    except NotFound:
        return _notice(frame, "not_found", 404)
    except AppError:
        return _notice(frame, "imp_unavailable", 503)
    row = state.row
    common: dict[str, Any] = {
        "filename": row.filename,
        "total": row.total_rows,
        "valid": row.valid_rows,
        "invalid": row.total_rows - row.valid_rows,
        "report_url": _url(frame, f"/imports/{parsed}/report.csv"),
        "refused": request.query_params.get("refused") == "1",
    }
    if not state.started:
        by_row = await app_imports.errors_by_row(
            services.pool, partner_id=session.member.partner.id, import_id=parsed
        )
        texts = TEXTS[frame.lang]
        return _render(
            frame,
            "import_report.html",
            confirm_url=_url(frame, f"/imports/{parsed}/start"),
            rows=[
                {
                    "row": number,
                    "errors": [
                        {
                            "column": texts.get(f"imp_field_{e['field']}", e["field"]),
                            "message": e["message"],
                        }
                        for e in errors
                    ],
                }
                for number, errors in by_row
            ],
            **common,
        )
    return _render(
        frame,
        "import.html",
        progress=_progress_context(frame, state, parsed),
        page_url=_url(frame, f"/imports/{parsed}"),
        **common,
    )


@router.get(PREFIX + "/imports/{import_id}/progress")
async def read_console_import_progress(
    import_id: Text, request: Request, services: ServicesDep
) -> Response:
    """The progress bar and its counters alone, for the page's script to refresh them."""
    session = await _session(request, services)
    frame = _frame(request, services, session)
    parsed = _uuid(import_id)
    if session is None or parsed is None:
        return _notice(frame, "not_found", 404)
    try:
        state = await _state(services, session, parsed)
    except NotFound:
        return _notice(frame, "not_found", 404)
    except AppError:
        return _notice(frame, "imp_unavailable", 503)
    texts = TEXTS[frame.lang]
    body = _env.get_template("_import_progress.html").render(
        t=lambda key, **values: texts[key].format(**values),
        progress=_progress_context(frame, state, parsed),
        report_url=_url(frame, f"/imports/{parsed}/report.csv"),
        page_url=_url(frame, f"/imports/{parsed}"),
    )
    return HTMLResponse(body, headers=SECURITY_HEADERS)


@router.post(PREFIX + "/imports/{import_id}/start")
async def create_console_import_start(
    import_id: Text, request: Request, services: ServicesDep
) -> Response:
    """Confirm: onboard the file's valid rows (once, however often sent), then its progress."""
    session = await _session(request, services)
    if session is None:
        return _to_sign_in(request)
    frame = _frame(request, services, session)
    parsed = _uuid(import_id)
    if parsed is None:
        return _notice(frame, "not_found", 404)
    if await _checked_form(request, services, session) is None:
        return _notice(frame, "refused", 403)
    try:
        await app_imports.confirm(
            services.pool,
            services.temporal,
            services.settings,
            partner_id=session.member.partner.id,
            user_id=session.member.user.id,
            import_id=parsed,
        )
    except NotFound:
        return _notice(frame, "not_found", 404)
    except AppError:
        # Temporal out of reach: nothing started; the report again, saying so.
        return _redirect(_url(frame, f"/imports/{parsed}?refused=1"))
    return _redirect(_url(frame, f"/imports/{parsed}"))


@router.get(PREFIX + "/imports/{import_id}/report.csv")
async def read_console_import_report(
    import_id: Text, request: Request, services: ServicesDep
) -> Response:
    """Every row's outcome as CSV (the JSON API's report, cells made safe for spreadsheets)."""
    session = await _session(request, services)
    if session is None:
        return _to_sign_in(request)
    frame = _frame(request, services, session)
    parsed = _uuid(import_id)
    if parsed is None:
        return _notice(frame, "not_found", 404)
    try:
        outcomes = await app_imports.report(
            services.pool, partner_id=session.member.partner.id, import_id=parsed
        )
    except NotFound:
        return _notice(frame, "not_found", 404)

    async def lines() -> AsyncIterator[tuple[str, ...]]:
        yield app_imports.REPORT_HEADER
        for outcome in outcomes:
            yield outcome

    return csv_response(lines(), filename=f"import-{parsed}-report.csv")
