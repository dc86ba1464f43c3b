"""The console's "Needs attention" page: the firm's onboardings stuck past a chosen age (the
API's stuck list), waiting for company details, kept muted waiting for unmute, parked in
NEEDS_ATTENTION (with a Resume button) and those whose workflow task keeps failing; each row
opens the client's page. The lists come from app/onboardings.py, as the JSON API's do."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from api.console import (
    PREFIX,
    _checked_form,
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
from api.console.client_actions import reason
from api.deps import ServicesDep
from app import onboardings as app_onboardings
from app.errors import AppError, NotFound
from domain.text import Text

router = APIRouter(include_in_schema=False)

# The ages the page offers (its select), the default first.
AGES = {"1d": timedelta(days=1), "1h": timedelta(hours=1), "3d": timedelta(days=3)}
ROWS_PER_LIST = 25


@router.get(PREFIX + "/attention")
async def read_console_attention(request: Request, services: ServicesDep) -> Response:
    """What waits for someone in the firm, list by list."""
    session = await _session(request, services)
    if session is None:
        return _to_sign_in(request)
    frame = _frame(request, services, session)
    age = request.query_params.get("age") or ""
    if age not in AGES:
        age = next(iter(AGES))
    found = await app_onboardings.needing_attention(
        services.pool,
        services.temporal,
        partner_id=session.member.partner.id,
        stuck_for=AGES[age],
        limit=ROWS_PER_LIST,
    )
    zone = _zone(session)

    def listed(part: app_onboardings.AttentionList) -> dict[str, Any]:
        return {
            "rows": [
                {
                    "id": r.onboarding_id,
                    "url": _url(frame, f"/onboardings/{r.onboarding_id}"),
                    "name": r.client_name,
                    "status": r.status,
                    "since": _when(r.since, zone, frame.lang),
                    "case_manager": r.case_manager,
                }
                for r in part.rows
            ],
            "more": max(0, part.total - len(part.rows)),
        }

    done = request.query_params.get("done")
    refused = request.query_params.get("refused")
    return _render(
        frame,
        "attention.html",
        age=age,
        ages=list(AGES),
        zone=zone.key,
        done="resumed" if done == "resumed" else None,
        refused=reason(frame.lang, AppError("", slug=refused)) if refused in _REFUSALS else None,
        sections=[
            ("stuck", "section_stuck", listed(found.stuck)),
            ("failing", "section_failing", listed(found.failing)),
            ("details", "section_details", listed(found.awaiting_details)),
            ("unmute", "section_unmute", listed(found.waiting_for_unmute)),
            ("needs_attention", "section_needs_attention", listed(found.needs_attention)),
        ],
    )


# The refusals a Resume can end in, named in the redirect (the page says them in its language).
_REFUSALS = {"forbidden", "not-now", "onboarding-finished", "temporal-unavailable"}


@router.post(PREFIX + "/onboardings/{onboarding_id}/resume")
async def create_console_resume(
    onboarding_id: Text, request: Request, services: ServicesDep
) -> Response:
    """Resume an onboarding parked in NEEDS_ATTENTION, from the page's button; back to the
    page (post-redirect-get), saying it is done or why not."""
    session = await _session(request, services)
    if session is None:
        return _to_sign_in(request)
    frame = _frame(request, services, session)
    parsed = _uuid(onboarding_id)
    if parsed is None:
        return _notice(frame, "not_found", 404)
    form: FormData | None = await _checked_form(request, services, session)
    if form is None:
        return _notice(frame, "refused", 403)
    back = _back(form)
    try:
        await app_onboardings.resume(
            services.pool,
            services.temporal,
            partner_id=session.member.partner.id,
            onboarding_id=parsed,
            role=session.member.user.role,
        )
    except NotFound:
        return _notice(frame, "not_found", 404)
    except AppError as exc:
        slug = exc.slug if exc.slug in _REFUSALS else "not-now"
        return _redirect(_url(frame, f"/attention?age={back}&refused={slug}"))
    return _redirect(_url(frame, f"/attention?age={back}&done=resumed"))


def _back(form: FormData) -> str:
    age = form.get("age")
    return age if isinstance(age, str) and age in AGES else next(iter(AGES))
