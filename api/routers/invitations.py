"""/v1/invitations/{token}: the director's side. The token is the credential: no API key.

One URL, two representations (content negotiation): a browser, which prefers `text/html`, gets
the director's page (api/pages) and posts its Accept form back to `/accept`; an API caller
(`Accept: application/json`, `*/*` or none) gets JSON, as before. The invitation e-mail links to
this URL, so links already in inboxes open the page too.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile
from temporalio.service import RPCError

from api import auth_failures
from api.deps import Services, ServicesDep
from api.pages.director import PageFacts, PageKind, PageRenderer, branding_of, partner_redirect
from api.pages.form_guard import FORM_FIELD, cross_site, form_token, form_token_valid
from api.pages.negotiation import language_of, wants_html
from api.pages.texts import LANGUAGES
from api.params import InvitationToken
from api.problems import ProblemError, problem_responses
from app.errors import FieldIssue, Invalid, Unavailable
from core import temporal
from domain.checklists import (
    MAX_DOCUMENT_BYTES,
    Answer,
    AnswersIn,
    ChecklistItem,
    ChecklistProgress,
    DocumentIn,
    ItemKind,
    check_answers,
)
from domain.invitation import InvalidToken, TokenClaims, TokenProblem, token_hash, verify_token
from domain.onboarding import AcceptInvitationInput, workflow_id_for
from domain.text import unstorable_reason
from store import checklists, invitation_pages, invitations
from store.invitation_pages import InvitationPageRow
from workflows.onboarding import OnboardingWorkflow


async def _guard_token(token: InvitationToken, request: Request, services: ServicesDep) -> None:
    """Every route here takes the token as its credential: a forged or malformed one spends a
    failed authentication of the client's address, a genuine one (expired included) is let
    through unless that address has spent its budget (api/auth_failures.py)."""
    pool, settings, kind = services.pool, services.settings, auth_failures.Kind.invitation_token
    try:
        verify_token(token, settings.secret_key.get_secret_value(), now=datetime.now(UTC))
    except InvalidToken as exc:
        if exc.problem != TokenProblem.expired:
            # The route then answers as it would have (404, or the page saying so).
            await auth_failures.failed(pool, settings, request, kind)
            return
    await auth_failures.passed(pool, settings, request, kind)


router = APIRouter(
    prefix="/v1/invitations",
    tags=["invitations"],
    dependencies=[Depends(_guard_token)],
    responses=problem_responses(429),
)

# Made once: parsing the templates per request would be wasted work.
_pages = PageRenderer()

# Only the 200 names text/html: the error statuses document their problem JSON, which is what
# API callers get; a browser gets the same statuses as pages (docs/guides/partner/onboardings.md).
_HTML_TOO: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "JSON for API callers; the director's page for `Accept: text/html`",
        "content": {"text/html": {"schema": {"type": "string"}}},
    }
}


class InvitationPublic(BaseModel):
    status: str
    expires_at: datetime


def _problem(problem: TokenProblem) -> ProblemError:
    if problem == TokenProblem.expired:
        return ProblemError(
            410, "invitation-expired", "Invitation expired", "Ask for a new invitation."
        )
    # Malformed and forged look the same from outside: nothing to learn from the difference.
    return ProblemError(
        404, "invitation-not-found", "Unknown invitation", "This link is not valid."
    )


_USED = ProblemError(
    409,
    "invitation-used",
    "Invitation already used",
    "This invitation was already accepted, or replaced by a newer one.",
)
_CROSS_SITE = ProblemError(
    403,
    "cross-site-request",
    "Cross-site request refused",
    "An invitation is accepted from its own page, not from another site's.",
)


# -- what a token leads to ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Lookup:
    kind: PageKind
    claims: TokenClaims | None
    row: InvitationPageRow | None


async def _look_up(token: str, services: ServicesDep) -> _Lookup:
    """Which page a token leads to, with the invitation's facts when it names a real one."""
    claims: TokenClaims | None = None
    try:
        claims = verify_token(
            token, services.settings.secret_key.get_secret_value(), now=datetime.now(UTC)
        )
    except InvalidToken as exc:
        if exc.problem != TokenProblem.expired:
            return _Lookup(PageKind.unknown, None, None)
    # An expired token's signature was checked: its row gives the page its language and brand.
    row = await invitation_pages.find(services.pool, token_hash=token_hash(token))
    if row is None:
        return _Lookup(PageKind.unknown, None, None)
    # Used first: an accepted link that has since expired is still "already used" to its owner.
    if row.accepted_at is not None:
        return _Lookup(PageKind.used, claims, row)
    if claims is None:
        return _Lookup(PageKind.expired, None, row)
    if row.revoked_at is not None:
        return _Lookup(PageKind.replaced, claims, row)
    return _Lookup(PageKind.invitation, claims, row)


