"""Serving an ASGI app with a real uvicorn on a free 127.0.0.1 port, in this event loop: for the
tests and the benchmarks, which talk to the API over real HTTP."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import httpx
import uvicorn
from fastapi import FastAPI

from core.logging import install_redaction
from devstack.ports import free_port


class _PromptServer(uvicorn.Server):
    """uvicorn's server, stopped as soon as asked. uvicorn looks for its exit flag every 0.1 s
    and, shutting down, gives connections a fixed 0.1 s: 0.15 s on average at the end of every
    test that serves the API (hundreds of them), which `make test` paid in full."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self.should_exit = True
        self._stopping.set()

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864_000
            # Still a tick every 0.1 s (on_tick keeps the Date header current), cut short by stop().
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=0.1)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's shutdown in the same order (stop listening, ask each connection to close,
        wait for connections and tasks, then the app's lifespan), its waits polled every 10 ms
        instead of one fixed 0.1 s and then every 0.1 s."""
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        state = self.server_state
        # uvicorn's own wait, finer: its server state has no event to wait on.
        while (state.connections or state.tasks) and not self.force_exit:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        for server in self.servers:
            await server.wait_closed()
        if not self.force_exit:
            await self.lifespan.shutdown()


@asynccontextmanager
async def serve_app(
    app: FastAPI, *, client_timeout: float = 20, access_log: bool = True, port: int | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """Serve `app` until the block ends; yield an HTTP client for it. `port`: one chosen before
    (the pages' tests, whose e-mails link to it), else a free one."""
    port = port or free_port()
    # Tests and benchmarks do not run configure_logging; the access log must be masked here too.
    install_redaction()
    server = _PromptServer(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=access_log,
            lifespan="on",
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # it failed to start: raise why
        await asyncio.sleep(0.02)
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=client_timeout
        ) as http:
            yield http
    finally:
        server.stop()
        await task
