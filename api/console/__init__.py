"""The firm's console: server-rendered pages for a firm's staff, in the same app as the API.

Each page turns HTTP into a call of an application function (app/) and its answer, or its
`AppError`, into HTML: the JSON routes call the same functions, so a rule lives once. Pages work
without JavaScript; one small script from our own origin refreshes a running onboarding's steps.

What keeps it safe: a server-side session (app/sign_in.py) in an HttpOnly, SameSite=Lax cookie
(Secure outside development, `__Host-` prefixed over https); every POST checked for its
session's CSRF token and for coming from our own origin; a strict Content-Security-Policy (no
inline script or style) on every answer; another firm's ids answered 404 like unknown ones;
redirects after sign-in only to the console's own paths.

Adding a page: a use case in app/ (shared with its JSON route, refusing with app.errors); a
handler here that gets `await _session(...)` (None: `_to_sign_in(request)`), builds `_frame`,
calls the use case and answers `_render(frame, "<page>.html", ...)`; a template extending
`_layout.html` (forms include the hidden `csrf_field`, POST handlers start with
`_checked_form`, answer with `_redirect` after success and re-render with `errors` {field:
message} and the typed values on `Invalid`); its words in texts.py for all four languages; a
test in tests/api/test_console.py and a `checker.check(...)` in tests/e2e/test_console_browser.py.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from fastapi import APIRouter, BackgroundTasks, Request
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.datastructures import FormData, Headers
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from api.console.texts import LANGUAGES, TEXTS
from api.deps import Services, ServicesDep
from api.pages.negotiation import language_of, wants_html
from app import clients as app_clients
from app import onboardings as app_onboardings
from app import roles, sign_in, two_factor
from app.errors import AppError, Conflict, Forbidden, Invalid, NotFound, TooManyRequests
from core.settings import Environment as Env
from core.settings import Settings
from domain.onboarding import InvitationState, OnboardingStatus, client_id_for
from domain.text import Text
from domain.time_zones import DEFAULT_TIME_ZONE
from email_templates import Renderer, long_date
from store import clients, onboardings
from store.console import SessionRow
from store.pool import Pool
from workflows.read_model import ExplainedView

PREFIX = "/console"
CSRF_FIELD = "csrf_token"
PAGE_SIZE = 25
DEFAULT_ZONE = DEFAULT_TIME_ZONE
STATIC_DIR = Path(__file__).parent / "static"
_STATIC_TYPES = {
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript",
    "imports.js": "text/javascript",  # the import page's progress bar
    "new_client.js": "text/javascript",  # the New client form's check digits as typed
}
# Content hashes pin the assets: a new release changes the URL, so they can be cached for good.
_STATIC_VERSION = {
    name: hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]
    for name in _STATIC_TYPES
}
# While an onboarding may still move on by itself or by someone's hand elsewhere (company details
# given through the API), its page refreshes its steps.
_RUNNING = {
    OnboardingStatus.SETTING_UP,
    OnboardingStatus.AWAITING_COMPANY_DETAILS,
    OnboardingStatus.NEEDS_ATTENTION,
}

_SENT_STATES = {"sent", "accepted", "expired", "bounced"}

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

router = APIRouter(include_in_schema=False)

_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    undefined=StrictUndefined,
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
_mail = Renderer()


# -- the session --------------------------------------------------------------------------------


def cookie_name(settings: Settings) -> str:
    # `__Host-` binds the cookie to this host, path / and https: only possible over https.
    return "__Host-console" if _https(settings) else "console_session"


def _https(settings: Settings) -> bool:
    return settings.public_base_url.lower().startswith("https://")


def cookie_secure(settings: Settings) -> bool:
    """Secure outside development (and always over https)."""
    return settings.env != Env.development or _https(settings)


async def _any_session(request: Request, services: Services) -> SessionRow | None:
    session_id = request.cookies.get(cookie_name(services.settings))
    if not session_id:
        return None
    return await sign_in.session(services.pool, session_id=session_id)


async def _session(request: Request, services: Services) -> SessionRow | None:
    """The signed-in user; a session still owing its second factor opens nothing but that."""
    found = await _any_session(request, services)
    return found if found is not None and not found.second_factor_due else None


def _foreign(request: Request, services: Services) -> bool:
    """A POST a page of another origin made the browser send (or one claiming another Origin).

    `Sec-Fetch-Site` and `Origin` are set by browsers and cannot be forged by a page; a client
    that sends neither (not a browser) still needs the session's CSRF token.
    """
    site = request.headers.get("sec-fetch-site", "").lower()
    if site and site not in ("same-origin", "none"):
        return True
    origin = request.headers.get("origin")
    if origin is None or origin.lower() == "null":
        return False
    ours = {_origin(services.settings.public_base_url), _origin(str(request.base_url))}
    return origin.lower().rstrip("/") not in ours


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


async def _checked_form(
    request: Request, services: Services, session: SessionRow
) -> FormData | None:
    """The POSTed form when it carries this session's CSRF token and comes from our origin."""
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    if _foreign(request, services) or not isinstance(sent, str):
        return None
    if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
        return None
    return form


