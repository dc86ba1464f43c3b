"""The one place a Temporal client is built: worker, API, command line, tests and replayer.

Keeping it single means the data converter (pydantic) and the connection settings cannot drift
between the process that starts a workflow and the one that runs it.
"""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter

from core.settings import Settings

DATA_CONVERTER: DataConverter = pydantic_data_converter


async def connect(settings: Settings, *, address: str | None = None, lazy: bool = False) -> Client:
    """Connect to Temporal with the project's data converter.

    `lazy` defers the connection to the first call, so a process can start while Temporal is
    still coming up (the API does, and its /healthz reports Temporal down meanwhile).
    """
    return await Client.connect(
        address or settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=DATA_CONVERTER,
        lazy=lazy,
    )


async def ping(client: Client) -> None:
    """Raise if the Temporal frontend does not answer a health check."""
    ok = await client.service_client.check_health()
    if not ok:
        raise RuntimeError("Temporal frontend reports not serving")


async def history_lengths(client: Client, workflow_id: str, first_run: str) -> list[int]:
    """Events in each run of a workflow, from `first_run`, following continue-as-new: what a
    long-lived workflow keeps under Temporal's per-run history limits."""
    lengths: list[int] = []
    run_id: str | None = first_run
    while run_id:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        lengths.append(len(history.events))
        attributes = history.events[-1].workflow_execution_continued_as_new_event_attributes
        run_id = attributes.new_execution_run_id or None
    return lengths
