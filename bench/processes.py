"""Worker and API processes of their own, as a fleet runs them, for the benchmarks and `make chaos`.

Each is `python -m cli.main worker|api` (what `onboarding worker|api` runs) with the settings
passed in its environment, logging to a file; stopped by its pid, never by name. Their peak memory
is read from /proc/<pid>/status (VmHWM: the kernel's high-water mark of the resident set).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from core.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def settings_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The process environment giving a child these settings' servers and queues (and `extra`,
    e.g. ONBOARDING_API_PORT), without whatever ONBOARDING_* the bench was started with."""
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ONBOARDING_") and k != "DATABASE_URL"
    }
    return {
        **inherited,
        # Log lines reach the file as they are written, not when a buffer fills: a SIGKILLed
        # process's last lines are the ones that matter.
        "PYTHONUNBUFFERED": "1",
        "ONBOARDING_ENV": settings.env.value,
        "ONBOARDING_LOG_FORMAT": "console",
        "ONBOARDING_LOG_LEVEL": "WARNING",
        "ONBOARDING_DATABASE_URL": settings.require_database_url(),
        "ONBOARDING_TEMPORAL_ADDRESS": settings.temporal_address,
        "ONBOARDING_TASK_QUEUE": settings.task_queue,
        "ONBOARDING_REGISTRY_TASK_QUEUE": settings.registry_task_queue,
        "ONBOARDING_REGISTRY_BASE_URL": settings.registry_base_url,
        "ONBOARDING_SMTP_HOST": settings.smtp_host,
        "ONBOARDING_SMTP_PORT": str(settings.smtp_port),
        "ONBOARDING_REGISTRY_RATE_LIMIT": str(settings.registry_rate_limit),
        **extra,
    }


def _status_kib(pid: int, key: str) -> int | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None  # gone (or never a Linux /proc)
    for line in text.splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    return None


def peak_rss_mib(pid: int) -> float | None:
    """VmHWM of `pid` in MiB, None once the process is gone."""
    kib = _status_kib(pid, "VmHWM")
    return kib / 1024 if kib is not None else None


def children_of(pid: int) -> list[int]:
    """Direct children of `pid` (e.g. the API's import readers)."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
        except OSError:
            continue
    return found


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]
    env: dict[str, str]
    url: str | None = None  # an API's base URL

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


@dataclass
class Processes:
    """Child processes started with `env`, each logging to `directory/<name>.log`."""

    env: dict[str, str]
    directory: Path
    started: list[Child] = field(default_factory=list)

    def start(self, name: str, argv: list[str], *, env: dict[str, str] | None = None) -> Child:
        path = self.directory / f"{name}.log"
        # A file, not a pipe: nobody reads it while it runs, and a full pipe blocks the child.
        log_file = path.open("ab")
        env = env or self.env
        process = subprocess.Popen(  # noqa: S603  # our own interpreter and module
            argv,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        child = Child(name, argv, process, path, log_file, env)
        self.started.append(child)
        return child

    def worker(self, role: str, name: str | None = None) -> Child:
        count = sum(1 for c in self.started if c.name.startswith(f"worker-{role}"))
        return self.start(
            name or f"worker-{role}-{count + 1}",
            [sys.executable, "-m", "cli.main", "worker", "--role", role],
        )

    async def api(self, port: int, name: str = "api") -> Child:
        env = {**self.env, "ONBOARDING_API_HOST": "127.0.0.1", "ONBOARDING_API_PORT": str(port)}
        child = self.start(name, [sys.executable, "-m", "cli.main", "api"], env=env)
        child.url = f"http://127.0.0.1:{port}"
        await wait_http(f"{child.url}/healthz", child)
        return child

    def restart(self, child: Child) -> Child:
        """A new process with the same command and log (after a crash)."""
        child.log_file.close()
        fresh = self.start(child.name, child.argv, env=child.env)
        fresh.url = child.url
        self.started.remove(child)
        return fresh

    @staticmethod
    def kill(child: Child) -> None:
        """SIGKILL: no signal handler, no graceful shutdown, no last heartbeat."""
        if child.alive:
            child.process.kill()
        child.process.wait(10)

    @staticmethod
    def terminate(child: Child, timeout: float = 20) -> None:
        if child.alive:
            child.process.send_signal(signal.SIGTERM)
            try:
                child.process.wait(timeout)
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait(10)

    def stop_all(self) -> None:
        for child in self.started:
            self.terminate(child)
            child.log_file.close()

    def tails(self, chars: int = 2000) -> str:
        return "\n".join(
            f"--- {c.log_path.name}\n{c.log_path.read_text(errors='replace')[-chars:]}"
            for c in self.started
        )


async def wait_http(url: str, child: Child | None = None, *, within: float = 120) -> None:
    """Until `url` answers anything (the process is up), or raise with the child's log."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            if child is not None and not child.alive:
                tail = child.log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{child.name} exited at start-up:\n{tail}")
            try:
                await http.get(url)
                return
            except httpx.TransportError:
                await asyncio.sleep(0.2)
    raise TimeoutError(f"nothing answers at {url}")


async def wait_worker_polling(child: Child, *, seconds: float = 3.0) -> None:
    """A worker process needs a moment to import and connect; a crash then fails fast."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not child.alive:
            tail = child.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{child.name} exited at start-up:\n{tail}")
        await asyncio.sleep(0.2)


def _stat(pid: int) -> tuple[str, int, float] | None:
    """(command name, parent pid, CPU seconds of the process and its reaped children)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    # utime, stime, cutime, cstime: fields 14-17 of proc(5), 11-14 after the name and state.
    ticks = sum(int(f) for f in fields[11:15])
    return name, int(fields[1]), ticks / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    found = children_of(pid)
    return found + [d for child in found for d in descendants(child)]


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds used by `pid` and its descendants so far, those already ended included (a
    parent's reaped children count in its own figures), 0 for a process gone."""
    stats = (_stat(p) for p in [pid, *descendants(pid)])
    return sum(stat[2] for stat in stats if stat is not None)


def postmasters() -> list[int]:
    """PostgreSQL servers on this machine: `postgres` processes whose parent is not one."""
    roots = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = _stat(int(entry))
        if stat is not None and stat[0] == "postgres":
            parent = _stat(stat[1])
            if parent is None or parent[0] != "postgres":
                roots.append(int(entry))
    return roots


@dataclass
class CpuMeter:
    """CPU seconds per group of processes (each group: the roots of process trees), read before
    and after a batch, so a benchmark can say where a workflow's CPU goes."""

    groups: dict[str, list[int]]

    def read(self) -> dict[str, float]:
        return {
            name: sum(tree_cpu_seconds(p) for p in roots) for name, roots in self.groups.items()
        }

    @staticmethod
    def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        return {name: after[name] - before[name] for name in before}