# -- rendering ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Frame:
    """What every page's layout needs: language, the signed-in user, helpers."""

    lang: str
    session: SessionRow | None
    root: str


def _frame(request: Request, services: Services, session: SessionRow | None) -> _Frame:
    if session is not None and session.member.user.language in LANGUAGES:
        lang = session.member.user.language
    else:
        lang = language_of(
            request.headers.get("accept-language"), services.settings.email_fallback_language
        )
    return _Frame(lang=lang, session=session, root=request.scope.get("root_path", ""))


def _url(frame: _Frame, path: str) -> str:
    return f"{frame.root}{PREFIX}{path}"


def _render(frame: _Frame, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    texts = TEXTS[frame.lang if frame.lang in LANGUAGES else "en"]

    def t(key: str, **values: str) -> str:
        return texts[key].format(**values)

    session = frame.session
    body = _env.get_template(template).render(
        lang=frame.lang,
        t=t,
        url=lambda path: _url(frame, path),
        static=lambda name: _url(frame, f"/static/{name}?v={_STATIC_VERSION[name]}"),
        staff=session.member if session else None,
        firm_name=session.member.partner.name if session else None,
        csrf_field=CSRF_FIELD,
        csrf_token=session.csrf_token if session else "",
        **context,
    )
    return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)


def _notice(frame: _Frame, notice: str, status: int) -> HTMLResponse:
    return _render(frame, "notice.html", status=status, notice=notice)


def _redirect(url: str, **headers: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={**SECURITY_HEADERS, **headers})


def _to_sign_in(request: Request) -> RedirectResponse:
    """To the sign-in page, remembering this page (our own path) to come back to."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    root = request.scope.get("root_path", "")
    query = urlencode({"next": here}) if sign_in.safe_next(here) else ""
    return _redirect(f"{root}{PREFIX}/sign-in" + (f"?{query}" if query else ""))


def _landing(next_path: str | None) -> str:
    """Where signing in leads: the console page asked for, else the clients."""
    return sign_in.safe_next(next_path) or f"{PREFIX}/clients"


def _zone(session: SessionRow) -> ZoneInfo:
    try:
        return ZoneInfo(session.member.partner.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        # Checked when set; a zone the tz database no longer has (renamed upstream) still opens.
        return ZoneInfo(DEFAULT_ZONE)


def _when(value: datetime | None, zone: ZoneInfo, lang: str) -> str | None:
    if value is None:
        return None
    local = value.astimezone(zone)
    return f"{long_date(local, lang)} {local:%H:%M}"


# -- links already in inboxes -------------------------------------------------------------------

_OLD_CLIENT_LINK = re.compile(r"^/v1/onboardings/([0-9a-fA-F-]{36})/?$")


class OldClientLinks:
    """Staff e-mails sent before the console linked to `/v1/onboardings/{id}` (JSON, API key):
    a browser opening one (it prefers HTML and sends no key) is sent to the client's page; API
    callers are untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            match = _OLD_CLIENT_LINK.match(scope["path"])
            headers = Headers(scope=scope)
            if match and "authorization" not in headers and wants_html(headers.get("accept")):
                target = f"{scope.get('root_path', '')}{PREFIX}/onboardings/{match.group(1)}"
                await _redirect(target)(scope, receive, send)
                return
        await self.app(scope, receive, send)


# -- static assets ------------------------------------------------------------------------------


@router.get(PREFIX + "/static/{name}")
async def read_console_static(name: Text) -> Response:
    """The console's stylesheet and script, from our own origin (the CSP allows nothing else)."""
    if name not in _STATIC_TYPES:
        raise NotFound(f"No asset {name}")
    return Response(
        (STATIC_DIR / name).read_bytes(),
        media_type=_STATIC_TYPES[name],
        headers={
            "Cache-Control": "public, max-age=31536000, immutable",
            "X-Content-Type-Options": "nosniff",
        },
    )


# -- sign-in and out ----------------------------------------------------------------------------


