"""Only the configured host names are served: any other `Host` header is a 400 problem.

Starlette builds absolute URLs from the Host header (the trailing-slash redirect's Location,
`request.base_url`), so a forged one would be echoed back to whoever sent it, or poison a cache
in front of us. Starlette's TrustedHostMiddleware does the same check but answers plain text;
this one answers the API's problem document and never repeats the name it refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from api.problems import PROBLEM_MEDIA_TYPE, TYPE_BASE, FieldError, Problem


def host_name(header: str) -> str:
    """`Example.COM.:8000` -> `example.com`, `[::1]:8000` -> `::1`: the name a Host header asks
    for, without port, brackets or final dot."""
    header = header.strip().lower()
    if header.startswith("["):
        name = header[1:].partition("]")[0]
    else:
        name = header.partition(":")[0]
    return name.removesuffix(".")


class TrustedHosts:
    def __init__(self, app: ASGIApp, *, hosts: Iterable[str]) -> None:
        self.app = app
        names = {h.lower().removesuffix(".") for h in hosts}
        self.any = "*" in names
        self.exact = {n for n in names if not n.startswith("*")}
        # `*.example.com` serves any name below example.com, not example.com itself.
        self.suffixes = tuple(n[1:] for n in names if n.startswith("*."))

    def serves(self, name: str) -> bool:
        return self.any or name in self.exact or (bool(name) and name.endswith(self.suffixes))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if self.serves(host_name(Headers(scope=scope).get("host", ""))):
            await self.app(scope, receive, send)
            return
        problem = Problem(
            type=TYPE_BASE + "unknown-host",
            title="Unknown host",
            status=400,
            detail="This service does not answer for the host name in the Host header.",
            errors=[FieldError(field="Host", message="not a host name this service answers for")],
        )
        body = json.dumps(problem.model_dump(exclude_none=True)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 400,
                "headers": [
                    (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
