"""A stand-in for a partner's automation app: the endpoint an onboarding calls to connect a client.

Real partner apps are outside our reach, so tests and `make dev` point an automation app's
`connect_url` at this one. It speaks the contract the AutomationConnector relies on:
`POST /connect` with a JSON body `{client_id, partner_id, integration, settings}` and an
`Idempotency-Key` header; it answers 201 `{"connection_id": ...}`, the same id for the same key,
as a real app deduplicating our retries would. Removing an integration is `POST /disconnect`
(its `disconnect_url`) with `{client_id, partner_id, integration, connection_id}` and an
`Idempotency-Key`: 200 `{"disconnected": true}`, the same key ending the connection once.

Tests steer it with `fail_next` (retryable statuses), `reject_next` (a 4xx with a message) and
`hold_next` (an answer delayed after the work is done, for a caller to die meanwhile), and read
back every request it received in `requests`, the connections made in `connections` and those
ended in `disconnections`. It never logs request bodies: they carry secrets, and tests assert
that no log line does.

Served in-process by uvicorn on 127.0.0.1 and a free port (`async with PartnerApp() as app:`), or
alone with `python -m devstack.partner_app --port 8082`.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from devstack.ports import free_port

DEFAULT_PORT = 8082
CONNECT_PATH = "/connect"
DISCONNECT_PATH = "/disconnect"
_RETRYABLE_4XX = (408, 429)


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the app saw it, and the status it answered."""

    headers: dict[str, str]  # lower-case names
    body: Any
    status: int
    path: str = CONNECT_PATH


@dataclass(frozen=True)
class _Fault:
    status: int
    message: str