@router.get("/")
async def read_root(request: Request) -> RedirectResponse:
    """A browser opening the service lands on the console (its sign-in page when signed out)."""
    return _redirect(f"{request.scope.get('root_path', '')}{PREFIX}/clients")


@router.get(PREFIX)
@router.get(PREFIX + "/")
async def read_console(request: Request) -> RedirectResponse:
    return _redirect(f"{request.scope.get('root_path', '')}{PREFIX}/clients")


@router.get(PREFIX + "/sign-in")
async def read_sign_in(
    request: Request,
    services: ServicesDep,
    next: Text | None = None,
    signed_out: Text | None = None,
) -> Response:
    """The sign-in form: one e-mail field (signed in already: on to the page asked for)."""
    if await _session(request, services) is not None:
        return _redirect(f"{request.scope.get('root_path', '')}{_landing(next)}")
    frame = _frame(request, services, None)
    return _render(
        frame,
        "sign_in.html",
        email="",
        errors={},
        next_path=sign_in.safe_next(next),
        signed_out=signed_out == "1",
    )


@router.post(PREFIX + "/sign-in")
async def create_sign_in(
    request: Request, services: ServicesDep, background: BackgroundTasks
) -> Response:
    """Send sign-in links to the address (one per firm); the same answer whether it is known."""
    frame = _frame(request, services, None)
    if _foreign(request, services):
        return _notice(frame, "refused", 403)
    form = await request.form()
    raw_email, raw_next = form.get("email"), form.get("next")
    email = raw_email.strip() if isinstance(raw_email, str) else ""
    next_path = sign_in.safe_next(raw_next if isinstance(raw_next, str) else None)
    try:
        address = validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError:
        texts = TEXTS[frame.lang]
        return _render(
            frame,
            "sign_in.html",
            status=422,
            email=email[:254],
            errors={"email": texts["email_invalid"]},
            next_path=next_path,
            signed_out=False,
        )
    try:
        outgoing = await sign_in.request_link(
            services.pool,
            _mail,
            email=address,
            client_ip=request.client.host if request.client else "unknown",
            next_path=next_path,
            base_url=services.settings.public_base_url,
        )
    except TooManyRequests as exc:
        page = _notice(frame, "too_many", 429)
        page.headers["Retry-After"] = str(exc.retry_after or 60)
        return page
    # After the answer: how long SMTP takes must not tell whether the address is known.
    background.add_task(sign_in.deliver, services.settings, outgoing)
    return _redirect(_url(frame, "/sign-in/sent"))


@router.get(PREFIX + "/sign-in/sent")
async def read_sign_in_sent(request: Request, services: ServicesDep) -> Response:
    return _render(_frame(request, services, None), "sign_in_sent.html")


@router.get(PREFIX + "/sign-in/{token}")
async def read_sign_in_link(token: Text, request: Request, services: ServicesDep) -> Response:
    """The e-mail's link: a button that signs in (opening the link alone uses nothing, so a
    mail scanner that follows links cannot spend it)."""
    frame = _frame(request, services, None)
    if len(token) > 100 or not await sign_in.link_usable(services.pool, token=token):
        return _notice(frame, "link_refused", 400)
    return _render(frame, "sign_in_link.html", form_action=_url(frame, f"/sign-in/{token}"))


@router.post(PREFIX + "/sign-in/{token}")
async def create_session(token: Text, request: Request, services: ServicesDep) -> Response:
    """Use the link: a new session, its cookie, then the page asked for (or the clients)."""
    frame = _frame(request, services, None)
    if _foreign(request, services):
        return _notice(frame, "refused", 403)
    if len(token) > 100:
        return _notice(frame, "link_refused", 400)
    try:
        started = await sign_in.complete(
            services.pool,
            token=token,
            replacing=request.cookies.get(cookie_name(services.settings)),
        )
    except sign_in.LinkRefused:
        return _notice(frame, "link_refused", 400)
    if started.second_factor_due:
        query = urlencode({"next": started.next_path}) if started.next_path else ""
        target = _url(frame, "/two-factor") + (f"?{query}" if query else "")
    else:
        target = f"{frame.root}{_landing(started.next_path)}"
    return _with_session(_redirect(target), services, started.session_id)


def _with_session(response: Response, services: Services, session_id: str) -> Response:
    response.set_cookie(
        cookie_name(services.settings),
        session_id,
        max_age=int(sign_in.SESSION_ABSOLUTE.total_seconds()),
        path="/",
        secure=cookie_secure(services.settings),
        httponly=True,
        samesite="lax",
    )
    return response


