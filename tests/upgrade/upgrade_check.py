"""`make test-upgrade`: today's code takes over a stack the previous release left mid-work.

The previous release (UPGRADE_FROM, else the newest release RELEASES.md names: the first
`### <commit> (<date>)` heading under "Releases") is checked out into a temporary git worktree
with its own virtualenv (its Makefile), and its `onboarding dev` starts onboardings in the states
they wait in for days: manual, scheduled in the future, kept muted, awaiting company details,
invitation sent and not accepted; then a later fiscal year and an import, stopped part-way. It is
stopped; today's `onboarding dev` starts on the same `.devstack/` (same PostgreSQL data, same
Temporal SQLite file) and every one is finished (send, reschedule, unmute, provide details,
accept the old e-mail's link), plus a new onboarding, to COMPLETED; the import's rows READY and
the year's folders done. No workflow task may fail on the way: every history is read for
WorkflowTaskFailed events, and describe() for a pending task past its first attempt. Exits 1
with what it saw when anything differs (issue 21).

Not a pytest file: `make test` stays as it is, and this runs once per CI build after it.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from devstack.ports import lasting_free_ports
from devstack.postgres import MAJOR, cluster_version

ROOT = Path(__file__).resolve().parents[2]
RELEASES = ROOT / "RELEASES.md"
# A released entry's heading: `### 15cd4f1 (2026-12-04)`, the newest first; "### Next" is not one.
RELEASE_HEADING = re.compile(r"^### ([0-9a-f]{7,40}) \(\d{4}-\d{2}-\d{2}\)", re.MULTILINE)
PORT_SETTINGS = (
    "ONBOARDING_API_PORT",
    "ONBOARDING_TEMPORAL_PORT",
    "ONBOARDING_TEMPORAL_UI_PORT",
    "ONBOARDING_SMTP_SINK_PORT",
    "ONBOARDING_POSTGRES_PORT",
    "ONBOARDING_REGISTRY_STANDIN_PORT",
    "ONBOARDING_PARTNER_APP_PORT",
    # Ignored by releases before the VIES stand-in (issue 26).
    "ONBOARDING_VIES_STANDIN_PORT",
    "ONBOARDING_TEMPORAL_METRICS_PORT",
    "ONBOARDING_WORKER_METRICS_PORT",
)
DANONE = "55203253400646"  # in the registry stand-in's fixture
UNKNOWN_SIRET = "12345678200010"  # a valid checksum the stand-in does not know
WAIT = 90.0
IMPORT_ROWS = 30


class UpgradeFailed(AssertionError):
    pass


class PreviousReleaseMissing(UpgradeFailed):
    """The clone holds no previous release to upgrade from (a shallow clone with no remote)."""


def say(message: str) -> None:
    print(f"[upgrade {time.strftime('%H:%M:%S')}] {message}", flush=True)


def git(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(ROOT), *args],  # noqa: S607  # git from PATH, as CI runs it
        capture_output=True,
        text=True,
        check=check,
    )


def newest_release(text: str) -> str:
    """The commit of the newest release RELEASES.md records (the file, not tags, is the record:
    a clone, shallow or not, always has it)."""
    found = RELEASE_HEADING.search(text)
    if found is None:
        raise UpgradeFailed("RELEASES.md names no release (a `### <commit> (<date>)` heading)")
    return found.group(1)


def previous_release() -> str:
    """The commit to upgrade from: UPGRADE_FROM, else the newest release in RELEASES.md. A
    shallow CI clone may lack it: fetch it, or say so."""
    wanted = os.environ.get("UPGRADE_FROM") or newest_release(RELEASES.read_text())
    if git("rev-parse", "--verify", "--quiet", f"{wanted}^{{commit}}", check=False).returncode:
        say(f"{wanted} is not in this clone (shallow?): fetching history and tags")
        fetched = git("fetch", "--tags", "--unshallow", check=False)
        if fetched.returncode:
            git("fetch", "--tags", "origin", wanted, check=False)
        if git("rev-parse", "--verify", "--quiet", f"{wanted}^{{commit}}", check=False).returncode:
            raise PreviousReleaseMissing(
                f"the previous release {wanted} cannot be found or fetched; clone with history "
                "(fetch-depth: 0) or set UPGRADE_FROM to a commit this clone has"
            )
    return wanted


class Stack:
    """One release's `onboarding dev` over a shared .devstack/ and ports."""

    def __init__(self, name: str, command: list[str], cwd: Path, env: dict[str, str], log: Path):
        self.name, self.command, self.cwd, self.env, self.log_path = name, command, cwd, env, log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.env['ONBOARDING_API_PORT']}"

    def start(self) -> None:
        log = self.log_path.open("ab")
        # A session of its own: the supervisor and its children are stopped as one group.
        self.process = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise UpgradeFailed(f"{self.name} stack exited:\n{self.tail()}")
            try:
                if httpx.get(f"{self.api}/healthz", timeout=2).status_code == 200:
                    say(f"{self.name} stack healthy")
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise UpgradeFailed(f"{self.name} stack not healthy in 180s:\n{self.tail()}")

    def tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def stop(self) -> None:
        """Ctrl-C, as an operator stops it; then the whole group if anything stays."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # a child that outlived its supervisor
        except ProcessLookupError:
            pass


class Api:
    def __init__(self, base: str, key: str) -> None:
        self.base = base
        self.auth = {"Authorization": f"Bearer {key}"}

    def post(self, path: str, body: Any = None, **headers: str) -> httpx.Response:
        return httpx.post(
            f"{self.base}{path}", json=body, headers={**self.auth, **headers}, timeout=30
        )

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.base}{path}", headers=self.auth, timeout=30)

    def start(self, key: str, client: dict[str, Any], **extra: Any) -> str:
        body = {"client": {"first_name": "Anne", "last_name": "Test", "language": "fr", **client}}
        body.update(extra)
        response = self.post("/v1/onboardings", body, **{"Idempotency-Key": key})
        if response.status_code != 202:
            raise UpgradeFailed(f"start {key}: {response.status_code} {response.text}")
        return str(response.json()["id"])

    def view(self, onboarding_id: str) -> dict[str, Any]:
        response = self.get(f"/v1/onboardings/{onboarding_id}")
        if response.status_code != 200:
            raise UpgradeFailed(f"status {onboarding_id}: {response.status_code} {response.text}")
        body: dict[str, Any] = response.json()
        return body

    def until(
        self, onboarding_id: str, what: str, ok: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT
        view: dict[str, Any] = {}
        while time.monotonic() < deadline:
            view = self.view(onboarding_id)
            if view.get("workflow_task_failing"):
                raise UpgradeFailed(f"{onboarding_id}: workflow task failing: {view}")
            if view.get("status") == "FAILED":
                raise UpgradeFailed(f"{onboarding_id} FAILED: {view}")
            if ok(view):
                return view
            time.sleep(0.3)
        raise UpgradeFailed(f"{onboarding_id} never {what}; last: {json.dumps(view)[:2000]}")

    def expect(self, response: httpx.Response, what: str, status: int = 200) -> dict[str, Any]:
        if response.status_code != status:
            raise UpgradeFailed(f"{what}: {response.status_code} {response.text}")
        body: dict[str, Any] = response.json()
        return body


def invitation(view: dict[str, Any]) -> str:
    return str((view.get("invitation") or {}).get("state"))


def mails_to(directory: Path, address: str) -> list[EmailMessage]:
    found = []
    for path in sorted(directory.glob("*.eml")):
        parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        if address in str(parsed["To"]):
            found.append(parsed)
    return found


def accept_link(directory: Path, address: str) -> str:
    """The accept link of the newest invitation e-mail to `address` (waiting for it)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        for message in reversed(mails_to(directory, address)):
            text = message.get_body(preferencelist=("plain",))
            found = text and re.search(r"(http://\S+/v1/invitations/[^\s/]+)", text.get_content())
            if found:
                return found.group(1)
        time.sleep(0.3)
    raise UpgradeFailed(f"no invitation e-mail to {address}")


