"""/v1/invitation-page: a partner with a front end of its own takes directors there.

With an accept-URL template set, a browser opening an invitation link is sent (303) to the
partner's page with the token, and that page calls the JSON API (`GET /v1/invitations/{token}`,
`POST .../accept`) itself. Administrators only; unset, directors get our page.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter
from pydantic import BaseModel, Field, field_validator

from api.deps import AdminDep, PoolDep
from api.pages.director import ACCEPT_URL_SETTING, LINK_PLACEHOLDER
from api.problems import problem_responses
from store import invitation_pages

router = APIRouter(prefix="/v1", tags=["invitations"])


class InvitationPageSettings(BaseModel):
    accept_url_template: str | None = Field(
        default=None,
        max_length=2000,
        description="https URL with `{token}` once, where the invitation token goes; "
        "null: directors get this service's page",
        examples=["https://app.partner.example/invite?token={token}"],
    )

    @field_validator("accept_url_template")
    @classmethod
    def _one_token_in_an_https_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.count(LINK_PLACEHOLDER) != 1:
            raise ValueError("must contain {token} exactly once")
        sample = value.replace(LINK_PLACEHOLDER, "t")
        if "{" in sample or "}" in sample or any(c.isspace() for c in sample):
            raise ValueError("no braces but {token}, no spaces")
        parts = urlsplit(sample)
        # The token is a credential: it may only travel over TLS, to a named host.
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError("must be an https URL with a host")
        if LINK_PLACEHOLDER in urlsplit(value).netloc:
            raise ValueError("{token} belongs in the path or the query, not the host")
        return value


@router.get(
    "/invitation-page", response_model=InvitationPageSettings, responses=problem_responses(403)
)
async def read_invitation_page(caller: AdminDep) -> InvitationPageSettings:
    """Where invitation links take directors: the partner's front end, or ours (null)."""
    template = caller.partner.settings.get(ACCEPT_URL_SETTING)
    return InvitationPageSettings(accept_url_template=template)


@router.put(
    "/invitation-page", response_model=InvitationPageSettings, responses=problem_responses(403)
)
async def update_invitation_page(
    body: InvitationPageSettings, caller: AdminDep, pool: PoolDep
) -> InvitationPageSettings:
    """Send directors to the partner's own front end, or back to ours (administrators)."""
    await invitation_pages.set_accept_url_template(
        pool, partner_id=caller.partner.id, template=body.accept_url_template
    )
    return body
