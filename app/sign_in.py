"""Passwordless sign-in to the firm's console, and its server-side sessions.

A user types their e-mail; each firm that address belongs to gets its own single-use link (15
minutes, stored hashed), so a person working for two firms picks the firm by the link they open.
The answer is the same whether the address is known or not, and the e-mails leave after the
answer (`deliver`, run in the background), so neither the words nor the time tell. Requests are
rate limited per address and per client IP on the fleet-wide limiter (store/limits.py).

The link is sent by the API, not by a workflow: it belongs to no onboarding (the e-mail log's
key), must arrive within seconds, and is worthless once late; a lost one is simply asked again.

Opening the link signs in with a new session (a new random id, only its hash stored), ending any
session the browser presented: an id planted before sign-in never becomes a signed-in one.
Sessions end at sign-out, after `SESSION_IDLE` without a request, and `SESSION_ABSOLUTE` after
sign-in whatever the activity.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiosmtplib
from pydantic import ValidationError

from app.errors import AppError, TooManyRequests
from core.mail import SmtpConfig, send_now
from core.settings import Settings
from domain.email import Branding, Email
from email_templates import Renderer
from store import console, limits
from store.console import SessionRow
from store.pool import Pool

log = logging.getLogger(__name__)

LINK_LIFETIME = timedelta(minutes=15)
SESSION_IDLE = timedelta(hours=2)
SESSION_ABSOLUTE = timedelta(hours=12)
# Per address: 5 links at once, then one a minute. Per IP: 30 at once (an office behind one
# address), then one every 10 s. Both keys hold hashes, never the address itself.
ADDRESS_BURST, ADDRESS_INTERVAL = 5, 60.0
IP_BURST, IP_INTERVAL = 30, 10.0
MAX_NEXT_PATH = 500
# Links and sessions over for this long are deleted (at each sign-in): nothing accumulates.
KEEP_ENDED = timedelta(days=7)
CONSOLE_PREFIX = "/console/"


class LinkRefused(AppError):
    """The link is unknown, altered, already used or expired: all look the same from outside."""

    status = 400
    slug = "sign-in-link-refused"
    title = "Sign-in link not valid"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def safe_next(path: str | None) -> str | None:
    """`path` if it is one of the console's own pages, else None: never an open redirect."""
    if not path or len(path) > MAX_NEXT_PATH or not path.startswith(CONSOLE_PREFIX):
        return None
    if "//" in path or "\\" in path or any(ord(c) < 0x21 or ord(c) == 0x7F for c in path):
        return None
    return path


def branding_of(partner_name: str, settings: dict[str, Any]) -> Branding:
    """The firm's branding as its e-mails use it; a stored value that no longer validates falls
    back to the name alone."""
    stored = settings.get("branding") or {}
    known = {k: v for k, v in stored.items() if k in Branding.model_fields}
    try:
        return Branding.model_validate({"display_name": partner_name, **known})
    except ValidationError:
        return Branding.model_validate({"display_name": partner_name or "-"})


@dataclass(frozen=True)
class Outgoing:
    """One sign-in e-mail, rendered, waiting to be handed to SMTP after the answer."""

    recipient: str
    email: Email
    sender_name: str


async def _take(pool: Pool, key: str, interval: float, burst: int) -> None:
    slot = await limits.take(pool, key=key, interval=interval, tolerance=(burst - 1) * interval)
    if not slot.granted:
        raise TooManyRequests(
            "Too many sign-in requests; ask again in a few minutes.",
            retry_after=max(1, int(slot.retry_in) + 1),
        )


