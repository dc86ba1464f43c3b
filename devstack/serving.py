"""Serving an ASGI app with a real uvicorn on a free 127.0.0.1 port, in this event loop: for the
tests and the benchmarks, which talk to the API over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import uvicorn
from fastapi import FastAPI

from core.logging import install_redaction
from devstack.ports import free_port


@asynccontextmanager
async def serve_app(
    app: FastAPI, *, client_timeout: float = 20, access_log: bool = True
) -> AsyncIterator[httpx.AsyncClient]:
    """Serve `app` until the block ends; yield an HTTP client for it."""
    port = free_port()
    # Tests and benchmarks do not run configure_logging; the access log must be masked here too.
    install_redaction()
    server = uvicorn.Server(
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
        server.should_exit = True
        await task
