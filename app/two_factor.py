"""The console's optional second factor: a TOTP code from an authenticator app, asked after the
e-mailed link once the user has set one up.

The secret is sealed with the payload keys (core/temporal.payload_codec: AES-GCM, the key id
inside, so rotating the keys keeps it readable) and stored; a code is used once (its time step is
recorded), and guesses are rate limited per session on the fleet-wide limiter.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass

from temporalio.api.common.v1 import Payload

from app import roles
from app.errors import Conflict, Invalid, TooManyRequests
from app.sign_in import SESSION_ABSOLUTE, Started, digest
from core.settings import Settings
from core.temporal import payload_codec
from domain import totp
from store import console, limits
from store.console import StaffMember
from store.pool import Pool

# Five guesses at once per session, then one every 30 s: a six-digit code is not guessed.
GUESS_BURST, GUESS_INTERVAL = 5, 30.0

# Who may make the second factor required for the whole firm.
REQUIRE_ROLES = roles.ADMINISTRATORS


def _seal(settings: Settings, secret: str) -> str:
    sealed = payload_codec(settings).encrypt(Payload(data=secret.encode()))
    return base64.b64encode(sealed.SerializeToString()).decode()


def _unseal(settings: Settings, sealed: str) -> str:
    payload = Payload.FromString(base64.b64decode(sealed))
    return payload_codec(settings).decrypt(payload).data.decode()


async def enabled(pool: Pool, *, user_id: uuid.UUID) -> bool:
    found = await console.get_totp(pool, user_id=user_id)
    return found is not None and found.confirmed


@dataclass(frozen=True)
class Setup:
    secret: str
    uri: str


async def start_setup(pool: Pool, settings: Settings, *, member: StaffMember) -> Setup:
    """The secret to type into an authenticator app (not asked at sign-in until confirmed): the
    one being set up, else a new one."""
    found = await console.get_totp(pool, user_id=member.user.id)
    if found is not None and found.confirmed:
        raise Conflict("Two-step verification is already on.", slug="two-factor-on")
    if found is not None:
        secret = _unseal(settings, found.secret_sealed)
        uri = totp.provisioning_uri(secret, account=member.user.email, issuer=member.partner.name)
        return Setup(secret=secret, uri=uri)
    secret = totp.new_secret()
    kept = await console.start_totp(
        pool,
        user_id=member.user.id,
        partner_id=member.partner.id,
        secret_sealed=_seal(settings, secret),
    )
    if not kept:
        raise Conflict("Two-step verification is already on.", slug="two-factor-on")
    uri = totp.provisioning_uri(secret, account=member.user.email, issuer=member.partner.name)
    return Setup(secret=secret, uri=uri)


async def _check(
    pool: Pool, settings: Settings, *, user_id: uuid.UUID, code: str, now: float, confirming: bool
) -> None:
    found = await console.get_totp(pool, user_id=user_id)
    step = None
    if found is not None and (confirming or found.confirmed):
        step = totp.matching_step(_unseal(settings, found.secret_sealed), code, unix_time=now)
    if step is None or not await console.use_totp_step(
        pool, user_id=user_id, step=step, confirming=confirming
    ):
        raise Invalid.field("code", "wrong or already used code", code="wrong_code")


async def confirm_setup(
    pool: Pool, settings: Settings, *, member: StaffMember, code: str, now: float
) -> None:
    """Turn the second factor on with a first code from the app (proving it holds the secret)."""
    await _check(pool, settings, user_id=member.user.id, code=code, now=now, confirming=True)


async def complete(
    pool: Pool, settings: Settings, *, session_id: str, member: StaffMember, code: str, now: float
) -> Started:
    """Check the code of a session signed in from its link: a new session id, fully signed in,
    replaces it (the id changes as the session gains rights)."""
    slot = await limits.take(
        pool,
        key=f"console-two-factor:{digest(session_id)}",
        interval=GUESS_INTERVAL,
        tolerance=(GUESS_BURST - 1) * GUESS_INTERVAL,
    )
    if not slot.granted:
        raise TooManyRequests("Too many codes tried.", retry_after=int(slot.retry_in) + 1)
    await _check(pool, settings, user_id=member.user.id, code=code, now=now, confirming=False)
    return await upgrade(pool, session_id=session_id, member=member)


async def upgrade(pool: Pool, *, session_id: str, member: StaffMember) -> Started:
    """End a session owing its second factor for a new, fully signed-in one (a new id)."""
    fresh = secrets.token_urlsafe(32)
    async with pool.acquire() as conn, conn.transaction():
        await console.end_session(conn, id_hash=digest(session_id))
        await console.create_session(
            conn,
            id_hash=digest(fresh),
            partner_id=member.partner.id,
            user_id=member.user.id,
            csrf_token=secrets.token_urlsafe(32),
            absolute_seconds=SESSION_ABSOLUTE.total_seconds(),
        )
    return Started(session_id=fresh, next_path=None)


async def required(pool: Pool, *, partner_id: uuid.UUID) -> bool:
    return await console.two_factor_required(pool, partner_id=partner_id)


async def set_required(pool: Pool, *, member: StaffMember, required: bool) -> None:
    """Make a second factor required (or not) for every user of the firm: administrators only.
    Users without one set it up at their next sign-in."""
    roles.require(member.user.role, REQUIRE_ROLES)
    await console.set_two_factor_required(pool, partner_id=member.partner.id, required=required)
