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
        onboarding_hex, sequence, expires = payload.decode().split(":")
        claims = TokenClaims(
            onboarding_id=uuid.UUID(hex=onboarding_hex),
            sequence=int(sequence),
            expires_at=datetime.fromtimestamp(int(expires), UTC),
        )
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidToken(TokenProblem.malformed) from exc
    expected = hmac.new(secret.encode(), payload, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        raise InvalidToken(TokenProblem.forged)
    if claims.expires_at <= now:
        raise InvalidToken(TokenProblem.expired)
    return claims


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
