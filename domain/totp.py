"""Time-based one-time passwords (RFC 6238, HMAC-SHA1, 6 digits, 30-second steps), as every
authenticator app computes them. Pure: the caller passes the time and keeps the secret safe."""

from __future__ import annotations

import hmac

import pyotp

STEP_SECONDS = 30
DIGITS = 6


def new_secret() -> str:
    """160 random bits in base32 (RFC 4226's recommended size)."""
    return pyotp.random_base32(length=32)


def step_at(unix_time: float) -> int:
    return int(unix_time // STEP_SECONDS)


def code_for_step(secret: str, step: int, *, digits: int = DIGITS) -> str:
    """RFC 4226's HOTP of the step counter (pyotp: a secret under 112 bits is refused)."""
    return pyotp.HOTP(secret, digits=digits).at(step)


def matching_step(secret: str, code: str, *, unix_time: float, window: int = 1) -> int | None:
    """The step whose code `code` is, within `window` steps of now (clock drift), else None.
    The step, not a yes or no (pyotp's verify): the caller refuses a step already used, so a
    code works once."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    now = step_at(unix_time)
    for step in range(now - window, now + window + 1):
        if hmac.compare_digest(code_for_step(secret, step), code):
            return step
    return None


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """The otpauth:// URI authenticator apps read (from a QR code, or pasted)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=issuer
    )
