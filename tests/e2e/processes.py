"""Real `onboarding worker` processes, for the end-to-end tests to crash and restart."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import IO

from core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def worker_env(settings: Settings) -> dict[str, str]:
    """The process environment of `onboarding worker` for these settings' servers and queues."""
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ONBOARDING_") and k != "DATABASE_URL"
    }
    return {
        **inherited,
        "ONBOARDING_ENV": "test",
        "ONBOARDING_LOG_FORMAT": "console",
        "ONBOARDING_DATABASE_URL": settings.require_database_url(),
        "ONBOARDING_TEMPORAL_ADDRESS": settings.temporal_address,
        "ONBOARDING_TASK_QUEUE": settings.task_queue,
        "ONBOARDING_REGISTRY_TASK_QUEUE": settings.registry_task_queue,
        "ONBOARDING_REGISTRY_BASE_URL": settings.registry_base_url,
        "ONBOARDING_SMTP_HOST": settings.smtp_host,
        "ONBOARDING_SMTP_PORT": str(settings.smtp_port),
        "ONBOARDING_REGISTRY_RATE_LIMIT": str(settings.registry_rate_limit),
    }


class WorkerProcesses:
    """`onboarding worker` child processes, each logging to a file of its own."""

    def __init__(self, settings: Settings, directory: Path) -> None:
        self.env = worker_env(settings)
        self.directory = directory
        self.started: list[tuple[subprocess.Popen[bytes], IO[bytes], Path]] = []

    def start(self, role: str = "all") -> subprocess.Popen[bytes]:
        path = self.directory / f"worker-{len(self.started) + 1}-{role}.log"
        # A file, not a pipe: nobody reads while it runs, and a full pipe would block the worker.
        log = path.open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "worker", "--role", role],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.started.append((process, log, path))
        return process

    def crash(self, process: subprocess.Popen[bytes]) -> None:
        """SIGKILL: no signal handler, no graceful shutdown, no last heartbeat."""
        process.kill()
        process.wait(10)

    def assert_running(self) -> None:
        """The worker started last is still up (a crash at start-up fails fast, with its log)."""
        process = self.started[-1][0]
        assert process.poll() is None, f"worker exited:\n{self.output()}"

    def assert_all_running(self, *processes: subprocess.Popen[bytes]) -> None:
        for process in processes:
            assert process.poll() is None, f"worker exited:\n{self.output()}"

    def output(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for _, _, path in self.started
        )

    def kill_all(self) -> None:
        for process, log, _ in self.started:
            if process.poll() is None:
                process.kill()
                process.wait(10)
            log.close()