@router.post(PREFIX + "/sign-out")
async def create_sign_out(request: Request, services: ServicesDep) -> Response:
    """End the session for good: its id no longer signs anybody in, whatever the cookie."""
    session = await _session(request, services)
    frame = _frame(request, services, session)
    if session is None:
        return _to_sign_in(request)
    if await _checked_form(request, services, session) is None:
        return _notice(frame, "refused", 403)
    await sign_in.sign_out(
        services.pool, session_id=request.cookies[cookie_name(services.settings)]
    )
    response = _redirect(_url(frame, "/sign-in?signed_out=1"))
    response.delete_cookie(
        cookie_name(services.settings),
        path="/",
        secure=cookie_secure(services.settings),
        httponly=True,
        samesite="lax",
    )
    return response


# -- the second factor --------------------------------------------------------------------------


def _code_errors(frame: _Frame, exc: Invalid) -> dict[str, str]:
    texts = TEXTS[frame.lang]
    return {e.field: texts.get(f"error_{e.code}", texts["error_wrong_code"]) for e in exc.errors}


@router.get(PREFIX + "/two-factor")
async def read_two_factor(
    request: Request, services: ServicesDep, next: Text | None = None
) -> Response:
    """After the e-mailed link, for a user with a second factor: the code."""
    session = await _any_session(request, services)
    if session is None:
        return _to_sign_in(request)
    if not session.second_factor_due:
        return _redirect(_url_of(request, next))
    frame = _frame(request, services, session)
    if not await two_factor.enabled(services.pool, user_id=session.member.user.id):
        # The firm requires a second factor and this user has none yet: set it up first.
        return _redirect(_url(frame, "/two-factor/setup") + _next_query(next))
    return _render(frame, "two_factor.html", errors={}, next_path=sign_in.safe_next(next))


def _url_of(request: Request, next_path: str | None) -> str:
    return f"{request.scope.get('root_path', '')}{_landing(next_path)}"


def _next_query(next_path: str | None) -> str:
    kept = sign_in.safe_next(next_path)
    return f"?{urlencode({'next': kept})}" if kept else ""


@router.post(PREFIX + "/two-factor")
async def create_two_factor(request: Request, services: ServicesDep) -> Response:
    """Check the code: a new session id, fully signed in, then the page asked for."""
    session = await _any_session(request, services)
    if session is None or not session.second_factor_due:
        return _to_sign_in(request)
    frame = _frame(request, services, session)
    form = await _checked_form(request, services, session)
    if form is None:
        return _notice(frame, "refused", 403)
    raw_next, raw_code = form.get("next"), form.get("code")
    next_path = sign_in.safe_next(raw_next if isinstance(raw_next, str) else None)
    try:
        started = await two_factor.complete(
            services.pool,
            services.settings,
            session_id=request.cookies[cookie_name(services.settings)],
            member=session.member,
            code=raw_code if isinstance(raw_code, str) else "",
            now=time.time(),
        )
    except TooManyRequests:
        return _notice(frame, "too_many", 429)
    except Invalid as exc:
        return _render(
            frame,
            "two_factor.html",
            status=422,
            errors=_code_errors(frame, exc),
            next_path=next_path,
        )
    return _with_session(_redirect(_url_of(request, next_path)), services, started.session_id)


async def _setup_page(
    frame: _Frame,
    services: Services,
    session: SessionRow,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    next_path: str | None = None,
) -> Response:
    member = session.member
    common: dict[str, Any] = {
        "errors": errors or {},
        "next_path": next_path,
        # The firm's rule, set by its administrators from a full session.
        "admin": roles.allows(member.user.role, two_factor.REQUIRE_ROLES)
        and not session.second_factor_due,
        "required": await two_factor.required(services.pool, partner_id=member.partner.id),
        "must": session.second_factor_due,
    }
    if await two_factor.enabled(services.pool, user_id=member.user.id):
        page = "two_factor_setup.html"
        return _render(frame, page, status=status, on=True, secret="", uri="", **common)
    setup = await two_factor.start_setup(services.pool, services.settings, member=member)
    return _render(
        frame,
        "two_factor_setup.html",
        status=status,
        on=False,
        secret=setup.secret,
        uri=setup.uri,
        **common,
    )


