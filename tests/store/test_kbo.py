"""The KBO/BCE Open Data loader: full sets swapped in whole, update sets applied idempotently,
bad sets refused by file and line with the data in service untouched, and a killed load that
leaves the previous data in service. Generated sets in the register's real format
(devstack/kbo_data.py), loaded into the tests' real PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import threading
import time
from datetime import date
from pathlib import Path

import pytest

from devstack import kbo_data
from store import kbo
from store.pool import Pool
from tests.eventually import eventually

ONBOARDING = Path(sys.executable).with_name("onboarding")
TABLES = ("kbo_enterprise", "kbo_denomination", "kbo_address")


async def _digest(pool: Pool) -> dict[str, str]:
    """A fingerprint of every KBO table's rows and of the extract in service."""
    digests = {}
    for table in (*TABLES, "kbo_extract"):
        columns = "t" if table != "kbo_extract" else "(t.extract_number, t.extract_type, t.rows)"
        digests[table] = await pool.fetchval(
            f"SELECT md5(coalesce(string_agg({columns}::text, '|' ORDER BY {columns}::text), ''))"
            f" FROM {table} t"
        )
    return digests


async def _load(pool: Pool, path: Path) -> kbo.LoadResult:
    source = kbo.KboSource(path)
    try:
        return await kbo.load_full(pool, source=source)
    finally:
        source.close()


async def _update(pool: Pool, path: Path) -> kbo.LoadResult:
    source = kbo.KboSource(path)
    try:
        return await kbo.apply_update(pool, source=source)
    finally:
        source.close()


async def test_load_full_set_from_zip_puts_real_companies_in_service(
    pool: Pool, tmp_path: Path
) -> None:
    """A ZIP of a full set loads every row; Proximus reads back with its names in French and
    Dutch and its registered office, and the extract in service is meta.csv's."""
    directory = kbo_data.write_full_set(
        tmp_path / "full", synthetic=3000, extract_number=150, snapshot=date(2026, 11, 27)
    )
    archive = kbo_data.zip_set(directory, tmp_path / "KboOpenData_0150_2026_11_Full.zip")

    result = await _load(pool, archive)

    expected = 3000 + len(kbo_data.REAL_COMPANIES)
    assert result.rows["enterprise.csv"] == expected
    assert await pool.fetchval("SELECT count(*) FROM kbo_enterprise") == expected
    proximus = await kbo.find_enterprise(pool, enterprise_number="0202239951")
    assert proximus is not None and proximus.status == "AC"
    assert ("1", "001", "Proximus") in proximus.denominations
    assert proximus.address is not None
    assert (proximus.address["zipcode"], proximus.address["street_fr"]) == (
        "1030",
        "Boulevard du Roi Albert II",
    )
    assert await kbo.find_enterprise(pool, enterprise_number="0202239952") is None
    extract = await kbo.extract_in_service(pool)
    assert extract == kbo.ExtractInService(150, "full", date(2026, 11, 27))


async def test_update_set_applied_twice_changes_nothing_the_second_time(
    pool: Pool, tmp_path: Path
) -> None:
    """An update renames, removes and adds enterprises; the same set again is recognised and
    changes nothing, and even re-run as if new (its record forgotten) it leaves the same rows."""
    await _load(pool, kbo_data.write_full_set(tmp_path / "full", synthetic=500))
    update = kbo_data.write_update_set(
        tmp_path / "update",
        extract_number=151,
        renamed=range(0, 10),
        removed=range(10, 15),
        added=range(500, 520),
    )

    first = await _update(pool, update)
    assert first.applied
    after_first = await _digest(pool)
    renamed = await kbo.find_enterprise(
        pool, enterprise_number=kbo_data.synthetic_number(3).replace(".", "")
    )
    assert renamed is not None
    assert renamed.denominations[0][2] == kbo_data.synthetic_name(3, generation=151)
    assert len(renamed.denominations) == 1  # the old name went with the delete file
    gone = kbo_data.synthetic_number(12).replace(".", "")
    assert await kbo.find_enterprise(pool, enterprise_number=gone) is None
    assert await pool.fetchval("SELECT count(*) FROM kbo_enterprise") == 7 + 500 - 5 + 20

    second = await _update(pool, update)
    assert not second.applied
    assert await _digest(pool) == after_first

    await pool.execute("DELETE FROM kbo_extract WHERE extract_type = 'update'")
    again = await _update(pool, update)
    assert again.applied
    assert await _digest(pool) == after_first
    assert (await kbo.extract_in_service(pool)) == kbo.ExtractInService(
        151, "update", date(2026, 12, 1)
    )


