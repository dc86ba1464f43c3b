"""Time-based one-time passwords (RFC 6238, HMAC-SHA1, 6 digits, 30-second steps), as every
authenticator app computes them. Pure: the caller passes the time and keeps the secret safe."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from urllib.parse import quote, urlencode

STEP_SECONDS = 30
DIGITS = 6


def new_secret() -> str:
    """160 random bits in base32 (RFC 4226's recommended size), without padding."""
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def _key(secret: str) -> bytes:
    padded = secret.upper() + "=" * (-len(secret) % 8)
    return base64.b32decode(padded)


def step_at(unix_time: float) -> int:
    return int(unix_time // STEP_SECONDS)


def code_for_step(secret: str, step: int, *, digits: int = DIGITS) -> str:
    """RFC 4226's HOTP of the step counter: dynamic truncation, then the last `digits` digits."""
    mac = hmac.new(_key(secret), struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    number = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**digits).zfill(digits)


def matching_step(secret: str, code: str, *, unix_time: float, window: int = 1) -> int | None:
    """The step whose code `code` is, within `window` steps of now (clock drift), else None."""
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
    label = quote(f"{issuer}:{account}", safe="")
    query = urlencode(
        {"secret": secret, "issuer": issuer, "digits": DIGITS, "period": STEP_SECONDS}
    )
    return f"otpauth://totp/{label}?{query}"
