"""The `onboarding` command line: run each part alone, and inspect onboardings as ops."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import signal
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from cli import kbo, mail
from cli.entry import Entry, settings_of
from core.settings import Settings
from domain.onboarding import InvitationState, OnboardingStatus

if TYPE_CHECKING:
    from app.notifications import Switched
    from domain.onboarding import ResumeResult
    from store.pool import Pool
    from workflows.read_model import ExplainedView

app = typer.Typer(help="Durable client onboarding: dev stack, worker, API and ops commands.")
console = Console()


@app.callback()
def _entry(ctx: typer.Context) -> None:
    # The one place the command line's settings come from (cli/entry.py): every command asks
    # this Entry, which reads them once and sets logging up from them first.
    ctx.obj = Entry(person_watches=ctx.invoked_subcommand == "dev")


@app.command()
def dev(ctx: typer.Context) -> None:
    """Run the whole embedded stack in the foreground until Ctrl-C (what `make dev` runs)."""
    from devstack.dev import run_dev

    raise typer.Exit(run_dev(settings_of(ctx)))


@app.command()
def migrate(ctx: typer.Context) -> None:
    """Apply pending database migrations and exit."""
    from store.migrate import apply_migrations

    settings = settings_of(ctx)
    applied = asyncio.run(apply_migrations(settings.require_database_url()))
    console.print(f"applied: {', '.join(applied) if applied else 'nothing pending'}")


# Apart from a crash (1): a supervisor or deploy script tells "fix the namespace" from "retry".
NAMESPACE_INCOMPLETE_EXIT = 3


@app.command()
def worker(
    ctx: typer.Context,
    role: Annotated[
        str,
        typer.Option(
            help="all: every task queue; main: workflows and every activity but the registry "
            "lookups; registry: the rate-limited lookups only"
        ),
    ] = "all",
) -> None:
    """Run the Temporal worker (workflows and activities); exits 3 when the Temporal namespace
    lacks a search attribute this release needs, printing the commands that add them."""
    from core.namespace import NamespaceIncompleteError
    from worker.main import WorkerRole, run_worker

    try:
        chosen = WorkerRole(role)
    except ValueError:
        raise typer.BadParameter(
            f"one of {', '.join(r.value for r in WorkerRole)}", param_hint="--role"
        ) from None
    try:
        asyncio.run(run_worker(settings_of(ctx), chosen))
    except NamespaceIncompleteError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(NAMESPACE_INCOMPLETE_EXIT) from None


@app.command()
def api(ctx: typer.Context) -> None:
    """Serve the HTTP API with uvicorn."""
    import uvicorn

    from api.main import create_app

    settings = settings_of(ctx)
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,  # keep our structured logging
        access_log=True,
        # The client address is the peer's, or the one ONBOARDING_CLIENT_ADDRESS_HEADER names
        # when a trusted proxy sent it (api/auth_failures.py): uvicorn must not rewrite it first
        # from X-Forwarded-For, which it believes of any loopback peer by default.
        proxy_headers=False,
    )


@app.command("smtp-sink")
def smtp_sink(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="Port to listen on (127.0.0.1)")] = 1025,
    directory: Annotated[Path, typer.Option("--dir", help="Where to keep .eml files")] = Path(
        ".devstack/mail"
    ),
) -> None:
    """Run the development SMTP sink: accepts every message and keeps it as an .eml file."""
    from devstack.smtp_sink import SmtpSink

    settings_of(ctx)  # for its logging: the sink logs each message it keeps
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    with SmtpSink(port=port, directory=directory):
        console.print(f"SMTP sink on 127.0.0.1:{port}, writing to {directory}")
        done.wait()


@app.command("preview-email")
def preview_email(
    kind: Annotated[
        str,
        typer.Argument(
            metavar="KIND", help="invitation, reminder, client_ready, expired, escalation"
        ),
    ],
    language: Annotated[str, typer.Option("--language", help="fr, nl, en or de")] = "fr",
    out: Annotated[
        Path | None, typer.Option("--out", help="Default: ./preview-KIND-LANG.html (or .txt)")
    ] = None,
    text: Annotated[
        bool, typer.Option("--text", help="Write the plain-text part, after its subject")
    ] = False,
) -> None:
    """Render an e-mail with sample data to a file for a visual check, and print its path."""
    from email_templates import KINDS, LANGUAGES, SAMPLE_CONTEXT, Renderer

    if kind not in KINDS:
        raise typer.BadParameter(f"one of {', '.join(KINDS)}", param_hint="KIND")
    if language not in LANGUAGES:
        raise typer.BadParameter(f"one of {', '.join(LANGUAGES)}", param_hint="--language")
    email = Renderer().render(kind, language, SAMPLE_CONTEXT[kind])
    if text:
        body = f"Subject: {email.subject}\n\n{email.text}"
    elif email.html is None:
        typer.echo(f"{kind} has no HTML part; use --text", err=True)
        raise typer.Exit(1)
    else:
        body = email.html
    path = out or Path(f"preview-{kind}-{language}.{'txt' if text else 'html'}")
    path.write_text(body, encoding="utf-8")
    # Plain echo, not rich: a long path must stay on one line to be copied or clicked.
    typer.echo(str(path.resolve()))


partner_app = typer.Typer(help="Partners: create one with its first administrator and API key.")
app.add_typer(partner_app, name="partner")


@partner_app.command("create")
def partner_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="The partner firm's name")],
    admin_email: Annotated[
        str, typer.Option("--admin-email", help="Its first administrator's e-mail")
    ] = "admin@example.com",
    admin_name: Annotated[str, typer.Option("--admin-name", help="Their name")] = "Administrator",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Create a partner, its first administrator and API key, its default template and billing
    defaults. The key is printed once: keep it."""
    from store import partners
    from store.pool import create_pool

    settings = settings_of(ctx)

    async def create() -> tuple[partners.PartnerRow, partners.UserRow, str]:
        pool = await create_pool(settings.require_database_url(), min_size=1, max_size=2)
        try:
            return await partners.create_partner(
                pool, name=name, admin_email=admin_email, admin_name=admin_name
            )
        finally:
            await pool.close()

    partner, admin, key = asyncio.run(create())
    if as_json:
        sys.stdout.write(
            json.dumps({"partner_id": str(partner.id), "admin_id": str(admin.id), "api_key": key})
            + "\n"
        )
        return
    console.print(f"partner  {partner.id}  {partner.name}")
    console.print(f"admin    {admin.id}  {admin.email}")
    console.print(f"API key  [bold]{key}[/]  (shown once; stored only as a hash)")