@router.get(PREFIX + "/two-factor/setup")
async def read_two_factor_setup(
    request: Request, services: ServicesDep, next: Text | None = None
) -> Response:
    """Set up the second factor: the key for the authenticator app, and a first code."""
    session = await _any_session(request, services)
    if session is None:
        return _to_sign_in(request)
    frame = _frame(request, services, session)
    if session.second_factor_due and await two_factor.enabled(
        services.pool, user_id=session.member.user.id
    ):
        return _redirect(_url(frame, "/two-factor") + _next_query(next))
    return await _setup_page(frame, services, session, next_path=sign_in.safe_next(next))


@router.post(PREFIX + "/two-factor/setup")
async def create_two_factor_setup(request: Request, services: ServicesDep) -> Response:
    """Turn the second factor on with a first code from the app (when the firm requires it, the
    session signed in from the link is then fully signed in, under a new id)."""
    session = await _any_session(request, services)
    if session is None:
        return _to_sign_in(request)
    frame = _frame(request, services, session)
    form = await _checked_form(request, services, session)
    if form is None:
        return _notice(frame, "refused", 403)
    raw_next, raw_code = form.get("next"), form.get("code")
    next_path = sign_in.safe_next(raw_next if isinstance(raw_next, str) else None)
    try:
        await two_factor.confirm_setup(
            services.pool,
            services.settings,
            member=session.member,
            code=raw_code if isinstance(raw_code, str) else "",
            now=time.time(),
        )
    except Invalid as exc:
        errors = _code_errors(frame, exc)
        return await _setup_page(
            frame, services, session, status=422, errors=errors, next_path=next_path
        )
    except Conflict:
        pass  # on already (another tab): nothing to change
    if session.second_factor_due:
        started = await two_factor.upgrade(
            services.pool,
            session_id=request.cookies[cookie_name(services.settings)],
            member=session.member,
        )
        return _with_session(_redirect(_url_of(request, next_path)), services, started.session_id)
    return _redirect(_url(frame, "/two-factor/setup"))


@router.post(PREFIX + "/two-factor/policy")
async def create_two_factor_policy(request: Request, services: ServicesDep) -> Response:
    """An administrator makes a second factor required for the whole firm, or not."""
    session = await _session(request, services)
    if session is None:
        return _to_sign_in(request)
    frame = _frame(request, services, session)
    form = await _checked_form(request, services, session)
    if form is None:
        return _notice(frame, "refused", 403)
    try:
        await two_factor.set_required(
            services.pool, member=session.member, required=form.get("required") == "1"
        )
    except Forbidden:
        return _notice(frame, "forbidden", 403)
    return _redirect(_url(frame, "/two-factor/setup"))


# -- clients ------------------------------------------------------------------------------------