async def request_link(
    pool: Pool,
    renderer: Renderer,
    *,
    email: str,
    client_ip: str,
    next_path: str | None,
    base_url: str,
) -> list[Outgoing]:
    """Make one link per firm the address belongs to; the e-mails to send (maybe none).

    The caller answers the same either way, then hands the list to `deliver`.
    """
    address = email.strip()
    await _take(pool, f"console-sign-in:ip:{digest(client_ip)}", IP_INTERVAL, IP_BURST)
    await _take(
        pool, f"console-sign-in:address:{digest(address.lower())}", ADDRESS_INTERVAL, ADDRESS_BURST
    )
    outgoing = []
    for member in await console.members_by_email(pool, email=address):
        token = secrets.token_urlsafe(32)
        await console.create_link(
            pool,
            token_hash=digest(token),
            partner_id=member.partner.id,
            user_id=member.user.id,
            next_path=safe_next(next_path),
            ttl_seconds=LINK_LIFETIME.total_seconds(),
        )
        branding = branding_of(member.partner.name, member.partner.settings)
        rendered = renderer.render(
            "sign_in",
            member.user.language,
            {
                "branding": branding,
                "user_name": member.user.name,
                "sign_in_url": f"{base_url.rstrip('/')}{CONSOLE_PREFIX}sign-in/{token}",
                "minutes": int(LINK_LIFETIME.total_seconds() // 60),
            },
        )
        outgoing.append(Outgoing(member.user.email, rendered, branding.display_name))
    return outgoing


async def deliver(settings: Settings, outgoing: list[Outgoing]) -> None:
    """Send the sign-in e-mails; a failure is logged (no address) and the user asks again."""
    smtp = SmtpConfig.from_settings(settings)
    for item in outgoing:
        try:
            await send_now(
                smtp, recipient=item.recipient, email=item.email, sender_name=item.sender_name
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            log.warning("sign-in e-mail not sent", extra={"error_type": type(exc).__name__})


async def link_usable(pool: Pool, *, token: str) -> bool:
    """Whether the link would sign in now (opening it uses nothing: mail scanners open links)."""
    return await console.link_usable(pool, token_hash=digest(token))


@dataclass(frozen=True)
class Started:
    session_id: str
    next_path: str | None
    # The user has a second factor: this session opens only the page that asks for it.
    second_factor_due: bool = False


async def complete(pool: Pool, *, token: str, replacing: str | None) -> Started:
    """Use the link once and start a new session; the browser's previous session (`replacing`)
    ends. LinkRefused when the link cannot be used."""
    async with pool.acquire() as conn, conn.transaction():
        used = await console.use_link(conn, token_hash=digest(token))
        if used is None:
            raise LinkRefused("This sign-in link is not valid any more; ask for a new one.")
        if replacing:
            await console.end_session(conn, id_hash=digest(replacing))
        second = await console.get_totp(conn, user_id=used.user_id)
        # Due: the code of the user's second factor, or setting one up when the firm requires
        # one and the user has none yet (the session opens only those pages until then).
        due = (second is not None and second.confirmed) or await console.two_factor_required(
            conn, partner_id=used.partner_id
        )
        session_id = secrets.token_urlsafe(32)
        await console.create_session(
            conn,
            id_hash=digest(session_id),
            partner_id=used.partner_id,
            user_id=used.user_id,
            csrf_token=secrets.token_urlsafe(32),
            # A session that must still give its second factor lives as long as a link.
            absolute_seconds=(LINK_LIFETIME if due else SESSION_ABSOLUTE).total_seconds(),
            second_factor_due=due,
        )
    await console.prune(pool, keep_seconds=KEEP_ENDED.total_seconds())
    # The firm only: which person signed in is the sessions table's to say, not the log's.
    log.info("console sign-in", extra={"partner_id": str(used.partner_id)})
    return Started(
        session_id=session_id, next_path=safe_next(used.next_path), second_factor_due=due
    )


async def session(pool: Pool, *, session_id: str) -> SessionRow | None:
    """The signed-in user behind a session id, or None (unknown, ended or expired)."""
    if not session_id or len(session_id) > 100:
        return None
    return await console.touch_session(
        pool, id_hash=digest(session_id), idle_seconds=SESSION_IDLE.total_seconds()
    )


async def sign_out(pool: Pool, *, session_id: str) -> None:
    await console.end_session(pool, id_hash=digest(session_id))