@partner_app.command("rate")
def partner_rate(
    ctx: typer.Context,
    partner: Annotated[str, typer.Option("--partner", help="The partner's id or exact name")],
    plan: Annotated[str, typer.Option("--plan", help="A plan code of that partner's catalogue")],
    add_on: Annotated[
        str | None, typer.Option("--add-on", help="One of the plan's add-ons; omit for the plan")
    ] = None,
    monthly: Annotated[
        int | None, typer.Option("--monthly", help="Cents a month, billed monthly", min=0)
    ] = None,
    annual: Annotated[
        int | None, typer.Option("--annual", help="Cents a year, billed annually", min=0)
    ] = None,
    clear: Annotated[
        bool, typer.Option("--clear", help="Remove the rate: the catalogue's price applies")
    ] = False,
) -> None:
    """Set a partner's special rate (EUR) for a plan or add-on, which every monthly cost then
    applies before the catalogue's price; operators only: it is what the partner is billed."""
    from pydantic import ValidationError

    from app import pricing
    from app.errors import AppError
    from domain.money import Price
    from store.pool import create_pool

    if not clear and (monthly is None or annual is None):
        raise typer.BadParameter("give both --monthly and --annual, or --clear")
    settings = settings_of(ctx)

    async def apply() -> None:
        pool = await create_pool(settings.require_database_url(), min_size=1, max_size=2)
        try:
            partner_id = await _partner_id(pool, partner)
            if clear:
                await pricing.clear_rate(pool, partner_id=partner_id, plan=plan, add_on=add_on)
            else:
                assert monthly is not None and annual is not None  # checked above
                price = Price(monthly_cents=monthly, annual_cents=annual)
                await pricing.set_rate(
                    pool, partner_id=partner_id, plan=plan, add_on=add_on, price=price
                )
        finally:
            await pool.close()

    try:
        asyncio.run(apply())
    except AppError as exc:
        typer.echo(exc.detail, err=True)
        raise typer.Exit(1) from None
    except ValidationError as exc:
        typer.echo(f"not a price: {exc.errors(include_url=False)[0]['msg']}", err=True)
        raise typer.Exit(1) from None
    what = f"{plan}/{add_on}" if add_on else plan
    typer.echo(f"rate for {what}: " + ("cleared" if clear else f"{monthly} / {annual} cents EUR"))


async def _status(onboarding_id: str, settings: Settings) -> ExplainedView:
    from app.onboarding_status import explained_status
    from core import temporal

    client = await temporal.connect(settings)
    workflow_id = _workflow_id(onboarding_id)
    projected = await _projection(settings, workflow_id)
    # The workflow's own view when it answers; the projection's, flagged, when its task fails.
    return await explained_status(
        client,
        workflow_id,
        onboarding_id=uuid.UUID(workflow_id.removeprefix("onboarding-")),
        projected_status=projected[0] if projected else None,
        since=projected[1] if projected else None,
    )