def _render(
    kind: PageKind,
    token: str,
    row: InvitationPageRow | None,
    request: Request,
    services: Services,
    checklist_url: str | None = None,
) -> Response:
    settings = services.settings
    if row is not None and row.language in LANGUAGES:
        language = row.language
    else:
        language = language_of(
            request.headers.get("accept-language"), settings.email_fallback_language
        )
    facts = PageFacts()
    if row is not None:
        director = f"{row.director_first_name or ''} {row.director_last_name or ''}".strip()
        facts = PageFacts(
            branding=branding_of(row.partner_name, row.partner_settings),
            client_name=row.client_name,
            director_name=director or None,
            themes=tuple(row.director_themes),
            expires_at=row.expires_at,
        )
    with_form = kind in (PageKind.invitation, PageKind.refused, PageKind.unavailable)
    return _pages.render(
        kind,
        language,
        facts,
        # Root-relative: back to the host the page came from, from the page and from /accept.
        form_action=f"{request.scope.get('root_path', '')}{router.prefix}/{token}/accept"
        if with_form
        else None,
        form_token=form_token(settings.secret_key.get_secret_value(), token) if with_form else None,
        checklist_url=checklist_url,
    )


# -- acceptance, shared by the JSON API and the page's form ---------------------------------------


class _TemporalUnavailable(Exception):
    pass


async def _accept(token: str, claims: TokenClaims, services: ServicesDep) -> bool:
    """Tell the workflow, then use the token; False when it was already used or revoked (single
    use is the UPDATE's job, so two submits at once record one acceptance).

    Temporal is called outside any transaction: a slow or absent Temporal never holds a
    connection and a row lock. The order keeps the token usable until the workflow knows: if
    Temporal cannot be told, nothing is recorded and the director simply tries again; if the
    token cannot be marked after the signal, trying again signals again, which the workflow
    takes as the same acceptance (it sets a flag, for the token's sequence only).
    """
    hashed = token_hash(token)
    found = await invitations.find(services.pool, token_hash=hashed)
    if found is None or found.accepted_at is not None or found.revoked_at is not None:
        return False
    handle = services.temporal.get_workflow_handle_for(
        OnboardingWorkflow.run, workflow_id_for(claims.onboarding_id)
    )
    try:
        await handle.signal(
            OnboardingWorkflow.accept_invitation, AcceptInvitationInput(sequence=claims.sequence)
        )
    except Exception as exc:
        if isinstance(exc, RPCError) or temporal.unreachable(exc):
            raise _TemporalUnavailable from exc
        raise
    async with services.pool.acquire() as conn:
        return await invitations.mark_accepted(conn, token_hash=hashed) is not None


