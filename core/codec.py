"""AES-256-GCM payload encryption for Temporal: what keeps personal data out of its history.

Temporal stores every workflow input, activity argument, result, memo, summary and (with the
failure converter set in core/temporal.py) every failure message in its database, readable by
anyone with namespace access. This codec encrypts each payload before it leaves the process, so
the server, its database and its UI see only ciphertext; the codec server (api/routers/codec.py)
decrypts on demand for authorised operators.

Wire format of an encrypted payload:
- metadata `encoding` = `binary/encrypted`, `encryption-key-id` = the id of the key used;
- data = 12-byte random nonce || AES-GCM ciphertext-and-tag of the original Payload protobuf
  (its metadata included, so the original encoding comes back on decode);
- associated data = `onboarding-payload-v1:` + key id: moving a ciphertext under another key id
  (or a future format version) fails authentication instead of decrypting as something else.

Keys: one current key encrypts; every configured key decrypts, which is how rotation works (add
the new key, make it current, keep the old ones until no retained history uses them).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
NONCE_BYTES = 12
KEY_BYTES = 32
_AAD_PREFIX = b"onboarding-payload-v1:"
_KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

# The key `make dev` and the tests use when no key is configured. Derived from a public string:
# it protects nothing, and Settings refuses it outside development and test.
DEV_KEY_ID = "dev-insecure"
DEV_KEY = hashlib.sha256(b"onboarding development payload key - PUBLIC, NOT A SECRET").digest()


class CodecError(ValueError):
    """A payload or key that cannot be used. Messages name key ids, never key or payload bytes."""


def parse_keys(raw: str) -> dict[str, bytes]:
    """Keys from a setting: a JSON object `{"id": "base64key", ...}` or `id:base64key,...`.

    Each key is 32 random bytes (AES-256), standard or URL-safe base64, e.g. from
    `python -c "import os, base64; print(base64.b64encode(os.urandom(32)).decode())"`.
    """
    text = raw.strip()
    pairs: list[tuple[str, str]]
    if text.startswith("{"):
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError:
            raise CodecError("payload keys: not a valid JSON object") from None
        if not isinstance(loaded, dict) or not all(isinstance(v, str) for v in loaded.values()):
            raise CodecError('payload keys: expected {"key-id": "base64 key", ...}')
        pairs = [(str(k), v) for k, v in loaded.items()]
    else:
        pairs = []
        for item in filter(None, (part.strip() for part in text.split(","))):
            key_id, sep, encoded = item.partition(":")
            if not sep:
                raise CodecError("payload keys: expected id:base64key pairs separated by commas")
            pairs.append((key_id.strip(), encoded.strip()))
    if not pairs:
        raise CodecError("payload keys: no key given")
    keys: dict[str, bytes] = {}
    for key_id, encoded in pairs:
        if not _KEY_ID.match(key_id):
            raise CodecError("payload keys: a key id must be 1-64 letters, digits, '.', '_', '-'")
        if key_id in keys:
            raise CodecError(f"payload keys: key id {key_id!r} given twice")
        keys[key_id] = _decode_key(key_id, encoded)
    return keys


def _decode_key(key_id: str, encoded: str) -> bytes:
    padded = encoded + "=" * (-len(encoded) % 4)
    try:
        key = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise CodecError(f"payload key {key_id!r} is not valid base64") from None
    if len(key) != KEY_BYTES:
        raise CodecError(f"payload key {key_id!r} must be {KEY_BYTES} bytes (AES-256)")
    return key


class EncryptionCodec(PayloadCodec):
    """Encrypts with the current key; decrypts with whichever configured key a payload names."""

    def __init__(self, keys: Mapping[str, bytes], *, current: str) -> None:
        if current not in keys:
            raise CodecError(f"current payload key {current!r} is not among the configured keys")
        for key_id, key in keys.items():
            if len(key) != KEY_BYTES:
                raise CodecError(f"payload key {key_id!r} must be {KEY_BYTES} bytes (AES-256)")
        self.current = current
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._ciphers)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        # AES-GCM on payloads of a few kilobytes takes microseconds: inline, no thread hop.
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        key_id = self.current
        # A random 96-bit nonce per payload: with one key the collision risk stays negligible
        # far beyond the number of payloads this service writes before the key is rotated.
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[key_id].encrypt(
            nonce, payload.SerializeToString(), _AAD_PREFIX + key_id.encode()
        )
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode()},
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        # Payloads without our encoding pass through unchanged: histories recorded before
        # encryption was switched on, and workflows still running from then, keep replaying
        # and decoding. Such payloads were never protected; retention removes them in time.
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        raw_id = payload.metadata.get(KEY_ID_METADATA)
        if raw_id is None:
            raise CodecError("encrypted payload without a key id")
        key_id = raw_id.decode("utf-8", errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise CodecError(f"payload encrypted with unknown key {key_id!r}")
        data = payload.data
        if len(data) <= NONCE_BYTES:
            raise CodecError(f"encrypted payload under key {key_id!r} is truncated")
        try:
            clear = cipher.decrypt(
                data[:NONCE_BYTES], data[NONCE_BYTES:], _AAD_PREFIX + key_id.encode()
            )
        except InvalidTag:
            raise CodecError(f"payload under key {key_id!r} fails authentication") from None
        return Payload.FromString(clear)
