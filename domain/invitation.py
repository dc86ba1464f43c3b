"""Invitation tokens: signed, expiring, single-use (single use is the database's job).

A token is `<payload>.<signature>`: the payload names the onboarding, the invitation's sequence
and its expiry; the signature is an HMAC-SHA256 with the service's secret key. It is deterministic
for a given (onboarding, sequence, expiry), so a retried send re-creates the same token instead
of needing the one already mailed; only its SHA-256 is stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import uuid
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel


class TokenProblem(StrEnum):
    malformed = "malformed"
    forged = "forged"
    expired = "expired"


class InvalidToken(ValueError):
    def __init__(self, problem: TokenProblem) -> None:
        super().__init__(f"invitation token is {problem.value}")
        self.problem = problem


class TokenClaims(BaseModel):
    onboarding_id: uuid.UUID
    sequence: int
    expires_at: datetime


# The only payload sign_token makes: the onboarding's hex id, the sequence (a PostgreSQL
# integer) and the expiry in Unix seconds. Bounded digit counts keep every field in range of
# what parses it (an 11-digit expiry is before the year 5200; 10**20 overflows a datetime), so
# any other shape is refused by this one rule instead of by whichever conversion breaks first.
_PAYLOAD = re.compile(rb"([0-9a-f]{32}):([0-9]{1,9}):([0-9]{1,11})")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_token(claims: TokenClaims, secret: str) -> str:
    expires = int(claims.expires_at.timestamp())
    payload = f"{claims.onboarding_id.hex}:{claims.sequence}:{expires}".encode()
    signature = hmac.new(secret.encode(), payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(signature)}"


def verify_token(token: str, secret: str, *, now: datetime) -> TokenClaims:
    """The claims of a genuine, unexpired token; InvalidToken says what is wrong otherwise."""
    try:
        payload_text, signature_text = token.split(".")
        payload, signature = _unb64(payload_text), _unb64(signature_text)
    except ValueError as exc:  # binascii.Error and a non-ASCII str are ValueErrors too
        raise InvalidToken(TokenProblem.malformed) from exc
    fields = _PAYLOAD.fullmatch(payload)
    if fields is None:
        raise InvalidToken(TokenProblem.malformed)
    onboarding_hex, sequence, expires = (field.decode("ascii") for field in fields.groups())
    try:
        claims = TokenClaims(
            onboarding_id=uuid.UUID(hex=onboarding_hex),
            sequence=int(sequence),
            expires_at=datetime.fromtimestamp(int(expires), UTC),
        )
    # Unreachable with the bounds above on a 64-bit platform; kept so that no conversion error
    # can ever become a 500 on the director's routes.
    except (ValueError, OverflowError, OSError) as exc:
        raise InvalidToken(TokenProblem.malformed) from exc
    expected = hmac.new(secret.encode(), payload, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        raise InvalidToken(TokenProblem.forged)
    if claims.expires_at <= now:
        raise InvalidToken(TokenProblem.expired)
    return claims


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