@router.get(
    "/{token}",
    response_model=InvitationPublic,
    responses={**_HTML_TOO, **problem_responses(404, 410)},
)
async def read_invitation(
    token: InvitationToken, request: Request, response: Response, services: ServicesDep
) -> Any:
    """Whether an invitation link can still be used (JSON), or the director's page (HTML)."""
    # One URL, two representations: a cache must key on Accept.
    response.headers["Vary"] = "Accept"
    if wants_html(request.headers.get("accept")):
        found = await _look_up(token, services)
        if found.row is not None:
            # A genuine token of a partner with its own front end: the director goes there.
            redirect = partner_redirect(found.row.partner_settings, token)
            if redirect is not None:
                return redirect
        used = found.kind == PageKind.used
        link = await _checklist_url(token, found, request, services) if used else None
        return _render(found.kind, token, found.row, request, services, link)
    try:
        claims = verify_token(
            token, services.settings.secret_key.get_secret_value(), now=datetime.now(UTC)
        )
    except InvalidToken as exc:
        raise _problem(exc.problem) from exc
    row = await invitations.find(services.pool, token_hash=token_hash(token))
    if row is None:
        raise _problem(TokenProblem.forged)
    state = "accepted" if row.accepted_at else "replaced" if row.revoked_at else "open"
    return InvitationPublic(status=state, expires_at=claims.expires_at)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _is_form(request: Request) -> bool:
    return _media_type(request) in ("application/x-www-form-urlencoded", "multipart/form-data")


def _is_api_call(request: Request) -> bool:
    """No body type (curl -X POST, an SDK's empty POST) or JSON: as documented (docs/guides).

    Anything else (a form, text/plain, any other type) is what a page elsewhere can make a
    browser send without a CORS preflight, so it is treated as the page's form and needs the
    form token. A JSON body from another site needs a preflight, which is refused.
    """
    media = _media_type(request)
    return media in ("", "application/json") or media.endswith("+json")


@router.post(
    "/{token}/accept",
    response_model=InvitationPublic,
    responses={**_HTML_TOO, **problem_responses(403, 404, 409, 410, 503)},
)
async def create_invitation_acceptance(
    token: InvitationToken, request: Request, services: ServicesDep
) -> Any:
    """Accept the invitation: once, before it expires; then the onboarding completes. The
    director's page posts its form here and gets a page back."""
    public = services.settings.public_base_url
    if not _is_api_call(request):
        crossed = cross_site(request, public, form_token_checked=True)
        return await _accept_from_page(token, request, services, crossed=crossed)
    # No form token here: a bodiless POST is what `fetch(..., {mode: "no-cors"})` sends too.
    if cross_site(request, public, form_token_checked=False):
        raise _CROSS_SITE
    try:
        claims = verify_token(
            token, services.settings.secret_key.get_secret_value(), now=datetime.now(UTC)
        )
    except InvalidToken as exc:
        raise _problem(exc.problem) from exc
    try:
        accepted = await _accept(token, claims, services)
    except _TemporalUnavailable as exc:
        raise Unavailable(
            "The acceptance could not be recorded now; the link still works."
        ) from exc
    if not accepted:
        if await invitations.find(services.pool, token_hash=token_hash(token)) is None:
            raise _problem(TokenProblem.forged)
        raise _USED
    return InvitationPublic(status="accepted", expires_at=claims.expires_at)


async def _accept_from_page(
    token: str, request: Request, services: ServicesDep, *, crossed: bool
) -> Response:
    form = await request.form()
    sent = form.get(FORM_FIELD)
    genuine = not crossed and form_token_valid(
        services.settings.secret_key.get_secret_value(),
        token,
        sent if isinstance(sent, str) else None,
    )
    found = await _look_up(token, services)
    if found.kind == PageKind.used and genuine:
        # A double submit (a second click, a reload of the POST): the director sees the same
        # confirmation, and nothing is recorded twice.
        link = await _checklist_url(token, found, request, services)
        return _render(PageKind.accepted, token, found.row, request, services, link)
    if found.kind != PageKind.invitation or found.claims is None:
        return _render(found.kind, token, found.row, request, services)
    if not genuine:
        # Nothing recorded; the form is offered again, with a token of this page's own.
        return _render(PageKind.refused, token, found.row, request, services)
    try:
        accepted = await _accept(token, found.claims, services)
    except _TemporalUnavailable:
        return _render(PageKind.unavailable, token, found.row, request, services)
    if not accepted:
        # Lost a race with another submit of this page, or with a resend: read what won.
        again = await _look_up(token, services)
        kind = PageKind.accepted if again.kind == PageKind.used else again.kind
        return _render(kind, token, again.row, request, services)
    link = await _checklist_url(token, found, request, services)
    return _render(PageKind.accepted, token, found.row, request, services, link)


