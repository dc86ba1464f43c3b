"""The memory benchmark: peak resident memory of the worker and the API, in processes of their own.

Issue 12's target: under 300 MB each. Two phases, each with an API process of its own so that
its high-water mark is that phase's:
- `import`: a file of N rows with no SIRET (the registry does not bound it), manual invitations,
  followed until done, through one `onboarding worker` process;
- `upload`: the largest file the API accepts (settings.import_max_bytes, rows padded to fill it,
  at most import_max_rows), validated only (dry run): reading it is what costs memory.
Peaks are VmHWM from /proc/<pid>/status; the API's children (the processes that read import
files) are sampled while they live, and reported apart.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from temporalio.testing import WorkflowEnvironment

from bench.processes import children_of, peak_rss_mib, wait_worker_polling
from bench.procstack import process_stack
from bench.report import Figure

log = logging.getLogger(__name__)

TARGET_MIB = 300.0
HEADERS = ["First name", "Last name", "E-mail", "Language", "Company", "Notes"]


def import_file(rows: int, *, pad_to: int = 0, max_rows: int | None = None) -> bytes:
    """A CSV of `rows` clients without SIRET; with `pad_to`, a Notes column fills it to about
    that many bytes (within `max_rows` rows)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADERS)
    notes = ""
    if pad_to:
        rows = max_rows or rows
        notes = "x" * max(0, pad_to // rows - 90)
    for index in range(rows):
        writer.writerow(
            [
                "Camille",
                f"Client {index:05d}",
                f"direction{index:05d}@bench.example",
                "fr",
                f"Société {index:05d}",
                notes,
            ]
        )
    data = buffer.getvalue().encode()
    if pad_to and len(data) > pad_to:
        # Cut at the last whole row under the limit.
        data = data[: data.rindex(b"\r\n", 0, pad_to) + 2]
    return data


@dataclass
class Peaks:
    """Highest VmHWM seen per process (MiB)."""

    values: dict[str, float] = field(default_factory=dict)

    def sample(self, name: str, pid: int) -> None:
        value = peak_rss_mib(pid)
        if value is not None:
            self.values[name] = max(self.values.get(name, 0.0), value)


@dataclass
class MemoryOutcome:
    rows: int
    upload_bytes: int = 0
    upload_rows: int = 0
    import_seconds: float = 0.0
    settled: int = 0
    done: bool = False
    upload_status: int = 0
    peaks: dict[str, float] = field(default_factory=dict)

    def figures(self) -> list[Figure]:
        def peak(name: str, label: str, target: bool = True) -> Figure:
            value = self.peaks.get(name)
            return Figure(
                "memory",
                label,
                value,
                "MiB",
                f"< {TARGET_MIB:.0f}" if target else "",
                (value is not None and value < TARGET_MIB) if target else None,
            )

        return [
            Figure(
                "memory",
                f"import of {self.rows:,} rows settled",
                self.settled,
                "rows",
                f"= {self.rows}",
                self.done and self.settled == self.rows,
            ),
            Figure("memory", "import, POST to done", self.import_seconds, "s", "", None),
            peak("import worker", "worker peak RSS, import"),
            peak("import api", "API peak RSS, import"),
            peak("import api children", "API file readers peak RSS, import", target=False),
            Figure(
                "memory",
                "largest upload (dry run), bytes",
                self.upload_bytes,
                "B",
                f"status {self.upload_status}",
                self.upload_status == 200,
            ),
            peak("upload api", "API peak RSS, largest upload"),
            peak("upload api children", "API file readers peak RSS, upload", target=False),
        ]

    def details(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "settled": self.settled,
            "import_seconds": round(self.import_seconds, 3),
            "upload_bytes": self.upload_bytes,
            "upload_rows": self.upload_rows,
            "upload_status": self.upload_status,
            "peaks_mib": self.peaks,
        }


async def _sampling(peaks: Peaks, named: dict[str, int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        for name, pid in named.items():
            peaks.sample(name, pid)
            if name.endswith("api"):
                for child in children_of(pid):
                    peaks.sample(f"{name} children", child)
        try:
            await asyncio.wait_for(stop.wait(), timeout=0.2)
        except TimeoutError:
            pass
    for name, pid in named.items():
        peaks.sample(name, pid)


async def run(
    env: WorkflowEnvironment, *, rows: int, deadline_seconds: float, progress_every: float
) -> MemoryOutcome:
    outcome = MemoryOutcome(rows=rows)
    peaks = Peaks()
    async with process_stack(env) as stack:
        worker = stack.processes.worker("all")
        url, api_pid = await stack.api()
        await wait_worker_polling(worker)
        stop = asyncio.Event()
        sampler = asyncio.create_task(
            _sampling(peaks, {"import worker": worker.pid, "import api": api_pid}, stop)
        )
        async with httpx.AsyncClient(base_url=url, headers=stack.headers(), timeout=120) as http:
            posted = time.monotonic()
            response = await http.post(
                "/v1/imports",
                files={"file": ("clients.csv", import_file(rows), "text/csv")},
                data={"invitation_mode": "manual"},
            )
            if response.status_code != 202:
                raise RuntimeError(f"import refused: {response.status_code} {response.text[:300]}")
            import_id = response.json()["id"]
            last_line = posted
            while time.monotonic() - posted < deadline_seconds:
                progress = (await http.get(f"/v1/imports/{import_id}")).json().get("progress") or {}
                counts = progress.get("counts", {})
                outcome.settled = sum(
                    int(counts.get(k, 0)) for k in ("ready", "waiting_for_input", "failed")
                )
                outcome.done = bool(progress.get("done"))
                if outcome.done:
                    break
                if time.monotonic() - last_line >= progress_every:
                    last_line = time.monotonic()
                    log.info(
                        "memory bench progress",
                        extra={
                            "settled": f"{outcome.settled}/{rows}",
                            "worker_mib": round(peaks.values.get("import worker", 0)),
                            "api_mib": round(peaks.values.get("import api", 0)),
                        },
                    )
                await asyncio.sleep(1)
            outcome.import_seconds = time.monotonic() - posted
        stop.set()
        await sampler

        # The largest upload, to an API process of its own.
        upload_url, upload_pid = await stack.api()
        limit = stack.settings.import_max_bytes
        data = import_file(0, pad_to=limit, max_rows=stack.settings.import_max_rows)
        outcome.upload_bytes = len(data)
        outcome.upload_rows = data.count(b"\r\n") - 1
        stop = asyncio.Event()
        sampler = asyncio.create_task(_sampling(peaks, {"upload api": upload_pid}, stop))
        async with httpx.AsyncClient(
            base_url=upload_url, headers=stack.headers(), timeout=300
        ) as http:
            response = await http.post(
                "/v1/imports",
                files={"file": ("clients.csv", data, "text/csv")},
                data={"dry_run": "true"},
            )
            outcome.upload_status = response.status_code
        stop.set()
        await sampler
    outcome.peaks = dict(peaks.values)
    return outcome
