"""`python -m bench.bare_worker --task-queue Q`: the bare workflows' worker process (a module of
its own: the workflow sandbox re-imports a workflow's module, which cannot be `__main__`)."""

from __future__ import annotations

import argparse
import asyncio
import signal

from temporalio.worker import Worker

from bench.bare import BareActivities, noop
from core import temporal
from core.entry import read_settings
from core.settings import Settings


async def serve(settings: Settings, task_queue: str) -> None:
    client = await temporal.connect(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Worker(client, task_queue=task_queue, workflows=[BareActivities], activities=[noop]):
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_worker", description=__doc__)
    parser.add_argument("--task-queue", required=True)
    args = parser.parse_args(argv)
    asyncio.run(serve(read_settings(), args.task_queue))


if __name__ == "__main__":
    main()
