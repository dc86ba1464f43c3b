"""`onboarding import`: send a client list to the HTTP API and watch the import live.

A client of the public API, as a partner's own script would be, so every check of the file, the
template and the options stays in one place (the API). The import itself runs in Temporal: Ctrl-C
only stops the watching, and `onboarding import --follow ID` watches the same import again.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, TypeVar

import httpx
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from domain.imports_progress import ImportProgress

M = TypeVar("M", bound=BaseModel)

USER_AGENT = "onboarding-cli/0.1"
# An upload is validated row by row before the answer: give a large file time.
TIMEOUT = httpx.Timeout(60.0, connect=5.0)
# While following, an API restart or a worker outage is waited out this long, then reported.
GIVE_UP_AFTER_SECONDS = 60.0
# Without a terminal (CI, a log file): a line when the counts change, at most this often...
LINE_MIN_GAP_SECONDS = 2.0
# ...and one this often even when nothing changes, so a log shows the watch is alive.
LINE_HEARTBEAT_SECONDS = 10.0


class ExitCode(IntEnum):
    """What `onboarding import` exits with (documented in docs/guides/partner/imports.md)."""

    OK = 0  # done: every row of the file onboarded and ready (or already a client); clean dry run
    ERROR = 1  # the API refused or could not be reached; unknown template; dry run with errors
    USAGE = 2  # bad command line (click's own code for usage errors)
    NEEDS_ATTENTION = 3  # done, but some rows were invalid, failed, or wait for a person
    CANCELLED = 4  # cancelled before every valid row was started and had settled
    INTERRUPTED = 130  # Ctrl-C: the watching stopped, the import goes on


@dataclass(frozen=True)
class Upload:
    """What to send to POST /v1/imports."""

    file: Path
    template: str | None = None
    invitation: str | None = None  # immediate or manual; the API says what it accepts
    mapping: str | None = None
    dry_run: bool = False
    idempotency_key: str | None = None


class RowError(BaseModel):
    row: int
    field: str
    message: str


class ImportAccepted(BaseModel):
    """The answer to POST /v1/imports (fields this command does not use are ignored)."""

    id: uuid.UUID | None = None
    dry_run: bool
    total: int
    valid: int
    errors: list[RowError]


class ImportStatus(BaseModel):
    """The answer to GET /v1/imports/{id}."""

    id: uuid.UUID
    filename: str
    total_rows: int
    valid_rows: int
    progress: ImportProgress | None
    onboardings_by_status: dict[str, int]


class CliError(Exception):
    """Stops the command: a title, lines under it, and the exit code."""

    def __init__(
        self, title: str, lines: Iterable[str] = (), code: ExitCode = ExitCode.ERROR
    ) -> None:
        super().__init__(title)
        self.title = title
        self.lines = list(lines)
        self.code = code


class TransientError(CliError):
    """The API is unreachable or answered 5xx: worth asking again while following."""


class ImportsApi:
    """The few API calls this command makes; every failure becomes a CliError."""

    def __init__(self, http: httpx.Client, base_url: str) -> None:
        self._http = http
        self._base_url = base_url

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.ConnectError as exc:
            raise TransientError(
                f"The API is not reachable at {self._base_url} (is `make dev` running?)",
                [str(exc)],
            ) from exc
        except httpx.TimeoutException as exc:
            raise TransientError(
                f"The API at {self._base_url} did not answer in time", [repr(exc)]
            ) from exc
        except httpx.TransportError as exc:
            raise TransientError(
                f"The API at {self._base_url} could not be talked to", [repr(exc)]
            ) from exc
        if response.is_error:
            raise _problem(response)
        return response

    def template_id(self, wanted: str) -> str:
        """The id of the template named `wanted` (names are unique regardless of case), or
        whose id it is; unknown -> a CliError listing the partner's templates."""
        found: list[dict[str, Any]] = []
        while True:
            page = self._call(
                "GET", "/v1/templates", params={"limit": 200, "offset": len(found)}
            ).json()
            found += page["items"]
            if not page["items"] or len(found) >= page["total"]:
                break
        for template in found:
            if wanted.casefold() in (str(template["name"]).casefold(), str(template["id"])):
                return str(template["id"])
        names = sorted(
            f"{t['name']} (default)" if t.get("is_default") else str(t["name"]) for t in found
        )
        raise CliError(
            f"No template named {wanted!r}",
            [f"Templates of this partner: {', '.join(names) or 'none'}"],
        )

    def upload(self, upload: Upload, template_id: str | None) -> tuple[ImportAccepted, bool]:
        """POST the file; (the answer, whether it is an earlier import answered again)."""
        form: dict[str, str] = {"dry_run": "true" if upload.dry_run else "false"}
        if template_id is not None:
            form["template_id"] = template_id
        if upload.invitation is not None:
            form["invitation_mode"] = upload.invitation
        if upload.mapping is not None:
            form["mapping"] = upload.mapping
        headers: dict[str, str] = {}
        if upload.idempotency_key:
            headers["Idempotency-Key"] = upload.idempotency_key
        response = self._call(
            "POST",
            "/v1/imports",
            files={"file": (upload.file.name, upload.file.read_bytes(), _media_type(upload.file))},
            data=form,
            headers=headers,
        )
        replayed = response.headers.get("Idempotent-Replayed") == "true"
        return _parse(ImportAccepted, response), replayed

    def status(self, import_id: str) -> ImportStatus:
        return _parse(ImportStatus, self._call("GET", f"/v1/imports/{import_id}"))


