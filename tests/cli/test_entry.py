"""The command line reads its settings once, at its entry, and sets logging up from them before
the command does anything: every command logs as ONBOARDING_LOG_LEVEL and _FORMAT say."""

from __future__ import annotations

import asyncio
import json
import sys

from core.settings import Settings
from tests.cli_helpers import invoke, ops_env


def _debug_lines(err: str) -> list[dict[str, object]]:
    """The JSON log lines at debug level on stderr (every line there must be JSON)."""
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    return [line for line in lines if line.get("level") == "debug"]


async def test_temporal_commands_log_as_the_settings_say(settings: Settings) -> None:
    """`onboarding list` and `onboarding patches` connect to Temporal with the settings and log
    through the configured handler: at debug, every stderr line is a JSON record (the event
    loop's own start among them), none a bare line of Python's fallback."""
    env = ops_env(settings) | {"ONBOARDING_LOG_LEVEL": "DEBUG", "ONBOARDING_LOG_FORMAT": "json"}
    for command in (("list", "--json", "--limit", "1"), ("patches", "--json")):
        ran = await invoke(env, *command)
        assert ran.code == 0, (command, ran.err)
        assert _debug_lines(ran.err), (command, ran.err)


async def test_python_m_cli_main_knows_every_command() -> None:
    """`python -m cli.main` runs the app after every command is registered: `patches`, defined
    last, was unknown to it (the `__main__` block stood above it)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli.main",
        "patches",
        "--help",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert "open runs" in out.decode()