def _break(path: Path, line: int, text: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[line - 1] = text
    path.write_text("".join(lines), encoding="utf-8")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / "address.csv").unlink(), r"^address\.csv: missing"),
        (lambda d: (d / "meta.csv").unlink(), r"^meta\.csv: missing"),
        (
            lambda d: _break(d / "denomination.csv", 1, '"EntityNumber","Lang","Type","Name"\n'),
            r"^denomination\.csv: line 1: header",
        ),
        (
            lambda d: _break(d / "enterprise.csv", 40, '"0700.000.133","AC","000\n'),
            r"^enterprise\.csv: line 40: ",
        ),
        (
            lambda d: _break(
                d / "enterprise.csv", 41, '"0700.000.133","AC","000","2","014","","31-02-2020"\n'
            ),
            r"^enterprise\.csv: line 41: ",
        ),
        (
            lambda d: _break(d / "address.csv", 3000, '"0700.000.133","REGO"\n'),
            r"^address\.csv: line 3000: ",
        ),
        (lambda d: _break(d / "meta.csv", 4, '"ExtractType","monthly"\n'), r"^meta\.csv: line 4"),
    ],
    ids=[
        "missing-file",
        "missing-meta",
        "wrong-header",
        "broken-quote",
        "bad-date",
        "short-line",
        "bad-meta",
    ],
)
async def test_bad_set_refused_naming_file_and_line_data_in_service_untouched(
    pool: Pool, tmp_path: Path, damage: object, message: str
) -> None:
    """A missing file, a wrong header or a broken line is refused with the file (and line)
    named, before or during the load, and the tables in service keep every row."""
    await _load(pool, kbo_data.write_full_set(tmp_path / "good", synthetic=200))
    before = await _digest(pool)
    bad = kbo_data.write_full_set(tmp_path / "bad", synthetic=3000, extract_number=160)
    assert callable(damage)
    damage(bad)

    with pytest.raises(kbo.KboFileError, match=message):
        await _load(pool, bad)

    assert await _digest(pool) == before
    leftovers = await pool.fetchval("SELECT count(*) FROM pg_class WHERE relname LIKE 'kbo_%next'")
    assert leftovers == 0


async def test_bad_update_refused_naming_file_and_line_data_untouched(
    pool: Pool, tmp_path: Path
) -> None:
    """An update with a broken insert line is refused by file and line; nothing of it applies."""
    await _load(pool, kbo_data.write_full_set(tmp_path / "full", synthetic=100))
    before = await _digest(pool)
    update = kbo_data.write_update_set(
        tmp_path / "update", renamed=range(0, 5), removed=range(5, 8)
    )
    _break(update / "address_insert.csv", 3, '"0700.000.133","REGO","","","1000\n')

    with pytest.raises(kbo.KboFileError, match=r"^address_insert\.csv: line 3: "):
        await _update(pool, update)

    assert await _digest(pool) == before


