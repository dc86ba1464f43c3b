"""TOTP as RFC 6238 defines it, checked against the RFC's own test vectors."""

from __future__ import annotations

import base64

from domain import totp

# RFC 6238 appendix B: the SHA-1 seed "12345678901234567890", 8-digit codes.
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
RFC_VECTORS = {59: "94287082", 1111111109: "07081804", 1234567890: "89005924"}


def test_codes_match_the_rfc_6238_vectors() -> None:
    """The same codes an authenticator app shows for the RFC's seed and times."""
    for unix_time, expected in RFC_VECTORS.items():
        step = totp.step_at(unix_time)
        assert totp.code_for_step(RFC_SECRET, step, digits=8) == expected


def test_matching_step_accepts_one_step_of_drift_and_nothing_else() -> None:
    """A code from the previous or next 30 s is accepted; older ones and malformed ones not."""
    secret = totp.new_secret()
    now = 1_800_000_000.0
    step = totp.step_at(now)
    for drift in (-1, 0, 1):
        code = totp.code_for_step(secret, step + drift)
        assert totp.matching_step(secret, code, unix_time=now) == step + drift
    stale = totp.code_for_step(secret, step - 3)
    assert totp.matching_step(secret, stale, unix_time=now) is None
    for bad in ("", "12345", "abcdef", "1234567"):
        assert totp.matching_step(secret, bad, unix_time=now) is None


def test_provisioning_uri_names_issuer_and_account() -> None:
    """What the authenticator app shows: the firm and the user's address."""
    secret = totp.new_secret()
    uri = totp.provisioning_uri(secret, account="ada@durand.example", issuer="Cabinet Durand")
    assert uri.startswith("otpauth://totp/Cabinet%20Durand:ada%40durand.example?"), uri
    assert f"secret={secret}" in uri and "issuer=Cabinet%20Durand" in uri, uri