def check_postgres_carried_over(devstack: Path, old_major: str | None) -> None:
    """A release on an older PostgreSQL left `.devstack/pg`: today's runs it on MAJOR, the old
    cluster kept beside it (every row read through the API after this proves the restore)."""
    if old_major in (None, MAJOR):
        return
    now = cluster_version(devstack / "pg")
    kept = cluster_version(devstack / f"pg.pg{old_major}-old")
    if now != MAJOR or kept != old_major:
        raise UpgradeFailed(
            f"PostgreSQL {old_major} data not carried over: pg is {now}, the old cluster {kept}"
        )
    say(f"today: PostgreSQL {old_major} data carried over to {MAJOR}, the old cluster kept")


async def task_failures(address: str) -> list[str]:
    """Every workflow (onboardings, the import) whose history has a WorkflowTaskFailed event,
    or whose pending workflow task is past its first attempt."""
    client = await Client.connect(address)
    problems: list[str] = []
    async for execution in client.list_workflows():
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        history = await handle.fetch_history()
        failed = [
            e.workflow_task_failed_event_attributes.cause
            for e in history.events
            if e.HasField("workflow_task_failed_event_attributes")
        ]
        if failed:
            problems.append(f"{execution.id}: WorkflowTaskFailed causes {failed}")
        pending = (await handle.describe()).raw_description.pending_workflow_task
        if pending.attempt > 1:
            problems.append(f"{execution.id}: pending workflow task attempt {pending.attempt}")
    return problems