def _media_type(path: Path) -> str:
    return {
        ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ".csv": "text/csv",
    }.get(path.suffix.lower(), "application/octet-stream")


def _parse(model: type[M], response: httpx.Response) -> M:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        raise CliError(
            f"Unexpected answer from {response.request.url}", [str(exc), response.text[:500]]
        ) from exc


def _problem(response: httpx.Response) -> CliError:
    """An error answer as a CliError: RFC 9457 title, detail and each field at fault."""
    try:
        body = response.json()
    except ValueError:
        body = None
    cls = TransientError if response.status_code >= 500 else CliError
    if isinstance(body, dict) and "title" in body:
        lines = [str(body.get("detail", ""))] if body.get("detail") else []
        lines += [
            f"{e.get('field', '?')}: {e.get('message', '')}"
            for e in body.get("errors") or []
            if isinstance(e, dict)
        ]
        return cls(f"{body['title']} (HTTP {response.status_code})", lines)
    return cls(f"HTTP {response.status_code} from {response.request.url}", [response.text[:500]])


# -- showing progress ------------------------------------------------------------------------


def _settled(status: ImportStatus) -> int:
    if status.progress is None:
        return 0
    c = status.progress.counts
    return c.ready + c.waiting_for_input + c.failed + c.skipped


def _counts_text(status: ImportStatus) -> str:
    progress = status.progress
    if progress is None:
        return "no progress kept for this import"
    c = progress.counts
    return (
        f"ready {c.ready}, waiting for a person {c.waiting_for_input}, failed {c.failed}, "
        f"skipped {c.skipped}, {progress.in_flight} in flight"
        + (", cancelled" if progress.cancelled else "")
    )


def _over(status: ImportStatus) -> bool:
    """Nothing more will change in the import's counts.

    A cancelled import ends at once: its workflow stops without waiting for the rows already
    setting up (they go on as onboardings of their own and can no longer report to it), so its
    in-flight count stays where it was. No progress at all means its workflow is past Temporal's
    retention: only the onboardings' own statuses remain.
    """
    progress = status.progress
    return progress is None or progress.done or progress.cancelled


class Display(Protocol):
    def __enter__(self) -> Display: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def show(self, status: ImportStatus, warning: str | None) -> None: ...


