"""The codec server over real HTTP: Temporal's remote codec protocol, the ops token, and CORS for
the Temporal UI's origin only."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from api.deps import Services
from api.main import create_app
from core.codec import ENCODING, KEY_ID_METADATA
from core.settings import Environment, Settings
from devstack.serving import serve_app
from store.pool import Pool

TOKEN = "codec-ops-token-5b1e7d"
UI = "http://127.0.0.1:8233"
OTHER = "https://evil.example"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The session's settings with a codec token, as an ops deployment would set it."""
    return settings.model_copy(update={"codec_token": SecretStr(TOKEN)})


@asynccontextmanager
async def _served(
    settings: Settings, pool: Pool, client: Client
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, services=Services(settings=settings, pool=pool, temporal=client))
    async with serve_app(app) as http:
        yield http


def _body(*values: Any) -> dict[str, Any]:
    """A Payloads message in protobuf JSON, as the UI and the CLI send it."""
    return {
        "payloads": [
            {
                "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
                "data": base64.b64encode(json.dumps(v).encode()).decode(),
            }
            for v in values
        ]
    }


def _values(body: dict[str, Any]) -> list[Any]:
    return [json.loads(base64.b64decode(p["data"])) for p in body["payloads"]]


async def test_encode_then_decode_round_trips(api_server: httpx.AsyncClient) -> None:
    """An ops caller encrypts and decrypts payloads; the encrypted form names its key and
    holds no clear text."""
    sent = _body({"first_name": "Léonie", "email": "leonie@example.com"}, "second")
    encoded = await api_server.post("/codec/encode", json=sent, headers=BEARER)
    assert encoded.status_code == 200, encoded.text
    assert encoded.headers["cache-control"] == "no-store"
    for item in encoded.json()["payloads"]:
        assert base64.b64decode(item["metadata"]["encoding"]) == ENCODING
        assert base64.b64decode(item["metadata"][KEY_ID_METADATA])
        assert b"leonie" not in base64.b64decode(item["data"]).lower()

    decoded = await api_server.post(
        "/codec/decode", json=encoded.json(), headers={**BEARER, "X-Namespace": "default"}
    )
    assert decoded.status_code == 200, decoded.text
    assert decoded.json() == sent
    assert _values(decoded.json()) == [
        {"first_name": "Léonie", "email": "leonie@example.com"},
        "second",
    ]


async def test_decode_reads_what_the_temporal_client_wrote(
    api_server: httpx.AsyncClient, client: Client
) -> None:
    """What a worker or the API writes to Temporal decodes here (one codec for both)."""
    [payload] = await client.data_converter.encode([{"last_name": "Verhaegen"}])
    assert b"Verhaegen" not in payload.SerializeToString()
    body = {"payloads": [json_format.MessageToDict(payload)]}
    decoded = await api_server.post("/codec/decode", json=body, headers=BEARER)
    assert decoded.status_code == 200, decoded.text
    assert _values(decoded.json()) == [{"last_name": "Verhaegen"}]


async def test_unencrypted_payloads_decode_unchanged(api_server: httpx.AsyncClient) -> None:
    """Payloads written before encryption come back as they are, so old histories still show."""
    sent = _body({"legacy": True})
    decoded = await api_server.post("/codec/decode", json=sent, headers=BEARER)
    assert decoded.status_code == 200
    assert decoded.json() == sent


@pytest.mark.parametrize(
    ("headers", "status", "slug"),
    [
        ({}, 401, "unauthenticated"),
        ({"Authorization": f"Basic {TOKEN}"}, 401, "unauthenticated"),
        ({"Authorization": "Bearer not-the-token"}, 403, "codec-token-invalid"),
        ({"Authorization": f"Bearer {TOKEN}x"}, 403, "codec-token-invalid"),
    ],
    ids=["no-header", "wrong-scheme", "wrong-token", "token-prefix"],
)
async def test_caller_without_the_token_is_refused(
    api_server: httpx.AsyncClient, headers: dict[str, str], status: int, slug: str
) -> None:
    """No token: 401; a wrong one: 403; nothing decoded either way."""
    for path in ("/codec/decode", "/codec/encode"):
        response = await api_server.post(path, json=_body("x"), headers=headers)
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith(slug)
        assert "payloads" not in response.json()