# -- the client's checklist, answered by the director with the token ------------------------------

_REPLACED = ProblemError(
    410,
    "invitation-replaced",
    "Invitation replaced",
    "A newer invitation was sent; use the link in that one.",
)
_NO_CHECKLIST = ProblemError(
    404, "no-checklist", "No checklist", "Nothing is asked of you for this invitation."
)
_CROSS_SITE_CHECKLIST = ProblemError(
    403,
    "cross-site-request",
    "Cross-site request refused",
    "A checklist is answered from its own page, not from another site's.",
)


async def _checklist_owner(token: str, services: Services) -> checklists.AssignedRow:
    """The checklist a token gives access to: while its invitation is open or accepted, with
    the same 404/410 as the invitation's own routes otherwise."""
    try:
        claims = verify_token(
            token, services.settings.secret_key.get_secret_value(), now=datetime.now(UTC)
        )
    except InvalidToken as exc:
        raise _problem(exc.problem) from exc
    row = await invitations.find(services.pool, token_hash=token_hash(token))
    if row is None:
        raise _problem(TokenProblem.forged)
    if row.accepted_at is None and row.revoked_at is not None:
        raise _REPLACED
    assigned = await checklists.get_for_onboarding(
        services.pool, onboarding_id=claims.onboarding_id
    )
    if assigned is None:
        raise _NO_CHECKLIST
    return assigned


@router.get(
    "/{token}/checklist",
    response_model=ChecklistProgress,
    responses=problem_responses(404, 410),
)
async def read_invitation_checklist(
    token: InvitationToken, request: Request, services: ServicesDep
) -> Any:
    """What the firm asks of the director, with the answers given so far (JSON), or the
    checklist's form (HTML)."""
    if wants_html(request.headers.get("accept")):
        return await _checklist_page(token, request, services, form=None)
    owner = await _checklist_owner(token, services)
    found = await checklists.read_progress(
        services.pool, partner_id=owner.partner_id, client_id=owner.client_id
    )
    if found is None:
        raise _NO_CHECKLIST
    return found


@router.put(
    "/{token}/checklist",
    response_model=ChecklistProgress,
    responses=problem_responses(403, 404, 410, 413, 422),
)
async def update_invitation_checklist(
    token: InvitationToken, body: AnswersIn, request: Request, services: ServicesDep
) -> ChecklistProgress:
    """Answer items by key (text, or a document in base64; null clears one); items not named
    keep their answers. Every required item answered completes the checklist, once."""
    if cross_site(request, services.settings.public_base_url, form_token_checked=False):
        raise _CROSS_SITE_CHECKLIST
    owner = await _checklist_owner(token, services)
    stored, cleared, issues = check_answers(
        [ChecklistItem.model_validate(i) for i in owner.items], body.answers
    )
    if issues:
        raise Invalid.fields(tuple(FieldIssue(i.field, i.message) for i in issues))
    saved = await checklists.save_answers(
        services.pool,
        partner_id=owner.partner_id,
        client_id=owner.client_id,
        stored=stored,
        cleared=cleared,
    )
    found = await checklists.read_progress(
        services.pool, partner_id=owner.partner_id, client_id=owner.client_id
    )
    if saved is None or found is None:
        raise _NO_CHECKLIST
    return found


# -- the checklist's page: a plain form posted back here, after acceptance ------------------------


async def _checklist_url(
    token: str, found: _Lookup, request: Request, services: Services
) -> str | None:
    """Where an accepted invitation's page leads next, when the client has a checklist."""
    if found.claims is None:
        return None
    owner = await checklists.get_for_onboarding(
        services.pool, onboarding_id=found.claims.onboarding_id
    )
    if owner is None:
        return None
    return f"{request.scope.get('root_path', '')}{router.prefix}/{token}/checklist"


def _page_language(row: InvitationPageRow, request: Request, services: Services) -> str:
    if row.language in LANGUAGES:
        return row.language
    return language_of(
        request.headers.get("accept-language"), services.settings.email_fallback_language
    )


