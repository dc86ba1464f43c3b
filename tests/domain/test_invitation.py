"""Invitation tokens: signed claims come back whole; anything else, of any shape, is an invalid
token (InvalidToken) and never another exception (a 500 on the director's routes)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.invitation import InvalidToken, TokenClaims, TokenProblem, sign_token, verify_token

SECRET = "test-secret"
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


# Integers far past any datetime or bigint, both ways: the shrinker finds the edges.
WIDE = st.integers(min_value=-(10**40), max_value=10**40)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signed(payload: bytes, secret: str = SECRET) -> str:
    """A token whose payload is `payload`, signed as sign_token signs one (what a holder of the
    key could make, or a future bug in sign_token)."""
    return f"{_b64(payload)}.{_b64(hmac.new(secret.encode(), payload, hashlib.sha256).digest())}"


def _verify_or_invalid(token: str) -> TokenClaims | TokenProblem:
    try:
        return verify_token(token, SECRET, now=NOW)
    except InvalidToken as exc:
        return exc.problem


def test_verify_token_returns_the_signed_claims() -> None:
    """A genuine, unexpired token gives back exactly what was signed."""
    claims = TokenClaims(
        onboarding_id=uuid.uuid4(), sequence=3, expires_at=NOW.replace(microsecond=0) + timedelta(1)
    )
    assert verify_token(sign_token(claims, SECRET), SECRET, now=NOW) == claims


@pytest.mark.parametrize(
    "expires",
    [str(10**20), str(-(10**20)), str(10**12), "253402300800", str(2**63), "9" * 5000],
    ids=["1e20", "-1e20", "1e12", "year-10000", "2**63", "5000-digits"],
)
def test_verify_token_with_an_out_of_range_expiry_is_invalid(expires: str) -> None:
    """An expiry no datetime can hold (the probe's 10**20) is a malformed token, not an
    OverflowError: unsigned, so nobody needs the key to send it."""
    payload = f"{uuid.uuid4().hex}:1:{expires}".encode()
    forged = f"{_b64(payload)}.{_b64(b'x' * 32)}"
    with pytest.raises(InvalidToken) as raised:
        verify_token(forged, SECRET, now=NOW)
    assert raised.value.problem == TokenProblem.malformed


@given(st.text())
def test_verify_token_of_any_text_is_claims_or_invalid(token: str) -> None:
    """Any string at all: claims or InvalidToken, nothing else escapes."""
    _verify_or_invalid(token)


@given(st.binary(), st.binary())
def test_verify_token_of_any_encoded_bytes_is_claims_or_invalid(
    payload: bytes, signature: bytes
) -> None:
    """Any payload and signature bytes, base64url-encoded as a real token is."""
    _verify_or_invalid(f"{_b64(payload)}.{_b64(signature)}")


@given(st.binary())
def test_verify_token_of_any_signed_bytes_is_claims_or_invalid(payload: bytes) -> None:
    """Even correctly signed, a payload of any bytes is claims or InvalidToken."""
    _verify_or_invalid(_signed(payload))


@given(
    st.one_of(st.uuids().map(lambda u: u.hex), st.text(max_size=40)),
    st.one_of(st.integers(), WIDE, st.text(max_size=30)),
    st.one_of(st.integers(), WIDE, st.text(max_size=30)),
)
def test_verify_token_of_any_signed_fields_is_claims_or_invalid(
    onboarding: str, sequence: int | str, expires: int | str
) -> None:
    """Payloads shaped like a real one, with any integers (huge, negative) or text in each
    field, signed or not: claims or InvalidToken."""
    payload = f"{onboarding}:{sequence}:{expires}".encode("utf-8", "surrogatepass")
    for token in (_signed(payload), f"{_b64(payload)}.{_b64(b'0' * 32)}"):
        _verify_or_invalid(token)
