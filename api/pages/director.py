"""The director's pages: server-rendered HTML behind the invitation link (jinja2, no assets).

Rendering is pure (`PageRenderer.render`); the router decides which page and status. The form's
protection is api/pages/form_guard.py, content negotiation api/pages/negotiation.py.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from pydantic import ValidationError
from starlette.responses import HTMLResponse, RedirectResponse

from api.pages.form_guard import FORM_FIELD
from api.pages.texts import LANGUAGES, TEXTS
from domain.checklists import ChecklistProgress
from domain.email import Branding
from email_templates import long_date

TEMPLATES_DIR = Path(__file__).parent / "templates"
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
