"""`onboarding kbo load|update`: the KBO/BCE Open Data set into PostgreSQL (store/kbo.py).

Exit codes: 0 done (or an update already applied), 1 a bad data set (the message names the file
and line; the tables in service are untouched), 2 usage.
"""

from __future__ import annotations

import asyncio
import resource
import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.entry import settings_of

app = typer.Typer(help="The KBO/BCE Open Data (Belgian enterprises) for the company lookup.")

SetArgument = Annotated[
    Path, typer.Argument(help="The data set: a directory of its CSV files, or its ZIP archive")
]


async def run(path: Path, *, full: bool, database_url: str) -> int:
    """Load (full) or apply (update) the set at `path`; print what was done; the exit code."""
    from store import kbo
    from store.pool import create_pool

    try:
        source = kbo.KboSource(path)
    except kbo.KboFileError as exc:
        typer.echo(f"refused: {exc}", err=True)
        return 1
    pool = await create_pool(database_url, min_size=1, max_size=2)
    try:
        if full:
            result = await kbo.load_full(pool, source=source)
        else:
            result = await kbo.apply_update(pool, source=source)
    except kbo.KboFileError as exc:
        typer.echo(f"refused: {exc}; the data in service is unchanged", err=True)
        return 1
    finally:
        source.close()
        await pool.close()
    meta = result.meta
    if not result.applied:
        typer.echo(f"update {meta.extract_number} was already applied: nothing changed")
        return 0
    rows = sum(result.rows.values())
    peak = _peak_rss_mib()
    typer.echo(
        f"{meta.extract_type} extract {meta.extract_number} of {meta.snapshot_date} in service: "
        f"{rows} rows in {result.seconds:.1f} s ({rows / max(result.seconds, 1e-6):.0f} rows/s), "
        f"peak RSS {peak:.0f} MB"
    )
    for name, count in result.rows.items():
        typer.echo(f"  {name}: {count}")
    return 0


def _peak_rss_mib() -> float:
    """This process's own peak resident memory: VmHWM, which starts afresh at exec. Not
    ru_maxrss: Linux keeps it across fork and exec, so it would report the parent's peak
    (a test runner's, say) when that was higher."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _run(ctx: typer.Context, path: Path, *, full: bool) -> None:
    database_url = settings_of(ctx).require_database_url()
    code = asyncio.run(run(path, full=full, database_url=database_url))
    sys.stdout.flush()
    raise typer.Exit(code)


@app.command("load")
def load(ctx: typer.Context, path: SetArgument) -> None:
    """Load a full set (meta, enterprise, denomination, address files) in place of the data in
    service, swapped in one transaction."""
    _run(ctx, path, full=True)


@app.command("update")
def update(ctx: typer.Context, path: SetArgument) -> None:
    """Apply an update set (its *_delete.csv and *_insert.csv files); applying one twice
    changes nothing the second time."""
    _run(ctx, path, full=False)
