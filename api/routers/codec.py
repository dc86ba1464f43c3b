"""The codec server: Temporal's remote codec protocol, for the Temporal UI and CLI.

`POST /codec/decode` and `/codec/encode` take and return a `Payloads` message in protobuf JSON
(`{"payloads": [{"metadata": {"encoding": "<base64>"}, "data": "<base64>"}]}`), run through the
same codec the Temporal clients use (core/temporal.py), so an operator sees decrypted inputs in the
UI (`--ui-codec-endpoint` / TEMPORAL_CODEC_ENDPOINT) or in `temporal workflow show
--codec-endpoint ... --codec-auth ...`. Both clients append `/decode` or `/encode` to the endpoint
they are given, so the endpoint is `<api base>/codec`.

Who may call: whoever holds the ops token (ONBOARDING_CODEC_TOKEN, `Authorization: Bearer ...`);
no token configured means the codec server is off. One exception, in development only: a caller
on the loopback interface needs no token when none is configured, because the dev UI (a browser
page) cannot send a static token (it only forwards its own OIDC access token, over HTTPS) and
`make dev` should show decoded payloads out of the box. Loopback-only keeps other machines out.

CORS is answered here and nowhere else in the API: the UI calls from the browser, from its own
origin, with `Content-Type: application/json` and `X-Namespace`, so every call is preceded by a
preflight. Only the configured UI origins get CORS headers; a request from any other origin is
refused before anything is decoded.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from api import auth_failures
from api.deps import ServicesDep, TemporalDep
from api.problems import FieldError, ProblemError, problem_responses
from core.codec import CodecError
from core.settings import Environment, Settings

# Its own token, not an API key (401/403), off without one (503); the route reads the body
# itself, so FastAPI cannot know it may be malformed (400) or too large (413).
router = APIRouter(
    prefix="/codec", tags=["codec"], responses=problem_responses(400, 401, 403, 413, 429, 503)
)

ALLOWED_HEADERS = "Authorization, Content-Type, X-Namespace"
PREFLIGHT_MAX_AGE = "600"


def _cors(settings: Settings, origin: str | None) -> dict[str, str]:
    headers = {"Vary": "Origin"}
    if origin is not None and origin in settings.codec_cors_origins:
        # Credentials allowed: the UI's `includeCredentials` option sends cookies, which
        # browsers only do against an exact origin, never `*`.
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Allow-Credentials"] = "true"
    return headers


def _refuse_origin(settings: Settings, origin: str | None) -> None:
    if origin is not None and origin not in settings.codec_cors_origins:
        raise ProblemError(
            403,
            "codec-origin-refused",
            "Origin not allowed",
            "This origin may not call the codec server; allowed origins are set by "
            "ONBOARDING_CODEC_CORS_ORIGINS.",
            headers={"Vary": "Origin"},
        )


def _is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def authorise(request: Request, services: ServicesDep) -> dict[str, str]:
    """Let an ops caller through and return the CORS headers its answer carries."""
    settings = services.settings
    origin = request.headers.get("origin")
    _refuse_origin(settings, origin)
    cors = _cors(settings, origin)
    token = settings.codec_token
    if token is None:
        client = request.client
        if settings.env == Environment.development and _is_loopback(client and client.host):
            return _check_namespace(settings, request, cors)
        raise ProblemError(
            503,
            "codec-server-off",
            "Codec server off",
            "No codec token is configured: set ONBOARDING_CODEC_TOKEN to turn it on.",
            headers=cors,
        )
    kind = auth_failures.Kind.codec_token
    presented = request.headers.get("authorization", "").strip()
    scheme, _, given = presented.partition(" ")
    if scheme.lower() != "bearer" or not given:
        if presented:  # something else than a bearer token: a failed attempt all the same
            await auth_failures.failed(services.pool, settings, request, kind, headers=cors)
        raise ProblemError(
            401,
            "unauthenticated",
            "Authentication required",
            "Send the codec token as `Authorization: Bearer <token>`.",
            headers={**cors, "WWW-Authenticate": "Bearer"},
        )
    # Constant time: the comparison must not tell an attacker how much of a guess was right.
    if not hmac.compare_digest(given.strip().encode(), token.get_secret_value().encode()):
        await auth_failures.failed(services.pool, settings, request, kind, headers=cors)
        raise ProblemError(
            403,
            "codec-token-invalid",
            "Invalid codec token",
            "The codec token is wrong.",
            headers=cors,
        )
    await auth_failures.passed(services.pool, settings, request, kind, headers=cors)
    return _check_namespace(settings, request, cors)


def _check_namespace(settings: Settings, request: Request, cors: dict[str, str]) -> dict[str, str]:
    # The keys belong to this service's namespace; a UI or CLI pointed at another namespace
    # is misconfigured, and saying so beats answering with payloads it cannot use.
    namespace = request.headers.get("x-namespace")
    if namespace is not None and namespace != settings.temporal_namespace:
        raise ProblemError(
            400,
            "codec-namespace-unknown",
            "Unknown namespace",
            "This codec server serves the namespace configured by ONBOARDING_TEMPORAL_NAMESPACE.",
            errors=[FieldError(field="X-Namespace", message="not this service's namespace")],
            headers=cors,
        )
    return cors


CodecCallerDep = Annotated[dict[str, str], Depends(authorise)]


async def _convert(
    request: Request, cors: dict[str, str], client: TemporalDep, direction: Literal["en", "de"]
) -> JSONResponse:
    codec = client.data_converter.payload_codec
    if codec is None:  # core.temporal always sets one; a client built elsewhere would not
        raise ProblemError(503, "codec-missing", "No codec", "No payload codec.", headers=cors)
    payloads = Payloads()
    try:
        json_format.Parse(await request.body(), payloads)
    except (json_format.ParseError, UnicodeDecodeError):
        raise ProblemError(
            400,
            "codec-bad-payloads",
            "Invalid payloads",
            'Send {"payloads": [{"metadata": {...}, "data": "<base64>"}]} (protobuf JSON).',
            errors=[FieldError(field="payloads", message="not a Payloads message in JSON")],
            headers=cors,
        ) from None
    try:
        if direction == "en":
            converted = await codec.encode(payloads.payloads)
        else:
            converted = await codec.decode(payloads.payloads)
    except CodecError as exc:  # names a key id at most, never data
        slug = "codec-encode-failed" if direction == "en" else "codec-decode-failed"
        raise ProblemError(400, slug, "Codec failure", str(exc), headers=cors) from None
    return JSONResponse(
        {"payloads": [json_format.MessageToDict(p) for p in converted]},
        # Decoded payloads hold personal data: no browser or proxy keeps a copy.
        headers={**cors, "Cache-Control": "no-store"},
    )


@router.post("/decode")
async def decode_payloads(request: Request, cors: CodecCallerDep, client: TemporalDep) -> Response:
    """Decrypt Temporal payloads (remote codec protocol) for an ops caller."""
    return await _convert(request, cors, client, "de")


@router.post("/encode")
async def encode_payloads(request: Request, cors: CodecCallerDep, client: TemporalDep) -> Response:
    """Encrypt Temporal payloads (remote codec protocol), e.g. a signal sent from the UI."""
    return await _convert(request, cors, client, "en")


@router.options("/decode", include_in_schema=False)
@router.options("/encode", include_in_schema=False)
async def preflight(request: Request, services: ServicesDep) -> Response:
    """CORS preflight of the Temporal UI: allowed origins, POST, and the protocol's headers."""
    settings = services.settings
    origin = request.headers.get("origin")
    method = request.headers.get("access-control-request-method", "")
    if origin is None or origin not in settings.codec_cors_origins or method.upper() != "POST":
        raise ProblemError(
            403,
            "codec-origin-refused",
            "Origin not allowed",
            "Only the configured Temporal UI origins may call the codec server, with POST.",
            headers={"Vary": "Origin"},
        )
    return Response(
        status_code=204,
        headers={
            **_cors(settings, origin),
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
        },
    )