class Bar:
    """A live rich progress bar, for a terminal."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> Bar:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Also on Ctrl-C: the bar is drawn one last time and the cursor given back.
        self._progress.stop()

    def show(self, status: ImportStatus, warning: str | None) -> None:
        description = escape(_counts_text(status))
        if warning:
            description += f" [yellow]({escape(warning)}; retrying)[/]"
        if self._task is None:
            self._task = self._progress.add_task(description, total=status.valid_rows)
        self._progress.update(
            self._task,
            description=description,
            completed=_settled(status),
            total=status.valid_rows,
        )


class Lines:
    """A plain line now and then, for a log (rich draws no live bar without a terminal)."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._printed = ""
        self._latest = ""
        self._printed_at = 0.0

    def __enter__(self) -> Lines:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._latest != self._printed:
            self._print(self._latest)

    def show(self, status: ImportStatus, warning: str | None) -> None:
        line = f"progress: {_settled(status)}/{status.valid_rows} settled; {_counts_text(status)}"
        if warning:
            line += f" ({warning}; retrying)"
        self._latest = line
        since = time.monotonic() - self._printed_at
        if (
            not self._printed
            or since >= LINE_HEARTBEAT_SECONDS
            or (line != self._printed and since >= LINE_MIN_GAP_SECONDS)
        ):
            self._print(line)

    def _print(self, line: str) -> None:
        self._console.print(Text(line), soft_wrap=True)
        self._printed, self._printed_at = line, time.monotonic()


# -- the command -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Consoles:
    out: Console
    err: Console


def _print_error(err: Console, exc: CliError) -> None:
    err.print(Text(exc.title, style="bold red"))
    for line in exc.lines:
        err.print(Text(f"  {line}"))


def _row_errors_table(errors: list[RowError]) -> Table:
    table = Table("row", "field", "message", title="Rows with errors (not imported)")
    for error in sorted(errors, key=lambda e: (e.row, e.field)):
        table.add_row(str(error.row), Text(error.field), Text(error.message))
    return table


def _summary(status: ImportStatus) -> Table:
    table = Table("rows", "count")
    table.add_row("in the file", str(status.total_rows))
    table.add_row("invalid (left out)", str(status.total_rows - status.valid_rows))
    progress = status.progress
    if progress is not None:
        c = progress.counts
        table.add_row("ready", str(c.ready))
        table.add_row("waiting for a person", str(c.waiting_for_input))
        table.add_row("failed", str(c.failed))
        table.add_row("skipped (already a client)", str(c.skipped))
        if progress.cancelled:
            table.add_row("not started (cancelled)", str(_not_started(status)))
            table.add_row("still setting up, on their own", str(progress.in_flight))
    return table


def _not_started(status: ImportStatus) -> int:
    if status.progress is None:
        return 0
    c = status.progress.counts
    return max(status.valid_rows - c.started - c.skipped, 0)


def outcome(status: ImportStatus) -> ExitCode:
    """The exit code for an import that is over (see ExitCode)."""
    invalid = status.total_rows - status.valid_rows
    progress = status.progress
    if progress is None:
        by_status = status.onboardings_by_status
        trouble = by_status.get("FAILED", 0) + by_status.get("AWAITING_COMPANY_DETAILS", 0)
        return ExitCode.NEEDS_ATTENTION if invalid or trouble else ExitCode.OK
    if progress.cancelled and (_not_started(status) or progress.in_flight):
        return ExitCode.CANCELLED
    if invalid or progress.counts.failed or progress.counts.waiting_for_input:
        return ExitCode.NEEDS_ATTENTION
    return ExitCode.OK