async def _run_cli(database_url: str, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        str(ONBOARDING),
        "kbo",
        *args,
        env={**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "INFO"},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_cli_loads_200000_enterprises_and_reports_rate_and_memory(
    pool: Pool, database_url: str, tmp_path: Path
) -> None:
    """`onboarding kbo load` on a full set of 200,000 enterprises (600,000 rows) puts it in
    service and prints rows/s and peak RSS; memory stays flat (well under the 300 MB target)."""
    directory = kbo_data.write_full_set(tmp_path / "big", synthetic=200_000, extract_number=170)

    code, out, err = await _run_cli(database_url, "load", str(directory))

    assert code == 0, err
    assert await pool.fetchval("SELECT count(*) FROM kbo_enterprise") == 200_007
    figures = re.search(r"(\d+) rows in ([\d.]+) s \((\d+) rows/s\), peak RSS (\d+) MB", out)
    assert figures, out
    print(f"\nkbo load, 200,000 enterprises: {figures.group(0)}")  # the figure for the README
    assert int(figures.group(1)) == 3 * 200_007 + 2  # two real companies have a second name
    assert int(figures.group(4)) < 300


def _feed_fifo_then_stall(fifo: Path, header: str, rows: list[str], fed: threading.Event) -> None:
    """Play a slow address.csv: its header for the header check, then the header and some rows
    for the COPY, and then nothing more, as a load stalled or cut off mid-file."""
    with fifo.open("w", encoding="utf-8") as pipe:
        pipe.write(header)
    # The header check closes its end first; reopened before that, this end would still be
    # connected to it and the rows would go to the wrong reader.
    time.sleep(1)
    with fifo.open("w", encoding="utf-8") as pipe:
        pipe.write(header)
        pipe.writelines(rows)
        pipe.flush()
        fed.set()
        time.sleep(30)  # the loader is killed meanwhile; the pipe then breaks


async def test_load_killed_mid_way_leaves_previous_data_in_service(
    pool: Pool, database_url: str, tmp_path: Path
) -> None:
    """A load killed (SIGKILL) in the middle of its last file, the others copied, leaves the
    previous set in service, whole, and no half-built table behind."""
    await _load(pool, kbo_data.write_full_set(tmp_path / "small", synthetic=300))
    before = await _digest(pool)
    big = kbo_data.write_full_set(tmp_path / "big", synthetic=20_000, extract_number=180)
    address = big / "address.csv"
    header, *rows = address.read_text(encoding="utf-8").splitlines(keepends=True)
    address.unlink()
    os.mkfifo(address)
    fed = threading.Event()
    feeder = threading.Thread(
        target=_feed_fifo_then_stall, args=(address, header, rows[:10_000], fed), daemon=True
    )
    feeder.start()
    process = await asyncio.create_subprocess_exec(
        str(ONBOARDING),
        "kbo",
        "load",
        str(big),
        env={**os.environ, "DATABASE_URL": database_url},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert await asyncio.to_thread(fed.wait, 60), "the load never read address.csv"
        await asyncio.sleep(0.5)  # its rows on their way into the new table
        # The new tables exist, uncommitted: the loader holds locks on them.
        assert process.returncode is None
        process.send_signal(signal.SIGKILL)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()

    # The server rolls the dead client's transaction back once it sees the connection gone.

    async def copies() -> int:
        busy: int = await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY%kbo_%'"
        )
        return busy

    await eventually(
        copies, until=lambda busy: busy == 0, what="no COPY left running", within=10, every=0.1
    )
    assert await _digest(pool) == before
    leftovers = await pool.fetchval("SELECT count(*) FROM pg_class WHERE relname LIKE 'kbo_%next'")
    assert leftovers == 0


async def test_cli_refuses_bad_set_exit_1_and_says_update_already_applied(
    pool: Pool, database_url: str, tmp_path: Path
) -> None:
    """`onboarding kbo load` of a set with a broken line exits 1 naming the file and line and
    saying the data in service is unchanged; `onboarding kbo update` of a ZIP applied twice
    says so the second time and exits 0."""
    await _load(pool, kbo_data.write_full_set(tmp_path / "good", synthetic=50))
    bad = kbo_data.write_full_set(tmp_path / "bad", synthetic=50, extract_number=190)
    _break(bad / "denomination.csv", 7, '"0700.000.133","1","001"\n')

    code, _, err = await _run_cli(database_url, "load", str(bad))

    assert code == 1
    assert "refused: denomination.csv: line 7: " in err
    assert "the data in service is unchanged" in err

    update = kbo_data.write_update_set(tmp_path / "update", extract_number=191)
    archive = kbo_data.zip_set(update, tmp_path / "update.zip")
    first = await _run_cli(database_url, "update", str(archive))
    assert first[0] == 0, first[2]
    assert "update extract 191 of 2026-12-01 in service" in first[1]
    second = await _run_cli(database_url, "update", str(archive))
    assert second[:2] == (0, "update 191 was already applied: nothing changed\n")