class PartnerApp:
    """The stand-in server. `port=None` takes a free port; read it back from `.url`."""

    def __init__(self, *, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.requests: list[ReceivedRequest] = []
        self._connections: dict[str, str] = {}
        # Idempotency-Key -> the connection id it ended (None: one the app did not know).
        self._disconnections: dict[str, str | None] = {}
        self._faults: deque[_Fault] = deque()
        self._holds: deque[float] = deque()
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.app = FastAPI(title="Partner app stand-in", docs_url=None, redoc_url=None)
        self.app.add_api_route(CONNECT_PATH, self._connect, methods=["POST"])
        self.app.add_api_route(DISCONNECT_PATH, self._disconnect, methods=["POST"])

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the partner app stand-in is already running")
        self._server = uvicorn.Server(self.config())
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises why it could not start (port taken...)
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        server, task = self._server, self._task
        self._server = self._task = None
        if server is None or task is None:
            return
        server.should_exit = True
        await task

    async def __aenter__(self) -> PartnerApp:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def config(self) -> uvicorn.Config:
        return uvicorn.Config(
            self.app, host=self.host, port=self.port, log_config=None, lifespan="off"
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def connect_url(self) -> str:
        return f"{self.url}{CONNECT_PATH}"

    @property
    def disconnect_url(self) -> str:
        return f"{self.url}{DISCONNECT_PATH}"

    @property
    def connections(self) -> dict[str, str]:
        """Idempotency-Key -> connection id: each entry is one connection made."""
        return dict(self._connections)

    @property
    def disconnections(self) -> dict[str, str | None]:
        """Idempotency-Key -> the connection id ended: each entry is one disconnection."""
        return dict(self._disconnections)

    # -- test controls -----------------------------------------------------------------------

    def fail_next(self, count: int = 1, *, status: int = 503) -> None:
        """The next `count` requests answer `status`: a 5xx, 408 or 429 (with Retry-After: 1)."""
        if count < 1 or not (500 <= status <= 599 or status in _RETRYABLE_4XX):
            raise ValueError("fail_next needs count >= 1 and a 5xx, 408 or 429 status")
        self._faults.extend(_Fault(status, "temporarily unavailable") for _ in range(count))

    def reject_next(
        self, count: int = 1, *, status: int = 422, message: str = "invalid settings"
    ) -> None:
        """The next `count` requests answer `status` (a 4xx other than 408/429) and `message`."""
        if count < 1 or not 400 <= status <= 499 or status in _RETRYABLE_4XX:
            raise ValueError("reject_next needs count >= 1 and a 4xx status other than 408/429")
        self._faults.extend(_Fault(status, message) for _ in range(count))

    def hold_next(self, seconds: float, count: int = 1) -> None:
        """The next `count` connect or disconnect requests are done at once but answered only
        after `seconds`: a caller that dies meanwhile never hears that they were."""
        if count < 1 or seconds <= 0:
            raise ValueError("hold_next needs count >= 1 and seconds > 0")
        self._holds.extend(seconds for _ in range(count))

    def reset(self) -> None:
        """Forget requests, connections, disconnections and pending faults and holds."""
        self.requests.clear()
        self._connections.clear()
        self._disconnections.clear()
        self._faults.clear()
        self._holds.clear()

    # -- HTTP --------------------------------------------------------------------------------

    async def _connect(self, request: Request) -> JSONResponse:
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            body: Any = await request.json()
        except ValueError:
            body = None
        response = self._answer(headers, body)
        self.requests.append(
            ReceivedRequest(headers=headers, body=body, status=response.status_code)
        )
        await self._hold()
        return response

    async def _disconnect(self, request: Request) -> JSONResponse:
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            body: Any = await request.json()
        except ValueError:
            body = None
        response = self._answer_disconnect(headers, body)
        self.requests.append(
            ReceivedRequest(
                headers=headers, body=body, status=response.status_code, path=DISCONNECT_PATH
            )
        )
        await self._hold()
        return response

    async def _hold(self) -> None:
        if self._holds:
            await asyncio.sleep(self._holds.popleft())

    def _answer_disconnect(self, headers: dict[str, str], body: Any) -> JSONResponse:
        if self._faults:
            fault = self._faults.popleft()
            extra = {"Retry-After": "1"} if fault.status == 429 else None
            return JSONResponse({"message": fault.message}, status_code=fault.status, headers=extra)
        if not isinstance(body, dict) or "connection_id" not in body:
            return JSONResponse({"message": "expected a JSON object with connection_id"}, 400)
        key = headers.get("idempotency-key")
        if key is None:
            return JSONResponse({"message": "an Idempotency-Key header is required"}, 400)
        # Same key, same disconnection: a retry of ours never ends a connection twice.
        ref = body["connection_id"]
        known = ref if isinstance(ref, str) and ref in self._connections.values() else None
        self._disconnections.setdefault(key, known)
        return JSONResponse({"disconnected": True}, 200)

    def _answer(self, headers: dict[str, str], body: Any) -> JSONResponse:
        if self._faults:
            fault = self._faults.popleft()
            extra = {"Retry-After": "1"} if fault.status == 429 else None
            return JSONResponse({"message": fault.message}, status_code=fault.status, headers=extra)
        if not isinstance(body, dict) or not isinstance(body.get("settings"), dict):
            return JSONResponse({"message": "expected a JSON object with settings"}, 400)
        key = headers.get("idempotency-key")
        if key is None:
            return JSONResponse({"connection_id": f"conn_{uuid.uuid4().hex}"}, 201)
        # Same key, same connection: a retry of ours never connects the client twice.
        connection_id = self._connections.setdefault(key, f"conn_{uuid.uuid4().hex}")
        return JSONResponse({"connection_id": connection_id}, 201)


async def serve(*, host: str, port: int) -> None:
    """Run until SIGINT or SIGTERM, which uvicorn handles (what the dev stack sends)."""
    await uvicorn.Server(PartnerApp(host=host, port=port).config()).serve()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.partner_app",
        description="Stand-in for a partner's automation app (POST /connect, /disconnect).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on")
    args = parser.parse_args(argv)
    asyncio.run(serve(host=args.host, port=args.port))


if __name__ == "__main__":
    main()