async def test_bad_body_is_a_problem_naming_payloads(api_server: httpx.AsyncClient) -> None:
    """A body that is not a Payloads message: 400 naming the field."""
    response = await api_server.post(
        "/codec/decode", content=b'{"payloads": "nope"}', headers=BEARER
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "payloads"


async def test_unknown_key_is_a_problem_naming_the_key_only(api_server: httpx.AsyncClient) -> None:
    """A payload under a key this service does not hold: 400 naming the key id, no data echoed."""
    foreign = Payload(
        metadata={"encoding": ENCODING, KEY_ID_METADATA: b"retired-2019"},
        data=b"\x00" * 12 + b"Antoine-secret-bytes",
    )
    body = {"payloads": [json_format.MessageToDict(foreign)]}
    response = await api_server.post("/codec/decode", json=body, headers=BEARER)
    assert response.status_code == 400
    assert "retired-2019" in response.json()["detail"]
    assert "Antoine" not in response.text


async def test_other_namespace_is_refused(api_server: httpx.AsyncClient) -> None:
    """A UI or CLI pointed at another namespace is told so, naming the header."""
    response = await api_server.post(
        "/codec/decode", json=_body("x"), headers={**BEARER, "X-Namespace": "payments"}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "X-Namespace"


async def test_preflight_from_the_ui_origin_is_answered(api_server: httpx.AsyncClient) -> None:
    """The UI's preflight gets its origin back, POST, and the protocol's headers."""
    for path in ("/codec/decode", "/codec/encode"):
        response = await api_server.options(
            path,
            headers={
                "Origin": UI,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-namespace,authorization",
            },
        )
        assert response.status_code == 204, response.text
        assert response.headers["access-control-allow-origin"] == UI
        assert response.headers["access-control-allow-methods"] == "POST"
        allowed = {
            h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")
        }
        assert allowed >= {"x-namespace", "authorization", "content-type"}
        assert response.headers["access-control-allow-credentials"] == "true"

    decoded = await api_server.post(
        "/codec/decode", json=_body("x"), headers={**BEARER, "Origin": UI}
    )
    assert decoded.status_code == 200
    assert decoded.headers["access-control-allow-origin"] == UI
    refused = await api_server.post("/codec/decode", json=_body("x"), headers={"Origin": UI})
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == UI  # so the UI can show why


async def test_other_origins_are_refused(api_server: httpx.AsyncClient) -> None:
    """Another origin gets no CORS headers and no decoding, even with the token."""
    preflight = await api_server.options(
        "/codec/decode", headers={"Origin": OTHER, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 403
    assert "access-control-allow-origin" not in preflight.headers
    post = await api_server.post(
        "/codec/decode", json=_body("x"), headers={**BEARER, "Origin": OTHER}
    )
    assert post.status_code == 403
    assert "access-control-allow-origin" not in post.headers
    assert "payloads" not in post.json()


async def test_cors_is_not_enabled_for_the_rest_of_the_api(api_server: httpx.AsyncClient) -> None:
    """Only the codec paths answer a preflight; the partner API stays same-origin."""
    response = await api_server.options(
        "/v1/onboardings", headers={"Origin": UI, "Access-Control-Request-Method": "POST"}
    )
    assert response.status_code == 405
    assert "access-control-allow-origin" not in response.headers


async def test_without_a_token_the_codec_server_is_off(
    settings: Settings, pool: Pool, client: Client
) -> None:
    """No ONBOARDING_CODEC_TOKEN outside development: every call is refused."""
    off = settings.model_copy(update={"codec_token": None})
    async with _served(off, pool, client) as http:
        response = await http.post("/codec/decode", json=_body("x"))
        assert response.status_code == 503
        response = await http.post("/codec/decode", json=_body("x"), headers=BEARER)
        assert response.status_code == 503


async def test_development_loopback_needs_no_token(
    settings: Settings, pool: Pool, client: Client
) -> None:
    """`make dev`: the UI in a browser on this machine decodes with no token configured."""
    dev = settings.model_copy(update={"codec_token": None, "env": Environment.development})
    async with _served(dev, pool, client) as http:
        encoded = await http.post("/codec/encode", json=_body("x"), headers={"Origin": UI})
        assert encoded.status_code == 200, encoded.text
        decoded = await http.post("/codec/decode", json=encoded.json(), headers={"Origin": UI})
        assert _values(decoded.json()) == ["x"]
        other = await http.post("/codec/decode", json=encoded.json(), headers={"Origin": OTHER})
        assert other.status_code == 403


async def test_development_with_a_token_still_requires_it(
    settings: Settings, pool: Pool, client: Client
) -> None:
    """A token configured in development is required even on loopback."""
    dev = settings.model_copy(update={"env": Environment.development})
    async with _served(dev, pool, client) as http:
        assert (await http.post("/codec/decode", json=_body("x"))).status_code == 401
