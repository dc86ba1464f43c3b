"""The KBO loader benchmark: `onboarding kbo load` of a generated full set (2,000,000 enterprises
by default, in the register's format: devstack/kbo_data.py), in a process of its own, on a fresh
database. Issue 26's targets: loaded in under 3 minutes, peak RSS under 300 MB.

The set is written first (not timed); the load's time is the command's wall time, start-up
included; its peak RSS is VmHWM sampled from /proc while it runs, and the command's own
ru_maxrss report as a check.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.processes import peak_rss_mib
from bench.report import Figure
from bench.stack import postgres_database
from devstack import kbo_data

log = logging.getLogger(__name__)

TARGET_SECONDS = 180.0
TARGET_MIB = 300.0
ONBOARDING = Path(sys.executable).with_name("onboarding")
_PRINTED = re.compile(r"(\d+) rows in ([\d.]+) s \((\d+) rows/s\), peak RSS (\d+) MB")


@dataclass
class KboOutcome:
    enterprises: int
    rows: int
    write_seconds: float
    load_seconds: float
    peak_mib: float
    set_bytes: int

    def figures(self) -> list[Figure]:
        return [
            Figure(
                "kbo",
                f"load {self.enterprises:,} enterprises ({self.rows:,} rows)",
                self.load_seconds,
                "s",
                f"< {TARGET_SECONDS:.0f} s",
                self.load_seconds < TARGET_SECONDS,
            ),
            Figure("kbo", "rows/s", round(self.rows / max(self.load_seconds, 1e-6)), "rows/s"),
            Figure(
                "kbo",
                "loader peak RSS",
                self.peak_mib,
                "MB",
                f"< {TARGET_MIB:.0f} MB",
                self.peak_mib < TARGET_MIB,
            ),
        ]

    def details(self) -> dict[str, Any]:
        return {
            "enterprises": self.enterprises,
            "rows": self.rows,
            "write_seconds": round(self.write_seconds, 1),
            "load_seconds": round(self.load_seconds, 1),
            "peak_mib": round(self.peak_mib, 1),
            "set_bytes": self.set_bytes,
        }


async def run(*, enterprises: int, progress_every: float) -> KboOutcome:
    async with postgres_database() as dsn:
        with tempfile.TemporaryDirectory(prefix="kbo-bench-") as tmp:
            directory = Path(tmp) / "set"
            started = time.monotonic()
            log.info("kbo bench: writing the set", extra={"enterprises": enterprises})
            await asyncio.to_thread(kbo_data.write_full_set, directory, synthetic=enterprises)
            written = time.monotonic() - started
            size = sum(p.stat().st_size for p in directory.iterdir())
            started = time.monotonic()
            process = await asyncio.create_subprocess_exec(
                str(ONBOARDING),
                "kbo",
                "load",
                str(directory),
                env={**os.environ, "DATABASE_URL": dsn, "LOG_LEVEL": "WARNING"},
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            peak, last = 0.0, time.monotonic()
            communicate = asyncio.ensure_future(process.communicate())
            while not communicate.done():
                peak = max(peak, peak_rss_mib(process.pid) or 0.0)
                if time.monotonic() - last >= progress_every:
                    last = time.monotonic()
                    log.info("kbo bench: loading", extra={"seconds": round(last - started)})
                await asyncio.wait({communicate}, timeout=0.2)
            out, err = communicate.result()
            seconds = time.monotonic() - started
            if process.returncode != 0:
                raise RuntimeError(f"onboarding kbo load failed: {err.decode()[-300:]}")
            printed = _PRINTED.search(out.decode())
            if printed is None:
                raise RuntimeError(f"no figures in the loader's output: {out.decode()[-300:]}")
            return KboOutcome(
                enterprises=enterprises,
                rows=int(printed.group(1)),
                write_seconds=written,
                load_seconds=seconds,
                peak_mib=max(peak, float(printed.group(4))),
                set_bytes=size,
            )
