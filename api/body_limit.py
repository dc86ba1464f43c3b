"""Request bodies over a size limit are answered 413 before anything reads them in full.

An ASGI middleware rather than a check in the routes: FastAPI reads and decodes the whole body
before any route code or dependency runs, so a 20 MB JSON body would be in memory (and then sent to
Temporal, which refuses it) by the time a route could say no. Here the declared Content-Length is
checked first, and a body sent without one (chunked) is counted as it arrives and cut off at the
limit. Uploads (multipart) get their own, larger limit; the import route checks the file's own
limits after that.
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import PROBLEM_MEDIA_TYPE, TYPE_BASE, FieldError, Problem
from core.logging import redact_path


class _TooLarge(HTTPException):
    # An HTTPException, since FastAPI turns any other error met while reading the body into 400.
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is over the limit of {limit} bytes.")


class BodyLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        content_type = headers.get(b"content-type", b"").lower()
        limit = (
            self.max_upload_bytes
            if content_type.startswith(b"multipart/form-data")
            else self.max_bytes
        )
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > limit
            except ValueError:
                too_large = False  # the server refuses a malformed length before we see it
            if too_large:
                await _drain(receive)
                await _refuse(scope, send, limit)
                return

        received = 0
        started = False
        more_body = True

        async def counting_receive() -> Message:
            nonlocal received, more_body
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                more_body = message.get("more_body", False)
                if received > limit:
                    raise _TooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            # Raised where no exception handler answers it (a route reading the stream itself).
            if started:
                raise
            if more_body:
                await _drain(receive)
            await _refuse(scope, send, limit)
            return
        if received > limit and more_body:
            # The app answered 413 (problems.py); read the rest so the client can read it.
            await _drain(receive)


# Reading what is left of a refused body (and dropping it) lets the client finish sending and read
# the 413; a client that closes on the first refusal would otherwise only see a broken pipe. Past
# this much, the connection is closed instead: the sender is not listening anyway.
_DRAIN_LIMIT = 64 * 1024 * 1024


async def _drain(receive: Receive) -> None:
    drained = 0
    while drained <= _DRAIN_LIMIT:
        message = await receive()
        if message["type"] != "http.request":
            return
        drained += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


async def _refuse(scope: Scope, send: Send, limit: int) -> None:
    problem = Problem(
        type=TYPE_BASE + "request-too-large",
        title="Request too large",
        status=413,
        detail=f"The request body is over the limit of {limit} bytes.",
        instance=redact_path(scope.get("path", "")),
        errors=[FieldError(field="body", message=f"at most {limit} bytes")],
    )
    body = json.dumps(problem.model_dump(exclude_none=True)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                # The rest of the body is not read: the client must not reuse the connection.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
