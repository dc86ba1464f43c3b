"""What the CLI's tests share: running the onboarding command with ops' environment."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from cli.main import app
from core.settings import Settings


def _invoke(env: dict[str, str], args: tuple[str, ...]) -> Ran:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        result = CliRunner(env=env).invoke(app, list(args))
    finally:
        # The command configures logging for its process: give pytest's back.
        root.handlers[:], root.level = handlers, level
    return Ran(result.exit_code, result.stdout, result.stderr)


async def invoke(env: dict[str, str], *args: str) -> Ran:
    """The command in-process, in a thread: it runs its own event loop (asyncio.run)."""
    return await asyncio.to_thread(_invoke, env, args)


ONBOARDING = Path(sys.executable).parent / "onboarding"


def ops_env(settings: Settings) -> dict[str, str]:
    """The environment of an ops shell beside the worker: its database and Temporal."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ONBOARDING_") and k != "DATABASE_URL"
    }
    assert settings.database_url is not None
    env.update(
        ONBOARDING_ENV="test",
        ONBOARDING_DATABASE_URL=settings.database_url,
        ONBOARDING_TEMPORAL_ADDRESS=settings.temporal_address,
        ONBOARDING_LOG_LEVEL="WARNING",
    )
    return env


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


async def run_onboarding(env: dict[str, str], *args: str) -> Ran:
    process = await asyncio.create_subprocess_exec(
        str(ONBOARDING),
        *args,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return Ran(process.returncode, out.decode(), err.decode())