async def _projection(settings: Settings, workflow_id: str) -> tuple[str, datetime] | None:
    """The projection's status and `since`, or None without a database: PostgreSQL down is the
    very case a retrying step may be reporting, and must not keep the status from being shown."""
    import asyncpg

    from store import onboardings
    from store.pool import create_pool

    if not settings.database_url:
        return None
    try:
        async with asyncio.timeout(3):
            pool = await create_pool(settings.database_url, min_size=1, max_size=1)
            try:
                return await onboardings.projected_status(pool, workflow_id=workflow_id)
            finally:
                await pool.close()
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
        return None


def status_lines(view: ExplainedView) -> list[str]:
    """The status as a person reads it: where it stands since when, then one line per step."""
    since = f" since {view.since.isoformat(timespec='seconds')}" if view.since else ""
    lines = [f"onboarding {view.onboarding_id}: {view.status.value}{since}"]
    if view.workflow_task_failing:
        lines.append(f"workflow task failing: {view.workflow_problem}")
    elif view.source == "projection":
        lines.append(f"from the database (the workflow did not answer): {view.workflow_problem}")
    if view.waiting_for:
        lines.append(f"waiting for: {view.waiting_for}")
    if view.failure:
        lines.append(f"failure: {view.failure}")
    width = max((len(step.name.value) for step in view.steps), default=0)
    for step in view.steps:
        if step.retry is not None:
            said = step.retry.summary
        else:
            said = "; ".join(
                part
                for part in (
                    f"attempts {step.attempts}" if step.attempts else "",
                    step.detail or "",
                    f"last error: {step.last_error}" if step.last_error else "",
                )
                if part
            )
        lines.append(f"  {step.name.value:<{width}}  {step.state.value:<9}  {said}".rstrip())
    for retry in view.retrying:
        if retry.step is None:
            lines.append(f"  (status projection: {retry.activity}) {retry.summary}")
    for notice in view.notices_not_sent:
        lines.append(f"not sent: {notice}")
    return lines