def _follow(
    api: ImportsApi,
    import_id: str,
    *,
    consoles: Consoles,
    interval: float,
    api_url: str,
    reattach: str,
) -> ExitCode:
    status = api.status(import_id)  # an unknown id or a bad key stops here, with its problem
    display: Display = Bar(consoles.out) if consoles.out.is_terminal else Lines(consoles.out)
    with display:
        display.show(status, None)
        last_answer = time.monotonic()
        while not _over(status):
            time.sleep(interval)
            try:
                status = api.status(import_id)
            except TransientError as exc:
                if time.monotonic() - last_answer > GIVE_UP_AFTER_SECONDS:
                    exc.lines.append(f"The import may well go on. Reattach with: {reattach}")
                    raise
                display.show(status, exc.title)
                continue
            last_answer = time.monotonic()
            display.show(status, None)
    out = consoles.out
    out.print(Text(f"Import {import_id} ({status.filename}):"), soft_wrap=True)
    out.print(_summary(status))
    if status.progress is None:
        out.print("Its workflow is no longer kept by Temporal; the onboardings' statuses remain.")
    if status.onboardings_by_status:
        now = ", ".join(f"{k} {v}" for k, v in sorted(status.onboardings_by_status.items()))
        out.print(Text(f"Its onboardings now: {now}"))
    out.print(
        Text(f"Each row's outcome: {api_url}/v1/imports/{import_id}/report.csv"), soft_wrap=True
    )
    return outcome(status)


def _reattach(import_id: str, api_url: str, default_api_url: str) -> str:
    command = f"onboarding import --follow {import_id}"
    return command if api_url == default_api_url else f"{command} --api-url {api_url}"


def run_import(
    *,
    api_url: str,
    api_key: str,
    default_api_url: str,
    upload: Upload | None,
    follow_id: str | None,
    interval: float,
    consoles: Consoles,
) -> ExitCode:
    """Upload (unless following), report the rows at fault, then follow the import to its end.

    Never cancels an import: Ctrl-C returns INTERRUPTED and says how to watch it again.
    """
    api_url = api_url.rstrip("/")
    out, err = consoles.out, consoles.err
    import_id = follow_id
    headers = {"Authorization": f"Bearer {api_key}", "User-Agent": USER_AGENT}
    try:
        with httpx.Client(base_url=api_url, headers=headers, timeout=TIMEOUT) as http:
            api = ImportsApi(http, api_url)
            if upload is not None:
                template_id = api.template_id(upload.template) if upload.template else None
                accepted, replayed = api.upload(upload, template_id)
                invalid = accepted.total - accepted.valid
                if accepted.errors:
                    out.print(_row_errors_table(accepted.errors))
                out.print(
                    Text(
                        f"{upload.file.name}: {accepted.total} rows, {accepted.valid} valid, "
                        f"{invalid} with errors"
                    )
                )
                if accepted.dry_run or accepted.id is None:
                    out.print("Dry run: nothing was started.")
                    return ExitCode.ERROR if accepted.errors else ExitCode.OK
                import_id = str(accepted.id)
                out.print(
                    Text(
                        f"Import {import_id}"
                        + (" (this file was sent before: the same import)" if replayed else "")
                    )
                )
                out.print(
                    Text(f"Reattach with: {_reattach(import_id, api_url, default_api_url)}"),
                    soft_wrap=True,
                )
            assert import_id is not None
            return _follow(
                api,
                import_id,
                consoles=consoles,
                interval=interval,
                api_url=api_url,
                reattach=_reattach(import_id, api_url, default_api_url),
            )
    except CliError as exc:
        _print_error(err, exc)
        return exc.code
    except KeyboardInterrupt:
        if import_id is not None:
            err.print(
                Text(
                    "The import goes on in the background. Reattach with: "
                    + _reattach(import_id, api_url, default_api_url)
                ),
                soft_wrap=True,
            )
        elif upload is not None and not upload.dry_run:
            err.print(
                "Interrupted during the upload. If the file reached the API, its import goes on; "
                "sending the same file with the same options again answers that same import."
            )
        else:
            err.print("Interrupted.")
        return ExitCode.INTERRUPTED
