"""`make dev` on a `.devstack/` made by an older release: the Temporal SQLite file keeps the
namespace's older search attributes, and the dev stack adds what this release needs (issue 21)."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from temporalio.client import Client

from core.namespace import missing_search_attributes
from devstack.ports import free_port, wait_for_port
from devstack.temporal_server import add_missing_search_attributes, dev_server_command
from tests.eventually import eventually


@contextmanager
def dev_server(command: list[str], port: int) -> Iterator[None]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, timeout=60)
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


def _without_status_since(command: list[str]) -> list[str]:
    """The command as a release before StatusSince built it."""
    at = command.index("StatusSince=Datetime")
    return command[: at - 1] + command[at + 1 :]


async def test_dev_stack_adds_a_missing_attribute_to_an_existing_database() -> None:
    """A SQLite file made without StatusSince still lacks it when start-dev runs again with
    today's flags; add_missing_search_attributes adds it, and only it."""
    with tempfile.TemporaryDirectory(prefix="onboarding-temporal-") as directory:
        db_file = Path(directory) / "temporal.sqlite"
        port = free_port()
        today = dev_server_command(db_file=db_file, port=port, ui_port=0, ui=False)
        address = f"127.0.0.1:{port}"
        with dev_server(_without_status_since(today), port):
            older = await _client(address)
            assert [a.name for a in await missing_search_attributes(older)] == ["StatusSince"]
        # The same file, today's flags: start-dev registers attributes only in a new database.
        with dev_server(today, port):
            client = await _client(address)
            assert [a.name for a in await missing_search_attributes(client)] == ["StatusSince"]
            assert await add_missing_search_attributes(address) == ["StatusSince"]
            assert await missing_search_attributes(client) == []
            assert await add_missing_search_attributes(address) == []


async def _client(address: str) -> Client:
    """A client once the namespace is served (the port opens a little before)."""

    async def connected() -> Client | None:
        try:
            client = await Client.connect(address)
            await missing_search_attributes(client)
        except Exception:
            return None
        return client

    client = await eventually(
        connected, what=f"Temporal at {address} serving its namespace", within=30, every=0.5
    )
    assert client is not None
    return client
