"""Figures: what was measured, against which target, and the table and JSON they end up in."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


@dataclass(frozen=True)
class Figure:
    """One measured value. `passed` is None for a figure reported without a target."""

    bench: str
    name: str
    measured: float | int | None
    unit: str = ""
    target: str = ""
    passed: bool | None = None

    @property
    def verdict(self) -> str:
        if self.passed is None:
            return ""
        return "PASS" if self.passed else "FAIL"

    def shown(self) -> str:
        if self.measured is None:
            return "n/a"
        if isinstance(self.measured, float):
            text = f"{self.measured:,.3f}" if abs(self.measured) < 10 else f"{self.measured:,.1f}"
        else:
            text = f"{self.measured:,}"
        return f"{text} {self.unit}".rstrip()


def print_table(figures: list[Figure], console: Console) -> None:
    table = Table(title="make bench", title_justify="left")
    for column, justify in (
        ("bench", "left"),
        ("figure", "left"),
        ("target", "left"),
        ("measured", "right"),
        ("", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]  # rich's Literal
    for figure in figures:
        style = {True: "green", False: "bold red", None: ""}[figure.passed]
        table.add_row(
            figure.bench,
            figure.name,
            figure.target,
            figure.shown(),
            f"[{style}]{figure.verdict}[/]" if style else "",
        )
    console.print(table)


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(  # noqa: S603  # fixed git arguments, no shell
            ["git", *args],  # noqa: S607  # git from PATH, as a developer runs it
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def code_version() -> dict[str, Any]:
    """The commit measured, and whether files had changed since (figures of a dirty tree are
    those of the commit plus whatever was being edited)."""
    status = _git("status", "--porcelain")
    return {"commit": _git("rev-parse", "--short", "HEAD"), "dirty": bool(status)}


def write_json(
    path: Path,
    figures: list[Figure],
    *,
    args: dict[str, Any],
    details: dict[str, Any],
    code: dict[str, Any],
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "code": code,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "args": args,
        "passed": all(f.passed is not False for f in figures),
        "figures": [{**asdict(f), "verdict": f.verdict} for f in figures],
        "details": details,
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
