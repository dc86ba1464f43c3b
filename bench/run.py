"""`python -m bench`: run the benchmarks, print figures against targets, exit 1 on a miss."""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from bench import history, rate
from bench.report import Figure, code_version, print_table, write_json
from bench.stack import temporal_server
from core.logging import configure_logging
from core.settings import LogFormat

log = logging.getLogger("bench")

RESULTS = Path(__file__).with_name("results") / "latest.json"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Measure the service against its performance targets."
    )
    parser.add_argument("--only", choices=("rate", "history"), help="run one benchmark only")
    parser.add_argument(
        "--rows", type=int, default=500, help="rows of the rate benchmark's import (500)"
    )
    parser.add_argument(
        "--history-rows", type=int, default=5000, help="rows of the history benchmark (5000)"
    )
    parser.add_argument(
        "--progress-every", type=float, default=5.0, help="seconds between progress lines (5)"
    )
    parser.add_argument(
        "--log-format", choices=[f.value for f in LogFormat], default=LogFormat.console.value
    )
    parser.add_argument(
        "--results", type=Path, default=RESULTS, help=f"where the JSON goes ({RESULTS.name})"
    )
    args = parser.parse_args(argv)
    if args.rows < 2 or args.history_rows < 1:
        parser.error("--rows needs at least 2 rows (a rate needs two lookups), --history-rows 1")
    return args


async def _run(args: argparse.Namespace) -> tuple[list[Figure], dict[str, Any]]:
    figures: list[Figure] = []
    details: dict[str, Any] = {}
    if args.only in (None, "rate"):
        try:
            async with temporal_server() as env:
                outcome = await rate.run(env, rows=args.rows, progress_every=args.progress_every)
            figures += outcome.figures()
            details["rate"] = outcome.details()
        except Exception as exc:  # reported as a failed figure; the next bench still runs
            log.exception("rate bench failed")
            figures.append(_crashed("rate", exc))
    if args.only in (None, "history"):
        try:
            # A server of its own: the rate bench's onboardings stay open (manual invitations).
            async with temporal_server() as env:
                result = await history.run(
                    env.client, rows=args.history_rows, progress_every=args.progress_every
                )
            figures += result.figures()
            details["history"] = result.details()
        except Exception as exc:
            log.exception("history bench failed")
            figures.append(_crashed("history", exc))
    return figures, details


def _crashed(bench: str, exc: Exception) -> Figure:
    return Figure(bench, f"ran to the end ({type(exc).__name__})", None, "", "no error", False)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(level="WARNING", fmt=LogFormat(args.log_format))
    # Our progress lines at INFO; the worker's, Temporal's and the servers' only when they warn.
    log.setLevel(logging.INFO)
    # A 429 retried by the registry activity is logged by the SDK with its traceback; the
    # stand-in counts every one of them, so the table says it without the noise.
    logging.getLogger("temporalio").setLevel(logging.ERROR)
    # Right after the workflows and activities were imported: the code the figures are about.
    code = code_version()
    started = time.monotonic()
    figures, details = asyncio.run(_run(args))
    total = time.monotonic() - started
    figures.append(Figure("all", "wall time, all included", total, "s"))
    print_table(figures, Console())
    write_json(
        args.results,
        figures,
        args={k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        details=details,
        code=code,
    )
    missed = [f"{f.bench}: {f.name}" for f in figures if f.passed is False]
    if missed:
        log.error("targets missed", extra={"missed": "; ".join(missed)})
        return 1
    log.info("every target met", extra={"results": str(args.results)})
    return 0