def _week(zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Monday 00:00 to Sunday 23:59:59 of this week, in the firm's time zone."""
    today = datetime.now(zone).date()
    monday = today - timedelta(days=today.weekday())
    start = datetime.combine(monday, datetime.min.time(), tzinfo=zone)
    return start, start + timedelta(days=7) - timedelta(microseconds=1)


# The clients list's "My clients / All clients" choice (`show` in its query).
SHOWS = ("mine", "all")


async def client_filters(
    query: Mapping[str, str], session: SessionRow, pool: Pool
) -> tuple[app_clients.ClientFilters, dict[str, Any]]:
    """The clients list's filters from its query (the page's and its CSV export's), and the
    values to show back in the filter form. Without a `show`, the list opens on the user's own
    clients (those they collaborate on) if they have any (app/clients.opens_on_mine)."""
    show = query.get("show") or ""
    if show not in SHOWS:
        mine_first = await app_clients.opens_on_mine(
            pool, partner_id=session.member.partner.id, user_id=session.member.user.id
        )
        show = "mine" if mine_first else "all"
    status = query.get("status") or ""
    muted_text = query.get("muted") or ""
    invitation = query.get("invitation_state") or ""
    this_week = query.get("this_week") == "1"
    user = session.member.user
    start, end = _week(_zone(session)) if this_week else (None, None)
    filters = app_clients.ClientFilters(
        case_manager=(query.get("case_manager") or "").strip()[:100] or None,
        tag=(query.get("tag") or "").strip()[:50] or None,
        onboarding_status=status if status in OnboardingStatus.__members__ else None,
        muted={"true": True, "false": False}.get(muted_text),
        invitation_state=invitation if invitation in InvitationState.__members__ else None,
        scheduled_from=start,
        scheduled_to=end,
        q=(query.get("q") or "").strip()[:200] or None,
        first_for=(user.name, user.email),
        collaborator=user.id if show == "mine" else None,
    )
    shown = {
        "show": show,
        "q": filters.q or "",
        "status": status,
        "case_manager": filters.case_manager or "",
        "tag": filters.tag or "",
        "muted": muted_text,
        "invitation_state": invitation,
        "this_week": this_week,
    }
    return filters, shown


@router.get(PREFIX + "/clients")
async def read_console_clients(request: Request, services: ServicesDep) -> Response:
    """ "My clients": the user's own first, filters, search and paging (all in the query)."""
    session = await _session(request, services)
    if session is None:
        return _to_sign_in(request)
    frame = _frame(request, services, session)
    query = request.query_params
    zone = _zone(session)
    filters, shown = await client_filters(query, session, services.pool)
    try:
        page = max(1, min(int(query.get("page") or 1), 10_000))
    except ValueError:
        page = 1
    user = session.member.user
    # "Next" follows the cursor (one page's cost however deep); a page number alone (a link
    # back, or typed) reads by offset.
    cursor = (query.get("cursor") or "")[:1000] or None
    try:
        listed = await app_clients.list_clients(
            services.pool,
            partner_id=session.member.partner.id,
            filters=filters,
            sort="-created_at",
            limit=PAGE_SIZE,
            offset=0 if cursor else (page - 1) * PAGE_SIZE,
            cursor=cursor,
        )
    except Invalid:  # a cursor from another list (filters changed by hand): the first page
        page, cursor = 1, None
        listed = await app_clients.list_clients(
            services.pool,
            partner_id=session.member.partner.id,
            filters=filters,
            sort="-created_at",
            limit=PAGE_SIZE,
        )
    rows, total = listed.rows, listed.total
    pages = max(1, math.ceil(total / PAGE_SIZE))
    # The choice made (or the default taken) goes into every link, so a page, the next one
    # and the export list the same clients.
    filtered = {k: v for k, v in query.items() if k not in ("page", "cursor", "show") and v}
    kept = {**filtered, "show": shown["show"]}

    def page_url(number: int, cursor: str | None = None) -> str:
        extra = {"cursor": cursor} if cursor else {}
        return _url(frame, "/clients?" + urlencode({**kept, **extra, "page": number}))

    mine = {user.name, user.email}
    return _render(
        frame,
        "clients.html",
        errors={},
        zone=zone.key,
        statuses=[s.value for s in OnboardingStatus],
        invitation_states=[s.value for s in InvitationState],
        filters=shown,
        export_url=_url(frame, "/clients.csv?" + urlencode(kept)),
        show_urls={
            show: _url(frame, "/clients?" + urlencode({**filtered, "show": show})) for show in SHOWS
        },
        rows=[
            {
                "id": r.id,
                "name": r.name,
                "company_name": r.company_name,
                "siret": r.siret,
                "onboarding_status": r.onboarding_status,
                "notifications_muted": r.notifications_muted,
                "case_manager": r.case_manager,
                "invitation_state": r.invitation_state,
                "scheduled": _when(r.invitation_scheduled_at, zone, frame.lang)
                if r.invitation_state == "scheduled"
                else None,
                "mine": r.case_manager in mine,
            }
            for r in rows
        ],
        total=total if listed.total_exact else f"{total:,}+",
        page=page,
        pages=pages if listed.total_exact else f"{pages:,}+",
        many=not listed.total_exact or pages > 1,
        previous_url=page_url(page - 1) if page > 1 else None,
        next_url=page_url(page + 1, listed.next_cursor) if listed.next_cursor else None,
    )


# -- one client ---------------------------------------------------------------------------------


async def _timeline(
    services: Services, session: SessionRow, onboarding_id: uuid.UUID
) -> ExplainedView | None:
    try:
        return await app_onboardings.read_status(
            services.pool,
            services.temporal,
            partner_id=session.member.partner.id,
            onboarding_id=onboarding_id,
        )
    except AppError:
        return None  # Temporal out of reach, or the workflow past retention: facts only


def _timeline_context(
    frame: _Frame, view: ExplainedView | None, zone: ZoneInfo, onboarding_id: uuid.UUID
) -> dict[str, Any]:
    if view is None:
        return {"timeline": None, "refresh_url": None}
    steps = [
        {
            "name": s.name.value,
            "state": s.state.value,
            "attempts": s.attempts,
            "last_error": s.last_error,
            "when": _when(s.finished_at or s.started_at, zone, frame.lang),
        }
        for s in view.steps
    ]
    return {
        "timeline": {
            "status": view.status.value,
            "waiting_for": view.waiting_for,
            "steps": steps,
        },
        "refresh_url": _url(frame, f"/onboardings/{onboarding_id}/timeline")
        if view.status in _RUNNING
        else None,
    }


async def _client_page(
    request: Request,
    services: Services,
    session: SessionRow,
    *,
    onboarding_id: uuid.UUID | None,
    client_id: uuid.UUID | None,
    status: int = 200,
    errors: dict[str, str] | None = None,
    refused: str | None = None,
    scheduled_at: str = "",
    form: dict[str, str] | None = None,
) -> Response:
    frame = _frame(request, services, session)
    zone = _zone(session)
    partner_id = session.member.partner.id
    client: dict[str, Any] | None = None
    invitation: dict[str, Any] = {"state": "pending", "scheduled": None}
    view = None
    if client_id is not None:
        try:
            view = await app_clients.read_client(
                services.pool, partner_id=partner_id, client_id=client_id
            )
        except NotFound:
            view = None
    if view is not None:
        row, listed = view.row, view.listed
        onboarding_id = row.onboarding_id
        # The snapshot taken at creation: what the client was set up with, template edits aside.
        setup = row.setup or {}
        client = {
            "name": row.name,
            "contact_name": " ".join(p for p in (row.first_name, row.last_name) if p) or None,
            "email": row.email,
            "language": row.language,
            "address": row.address,
            "company_name": listed.company_name,
            "siret": row.siret,
            "case_manager": row.case_manager,
            "template": f"v{row.template_version}" if row.template_version else None,
            "plan": setup.get("plan"),
            "billing_period": setup.get("billing_period"),
            "payer": setup.get("payer"),
            "folder_count": view.folder_count,
            "muted": row.notifications_muted,
        }
        invitation = {
            "state": listed.invitation_state,
            "scheduled": _when(listed.invitation_scheduled_at, zone, frame.lang)
            if listed.invitation_state == "scheduled"
            else None,
        }
    elif onboarding_id is None or (
        await onboardings.get(services.pool, partner_id=partner_id, onboarding_id=onboarding_id)
        is None
    ):
        return _notice(frame, "not_found", 404)
    timeline = await _timeline(services, session, onboarding_id)
    if timeline is not None:
        invitation["state"] = timeline.invitation.state.value
        if timeline.invitation.state.value == "scheduled" and timeline.invitation.scheduled_at:
            invitation["scheduled"] = _when(timeline.invitation.scheduled_at, zone, frame.lang)
    # Once sent (or accepted, expired, bounced) the onboarding refuses both: not offered.
    invitation["actions"] = invitation["state"] not in _SENT_STATES
    sections: dict[str, Any] = {}
    if view is not None:
        for section in CLIENT_SECTIONS:
            sections.update(await section(services, session, view, form or {}))
    done = request.query_params.get("done")
    return _render(
        frame,
        "client.html",
        status=status,
        client=client,
        onboarding_id=onboarding_id,
        invitation=invitation,
        zone=zone.key,
        errors=errors or {},
        refused=refused,
        # Only a confirmation the texts know (client_actions.py adds its own).
        done=done if done and f"done_{done}" in TEXTS["en"] and status == 200 else None,
        scheduled_at=scheduled_at,
        form=form or {},
        **_timeline_context(frame, timeline, zone, onboarding_id),
        **sections,
    )


# What other modules' sections of a created client's page need (client_settings.py): each gets
# the client as read and the values typed in a refused form, and answers template variables.
ClientSection = Callable[
    [Services, SessionRow, app_clients.ClientView, dict[str, str]], Awaitable[dict[str, Any]]
]
CLIENT_SECTIONS: list[ClientSection] = []


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


@router.get(PREFIX + "/clients/{client_id}")
async def read_console_client(client_id: Text, request: Request, services: ServicesDep) -> Response:
    """The client page: contact and company, setup, the onboarding's steps, the invitation."""
    session = await _session(request, services)
    if session is None:
        return _to_sign_in(request)
    parsed = _uuid(client_id)
    if parsed is None:
        return _notice(_frame(request, services, session), "not_found", 404)
    return await _client_page(request, services, session, onboarding_id=None, client_id=parsed)


@router.get(PREFIX + "/onboardings/{onboarding_id}")
async def read_console_onboarding(
    onboarding_id: Text, request: Request, services: ServicesDep
) -> Response:
    """Where the staff e-mails link: the client's page (the onboarding's own while the client
    is not created yet)."""
    session = await _session(request, services)
    if session is None:
        return _to_sign_in(request)
    parsed = _uuid(onboarding_id)
    frame = _frame(request, services, session)
    partner_id = session.member.partner.id
    if parsed is None or (
        await onboardings.get(services.pool, partner_id=partner_id, onboarding_id=parsed) is None
    ):
        return _notice(frame, "not_found", 404)
    client_id = client_id_for(parsed)
    if await clients.get_for_partner(services.pool, partner_id=partner_id, client_id=client_id):
        query = request.url.query
        return _redirect(_url(frame, f"/clients/{client_id}") + (f"?{query}" if query else ""))
    return await _client_page(request, services, session, onboarding_id=parsed, client_id=None)


@router.get(PREFIX + "/onboardings/{onboarding_id}/timeline")
async def read_console_timeline(
    onboarding_id: Text, request: Request, services: ServicesDep
) -> Response:
    """The steps alone, for the client page's script to refresh them."""
    session = await _session(request, services)
    frame = _frame(request, services, session)
    parsed = _uuid(onboarding_id)
    if session is None or parsed is None:
        return _notice(frame, "not_found", 404)
    view = await _timeline(services, session, parsed)
    if view is None and (
        await onboardings.get(
            services.pool, partner_id=session.member.partner.id, onboarding_id=parsed
        )
        is None
    ):
        return _notice(frame, "not_found", 404)
    texts = TEXTS[frame.lang]
    body = _env.get_template("_timeline.html").render(
        t=lambda key, **values: texts[key].format(**values),
        **_timeline_context(frame, view, _zone(session), parsed),
    )
    return HTMLResponse(body, headers=SECURITY_HEADERS)


async def _invitation_action(
    onboarding_id: str, request: Request, services: Services, action: str
) -> Response:
    session = await _session(request, services)
    if session is None:
        return _to_sign_in(request)
    frame = _frame(request, services, session)
    parsed = _uuid(onboarding_id)
    if parsed is None:
        return _notice(frame, "not_found", 404)
    form = await _checked_form(request, services, session)
    if form is None:
        return _notice(frame, "refused", 403)
    partner_id = session.member.partner.id
    typed = ""
    try:
        if action == "sent":
            await app_onboardings.send_invitation_now(
                services.pool,
                services.temporal,
                partner_id=partner_id,
                onboarding_id=parsed,
                role=session.member.user.role,
            )
        else:
            raw = form.get("scheduled_at")
            typed = raw.strip()[:40] if isinstance(raw, str) else ""
            try:
                local = datetime.fromisoformat(typed)
            except ValueError:
                raise Invalid.field("scheduled_at", "not a date and time", code="format") from None
            zone = _zone(session)
            when = local.replace(tzinfo=zone) if local.tzinfo is None else local
            await app_onboardings.reschedule_invitation(
                services.pool,
                services.temporal,
                partner_id=partner_id,
                onboarding_id=parsed,
                role=session.member.user.role,
                scheduled_at=when,
                now=datetime.now(UTC),
                horizon=timedelta(days=services.settings.invitation_horizon_days),
            )
    except NotFound:
        return _notice(frame, "not_found", 404)
    except Invalid as exc:
        texts = TEXTS[frame.lang]
        errors = {
            e.field: texts.get(f"error_{e.code}", texts["reschedule_invalid"]) for e in exc.errors
        }
        return await _client_page(
            request,
            services,
            session,
            onboarding_id=parsed,
            client_id=client_id_for(parsed),
            status=422,
            errors=errors,
            scheduled_at=typed,
        )
    except AppError as exc:
        # Refused by the onboarding (already sent, finished) or Temporal out of reach: the page
        # again, saying why; nothing was done.
        return await _client_page(
            request,
            services,
            session,
            onboarding_id=parsed,
            client_id=client_id_for(parsed),
            status=exc.status,
            refused=exc.detail,
        )
    # Post-redirect-get: a reload shows the page, it does not send the form again.
    return _redirect(_url(frame, f"/onboardings/{parsed}?done={action}"))


@router.post(PREFIX + "/onboardings/{onboarding_id}/invitation/send")
async def create_console_invitation_send(
    onboarding_id: Text, request: Request, services: ServicesDep
) -> Response:
    """Send the invitation now, from the client page's button."""
    return await _invitation_action(onboarding_id, request, services, "sent")


@router.post(PREFIX + "/onboardings/{onboarding_id}/invitation/reschedule")
async def create_console_invitation_reschedule(
    onboarding_id: Text, request: Request, services: ServicesDep
) -> Response:
    """Reschedule the invitation to a date and time in the firm's time zone."""
    return await _invitation_action(onboarding_id, request, services, "rescheduled")
