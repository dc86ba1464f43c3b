"""The console's Branding page: the firm's display name, sender, reply-to, logo and colour, and
a preview of what a director sees with them (the invitation page and the invitation e-mail,
rendered by the very renderers that serve them) before anything is saved.

"Preview" posts the form and shows it back with the preview of the typed values; "Save" stores
them through app/branding.py, the function PUT /v1/branding calls (administrators only), then
redirects (post-redirect-get). Both check the values with the API's model. The two previews are
framed documents from our own origin, each under its own policy: the page's, as the director
gets it, the e-mail's allowing its inline styles; neither runs a script or posts a form. (A CSP
`sandbox` would say so too, but the frames were then blank in headless Chromium's screenshots.)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse, Response

from api.console import (
    CSP,
    PREFIX,
    SECURITY_HEADERS,
    _checked_form,
    _Frame,
    _frame,
    _mail,
    _notice,
    _redirect,
    _render,
    _session,
    _to_sign_in,
    _url,
)
from api.console.texts import TEXTS
from api.deps import ServicesDep
from api.pages.director import PageFacts, PageKind, PageRenderer
from app import branding as app_branding
from app import roles
from app.errors import Forbidden, Invalid
from domain.email import Branding
from email_templates.samples import SAMPLE_CONTEXT
from store.console import SessionRow

router = APIRouter(include_in_schema=False)
_pages = PageRenderer()

FIELDS = app_branding.FIELDS
# The framed previews may come from our own origin only; everything else stays as strict.
_CSP_WITH_FRAMES = CSP.replace("default-src 'none';", "default-src 'none'; frame-src 'self';")
_SAMPLE = SAMPLE_CONTEXT["invitation"]


def _values(branding: Branding) -> dict[str, str]:
    dumped = branding.model_dump(mode="json")
    return {k: "" if dumped.get(k) is None else str(dumped[k]) for k in FIELDS}


def _typed(form: FormData) -> dict[str, str]:
    return {
        k: value.strip()[:2100] if isinstance(value := form.get(k), str) else "" for k in FIELDS
    }


def _errors(frame: _Frame, exc: Invalid) -> dict[str, str]:
    texts = TEXTS[frame.lang]
    found: dict[str, str] = {}
    for issue in exc.errors:
        key = f"br_error_{issue.code}" if f"br_error_{issue.code}" in texts else "field_invalid"
        found.setdefault(issue.field, texts[key])
    return found


def _page(
    frame: _Frame,
    session: SessionRow,
    *,
    values: dict[str, str],
    preview: Branding | None,
    status: int = 200,
    errors: dict[str, str] | None = None,
    done: str | None = None,
    refused: str | None = None,
) -> HTMLResponse:
    query = urlencode({k: v for k, v in _values(preview).items() if v}) if preview else ""
    page = _render(
        frame,
        "branding.html",
        status=status,
        values=values,
        errors=errors or {},
        may_change=session.member.user.role in roles.ADMINISTRATORS,
        preview=preview,
        page_preview=_url(frame, f"/settings/branding/preview/page?{query}") if preview else "",
        email_preview=_url(frame, f"/settings/branding/preview/email?{query}") if preview else "",
        sender=_sender(preview) if preview else "",
        subject=_mail.render("invitation", frame.lang, {**_SAMPLE, "branding": preview}).subject
        if preview
        else "",
        done=done,
        refused=refused,
    )
    page.headers["Content-Security-Policy"] = _CSP_WITH_FRAMES
    return page


def _sender(branding: Branding) -> str:
    return (
        f"{branding.display_name} <{branding.sender}>" if branding.sender else branding.display_name
    )


@router.get(PREFIX + "/settings/branding")
async def read_console_branding(request: Request, services: ServicesDep) -> Response:
    """The firm's branding, its form (administrators) and the preview of what is stored."""
    session = await _session(request, services)
    if session is None:
        return _to_sign_in(request)
    frame = _frame(request, services, session)
    partner = session.member.partner
    stored = app_branding.current(partner.name, partner.settings)
    done = "saved" if request.query_params.get("done") == "saved" else None
    return _page(frame, session, values=_values(stored), preview=stored, done=done)