def run(keep: bool) -> None:
    started = time.monotonic()
    commit = previous_release()
    work = Path(tempfile.mkdtemp(prefix="onboarding-upgrade-"))
    # The embedded PostgreSQL runs as an unprivileged user when we are root: open the path.
    for parent in [work, *work.parents]:
        parent.chmod(parent.stat().st_mode | 0o011)
    old_tree = work / "previous"
    devstack = work / "devstack"
    stacks: list[Stack] = []
    try:
        say(f"previous release {commit} -> {old_tree}")
        git("worktree", "add", "--detach", str(old_tree), commit)
        install = subprocess.run(
            ["make", "install"],  # noqa: S607  # the release's own Makefile, from PATH
            cwd=old_tree,
            capture_output=True,
            text=True,
            check=False,
        )
        if install.returncode:
            raise UpgradeFailed(f"make install of {commit}:\n{install.stdout}{install.stderr}")
        ports = dict(zip(PORT_SETTINGS, lasting_free_ports(len(PORT_SETTINGS)), strict=True))
        env = {
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("ONBOARDING_", "UV_", "VIRTUAL_ENV")) and k != "DATABASE_URL"
            },
            **{k: str(v) for k, v in ports.items()},
            "ONBOARDING_DEVSTACK_DIR": str(devstack),
        }
        old = Stack(
            "previous",
            [str(old_tree / ".venv" / "bin" / "onboarding"), "dev"],
            old_tree,
            env,
            work / "previous.log",
        )
        stacks.append(old)
        old.start()
        created = subprocess.run(
            [
                str(old_tree / ".venv" / "bin" / "onboarding"),
                "partner",
                "create",
                "--name",
                "Upgrade",
                "--json",
            ],
            cwd=old_tree,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if created.returncode:
            raise UpgradeFailed(f"partner create: {created.stdout}{created.stderr}")
        api = Api(old.api, json.loads(created.stdout)["api_key"])
        # The scenario is the same for every previous release: new clients notified unless an
        # onboarding says keep_muted. A release with the firm setting (new firms muted since
        # issue 23) is told so; one without it answers 404 and behaves that way already.
        defaults = httpx.put(
            f"{old.api}/v1/notification-defaults",
            json={"new_clients_muted": False},
            headers=api.auth,
            timeout=30,
        )
        if defaults.status_code != 404:
            api.expect(defaults, "notification defaults")
        mail = devstack / "mail"
        later = (datetime.now(UTC) + timedelta(days=30)).isoformat()

        ids = {
            "manual": api.start(
                "manual", {"email": "manual@example.com"}, invitation={"mode": "manual"}
            ),
            "scheduled": api.start(
                "scheduled",
                {"email": "scheduled@example.com"},
                invitation={"mode": "scheduled", "scheduled_at": later},
            ),
            "muted": api.start(
                "muted",
                {"email": "muted@example.com"},
                invitation={"mode": "immediate"},
                notifications={"keep_muted": True},
            ),
            "details": api.start(
                "details",
                {"email": "details@example.com", "siret": UNKNOWN_SIRET},
                invitation={"mode": "immediate"},
            ),
            "invited": api.start(
                "invited",
                {"email": "invited@example.com", "siret": DANONE},
                invitation={"mode": "immediate"},
            ),
        }
        waits = {
            "manual": lambda v: invitation(v) == "waiting_manual",
            "scheduled": lambda v: invitation(v) == "scheduled",
            "muted": lambda v: invitation(v) == "muted",
            "details": lambda v: v["status"] == "AWAITING_COMPANY_DETAILS",
            "invited": lambda v: invitation(v) == "sent",
        }
        before: dict[str, dict[str, Any]] = {}
        for name, ok in waits.items():
            before[name] = view = api.until(ids[name], f"waiting ({name})", ok)
            say(f"previous: {name} waits: {view['status']} / invitation {invitation(view)}")
        old_link = accept_link(mail, "invited@example.com")
        # A later fiscal year of the invited client, its month folders being made as we stop
        # (a release before fiscal years, such as bb92f04, answers 404: none then).
        year_client = before["invited"]["client_id"]
        years = api.get(f"/v1/clients/{year_client}/fiscal-years")
        year_url = None
        if years.status_code != 404:
            api.expect(years, "fiscal years")
            last_end = date.fromisoformat(years.json()[-1]["end"])
            next_start = (last_end + timedelta(days=1)).isoformat()
            year_url = f"/v1/clients/{year_client}/fiscal-years/{next_start}"
            api.expect(
                api.post(
                    f"/v1/clients/{year_client}/fiscal-years",
                    {"start": next_start},
                    **{"Idempotency-Key": "fiscal-year"},
                ),
                "add a fiscal year",
                202,
            )
            year = api.expect(api.get(year_url), "the added fiscal year")
            say(f"previous: fiscal year {next_start} folders {year['folders']['state']}")
        # Last, and stopped at once: the import's rows are still being started and set up.
        csv = "first_name,last_name,email,language\n" + "".join(
            f"Row{n},Import,row{n}@example.com,fr\n" for n in range(IMPORT_ROWS)
        )
        imported = httpx.post(
            f"{old.api}/v1/imports",
            files={"file": ("clients.csv", csv.encode(), "text/csv")},
            data={"invitation_mode": "manual"},
            headers={**api.auth, "Idempotency-Key": "import"},
            timeout=30,
        )
        import_id = str(api.expect(imported, "import", 202)["id"])
        progress = api.expect(api.get(f"/v1/imports/{import_id}"), "import progress")
        say(f"previous: import part-way: {json.dumps(progress.get('onboardings_by_status'))}")
        old.stop()
        say("previous release stopped")
        old_major = cluster_version(devstack / "pg")

        today = Stack(
            "today", [sys.executable, "-m", "cli.main", "dev"], ROOT, env, work / "today.log"
        )
        stacks.append(today)
        today.start()
        check_postgres_carried_over(devstack, old_major)
        api = Api(today.api, api.auth["Authorization"].removeprefix("Bearer "))

        # The old e-mail's link first: the onboarding whose tasks then failed.
        accepted = httpx.post(f"{old_link}/accept", timeout=30)
        api.expect(accepted, "accept the previous release's link")
        api.expect(api.post(f"/v1/onboardings/{ids['manual']}/invitation/send"), "send now")
        # Soon, yet still in the future when the request arrives on a loaded CI machine.
        soon = (datetime.now(UTC) + timedelta(seconds=5)).isoformat()
        api.expect(
            api.post(
                f"/v1/onboardings/{ids['scheduled']}/invitation/reschedule", {"scheduled_at": soon}
            ),
            "reschedule",
        )
        muted_client = api.view(ids["muted"])["client_id"]
        api.expect(
            api.post(f"/v1/clients/{muted_client}/notifications", {"enabled": True}), "unmute"
        )
        api.expect(
            api.post(
                f"/v1/onboardings/{ids['details']}/company-details",
                {"name": "Upgrade Test SARL"},
            ),
            "provide company details",
        )
        ids["new"] = api.start(
            # No SIRET: DANONE's is the "invited" client's, and a second client of the partner
            # with it would wait for company details.
            "new",
            {"email": "new@example.com"},
            invitation={"mode": "immediate"},
        )
        # The previous release finished a kept-muted onboarding uninvited (today's waits in
        # WAITING_FOR_UNMUTE): switched on, its client is changed alone and no e-mail goes.
        uninvited = {"muted"} if before["muted"]["status"] == "COMPLETED" else set()
        for name, onboarding_id in ids.items():
            if name not in ("invited", *uninvited):
                link = accept_link(mail, f"{name}@example.com")
                if link != old_link:
                    api.expect(httpx.post(f"{link}/accept", timeout=30), f"accept ({name})")
            view = api.until(onboarding_id, "COMPLETED", lambda v: v["status"] == "COMPLETED")
            say(f"today: {name} {view['status']}")
        deadline = time.monotonic() + WAIT
        settled: dict[str, Any] = {}
        while time.monotonic() < deadline:
            settled = api.expect(api.get(f"/v1/imports/{import_id}"), "import progress")
            done = (settled.get("progress") or {}).get("done")
            if done and settled["onboardings_by_status"] == {"READY": IMPORT_ROWS}:
                break
            time.sleep(0.5)
        else:
            raise UpgradeFailed(f"import never finished: {json.dumps(settled)[:2000]}")
        say(f"today: import finished, {IMPORT_ROWS} onboardings READY (manual invitations)")
        if year_url is not None:
            deadline = time.monotonic() + WAIT
            while (year := api.expect(api.get(year_url), "the added fiscal year"))["folders"][
                "state"
            ] != "done":
                if time.monotonic() > deadline or year["folders"]["state"] == "failed":
                    raise UpgradeFailed(f"fiscal year {year_url}: {json.dumps(year)}")
                time.sleep(0.5)
            say(f"today: fiscal year {year['start']} folders done")
        problems = asyncio.run(task_failures(f"127.0.0.1:{ports['ONBOARDING_TEMPORAL_PORT']}"))
        if problems:
            raise UpgradeFailed("workflow tasks failed:\n" + "\n".join(problems))
        say(
            f"upgrade from {commit}: {len(ids)} onboardings finished and an import of "
            f"{IMPORT_ROWS} rows, no workflow task failed, "
            f"in {time.monotonic() - started:.0f}s"
        )
    except UpgradeFailed:
        for stack in stacks:
            say(f"--- {stack.name} stack log (tail) ---\n{stack.tail()}")
        raise
    finally:
        for stack in reversed(stacks):
            stack.stop()
        git("worktree", "remove", "--force", str(old_tree), check=False)
        if keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="Keep the temporary directory")
    parser.add_argument(
        "--skip-when-unavailable",
        action="store_true",
        help="Pass, saying why, when the clone holds no previous release (CI's clone may be "
        "shallow with no remote to deepen it from); any other failure still fails",
    )
    args = parser.parse_args()
    try:
        run(args.keep)
    except PreviousReleaseMissing as exc:
        if not args.skip_when_unavailable:
            say(f"FAILED: {exc}")
            return 1
        say(f"SKIPPED, the upgrade was not tested: {exc}")
    except UpgradeFailed as exc:
        say(f"FAILED: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
