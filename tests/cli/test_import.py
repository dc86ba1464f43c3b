"""`onboarding import` as a partner runs it: the real command, in a subprocess, over real HTTP
to the API served by uvicorn, with a worker, the registry stand-in and real workflows."""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import re
import signal
import struct
import sys
import termios
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.worker import Worker

from devstack.ports import free_port
from devstack.registry_standin import RegistryStandin
from tests.eventually import eventually
from tests.factories import Tenant
from tests.import_files import clients_xlsx

ONBOARDING = Path(sys.executable).with_name("onboarding")
DANONE = ["Hélène", "Lefèvre", "helene@danone.example", "fr", "Danone", "55203253400646"]
EDF = ["François", "Garçon", "francois@edf.example", "fr", "EDF", "55208131766522"]
# Spanish is not a language we onboard in, and the SIRET's checksum is wrong.
BAD = ["Zoé", "Noël", "zoe@bad.example", "espagnol", "Bad", "55203253400647"]
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")


@pytest.fixture
def cli_env(api_server: httpx.AsyncClient, tenant: Tenant) -> dict[str, str]:
    """The environment a partner's shell would have: where the API is and their key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONBOARDING_")}
    env.update(
        ONBOARDING_API_URL=str(api_server.base_url).rstrip("/"),
        ONBOARDING_API_KEY=tenant.key,
        COLUMNS="200",  # rich wraps tables at 80 columns without a terminal
    )
    return env


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


async def _onboarding_import(env: dict[str, str], *args: str) -> Ran:
    process = await asyncio.create_subprocess_exec(
        str(ONBOARDING),
        "import",
        *args,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return Ran(process.returncode, out.decode(), err.decode())


def _import_id(text: str) -> str:
    found = re.search(rf"Import ({UUID})", text)
    assert found, text
    return found.group(1)


class Terminal:
    """A pseudo-terminal for the command's output, so rich draws its live bar as for a person."""

    def __init__(self) -> None:
        self.master, self.slave = pty.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
        self._data = bytearray()
        self._reader: asyncio.Future[None] | None = None

    def start_reading(self) -> None:
        os.close(self.slave)  # the child holds the only other end: EOF comes when it exits
        self._reader = asyncio.ensure_future(asyncio.to_thread(self._pump))

    def _pump(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:  # EIO: the child closed the terminal
                return
            if not chunk:
                return
            self._data += chunk

    @property
    def text(self) -> str:
        return ANSI.sub("", bytes(self._data).decode(errors="replace"))

    async def wait_for(self, needle: str) -> None:

        async def shown() -> str:
            return self.text

        await eventually(
            shown, until=lambda text: needle in text, what=f"{needle!r} shown", within=60, every=0.1
        )

    async def close(self) -> None:
        if self._reader is not None:
            await self._reader
        os.close(self.master)


async def test_import_reports_bad_rows_then_follows_to_the_end(
    cli_env: dict[str, str],
    api: httpx.AsyncClient,
    worker: Worker,
    registry: RegistryStandin,
    tmp_path: Path,
) -> None:
    """An .xlsx with a bad row: the row's errors in a table, the import id and the reattach
    command, progress lines (no terminal), a summary and the report URL; exit 3 because a row
    was left out, with the two good rows onboarded and ready."""
    path = clients_xlsx(tmp_path / "clients.xlsx", DANONE, EDF, BAD)
    ran = await _onboarding_import(
        cli_env, str(path), "--template", "standard", "--invitation", "manual", "--interval", "0.2"
    )
    assert ran.code == 3, ran
    assert re.search(r"4\s*│\s*language\s*│", ran.out), ran.out
    assert re.search(r"4\s*│\s*siret\s*│", ran.out), ran.out
    assert "clients.xlsx: 3 rows, 2 valid, 1 with errors" in ran.out
    import_id = _import_id(ran.out)
    assert f"Reattach with: onboarding import --follow {import_id}" in ran.out
    assert "progress: " in ran.out and " settled; ready " in ran.out
    assert re.search(r"ready\s*│\s*2\s*│", ran.out), ran.out
    assert f"/v1/imports/{import_id}/report.csv" in ran.out

    body = (await api.get(f"/v1/imports/{import_id}")).json()
    assert body["progress"]["done"] is True
    assert body["onboardings_by_status"] == {"READY": 2}
    mode = {
        (await api.get(f"/v1/onboardings/{item['id']}")).json()["invitation"]["mode"]
        for item in (await api.get("/v1/onboardings")).json()["items"]
    }
    assert mode == {"manual"}


async def test_dry_run_shows_row_errors_and_starts_nothing(
    cli_env: dict[str, str], api: httpx.AsyncClient, tmp_path: Path
) -> None:
    """--dry-run prints each bad row's field and message, starts nothing, and exits 1 when
    there are errors, 0 when the file is clean."""
    bad = await _onboarding_import(
        cli_env, str(clients_xlsx(tmp_path / "bad.xlsx", DANONE, BAD)), "--dry-run"
    )
    assert bad.code == 1, bad
    assert re.search(r"3\s*│\s*language\s*│", bad.out), bad.out
    assert re.search(r"3\s*│\s*siret\s*│", bad.out), bad.out
    assert "Dry run: nothing was started." in bad.out
    assert "Import " not in bad.out

    clean = await _onboarding_import(
        cli_env, str(clients_xlsx(tmp_path / "clean.xlsx", DANONE)), "--dry-run"
    )
    assert clean.code == 0, clean
    assert "1 rows, 1 valid, 0 with errors" in clean.out
    assert (await api.get("/v1/onboardings")).json()["items"] == []


async def test_unknown_template_lists_the_partners_templates(
    cli_env: dict[str, str], api: httpx.AsyncClient, tmp_path: Path
) -> None:
    """A template name the partner does not have: exit 1 naming the ones it has; no upload."""
    created = await api.post("/v1/templates", json={"name": "Small companies"})
    assert created.status_code == 201, created.text
    ran = await _onboarding_import(
        cli_env, str(clients_xlsx(tmp_path / "c.xlsx", DANONE)), "--template", "Big ones"
    )
    assert ran.code == 1, ran
    assert "No template named 'Big ones'" in ran.err
    assert "Small companies, Standard (default)" in ran.err


async def test_unreadable_file_prints_the_problem_details(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    """A file that is not a workbook: the API's problem (title, detail, field `file`), exit 1."""
    path = tmp_path / "clients.xlsx"
    path.write_bytes(b"not a workbook at all")
    ran = await _onboarding_import(cli_env, str(path))
    assert ran.code == 1, ran
    assert "Invalid import (HTTP 422)" in ran.err
    assert re.search(r"^\s*file: 'clients\.xlsx' is named \.xlsx", ran.err, re.M), ran.err


async def test_follow_of_an_unknown_import_is_not_found(cli_env: dict[str, str]) -> None:
    """--follow with an id the partner has no import for: the 404 problem, exit 1."""
    missing = uuid.uuid4()
    ran = await _onboarding_import(cli_env, "--follow", str(missing))
    assert ran.code == 1, ran
    assert "Not found (HTTP 404)" in ran.err
    assert f"No import {missing}" in ran.err


async def test_ctrl_c_stops_watching_not_the_import_and_follow_reattaches(
    cli_env: dict[str, str],
    api: httpx.AsyncClient,
    worker: Worker,
    registry: RegistryStandin,
    tmp_path: Path,
) -> None:
    """Ctrl-C during the live bar: exit 130 with the reattach command, the import is not
    cancelled and goes on; `--follow ID` then watches it to its end (exit 0)."""
    path = clients_xlsx(tmp_path / "clients.xlsx", DANONE)
    registry.set_down()  # the row keeps looking its company up while we watch
    terminal = Terminal()
    try:
        process = await asyncio.create_subprocess_exec(
            str(ONBOARDING),
            "import",
            str(path),
            env={**cli_env, "TERM": "xterm-256color"},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=terminal.slave,
            stderr=terminal.slave,
        )
        terminal.start_reading()
        try:
            await terminal.wait_for("1 in flight")  # the live bar is up
            process.send_signal(signal.SIGINT)
            code = await process.wait()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        await terminal.close()
        shown = terminal.text
        assert code == 130, shown
        import_id = _import_id(shown)
        assert (
            "The import goes on in the background. Reattach with: "
            f"onboarding import --follow {import_id}"
        ) in shown
        assert "Traceback" not in shown and "Aborted" not in shown

        progress = (await api.get(f"/v1/imports/{import_id}")).json()["progress"]
        assert progress["cancelled"] is False
        assert progress["done"] is False
    finally:
        registry.set_down(False)

    followed = await _onboarding_import(cli_env, "--follow", import_id, "--interval", "0.2")
    assert followed.code == 0, followed
    assert "progress: " in followed.out
    assert re.search(r"ready\s*│\s*1\s*│", followed.out), followed.out
    body: dict[str, Any] = (await api.get(f"/v1/imports/{import_id}")).json()
    assert body["progress"]["done"] is True and body["progress"]["cancelled"] is False
    assert body["onboardings_by_status"] == {"READY": 1}


async def test_cancelled_import_ends_the_watch_with_code_4(
    cli_env: dict[str, str],
    api: httpx.AsyncClient,
    worker: Worker,
    registry: RegistryStandin,
    tmp_path: Path,
) -> None:
    """A cancelled import ends the watch even with a row still setting up (its workflow no
    longer hears from it), says that row goes on by itself, and exits 4."""
    registry.set_down()
    try:
        started = await api.post(
            "/v1/imports",
            files={"file": ("c.xlsx", clients_xlsx(tmp_path / "c.xlsx", DANONE).read_bytes())},
        )
        assert started.status_code == 202, started.text
        import_id = started.json()["id"]

        async def progress() -> dict[str, Any] | None:
            answer: dict[str, Any] | None = (await api.get(f"/v1/imports/{import_id}")).json()[
                "progress"
            ]
            return answer

        await eventually(
            progress,
            until=lambda p: p and p["in_flight"] == 1,
            what="the import's one row in flight",
            within=30,
            every=0.1,
        )
        assert (await api.post(f"/v1/imports/{import_id}/cancel")).status_code == 200
        ran = await _onboarding_import(cli_env, "--follow", import_id, "--interval", "0.2")
    finally:
        registry.set_down(False)
    assert ran.code == 4, ran
    assert re.search(r"still setting up, on their own\s*│\s*1\s*│", ran.out), ran.out


async def test_usage_errors_exit_2(tmp_path: Path) -> None:
    """Neither FILE nor --follow, both, upload options with --follow, or no API key: exit 2
    with a message saying what to do."""
    path = clients_xlsx(tmp_path / "c.xlsx", DANONE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONBOARDING_")}
    keyed = {**env, "ONBOARDING_API_KEY": "onb_x", "COLUMNS": "200"}
    neither = await _onboarding_import(keyed)
    both = await _onboarding_import(keyed, str(path), "--follow", str(uuid.uuid4()))
    mixed = await _onboarding_import(keyed, "--follow", str(uuid.uuid4()), "--dry-run")
    no_key = await _onboarding_import({**env, "COLUMNS": "200"}, str(path))
    for ran in (neither, both):
        assert ran.code == 2, ran
        assert "give a FILE to import, or --follow ID" in ran.err
    assert mixed.code == 2 and "--follow takes no upload option" in mixed.err, mixed
    assert no_key.code == 2 and "no API key: set ONBOARDING_API_KEY" in no_key.err, no_key


async def test_unreachable_api_says_so_and_exits_1(tmp_path: Path) -> None:
    """Nothing listening at the API URL: one clear sentence with the URL, exit 1."""
    url = f"http://127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONBOARDING_")}
    env.update(ONBOARDING_API_URL=url, ONBOARDING_API_KEY="onb_x", COLUMNS="200")
    ran = await _onboarding_import(env, str(clients_xlsx(tmp_path / "c.xlsx", DANONE)))
    assert ran.code == 1, ran
    assert f"The API is not reachable at {url} (is `make dev` running?)" in ran.err