@router.post(PREFIX + "/settings/branding")
async def update_console_branding(request: Request, services: ServicesDep) -> Response:
    """Preview the typed branding (nothing stored) or save it (administrators)."""
    session = await _session(request, services)
    if session is None:
        return _to_sign_in(request)
    frame = _frame(request, services, session)
    form = await _checked_form(request, services, session)
    if form is None:
        return _notice(frame, "refused", 403)
    typed = _typed(form)
    try:
        branding = app_branding.parse(typed)
    except Invalid as exc:
        return _page(
            frame, session, values=typed, preview=None, status=422, errors=_errors(frame, exc)
        )
    if form.get("action") != "save":
        return _page(frame, session, values=typed, preview=branding)
    try:
        await app_branding.update(
            services.pool,
            partner_id=session.member.partner.id,
            role=session.member.user.role,
            branding=branding,
        )
    except Forbidden:
        texts = TEXTS[frame.lang]
        return _page(
            frame,
            session,
            values=typed,
            preview=branding,
            status=403,
            refused=texts["why_forbidden"],
        )
    return _redirect(_url(frame, "/settings/branding?done=saved"))


def _framed(response: HTMLResponse, policy: str) -> HTMLResponse:
    """A preview document: shown in a frame of our own pages only, under `policy`."""
    response.headers.update(
        {
            **{k: v for k, v in SECURITY_HEADERS.items() if k != "X-Frame-Options"},
            "Content-Security-Policy": policy,
            "X-Frame-Options": "SAMEORIGIN",
        }
    )
    return response


async def _previewed(request: Request, services: ServicesDep) -> tuple[_Frame, Branding] | Response:
    session = await _session(request, services)
    if session is None:
        return _notice(_frame(request, services, None), "not_found", 404)
    frame = _frame(request, services, session)
    query = {k: v for k, v in request.query_params.items() if k in FIELDS}
    try:
        return frame, app_branding.parse(query)
    except Invalid:
        return _notice(frame, "not_found", 404)


@router.get(PREFIX + "/settings/branding/preview/page")
async def read_console_branding_page_preview(request: Request, services: ServicesDep) -> Response:
    """The director's invitation page as it would look with the branding in the query."""
    found = await _previewed(request, services)
    if isinstance(found, Response):
        return found
    frame, branding = found
    page = _pages.render(
        PageKind.invitation,
        frame.lang,
        PageFacts(
            branding=branding,
            client_name=str(_SAMPLE["client_name"]),
            director_name=str(_SAMPLE["director_name"]),
            themes=tuple(_SAMPLE["themes"]),
            expires_at=datetime.now(UTC) + timedelta(days=14),
        ),
        # A preview accepts nothing: its policy lets no form post, so the button goes nowhere.
        form_action=_url(frame, "/settings/branding"),
        form_token="preview",  # noqa: S106 - not a secret: a placeholder no form ever sends
    )
    policy = (
        page.headers["Content-Security-Policy"]
        .replace("frame-ancestors 'none'", "frame-ancestors 'self'")
        .replace("form-action 'self'", "form-action 'none'")
    )
    return _framed(page, policy)


@router.get(PREFIX + "/settings/branding/preview/email")
async def read_console_branding_email_preview(request: Request, services: ServicesDep) -> Response:
    """The invitation e-mail's HTML part with the branding in the query, sample names inside."""
    found = await _previewed(request, services)
    if isinstance(found, Response):
        return found
    frame, branding = found
    email = _mail.render("invitation", frame.lang, {**_SAMPLE, "branding": branding})
    # The e-mail's styles are inline attributes, as mail clients need: allowed here only, in a
    # document where no script runs (default-src 'none') and no form posts.
    policy = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src https:; "
        "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
    )
    return _framed(HTMLResponse(email.html or ""), policy)
