"""`onboarding dev` (what `make dev` runs) as a newcomer uses it: up, onboard, Ctrl-C, up again."""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.ports import lasting_free_ports
from devstack.temporal_server import temporal_cli

pytestmark = pytest.mark.e2e


def _descendants(pid: int) -> set[int]:
    """Every process below `pid` (children run in sessions of their own, so walk /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        children = {p for p, parent in parents.items() if parent in frontier}
        found |= children
        frontier = children
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


_PORT_SETTINGS = (
    "ONBOARDING_API_PORT",
    "ONBOARDING_TEMPORAL_PORT",
    "ONBOARDING_TEMPORAL_UI_PORT",
    "ONBOARDING_SMTP_SINK_PORT",
    "ONBOARDING_POSTGRES_PORT",
    "ONBOARDING_REGISTRY_STANDIN_PORT",
    "ONBOARDING_PARTNER_APP_PORT",
    "ONBOARDING_VIES_STANDIN_PORT",
    "ONBOARDING_TEMPORAL_METRICS_PORT",
    "ONBOARDING_WORKER_METRICS_PORT",
)


class Stack:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ports = dict(zip(_PORT_SETTINGS, lasting_free_ports(len(_PORT_SETTINGS)), strict=True))
        self.env = {
            **{
                k: v
                for k, v in os.environ.items()
                if k not in ("DATABASE_URL", "ONBOARDING_REGISTRY_BASE_URL")
            },
            **{k: str(v) for k, v in self.ports.items()},
            "ONBOARDING_DEVSTACK_DIR": str(directory),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.children: set[int] = set()

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.ports['ONBOARDING_API_PORT']}"

    def start(self) -> None:
        # A file, not a pipe: nobody reads while it runs, and a full pipe would block the stack.
        self.log = (self.directory.parent / "dev.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "dev"],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            try:
                if httpx.get(f"{self.api}/healthz", timeout=2).status_code == 200:
                    self.children = _descendants(self.process.pid)
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"stack not healthy in 120s:\n{self.output()}")

    def output(self) -> str:
        return (self.directory.parent / "dev.log").read_text(errors="replace")[-4000:]

    def interrupt(self) -> int:
        """Ctrl-C: SIGINT to the supervisor; return its exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(60)
        return code

    def kill_all(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for pid in self.children:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    directory = tmp_path / "devstack"
    s = Stack(directory)
    # The embedded PostgreSQL runs as an unprivileged user when we are root: open the path.
    for parent in [tmp_path, *tmp_path.parents]:
        parent.chmod(parent.stat().st_mode | 0o011)
    try:
        yield s
    finally:
        s.kill_all()


def _wait_status(
    api: str, onboarding_id: str, auth: dict[str, str], status: str = "COMPLETED"
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for _ in range(300):
        body = httpx.get(f"{api}/v1/onboardings/{onboarding_id}", headers=auth, timeout=5).json()
        assert body.get("status") != "FAILED", body
        if body.get("status") == status:
            return body
        time.sleep(0.1)
    raise AssertionError(f"not {status}: {body}")


def _wait_mail(directory: Path) -> EmailMessage:
    for _ in range(100):
        files = sorted(directory.glob("*.eml"))
        if files:
            assert len(files) == 1
            parsed = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            return parsed
        time.sleep(0.1)
    raise AssertionError(f"no e-mail in {directory}")


def test_dev_stack_runs_onboards_stops_cleanly_and_keeps_data(stack: Stack) -> None:
    """Up, healthy, the README's request onboards a client whose e-mail lands as .eml and whose
    workflow `temporal workflow list` shows; Ctrl-C leaves no process; a restart keeps it all."""
    stack.start()
    created = subprocess.run(
        [sys.executable, "-m", "cli.main", "partner", "create", "--name", "Demo", "--json"],
        env=stack.env,
        capture_output=True,
        text=True,
        check=True,
    )
    auth = {"Authorization": f"Bearer {json.loads(created.stdout)['api_key']}"}
    # As the README's tour: a new firm keeps new clients muted until it says otherwise.
    defaults = httpx.put(
        f"{stack.api}/v1/notification-defaults",
        json={"new_clients_muted": False},
        headers=auth,
        timeout=10,
    )
    assert defaults.status_code == 200, defaults.text
    response = httpx.post(
        f"{stack.api}/v1/onboardings",
        json={
            "client": {
                "first_name": "Anne",
                "last_name": "Dupont",
                "email": "anne@example.com",
                "language": "fr",
                "siret": "55203253400646",
            }
        },
        headers={"Idempotency-Key": "make-dev-test", **auth},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    onboarding_id = response.json()["id"]
    _wait_status(stack.api, onboarding_id, auth, "READY")
    mail = _wait_mail(stack.directory / "mail")
    assert mail["To"] == "anne@example.com"
    text = mail.get_body(preferencelist=("plain",))
    assert text is not None
    link = re.search(r"(http://\S+/v1/invitations/\S+)", text.get_content())
    assert link and link.group(1).startswith(stack.api), "the accept link points at this stack"
    assert httpx.post(f"{link.group(1)}/accept", timeout=10).status_code == 200
    done = _wait_status(stack.api, onboarding_id, auth, "COMPLETED")
    # The SIRET went through the stack's registry stand-in.
    assert done["company"]["name"] == "DANONE"
    # The README's console sign-in: / is the sign-in page, the link lands in the sink and
    # `onboarding mail` prints it; the cookie is not Secure on this http development stack.
    root = httpx.get(f"{stack.api}/", follow_redirects=True, timeout=10)
    assert root.status_code == 200 and 'type="email"' in root.text
    asked = httpx.post(
        f"{stack.api}/console/sign-in", data={"email": "admin@example.com"}, timeout=10
    )
    assert asked.status_code == 303
    sign_in_link = ""
    for _ in range(100):
        printed_mail = subprocess.run(
            [sys.executable, "-m", "cli.main", "mail", "--json"],
            env=stack.env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        found = re.search(r"(http://[^\s\"]+/console/sign-in/[A-Za-z0-9_-]+)", printed_mail)
        if found:
            sign_in_link = found.group(1)
            break
        time.sleep(0.1)
    assert sign_in_link.startswith(stack.api), printed_mail
    signed_in = httpx.post(sign_in_link, timeout=10)
    assert signed_in.status_code == 303, signed_in.text
    cookie = signed_in.headers["set-cookie"].lower()
    assert "httponly" in cookie and "secure" not in cookie
    # The three Prometheus endpoints it printed answer with what production scrapes.
    metrics = {
        port: f"http://127.0.0.1:{stack.ports[port]}/metrics"
        for port in (
            "ONBOARDING_API_PORT",
            "ONBOARDING_WORKER_METRICS_PORT",
            "ONBOARDING_TEMPORAL_METRICS_PORT",
        )
    }
    printed = (stack.directory.parent / "dev.log").read_text(errors="replace")
    for url in metrics.values():
        assert url in printed
    api_metrics = httpx.get(metrics["ONBOARDING_API_PORT"], timeout=5).text
    assert 'onboarding_by_status{status="COMPLETED"} 1.0' in api_metrics
    worker_metrics = httpx.get(metrics["ONBOARDING_WORKER_METRICS_PORT"], timeout=5).text
    assert 'onboarding_emails_total{outcome="sent"} 1.0' in worker_metrics
    sdk_metrics = httpx.get(metrics["ONBOARDING_TEMPORAL_METRICS_PORT"], timeout=5).text
    assert 'activity_type="lookup_company"' in sdk_metrics
    # A Belgian client: the KBO/BCE sample the stack loaded answers for Proximus.
    assert "KBO sample loaded" in printed
    belgian = httpx.post(
        f"{stack.api}/v1/onboardings",
        json={
            "client": {
                "first_name": "Jan",
                "last_name": "Peeters",
                "email": "jan@example.be",
                "language": "nl",
                "enterprise_number": "BE0202.239.951",
            },
            "invitation": {"mode": "manual"},
        },
        headers={"Idempotency-Key": "make-dev-belgian", **auth},
        timeout=10,
    )
    assert belgian.status_code == 202, belgian.text
    proximus = _wait_status(stack.api, belgian.json()["id"], auth, "READY")
    assert proximus["company"]["name"] == "Proximus"
    assert proximus["company"]["address"] == "Koning Albert II-laan 27, 1030 Schaarbeek"
    assert proximus["company"]["vat_check"]["state"] == "valid"  # the stack's VIES stand-in
    listed = subprocess.run(
        [
            str(temporal_cli()),
            "workflow",
            "list",
            "--address",
            f"127.0.0.1:{stack.ports['ONBOARDING_TEMPORAL_PORT']}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"onboarding-{onboarding_id}" in listed
    # The stack's worker registered the retention schedule when it started.
    schedule = subprocess.run(
        [
            str(temporal_cli()),
            "schedule",
            "describe",
            "--schedule-id",
            "retention",
            "--address",
            f"127.0.0.1:{stack.ports['ONBOARDING_TEMPORAL_PORT']}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "RetentionWorkflow" in schedule, schedule
    assert 'onboarding_retention_rows_removed_total{table="email_log"} 0.0' in worker_metrics

    children = stack.children
    assert len(children) >= 5  # postgres, temporal, smtp sink, worker, api (and their own)
    assert stack.interrupt() == 0
    time.sleep(0.5)
    assert [pid for pid in children if _alive(pid)] == []

    stack.start()
    again = _wait_status(stack.api, onboarding_id, auth)
    assert again["client_id"]
    replay = httpx.post(
        f"{stack.api}/v1/onboardings",
        json={
            "client": {
                "first_name": "Anne",
                "last_name": "Dupont",
                "email": "anne@example.com",
                "language": "fr",
                "siret": "55203253400646",
            }
        },
        headers={"Idempotency-Key": "make-dev-test", **auth},
        timeout=10,
    )
    assert replay.json()["id"] == onboarding_id
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert stack.interrupt() == 0


def test_dev_stack_names_a_taken_port(stack: Stack) -> None:
    """A port already in use stops start-up at once with a message naming it and its variable."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", stack.ports["ONBOARDING_API_PORT"]))
        taken.listen()
        process = subprocess.run(
            [sys.executable, "-m", "cli.main", "dev"],
            env=stack.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert process.returncode == 2
    assert "ONBOARDING_API_PORT" in process.stderr
    assert str(stack.ports["ONBOARDING_API_PORT"]) in process.stderr