async def _form_answers(
    items: list[ChecklistItem], form: Any
) -> tuple[dict[str, Answer], dict[str, str]]:
    """The answers a form carries (an empty field changes nothing), and the items refused."""
    answers: dict[str, Answer] = {}
    errors: dict[str, str] = {}
    for item in items:
        if item.kind == ItemKind.question:
            value = form.get(f"answer.{item.key}")
            if isinstance(value, str) and value.strip():
                reason = unstorable_reason(value)
                if reason is not None:
                    errors[item.key] = reason
                else:
                    answers[item.key] = value.strip()
            continue
        upload = form.get(f"file.{item.key}")
        if not isinstance(upload, UploadFile) or not upload.filename:
            continue
        # One byte over the cap is enough to refuse it; never read a large upload whole.
        data = await upload.read(MAX_DOCUMENT_BYTES + 1)
        try:
            answers[item.key] = DocumentIn(
                filename=upload.filename,
                content_type=upload.content_type or "application/octet-stream",
                content_base64=base64.b64encode(data).decode(),
            )
        except ValidationError as exc:
            errors[item.key] = "; ".join(str(e["msg"]) for e in exc.errors())
    return answers, errors


async def _checklist_page(
    token: str, request: Request, services: Services, *, form: Any | None
) -> Response:
    """The checklist's form; with `form`, the answers it posted are checked and stored first."""
    found = await _look_up(token, services)
    if found.kind not in (PageKind.invitation, PageKind.used) or found.claims is None:
        return _render(found.kind, token, found.row, request, services)
    owner = await checklists.get_for_onboarding(
        services.pool, onboarding_id=found.claims.onboarding_id
    )
    if owner is None or found.row is None:
        return _render(PageKind.unknown, token, None, request, services)
    secret = services.settings.secret_key.get_secret_value()
    errors: dict[str, str] = {}
    saved = False
    refused = False
    if form is not None:
        sent = form.get(FORM_FIELD)
        genuine = not cross_site(
            request, services.settings.public_base_url, form_token_checked=True
        ) and form_token_valid(secret, token, sent if isinstance(sent, str) else None)
        if not genuine:
            refused = True
        else:
            items = [ChecklistItem.model_validate(i) for i in owner.items]
            answers, errors = await _form_answers(items, form)
            stored, cleared, issues = check_answers(items, answers)
            for issue in issues:
                errors.setdefault(issue.field.split(".")[1], issue.message)
            if not errors:
                await checklists.save_answers(
                    services.pool,
                    partner_id=owner.partner_id,
                    client_id=owner.client_id,
                    stored=stored,
                    cleared=cleared,
                )
                saved = True
    progress = await checklists.read_progress(
        services.pool, partner_id=owner.partner_id, client_id=owner.client_id
    )
    assert progress is not None  # the copy exists: it was just read
    row = found.row
    director = f"{row.director_first_name or ''} {row.director_last_name or ''}".strip()
    page = _pages.render_checklist(
        _page_language(row, request, services),
        PageFacts(
            branding=branding_of(row.partner_name, row.partner_settings),
            client_name=row.client_name,
            director_name=director or None,
        ),
        progress,
        form_action=f"{request.scope.get('root_path', '')}{router.prefix}/{token}/checklist",
        form_token=form_token(secret, token),
        saved=saved,
        # Nothing was stored: the notice says so, and the form comes back with a fresh token.
        errors={"": "refused"} if refused else errors,
    )
    if refused:
        page.status_code = 403
    return page


@router.post("/{token}/checklist", include_in_schema=False)
async def create_invitation_checklist_answers(
    token: InvitationToken, request: Request, services: ServicesDep
) -> Response:
    """The checklist page's form (multipart, CSRF-protected like the Accept form); API callers
    use PUT with JSON."""
    if not _is_form(request):
        raise ProblemError(
            415, "unsupported-media-type", "Unsupported media type", "Send the page's form."
        )
    return await _checklist_page(token, request, services, form=await request.form())
