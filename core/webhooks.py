"""Standard Webhooks signing (https://www.standardwebhooks.com): secrets, headers, backoff.

A few lines of our own rather than the reference package at run time: the package is a test
dependency, and the tests verify these signatures with it, so the two cannot drift apart.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import secrets
from collections.abc import Iterable
from datetime import timedelta

SECRET_PREFIX = "whsec_"  # noqa: S105  # the format's prefix, not a secret
# The specification asks for 24 to 64 bytes of key.
SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh signing secret: `whsec_` and the base64 of random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def _key(secret: str) -> bytes:
    raw = secret.removeprefix(SECRET_PREFIX)
    return base64.b64decode(raw + "=" * (-len(raw) % 4))


def signature(secret: str, *, event_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` under one secret."""
    signed = f"{event_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(
    secrets_: Iterable[str], *, event_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three Standard Webhooks headers. Several secrets (a rotation in progress) give
    several signatures, space-separated: a receiver holding either secret accepts the message."""
    signatures = " ".join(
        signature(s, event_id=event_id, timestamp=timestamp, body=body) for s in secrets_
    )
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signatures,
    }


def backoff(attempt: int, *, base_seconds: float, max_seconds: float) -> timedelta:
    """The wait after failed attempt number `attempt` (1, 2, ...): base x 4^(attempt-1), capped,
    with up to 10% jitter so endpoints that failed together are not retried in lockstep."""
    delay = min(base_seconds * 4 ** min(attempt - 1, 30), max_seconds)
    return timedelta(seconds=delay * (1 + random.random() / 10))  # noqa: S311  # jitter, not crypto
