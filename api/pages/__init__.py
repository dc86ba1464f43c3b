"""The director's pages: server-rendered HTML behind the invitation link (jinja2, no assets).

Rendering is pure (`PageRenderer.render`); the router decides which page and status. What keeps
the form honest lives here too: the per-page form token (an HMAC bound to the invitation token)
and the same-origin check, both needed before an acceptance is recorded from a browser.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from api.pages.texts import LANGUAGES, TEXTS
from domain.checklists import ChecklistProgress
from domain.email import Branding
from email_templates import long_date

TEMPLATES_DIR = Path(__file__).parent / "templates"
FORM_FIELD = "form_token"
# Partner settings key of a front end of its own (api/routers/invitation_page.py).
ACCEPT_URL_SETTING = "accept_url_template"
LINK_PLACEHOLDER = "{token}"


class PageKind(StrEnum):
    """Every page the invitation link can lead to, and the status it answers with."""

    invitation = "invitation"  # 200, with the Accept form
    accepted = "accepted"  # 200, after the form
    used = "used"  # 409: accepted before
    replaced = "replaced"  # 410: a resend revoked it
    expired = "expired"  # 410
    unknown = "unknown"  # 404: malformed, forged, or no such invitation
    refused = "refused"  # 403: the form came from elsewhere; the form is offered again
    unavailable = "unavailable"  # 503: Temporal could not be told; the form is offered again


# The refusals offer the form again, with why; the dead ends share one notice page.
_TEMPLATE = {
    PageKind.invitation: "invitation.html",
    PageKind.refused: "invitation.html",
    PageKind.unavailable: "invitation.html",
    PageKind.accepted: "accepted.html",
}

STATUS = {
    PageKind.invitation: 200,
    PageKind.accepted: 200,
    PageKind.used: 409,
    PageKind.replaced: 410,
    PageKind.expired: 410,
    PageKind.unknown: 404,
    PageKind.refused: 403,
    PageKind.unavailable: 503,
}


@dataclass(frozen=True)
class PageFacts:
    """What a page may say about the invitation (all optional: an unknown link knows nothing)."""

    branding: Branding | None = None
    client_name: str | None = None
    director_name: str | None = None
    themes: tuple[str, ...] = ()
    expires_at: datetime | None = None


def branding_of(partner_name: str, settings: dict[str, Any]) -> Branding:
    """The partner's branding as its e-mails use it; a stored value that no longer validates
    falls back to the name and default colour rather than breaking the director's page."""
    stored = settings.get("branding") or {}
    known = {k: v for k, v in stored.items() if k in Branding.model_fields}
    try:
        return Branding.model_validate({"display_name": partner_name, **known})
    except ValidationError:
        return Branding.model_validate({"display_name": partner_name or "-"})


# -- content negotiation ------------------------------------------------------------------------


def _media_ranges(accept: str) -> dict[str, float]:
    ranges: dict[str, float] = {}
    for item in accept.split(","):
        media, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media:
            ranges[media.strip().lower()] = quality
    return ranges


def wants_html(accept: str | None) -> bool:
    """True when the caller names text/html and prefers it to JSON (a browser); `*/*`, no Accept
    header or application/json keep the JSON answer API callers have always had."""
    ranges = _media_ranges(accept or "")
    html = ranges.get("text/html", 0.0)
    json = max(ranges.get("application/json", 0.0), ranges.get("*/*", 0.0))
    return html > 0 and html > json


def language_of(accept_language: str | None, fallback: str) -> str:
    """The browser's preferred language among ours, for links that name no client."""
    ranges = _media_ranges(accept_language or "")
    best, best_q = fallback, 0.0
    for tag, quality in ranges.items():
        primary = tag.split("-")[0]
        if primary in LANGUAGES and quality > best_q:
            best, best_q = primary, quality
    return best if best in LANGUAGES else "en"


# -- the form's protection ----------------------------------------------------------------------

_FORM_LABEL = b"director-page-form:"


