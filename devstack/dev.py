"""`make dev`: the whole stack in the foreground, each part a child process, stopped on Ctrl-C.

Order: PostgreSQL (embedded unless DATABASE_URL) -> migrations -> Temporal dev server (SQLite
under .devstack/, so workflows survive a restart) -> SMTP sink -> worker -> API. Children run in
their own sessions: Ctrl-C reaches only this supervisor, which stops them in reverse order and
waits for each, so nothing is left behind.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from rich.console import Console

from core.entry import read_settings
from core.settings import Settings
from devstack.kbo_data import ensure_dev_set
from devstack.ports import port_in_use, wait_for_port
from devstack.postgres import EmbeddedPostgres
from devstack.temporal_server import add_missing_search_attributes, dev_server_command
from store.migrate import apply_migrations

console = Console(stderr=True)
APP_DATABASE = "onboarding"
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # If the supervisor is killed outright (SIGKILL), its children get SIGTERM instead of
    # living on as orphans holding the ports.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class StackError(RuntimeError):
    pass


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]

    def stop(self, timeout: float = 15.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            console.print(f"[yellow]{self.name} did not stop in {timeout:.0f}s; killing it[/]")
            self.process.kill()
            self.process.wait()


class DevStack:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dir = settings.devstack_dir.resolve()
        self.children: list[Child] = []
        self.postgres: EmbeddedPostgres | None = None

    def _check_ports(self) -> None:
        s = self.settings
        wanted = {
            "API (ONBOARDING_API_PORT)": s.api_port,
            "Temporal (ONBOARDING_TEMPORAL_PORT)": s.temporal_port,
            "Temporal UI (ONBOARDING_TEMPORAL_UI_PORT)": s.temporal_ui_port,
            "SMTP sink (ONBOARDING_SMTP_SINK_PORT)": s.smtp_sink_port,
            "registry stand-in (ONBOARDING_REGISTRY_STANDIN_PORT)": s.registry_standin_port,
            "partner app stand-in (ONBOARDING_PARTNER_APP_PORT)": s.partner_app_port,
            "VIES stand-in (ONBOARDING_VIES_STANDIN_PORT)": s.vies_standin_port,
            "worker's Temporal metrics (ONBOARDING_TEMPORAL_METRICS_PORT)": (
                s.temporal_metrics_port
            ),
            "worker's metrics (ONBOARDING_WORKER_METRICS_PORT)": s.worker_metrics_port,
        }
        if not s.database_url:
            wanted["PostgreSQL (ONBOARDING_POSTGRES_PORT)"] = s.postgres_port
        taken = [f"{name}: port {port}" for name, port in wanted.items() if port_in_use(port)]
        if taken:
            raise StackError(
                "Port(s) already in use: "
                + "; ".join(taken)
                + ". Stop what uses them, or choose other ports with the variables named."
            )

    def _spawn(self, name: str, command: list[str], env: dict[str, str] | None = None) -> Child:
        log_path = self.dir / "logs" / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_file = open(log_path, "ab")  # the child owns it until it exits
        process = subprocess.Popen(
            command,
            stdout=None if name in ("worker", "api") else log_file,
            stderr=None if name in ("worker", "api") else subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
            preexec_fn=_die_with_parent,  # no threads exist in this process
        )
        child = Child(name, process)
        self.children.append(child)
        return child

    def _database_url(self) -> str:
        if self.settings.database_url:
            return self.settings.database_url
        self.postgres = EmbeddedPostgres(self.dir / "pg", port=self.settings.postgres_port)
        self.postgres.start()
        self.postgres.create_database(APP_DATABASE)
        dsn = self.postgres.dsn(APP_DATABASE)
        assert dsn == self.settings.embedded_database_url()  # what the CLI falls back to
        return dsn

    def start(self) -> None:
        s = self.settings
        self._check_ports()
        self.dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()

        console.print("[bold]Starting the dev stack[/] (data under .devstack/)")
        database_url = self._database_url()
        applied = asyncio.run(apply_migrations(database_url))
        console.print(f"  PostgreSQL ready; migrations applied: {applied or 'none pending'}")
        # Belgian lookups read the KBO/BCE tables: a small set in the register's real format.
        console.print("  " + asyncio.run(ensure_dev_set(database_url, self.dir / "kbo")))

        self._spawn(
            "temporal",
            [
                *dev_server_command(
                    db_file=self.dir / "temporal.sqlite",
                    port=s.temporal_port,
                    ui_port=s.temporal_ui_port,
                ),
                # The UI decrypts payloads through the API's codec server (api/routers/codec.py);
                # the browser calls it from 127.0.0.1, which needs no token in development.
                "--ui-codec-endpoint",
                f"http://127.0.0.1:{s.api_port}/codec",
            ],
        )
        wait_for_port(s.temporal_port, timeout=60)
        added = asyncio.run(add_missing_search_attributes(f"127.0.0.1:{s.temporal_port}"))
        console.print(
            "  Temporal dev server ready; search attributes added: "
            f"{', '.join(added) or 'none missing'}"
        )

        cli = [sys.executable, "-m", "cli.main"]
        mail_dir = self.dir / "mail"
        self._spawn(
            "smtp", [*cli, "smtp-sink", "--port", str(s.smtp_sink_port), "--dir", str(mail_dir)]
        )
        wait_for_port(s.smtp_sink_port)
        # Stand-ins for the outside world we cannot reach from here: the company registry (its
        # real format and rate limit) and a partner's automation app (its connect endpoint).
        python = [sys.executable, "-m"]
        registry_port, app_port = s.registry_standin_port, s.partner_app_port
        self._spawn(
            "registry", [*python, "devstack.registry_standin", "--port", str(registry_port)]
        )
        self._spawn("partner-app", [*python, "devstack.partner_app", "--port", str(app_port)])
        # VIES (the EU's VAT check), with faults on demand at /_control.
        vies_port = s.vies_standin_port
        self._spawn("vies", [*python, "devstack.vies_standin", "--port", str(vies_port)])
        wait_for_port(registry_port)
        wait_for_port(app_port)
        wait_for_port(vies_port)
        vies_url = os.environ.get("ONBOARDING_VIES_BASE_URL", f"http://127.0.0.1:{vies_port}")
        # A registry URL set explicitly (the real one, say) wins over the stand-in.
        registry_url = os.environ.get(
            "ONBOARDING_REGISTRY_BASE_URL", f"http://127.0.0.1:{registry_port}"
        )

        env = {
            # Links in e-mails point at this stack's API unless a public URL is configured.
            "ONBOARDING_PUBLIC_BASE_URL": os.environ.get(
                "ONBOARDING_PUBLIC_BASE_URL", f"http://127.0.0.1:{s.api_port}"
            ),
            "ONBOARDING_REGISTRY_BASE_URL": registry_url,
            "ONBOARDING_VIES_BASE_URL": vies_url,
            "ONBOARDING_DATABASE_URL": database_url,
            "ONBOARDING_TEMPORAL_ADDRESS": f"127.0.0.1:{s.temporal_port}",
            "ONBOARDING_SMTP_HOST": "127.0.0.1",
            "ONBOARDING_SMTP_PORT": str(s.smtp_sink_port),
            "ONBOARDING_LOG_FORMAT": os.environ.get("ONBOARDING_LOG_FORMAT", "console"),
            # The codec server answers CORS for this stack's UI, whatever its port.
            "ONBOARDING_CODEC_CORS_ORIGINS": os.environ.get(
                "ONBOARDING_CODEC_CORS_ORIGINS",
                json.dumps(
                    [f"http://{host}:{s.temporal_ui_port}" for host in ("127.0.0.1", "localhost")]
                ),
            ),
            # The partner-app stand-in is on loopback, which the outbound policy refuses: list
            # its exact host:port (core/outbound.py), and nothing else of this machine.
            "ONBOARDING_OUTBOUND_ALLOW_PRIVATE_HOSTS": json.dumps(
                [*s.outbound_allow_private_hosts, f"127.0.0.1:{app_port}"]
            ),
            # Prometheus endpoints: the API's /metrics, and the worker's two (its own counters,
            # the Temporal SDK's), so `make dev` shows what production scrapes.
            "ONBOARDING_METRICS_ENABLED": "true",
        }
        worker_metrics = {
            "ONBOARDING_TEMPORAL_METRICS_BIND_ADDRESS": f"127.0.0.1:{s.temporal_metrics_port}",
            "ONBOARDING_WORKER_METRICS_BIND_ADDRESS": f"127.0.0.1:{s.worker_metrics_port}",
        }
        self._spawn("worker", [*cli, "worker"], {**env, **worker_metrics})
        self._spawn("api", [*cli, "api"], env)
        wait_for_port(s.api_port, timeout=60)

        console.print(
            f"\n[bold green]Ready in {time.monotonic() - started:.1f}s.[/]\n"
            f"  API            http://127.0.0.1:{s.api_port}   (docs: /docs, health: /healthz)\n"
            f"  Temporal UI    http://127.0.0.1:{s.temporal_ui_port}\n"
            f"  Temporal gRPC  127.0.0.1:{s.temporal_port}\n"
            f"  PostgreSQL     {self._redacted(database_url)}\n"
            f"  SMTP sink      127.0.0.1:{s.smtp_sink_port}, messages in {mail_dir}\n"
            f"  Registry       {registry_url}"
            f"{'  (stand-in)' if registry_url.endswith(str(registry_port)) else ''}\n"
            f"  Partner app    http://127.0.0.1:{app_port}/connect  (stand-in automation app)\n"
            f"  VIES           {vies_url}\n"
            f"  Metrics        http://127.0.0.1:{s.api_port}/metrics  (API: HTTP, onboardings)\n"
            f"                 http://127.0.0.1:{s.worker_metrics_port}/metrics  "
            "(worker: registry, e-mails)\n"
            f"                 http://127.0.0.1:{s.temporal_metrics_port}/metrics  "
            "(worker: Temporal SDK)\n"
            "Press Ctrl-C to stop everything.\n"
        )

    @staticmethod
    def _redacted(url: str) -> str:
        scheme, sep, rest = url.partition("://")
        if "@" in rest:
            creds, _, host = rest.rpartition("@")
            rest = f"{creds.partition(':')[0]}:***@{host}" if ":" in creds else f"{creds}@{host}"
        return f"{scheme}{sep}{rest}"

    def wait(self, stop: list[int]) -> int:
        """Block until a signal arrives or a child dies; return the exit code."""
        while not stop:
            for child in self.children:
                code = child.process.poll()
                if code is not None:
                    console.print(
                        f"[red]{child.name} exited with code {code}; stopping the stack "
                        f"(see {self.dir / 'logs' / (child.name + '.log')})[/]"
                    )
                    return 1
            time.sleep(0.3)
        return 0

    def stop(self) -> None:
        for child in reversed(self.children):
            console.print(f"  stopping {child.name}")
            child.stop()
        self.children.clear()
        if self.postgres is not None:
            console.print("  stopping postgres")
            self.postgres.stop()
            self.postgres = None


def run_dev(settings: Settings) -> int:
    stack = DevStack(settings)
    stop: list[int] = []

    def _on_signal(signum: int, _frame: object) -> None:
        stop.append(signum)

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        stack.start()
        code = stack.wait(stop)
    except StackError as exc:
        console.print(f"[red]{exc}[/]")
        code = 2
    except Exception as exc:  # any start-up failure: report it, then stop what did start
        console.print(f"[red]start-up failed: {exc}[/]")
        code = 1
    finally:
        console.print("Stopping the dev stack…")
        stack.stop()
        console.print("Stopped.")
    return code


if __name__ == "__main__":
    sys.exit(run_dev(read_settings(person_watches=True)))