@app.command()
def status(
    ctx: typer.Context,
    onboarding_id: Annotated[str, typer.Argument(help="Onboarding id (or workflow id)")],
    as_json: Annotated[bool, typer.Option("--json", help="The whole view as JSON")] = False,
) -> None:
    """Show every step of one onboarding: its workflow's `status` query, with the attempt, the
    reason and the next try of a step Temporal is retrying, and since when the status holds."""
    from app.onboarding_status import WorkflowCannotAnswer

    try:
        view = asyncio.run(_status(onboarding_id, settings_of(ctx)))
    except WorkflowCannotAnswer as exc:
        typer.echo(f"the workflow cannot answer: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        sys.stdout.write(view.model_dump_json(indent=2) + "\n")
        return
    # Plain echo, not rich: long lines stay whole, to be copied into a ticket.
    for line in status_lines(view):
        typer.echo(line)


def _workflow_id(onboarding_id: str) -> str:
    return (
        onboarding_id if onboarding_id.startswith("onboarding-") else f"onboarding-{onboarding_id}"
    )


async def _update(
    settings: Settings, onboarding_id: str, what: str, arg: object | None = None
) -> str:
    """Run one of the firm's onboarding actions as ops: the application function the API and
    the console call (app/onboardings.py), in the onboarding's firm, as its administrator, so
    every check they apply applies here too (a reschedule's horizon, a refused state)."""
    from app import onboardings as app_onboardings
    from app.errors import AppError
    from core import temporal
    from domain.onboarding import CompanyDetails, RescheduleInvitationInput, RetryIntegrationInput
    from store.pool import create_pool

    parsed = _onboarding_uuid(onboarding_id)
    pool = await create_pool(settings.require_database_url(), min_size=1, max_size=1)
    try:
        client = await temporal.connect(settings, lazy=True)
        partner_id = await app_onboardings.firm_of(pool, onboarding_id=parsed)
        scope: dict[str, Any] = {
            "partner_id": partner_id,
            "onboarding_id": parsed,
            "role": app_onboardings.OPERATOR_ROLE,
        }
        result: BaseModel
        if what == "company-details":
            assert isinstance(arg, CompanyDetails)
            result = await app_onboardings.provide_company_details(
                pool, client, details=arg, **scope
            )
        elif what == "retry-integration":
            assert isinstance(arg, RetryIntegrationInput)
            result = await app_onboardings.retry_integration(pool, client, code=arg.code, **scope)
        elif what == "send-invitation":
            result = await app_onboardings.send_invitation_now(pool, client, **scope)
        elif what == "cancel-invitation":
            result = await app_onboardings.cancel_invitation(pool, client, **scope)
        elif what == "resend-invitation":
            result = await app_onboardings.resend_invitation(pool, client, **scope)
        else:
            assert isinstance(arg, RescheduleInvitationInput)
            result = await app_onboardings.reschedule_invitation(
                pool,
                client,
                scheduled_at=arg.scheduled_at,
                now=datetime.now(UTC),
                horizon=timedelta(days=settings.invitation_horizon_days),
                **scope,
            )
        return result.model_dump_json()
    except AppError as exc:
        console.print(f"[red]refused: {exc.detail}[/]")
        for issue in exc.errors:
            console.print(f"[red]  {issue.field}: {issue.message}[/]")
        raise typer.Exit(1) from None
    finally:
        await pool.close()


@app.command("company-details")
def company_details(
    ctx: typer.Context,
    onboarding_id: Annotated[str, typer.Argument(help="Onboarding id (or workflow id)")],
    name: Annotated[str, typer.Option(help="Company name")],
    siret: Annotated[str | None, typer.Option(help="A corrected SIRET")] = None,
    enterprise_number: Annotated[
        str | None, typer.Option(help="A corrected Belgian enterprise number")
    ] = None,
    address: Annotated[str | None, typer.Option(help="Address on one line")] = None,
    city: Annotated[str | None, typer.Option(help="City")] = None,
    postal_code: Annotated[str | None, typer.Option(help="Postal code")] = None,
) -> None:
    """Unstick an onboarding in AWAITING_COMPANY_DETAILS by giving the company data by hand."""
    from domain.onboarding import CompanyDetails

    details = CompanyDetails(
        name=name,
        siret=siret,
        enterprise_number=enterprise_number,
        address=address,
        city=city,
        postal_code=postal_code,
    )
    console.print_json(
        asyncio.run(_update(settings_of(ctx), onboarding_id, "company-details", details))
    )


@app.command("retry-integration")
def retry_integration(
    ctx: typer.Context,
    onboarding_id: Annotated[str, typer.Argument(help="Onboarding id (or workflow id)")],
    code: Annotated[str, typer.Argument(help="The failed integration's code")],
) -> None:
    """Try a failed integration of an onboarding again."""
    from domain.onboarding import RetryIntegrationInput

    result = asyncio.run(
        _update(
            settings_of(ctx), onboarding_id, "retry-integration", RetryIntegrationInput(code=code)
        )
    )
    console.print_json(result)


@app.command("send-invitation")
def send_invitation(
    ctx: typer.Context,
    onboarding_id: Annotated[str, typer.Argument(help="Onboarding id (or workflow id)")],
) -> None:
    """Send the director's invitation now (manual, scheduled or cancelled)."""
    console.print_json(asyncio.run(_update(settings_of(ctx), onboarding_id, "send-invitation")))


@app.command("cancel-invitation")
def cancel_invitation(
    ctx: typer.Context,
    onboarding_id: Annotated[str, typer.Argument(help="Onboarding id (or workflow id)")],
) -> None:
    """Do not send the director's invitation (send-invitation or reschedule bring it back)."""
    console.print_json(asyncio.run(_update(settings_of(ctx), onboarding_id, "cancel-invitation")))


@app.command("resend-invitation")
def resend_invitation(
    ctx: typer.Context,
    onboarding_id: Annotated[str, typer.Argument(help="Onboarding id (or workflow id)")],
) -> None:
    """Send a new invitation after an expiry or a bounce."""
    console.print_json(asyncio.run(_update(settings_of(ctx), onboarding_id, "resend-invitation")))


@app.command("reschedule-invitation")
def reschedule_invitation(
    ctx: typer.Context,
    onboarding_id: Annotated[str, typer.Argument(help="Onboarding id (or workflow id)")],
    at: Annotated[str, typer.Argument(help="When, ISO 8601 with a timezone")],
) -> None:
    """Send the director's invitation at another time."""
    from domain.onboarding import RescheduleInvitationInput

    when = RescheduleInvitationInput.model_validate({"scheduled_at": at})
    console.print_json(
        asyncio.run(_update(settings_of(ctx), onboarding_id, "reschedule-invitation", when))
    )


def _onboarding_uuid(text: str) -> uuid.UUID:
    """An onboarding id, given bare or as its workflow id ("onboarding-<id>")."""
    try:
        return uuid.UUID(text.removeprefix("onboarding-"))
    except ValueError:
        raise typer.BadParameter(
            "not an onboarding id (a UUID, or onboarding-<UUID>)", param_hint="ID"
        ) from None


async def _resume(settings: Settings, onboarding_id: uuid.UUID) -> ResumeResult:
    from app import onboardings as app_onboardings
    from core import temporal
    from store.pool import create_pool

    pool = await create_pool(settings.require_database_url(), min_size=1, max_size=1)
    try:
        partner_id = await app_onboardings.firm_of(pool, onboarding_id=onboarding_id)
        client = await temporal.connect(settings, lazy=True)
        # The API's own use case, so the command refuses what the API refuses (as _update).
        return await app_onboardings.resume(
            pool,
            client,
            partner_id=partner_id,
            onboarding_id=onboarding_id,
            role=app_onboardings.OPERATOR_ROLE,
        )
    finally:
        await pool.close()


@app.command()
def resume(
    ctx: typer.Context,
    onboarding_id: Annotated[
        str, typer.Argument(metavar="ID", help="Onboarding id (or workflow id)")
    ],
) -> None:
    """Try the stalled step of an onboarding parked in NEEDS_ATTENTION again, once its cause is
    fixed (as POST /v1/onboardings/{id}/resume); refused, nothing resumed, when it is not
    parked."""
    from app.errors import Conflict, NotFound, Unavailable

    parsed = _onboarding_uuid(onboarding_id)
    try:
        done = asyncio.run(_resume(settings_of(ctx), parsed))
    except NotFound:
        typer.echo(f"no onboarding {parsed}", err=True)
        raise typer.Exit(1) from None
    except Conflict as exc:
        typer.echo(
            f"onboarding {parsed} is not parked in NEEDS_ATTENTION; nothing was resumed: {exc}",
            err=True,
        )
        raise typer.Exit(1) from None
    except (Unavailable, RuntimeError):
        typer.echo("cannot reach Temporal now; nothing was resumed", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"onboarding {parsed}: resumed at step {done.step.value}, now {done.status.value}")


async def _list(settings: Settings, status_filter: str | None, limit: int) -> list[dict[str, str]]:
    from core import temporal

    client = await temporal.connect(settings)
    query = "WorkflowType = 'OnboardingWorkflow'"
    if status_filter:
        query += f" AND OnboardingStatus = '{status_filter}'"
    rows: list[dict[str, str]] = []
    async for wf in client.list_workflows(query, limit=limit):
        sa = wf.typed_search_attributes
        from domain import search_attributes as keys

        rows.append(
            {
                "workflow_id": wf.id,
                "status": sa.get(keys.ONBOARDING_STATUS) or "",
                "execution": wf.status.name if wf.status else "",
                "started": wf.start_time.isoformat(timespec="seconds"),
            }
        )
    return rows


@app.command("list")
def list_(
    ctx: typer.Context,
    status_filter: Annotated[
        OnboardingStatus | None,
        typer.Option(
            "--status",
            # From the enum, so a status added to the domain is named here too.
            help="Only onboardings in this status: " + ", ".join(OnboardingStatus),
        ),
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines")] = False,
) -> None:
    """List onboardings from Temporal's visibility store (the same filter as the UI)."""
    rows = asyncio.run(
        _list(settings_of(ctx), status_filter.value if status_filter else None, limit)
    )
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(row) + "\n")
        return
    table = Table("workflow id", "status", "execution", "started")
    for row in rows:
        table.add_row(row["workflow_id"], row["status"], row["execution"], row["started"])
    console.print(table)


class InvitationChoice(StrEnum):
    """The invitation modes a whole file can take (a scheduled one needs a time per client)."""

    immediate = "immediate"
    manual = "manual"


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[
        Path | None,
        typer.Argument(
            metavar="FILE",
            help="The client list: .xlsx or .csv (not with --follow)",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ] = None,
    template: Annotated[
        str | None,
        typer.Option(help="Configuration template by name (or id); default: the partner's"),
    ] = None,
    invitation: Annotated[
        InvitationChoice | None,
        typer.Option(help="The directors' invitations; default: the template's mode"),
    ] = None,
    mapping: Annotated[
        str | None, typer.Option(help='JSON {"field": "header"} for columns named otherwise')
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and report the rows only; start nothing")
    ] = False,
    idempotency_key: Annotated[
        str | None,
        typer.Option(help="Same key + same file = the same import (default: from file+options)"),
    ] = None,
    follow: Annotated[
        str | None,
        typer.Option(metavar="ID", help="Watch an import already started (after Ctrl-C)"),
    ] = None,
    interval: Annotated[
        float, typer.Option(min=0.1, help="Seconds between two looks at the progress")
    ] = 1.0,
    api_url: Annotated[
        str | None,
        typer.Option(
            envvar="ONBOARDING_API_URL",
            help="The API; default http://127.0.0.1:<ONBOARDING_API_PORT, 8000>",
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(envvar="ONBOARDING_API_KEY", help="A partner user's API key (prefer the env)"),
    ] = None,
) -> None:
    """Import a client list through the API, with a live progress bar. Ctrl-C stops watching,
    not the import; `--follow ID` watches it again. Exit codes: 0 done and all ready, 1 error,
    2 usage, 3 done but rows invalid, failed or waiting for a person, 4 cancelled, 130 Ctrl-C."""
    from cli.imports import Consoles, Upload, run_import

    if (file is None) == (follow is None):
        raise typer.BadParameter(
            "give a FILE to import, or --follow ID to watch one (not both)",
            param_hint="FILE / --follow",
        )
    if follow is not None and (template or invitation or mapping or dry_run or idempotency_key):
        raise typer.BadParameter(
            "--follow takes no upload option (--template, --invitation, ...)",
            param_hint="--follow",
        )
    if not api_key:
        raise typer.BadParameter(
            "no API key: set ONBOARDING_API_KEY (or pass --api-key); "
            "`onboarding partner create` prints one",
            param_hint="--api-key",
        )
    # Only the port is read from the settings: this command is a client, not a server.
    default_api_url = f"http://127.0.0.1:{settings_of(ctx).api_port}"
    # The progress bar is what a person reads: a request line per look at the progress (httpx
    # logs each at INFO) would bury it, and the API logs every request on its side.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    upload = (
        Upload(
            file=file,
            template=template,
            invitation=invitation.value if invitation else None,
            mapping=mapping,
            dry_run=dry_run,
            idempotency_key=idempotency_key,
        )
        if file is not None
        else None
    )
    code = run_import(
        api_url=api_url or default_api_url,
        api_key=api_key,
        default_api_url=default_api_url,
        upload=upload,
        follow_id=follow,
        interval=interval,
        consoles=Consoles(out=console, err=Console(stderr=True)),
    )
    raise typer.Exit(int(code))


async def _stuck(
    settings: Settings, older_than: timedelta, partner: str | None, limit: int
) -> list[dict[str, str]]:
    from store import onboardings
    from store.pool import create_pool
    from workflows.read_model import stuck_hint

    partner_id: uuid.UUID | None = None
    if partner is not None:
        try:
            partner_id = uuid.UUID(partner)
        except ValueError:
            pass  # a name
    failing = await _failing_workflow_ids(settings)
    pool = await create_pool(settings.require_database_url(), min_size=1, max_size=1)
    try:
        rows = await onboardings.list_stuck(
            pool,
            older_than=older_than,
            partner_id=partner_id,
            partner_name=partner if partner is not None and partner_id is None else None,
            failing_workflow_ids=sorted(failing),
            limit=limit,
        )
    finally:
        await pool.close()
    return [
        {
            "id": str(row.id),
            "partner": row.partner_name,
            "partner_id": str(row.partner_id),
            "status": row.status,
            "since": row.status_since.isoformat(timespec="seconds"),
            "waiting_for": (
                "its workflow task keeps failing: `onboarding status ID` says why"
                if row.workflow_task_failing
                else stuck_hint(
                    row.status,
                    invitation_state=row.invitation_state,
                    invitation_scheduled_at=row.invitation_scheduled_at,
                )
            ),
            "workflow_task_failing": str(row.workflow_task_failing).lower(),
        }
        for row in rows
    ]


async def _failing_workflow_ids(settings: Settings) -> set[str]:
    """Onboardings whose workflow task keeps failing (fleet-wide); none, said on stderr, when
    Temporal does not answer: the stuck list is PostgreSQL's."""
    from core import task_failures, temporal

    try:
        async with asyncio.timeout(5):
            client = await temporal.connect(settings)
            return await task_failures.failing_workflow_ids(client)
    except Exception as exc:  # Temporal unreachable or refusing: the list still shows the rest
        typer.echo(
            f"(Temporal did not say which workflow tasks fail: {type(exc).__name__})", err=True
        )
        return set()


@app.command()
def stuck(
    ctx: typer.Context,
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than", help="Status unchanged for at least this long: 2d, 36h, 90m, PT48H"
        ),
    ] = "2d",
    partner: Annotated[
        str | None, typer.Option("--partner", help="One partner, by id or by name")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many")] = 200,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines")] = False,
) -> None:
    """List unfinished onboardings whose status has not changed for a while, the longest-stuck
    first, with what each is most likely waiting for (from PostgreSQL, every partner)."""
    from domain.durations import parse_short

    try:
        threshold = parse_short(older_than)
    except ValueError as exc:
        raise typer.BadParameter(f"{older_than!r} {exc}", param_hint="--older-than") from None
    rows = asyncio.run(_stuck(settings_of(ctx), threshold, partner, limit))
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(row) + "\n")
        return
    if not rows:
        typer.echo(f"no onboarding stuck for more than {older_than}")
        return
    for row in rows:
        # Plain lines, not a rich table: ids stay whole at any terminal width.
        typer.echo(
            f"{row['id']}  {row['partner']}  {row['status']}  since {row['since']}  "
            f"-> {row['waiting_for']}"
        )


