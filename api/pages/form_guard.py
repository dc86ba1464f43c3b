"""What keeps the director's form honest: the per-page form token (an HMAC bound to the
invitation token) and the same-origin check, both needed before an acceptance is recorded from a
browser."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlsplit

from starlette.requests import Request

FORM_FIELD = "form_token"

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