def form_token(secret: str, invitation_token: str) -> str:
    """The value the page's form must send back: bound to this invitation, keyed by the secret
    (with a label of its own, so it can never equal an invitation signature)."""
    digest = hashlib.sha256(invitation_token.encode()).digest()
    mac = hmac.new(secret.encode(), _FORM_LABEL + digest, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def form_token_valid(secret: str, invitation_token: str, sent: str | None) -> bool:
    # As bytes: compare_digest refuses a str that is not ASCII, and a form may send anything.
    expected = form_token(secret, invitation_token).encode()
    return sent is not None and hmac.compare_digest(expected, sent.encode())


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def cross_site(request: Request, public_base_url: str, *, form_token_checked: bool) -> bool:
    """A request a page of another site made the browser send.

    Browsers send `Sec-Fetch-Site` (and `Origin`) with a form POST; API clients send neither, and
    a cross-origin JSON POST never arrives (its CORS preflight is refused: no CORS here).
    `Sec-Fetch-Site` decides when present: `Origin` may be "null" for our own form (Chromium
    sends that under a no-referrer policy) and for a sandboxed frame alike. Without it (an older
    browser), `Origin` must be the public base URL's: never the request's own, which a forged
    Host header would make whatever the sender likes.
    A "null" one is left to the page's form token when the caller checks one
    (`form_token_checked`); a route that has none (the JSON API) counts it as another site's,
    since a sandboxed frame elsewhere sends exactly that.
    """
    site = request.headers.get("sec-fetch-site", "").lower()
    if site:
        return site not in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return False
    if origin.lower() == "null":
        return not form_token_checked
    return origin.lower() != _origin(public_base_url)


def partner_redirect(settings: dict[str, Any], invitation_token: str) -> RedirectResponse | None:
    """303 to the partner's own front end, token filled in, when the partner has one."""
    template = settings.get(ACCEPT_URL_SETTING)
    if not isinstance(template, str) or LINK_PLACEHOLDER not in template:
        return None
    target = template.replace(LINK_PLACEHOLDER, quote(invitation_token, safe=""))
    return RedirectResponse(
        target,
        status_code=303,
        headers={"Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "Vary": "Accept"},
    )


# -- rendering ----------------------------------------------------------------------------------


class PageRenderer:
    """The jinja2 environment of the pages, made once per app: StrictUndefined so a missing key
    fails a test instead of showing an empty sentence, autoescape for every value."""

    def __init__(self, *, directory: Path = TEMPLATES_DIR) -> None:
        self.env = Environment(
            loader=FileSystemLoader(directory),
            undefined=StrictUndefined,
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render(
        self,
        kind: PageKind,
        language: str,
        facts: PageFacts,
        *,
        form_action: str | None = None,
        form_token: str | None = None,
        checklist_url: str | None = None,
    ) -> HTMLResponse:
        language = language if language in LANGUAGES else "en"
        texts = TEXTS[language]
        partner = facts.branding.display_name if facts.branding else texts["the_firm"]

        def t(key: str, **values: str) -> str:
            return texts[key].format(partner=partner, **values)

        nonce = secrets.token_urlsafe(16)
        body = self.env.get_template(_TEMPLATE.get(kind, "notice.html")).render(
            lang=language,
            t=t,
            kind=kind.value,
            branding=facts.branding,
            client_name=facts.client_name,
            director_name=facts.director_name,
            themes=list(facts.themes),
            expires_on=long_date(facts.expires_at, language) if facts.expires_at else None,
            form_action=form_action,
            form_token=form_token,
            form_field=FORM_FIELD,
            nonce=nonce,
            checklist_url=checklist_url,
        )
        return HTMLResponse(body, status_code=STATUS[kind], headers=_headers(nonce))

    def render_checklist(
        self,
        language: str,
        facts: PageFacts,
        progress: ChecklistProgress,
        *,
        form_action: str,
        form_token: str,
        saved: bool = False,
        errors: dict[str, str] | None = None,
    ) -> HTMLResponse:
        """The client's checklist as a form (no script: a plain multipart POST), 422 when some
        answers were refused."""
        language = language if language in LANGUAGES else "en"
        texts = TEXTS[language]
        partner = facts.branding.display_name if facts.branding else texts["the_firm"]

        def t(key: str, **values: str) -> str:
            return texts[key].format(partner=partner, **values)

        nonce = secrets.token_urlsafe(16)
        body = self.env.get_template("checklist.html").render(
            lang=language,
            t=t,
            branding=facts.branding,
            items=progress.items,
            complete=progress.completed_at is not None and not progress.missing_required,
            saved=saved,
            errors=errors or {},
            form_action=form_action,
            form_token=form_token,
            form_field=FORM_FIELD,
            nonce=nonce,
        )
        return HTMLResponse(body, status_code=422 if errors else 200, headers=_headers(nonce))


def _headers(nonce: str) -> dict[str, str]:
    return {
        # The URL carries the invitation token: no Referer to the logo's host or any other
        # site. Not "no-referrer": under it Chromium sends `Origin: null` with our own form.
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
        "Content-Security-Policy": (
            f"default-src 'none'; style-src 'nonce-{nonce}'; img-src https:; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Vary": "Accept, Accept-Language",
    }