async def _partner_id(pool: Pool, partner: str) -> uuid.UUID:
    from store import partner_lookup

    found = await partner_lookup.matching(pool, id_or_name=partner)
    if not found:
        raise typer.BadParameter(f"no partner {partner!r}", param_hint="--partner")
    if len(found) > 1:
        ids = ", ".join(str(p.id) for p in found)
        raise typer.BadParameter(
            f"{len(found)} partners are named {partner!r}: name one by id ({ids})",
            param_hint="--partner",
        )
    return found[0].id


async def _clients(
    settings: Settings, partner: str, filters: dict[str, Any], limit: int
) -> tuple[list[dict[str, Any]], int]:
    from store import clients
    from store.pool import create_pool

    pool = await create_pool(settings.require_database_url(), min_size=1, max_size=1)
    try:
        partner_id = await _partner_id(pool, partner)
        listed = await clients.list_for_partner(pool, partner_id=partner_id, limit=limit, **filters)
        rows, total = listed.rows, listed.total
    finally:
        await pool.close()
    return [
        {
            "id": str(row.id),
            "name": row.name,
            "company_name": row.company_name,
            "siret": row.siret,
            "status": "ready" if row.status == "ready" else "setting_up",
            "onboarding_id": str(row.onboarding_id),
            "onboarding_status": row.onboarding_status,
            "case_manager": row.case_manager,
            "tags": row.tags,
            "notifications_muted": row.notifications_muted,
            "invitation_state": row.invitation_state,
            "invitation_scheduled_at": (
                row.invitation_scheduled_at.isoformat(timespec="seconds")
                if row.invitation_scheduled_at
                else None
            ),
            "created_at": row.created_at.isoformat(timespec="seconds"),
            "erased": row.erased_at is not None,
        }
        for row in rows
    ], total


