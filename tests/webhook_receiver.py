"""A partner's webhook receiver for the tests: real HTTP on a free 127.0.0.1 port (uvicorn), that
records every request and answers from a script (500, 500, 200...), optionally holding one
request open so a test can kill the sender mid-delivery."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, Response

from devstack.serving import serve_app


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def webhook_headers(self) -> dict[str, str]:
        return {k: v for k, v in self.headers.items() if k.startswith("webhook-")}


@dataclass
class Receiver:
    base_url: str = ""
    received: list[Received] = field(default_factory=list)
    # Status codes for the next requests, in order; 200 once the script is used up.
    script: list[int] = field(default_factory=list)
    # While set, a request to a path in `hold_paths` waits for `release` before it is answered.
    hold_paths: set[str] = field(default_factory=set)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    arrival: asyncio.Condition = field(default_factory=asyncio.Condition)

    def url(self, path: str = "/hook") -> str:
        return self.base_url + path

    async def wait_for(self, count: int, *, within: float = 10.0) -> list[Received]:
        async def enough() -> None:
            async with self.arrival:
                await self.arrival.wait_for(lambda: len(self.received) >= count)

        await asyncio.wait_for(enough(), within)
        return list(self.received)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/{path:path}")
        async def receive(path: str, request: Request) -> Response:
            body = await request.body()
            async with self.arrival:
                self.received.append(
                    Received(path="/" + path, headers=dict(request.headers), body=body)
                )
                self.arrival.notify_all()
            if "/" + path in self.hold_paths:
                await self.release.wait()
            code = self.script.pop(0) if self.script else 200
            return Response(status_code=code, content=b"receiver body, never echoed")

        return app


@asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    """A receiver served until the block ends."""
    receiver = Receiver()
    async with serve_app(receiver.app(), access_log=False) as http:
        receiver.base_url = str(http.base_url).rstrip("/")
        yield receiver
        receiver.release.set()  # no held request may keep the server from stopping