@app.command()
def clients(
    ctx: typer.Context,
    partner: Annotated[str, typer.Option("--partner", help="The partner, by id or by name")],
    case_manager: Annotated[
        str | None, typer.Option("--case-manager", help="The case-manager tag")
    ] = None,
    tag: Annotated[str | None, typer.Option("--tag", help="Clients with this tag")] = None,
    status_filter: Annotated[
        OnboardingStatus | None, typer.Option("--status", help="The onboarding's status")
    ] = None,
    muted: Annotated[
        bool | None,
        typer.Option("--muted/--not-muted", help="Notifications off (--muted) or on"),
    ] = None,
    invitation_state: Annotated[
        InvitationState | None, typer.Option("--invitation-state", help="Where it stands")
    ] = None,
    search: Annotated[
        str | None, typer.Option("--search", help="Part of the name, company or SIRET")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines")] = False,
) -> None:
    """List a partner's clients as `GET /v1/clients` does (the newest first), with their
    onboarding's status and invitation (from PostgreSQL)."""
    filters: dict[str, Any] = {
        "case_manager": case_manager,
        "tag": tag,
        "onboarding_status": status_filter.value if status_filter else None,
        "muted": muted,
        "invitation_state": invitation_state.value if invitation_state else None,
        "q": search.strip() or None if search else None,
    }
    rows, total = asyncio.run(_clients(settings_of(ctx), partner, filters, limit))
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        return
    if not rows:
        typer.echo("no client matches")
        return
    for row in rows:
        # Plain lines, not a rich table: ids stay whole at any terminal width.
        muted_text = "muted" if row["notifications_muted"] else "notifying"
        tags = ",".join(row["tags"]) or "-"
        typer.echo(
            f"{row['id']}  {row['name']}  {row['onboarding_status']}  {muted_text}  "
            f"invitation {row['invitation_state']}  manager {row['case_manager'] or '-'}  "
            f"tags {tags}"
        )
    if total > len(rows):
        typer.echo(f"({len(rows)} of {total}; --limit for more)")


async def _unmute(settings: Settings, client_id: uuid.UUID, enabled: bool) -> Switched:
    """The API's and the console's use case (app/clients.switch_notifications), in the client's
    firm as its administrator."""
    from app import clients as app_clients
    from app.onboardings import OPERATOR_ROLE
    from core import temporal
    from store import clients
    from store.pool import create_pool

    pool = await create_pool(settings.require_database_url(), min_size=1, max_size=1)
    try:
        client = await temporal.connect(settings, lazy=True)
        row = await clients.get(pool, client_id=client_id)
        if row is None:
            raise app_clients.client_not_found(client_id)
        return await app_clients.switch_notifications(
            pool,
            client,
            partner_id=row.partner_id,
            client_id=client_id,
            role=OPERATOR_ROLE,
            enabled=enabled,
        )
    finally:
        await pool.close()


@app.command()
def unmute(
    ctx: typer.Context,
    client_id: Annotated[str, typer.Argument(metavar="CLIENT", help="The client's id")],
    off: Annotated[
        bool, typer.Option("--off", help="Switch its notifications off instead (mute)")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Switch a client's notifications on (or off with --off). While its onboarding runs, the
    onboarding applies it (a waiting invitation then goes according to its mode); after, the
    client alone changes."""
    from app.errors import AppError

    try:
        parsed = uuid.UUID(client_id)
    except ValueError:
        raise typer.BadParameter("not a client id (a UUID)", param_hint="CLIENT") from None
    try:
        done = asyncio.run(_unmute(settings_of(ctx), parsed, enabled=not off))
    except AppError as exc:
        typer.echo(f"refused: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        sys.stdout.write(json.dumps(dataclasses.asdict(done), default=str) + "\n")
        return
    state = "on" if done.enabled else "off"
    when = "" if done.applied else " (applies once its setup completes)"
    typer.echo(
        f"client {done.client_id}: notifications {state}{when}, through the {done.through}; "
        f"onboarding {done.onboarding_status}, invitation {done.invitation_state}"
    )


# `onboarding mail`: the dev SMTP sink's last messages and their links (cli/mail.py).
app.command("mail")(mail.mail)
# `onboarding kbo load|update`: the Belgian register's open data (cli/kbo.py).
app.add_typer(kbo.app, name="kbo")


def main() -> None:
    """The `onboarding` command. A command that made a Temporal client ends without the
    interpreter's teardown once its output is flushed: the SDK's Rust threads can outlive the
    event loop and abort a finalizing interpreter (`Fatal Python error: PyGILState_Release`,
    temporalio/sdk-python#300), turning a command that did its work into exit code -6. Every
    command's own clean-up (finally blocks, lifespans) has run by then."""
    from core import temporal

    try:
        app()
        code: int | str | None = 0
    except SystemExit as exc:
        code = exc.code
    if not temporal.connected_in_process():
        sys.exit(code)
    status = code if isinstance(code, int) else (0 if code is None else 1)
    if isinstance(code, str):
        sys.stderr.write(code + "\n")
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


async def _patches(settings: Settings) -> list[dict[str, str | int | None]]:
    from cli import patches
    from core import temporal
    from workflows.patches import PATCHES

    client = await temporal.connect(settings)
    return [
        {
            "patch": found.patch.id,
            "workflow": found.patch.workflow.value,
            "shipped": found.patch.shipped.isoformat(),
            "deprecated": found.patch.deprecated.isoformat() if found.patch.deprecated else None,
            "open_runs_before": found.open_before,
            "open_runs_before_deprecation": found.open_before_deprecated,
            "stage": found.stage,
            "blocking": found.blocking,
        }
        for found in await patches.count(client, PATCHES)
    ]


@app.command("patches")
def patches_(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines")] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Exit 1 when a patch this code deprecated still has an open run begun before "
            "it (that run could not replay): run it before deploying",
        ),
    ] = False,
) -> None:
    """List every workflow patch with its ship day and the open runs started before it (from
    Temporal's visibility): a patch with none may be deprecated, a deprecated one with no open run
    begun before its deprecation may be removed (workflows/patches.py)."""
    rows = asyncio.run(_patches(settings_of(ctx)))
    _print_patches(rows, as_json=as_json)
    blocking = [row for row in rows if row["blocking"]]
    if check and blocking:
        for row in blocking:
            typer.echo(
                f"patch {row['patch']} is deprecated in this code but {row['open_runs_before']} "
                f"open {row['workflow']} run(s) began before it shipped: they cannot replay on "
                "this code; let them finish on the running release before deploying",
                err=True,
            )
        raise typer.Exit(1)


def _print_patches(rows: list[dict[str, str | int | None]], *, as_json: bool) -> None:
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(row) + "\n")
        return
    table = Table("patch", "workflow", "shipped", "open runs before", "stage")
    for row in rows:
        table.add_row(
            str(row["patch"]),
            str(row["workflow"]),
            str(row["shipped"]),
            str(row["open_runs_before"]),
            str(row["stage"]),
        )
    console.print(table)


# Last: `python -m cli.main` runs the app once every command above is registered.
if __name__ == "__main__":
    main()
