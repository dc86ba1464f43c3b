"""The KBO/BCE Open Data in PostgreSQL: full loads swapped in whole, update sets, lookups.

The register publishes its data as a set of CSV files (a directory or a ZIP): meta.csv says
which extract it is, enterprise.csv, denomination.csv and address.csv hold what a lookup needs
(activity, establishment, contact, code and branch files may come with them and are not loaded).
A full set is loaded with COPY into new tables, indexed, then swapped for the tables in service
in the same transaction: lookups read the old tables until the commit, and a load that dies
part-way rolls back to nothing, the previous data still in service. An update set (the
*_delete.csv and *_insert.csv files) is applied in one transaction too, and is idempotent.

Files are streamed to PostgreSQL in 512 KiB reads (asyncpg reads file objects that way) and
PostgreSQL parses the CSV, so memory stays flat whatever the set's size.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import re
import time
import zipfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any, Final

import asyncpg

from store.pool import Conn, Pool

log = logging.getLogger(__name__)


class KboFileError(Exception):
    """A data set that cannot be loaded: the message names the file (and line when known)."""


@dataclass(frozen=True)
class _Table:
    file: str  # enterprise -> enterprise.csv, enterprise_insert.csv, enterprise_delete.csv
    table: str
    header: tuple[str, ...]  # as the register spells it, in the table's column order
    key: str  # the column an update deletes by
    date_columns: tuple[str, ...]
    indexes: tuple[tuple[str, str], ...]  # (name, definition on {table})


TABLES: Final = (
    _Table(
        file="enterprise",
        table="kbo_enterprise",
        header=(
            "EnterpriseNumber",
            "Status",
            "JuridicalSituation",
            "TypeOfEnterprise",
            "JuridicalForm",
            "JuridicalFormCAC",
            "StartDate",
        ),
        key="enterprise_number",
        date_columns=("start_date",),
        indexes=(
            ("kbo_enterprise_pkey_idx", "UNIQUE INDEX {name} ON {table} (enterprise_number)"),
        ),
    ),
    _Table(
        file="denomination",
        table="kbo_denomination",
        header=("EntityNumber", "Language", "TypeOfDenomination", "Denomination"),
        key="entity_number",
        date_columns=(),
        indexes=(("kbo_denomination_entity_idx", "INDEX {name} ON {table} (entity_number)"),),
    ),
    _Table(
        file="address",
        table="kbo_address",
        header=(
            "EntityNumber",
            "TypeOfAddress",
            "CountryNL",
            "CountryFR",
            "Zipcode",
            "MunicipalityNL",
            "MunicipalityFR",
            "StreetNL",
            "StreetFR",
            "HouseNumber",
            "Box",
            "ExtraAddressInfo",
            "DateStrikingOff",
        ),
        key="entity_number",
        date_columns=("date_striking_off",),
        indexes=(("kbo_address_entity_idx", "INDEX {name} ON {table} (entity_number)"),),
    ),
)
_META_HEADER: Final = ("Variable", "Value")
# The key column of each *_delete.csv, as the register spells it.
_DELETE_HEADER: Final = {"enterprise": ("EnterpriseNumber",)}
_DEFAULT_DELETE_HEADER: Final = ("EntityNumber",)
_SNAKE: Final = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_COPY_LINE: Final = re.compile(r"line (\d+)")
PROGRESS_EVERY: Final = 5.0  # seconds between progress lines of one file


def _column(header: str) -> str:
    # EnterpriseNumber -> enterprise_number, JuridicalFormCAC -> juridical_form_cac
    return _SNAKE.sub("_", header).lower()


def _columns(spec: _Table) -> list[str]:
    return [_column(h) for h in spec.header]


# ---- the file set --------------------------------------------------------------------------


class KboSource:
    """The files of one data set, in a directory or a ZIP archive (flat or in one folder)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self._members: dict[str, str] = {}
        if path.is_dir():
            self._members = {p.name.lower(): p.name for p in path.iterdir() if not p.is_dir()}
        elif path.is_file():
            try:
                self._zip = zipfile.ZipFile(path)
            except zipfile.BadZipFile:
                raise KboFileError(f"{path.name}: neither a directory nor a ZIP archive") from None
            for info in self._zip.infolist():
                if not info.is_dir():
                    self._members[Path(info.filename).name.lower()] = info.filename
        else:
            raise KboFileError(f"{path}: no such directory or ZIP archive")

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def has(self, name: str) -> bool:
        return name.lower() in self._members

    def size(self, name: str) -> int:
        member = self._members[name.lower()]
        if self._zip is not None:
            return self._zip.getinfo(member).file_size
        return (self.path / member).stat().st_size

    def open(self, name: str) -> IO[bytes]:
        if not self.has(name):
            raise KboFileError(f"{name}: missing from {self.path.name}")
        member = self._members[name.lower()]
        if self._zip is not None:
            return self._zip.open(member)
        return (self.path / member).open("rb")


def _first_row(source: KboSource, name: str) -> list[str]:
    with source.open(name) as raw:
        line = raw.readline(64 * 1024)
    try:
        text = line.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise KboFileError(f"{name}: line 1: not UTF-8") from None
    rows = list(csv.reader([text]))
    return [cell.strip() for cell in rows[0]] if rows else []


def _check_header(source: KboSource, name: str, expected: tuple[str, ...]) -> None:
    found = _first_row(source, name)
    if tuple(found) != expected:
        raise KboFileError(
            f"{name}: line 1: header {','.join(found) or '(empty)'} "
            f"is not the expected {','.join(expected)}"
        )


@dataclass(frozen=True)
class ExtractMeta:
    """meta.csv: which extract a data set is."""

    snapshot_date: date
    extract_timestamp: datetime
    extract_type: str  # full or update
    extract_number: int
    version: str | None


def read_meta(source: KboSource) -> ExtractMeta:
    """meta.csv's variables, checked; KboFileError naming the line of a bad one."""
    _check_header(source, "meta.csv", _META_HEADER)
    values: dict[str, tuple[int, str]] = {}
    with source.open("meta.csv") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        for number, row in enumerate(csv.reader(text), start=1):
            if number == 1 or not row:
                continue
            if len(row) != 2:
                raise KboFileError(f"meta.csv: line {number}: expected 2 fields, got {len(row)}")
            values[row[0].strip()] = (number, row[1].strip())

    def get(variable: str, parse: Callable[[str], Any]) -> Any:
        if variable not in values:
            raise KboFileError(f"meta.csv: no {variable}")
        number, value = values[variable]
        try:
            return parse(value)
        except ValueError:
            raise KboFileError(f"meta.csv: line {number}: {variable} is not valid") from None

    extract_type = get("ExtractType", str).lower()
    if extract_type not in ("full", "update"):
        raise KboFileError(f"meta.csv: line {values['ExtractType'][0]}: ExtractType is not valid")
    return ExtractMeta(
        snapshot_date=get("SnapshotDate", lambda v: datetime.strptime(v, "%d-%m-%Y").date()),
        extract_timestamp=get(
            "ExtractTimestamp", lambda v: datetime.strptime(v, "%d-%m-%Y %H:%M:%S")
        ),
        extract_type=extract_type,
        extract_number=get("ExtractNumber", int),
        version=values.get("Version", (0, None))[1],
    )


_CHUNK: Final = 512 * 1024


@dataclass
class _Progress:
    name: str
    size: int
    done: int = 0
    started: float = 0.0


async def _chunks(raw: IO[bytes], progress: _Progress) -> AsyncIterator[bytes]:
    """The file in chunks read off the event loop, logging how far every few seconds."""
    progress.started = last = time.monotonic()
    try:
        while chunk := await asyncio.to_thread(raw.read, _CHUNK):
            progress.done += len(chunk)
            yield chunk
            now = time.monotonic()
            if now - last >= PROGRESS_EVERY:
                last = now
                log.info(
                    "kbo: reading",
                    extra={
                        "file": progress.name,
                        "percent": round(100 * progress.done / max(progress.size, 1), 1),
                    },
                )
    finally:
        raw.close()


def _unclosed_quote_line(source: KboSource, name: str) -> int | None:
    """The line where the CSV record holding an unclosed quoted field begins, if any."""
    inside, record_start = False, None
    with source.open(name) as raw:
        for number, line in enumerate(raw, start=1):
            if not inside:
                record_start = number
            if line.count(b'"') % 2:
                inside = not inside
    return record_start if inside else None


def _copy_error(name: str, exc: asyncpg.PostgresError) -> KboFileError:
    # PostgreSQL counts the header as line 1, as an editor does. The row itself (its context) is
    # left out of the message: it is the register's data, not ours to repeat in logs.
    context = getattr(exc, "context", None) or ""
    where = _COPY_LINE.search(context)
    line = f"line {where.group(1)}: " if where else ""
    message = getattr(exc, "message", None) or type(exc).__name__
    return KboFileError(f"{name}: {line}{message}")


async def _copy(
    conn: Conn, source: KboSource, name: str, table: str, spec: _Table, *, header: bool = True
) -> int:
    progress = _Progress(name=name, size=source.size(name))
    nullable = _columns(spec)[1:]
    try:
        status = await conn.copy_to_table(
            table,
            source=_chunks(source.open(name), progress),
            columns=_columns(spec),
            format="csv",
            header=header,
            # Quoted empty fields ("") are no value too: the register quotes every field.
            force_null=nullable or None,
        )
    except asyncpg.PostgresError as exc:
        if "unterminated CSV quoted field" in str(exc):
            # PostgreSQL reads to the end of the file looking for the closing quote, and names
            # the last line; the person fixing the file needs the line the field began on.
            opened = await asyncio.to_thread(_unclosed_quote_line, source, name)
            if opened is not None:
                raise KboFileError(
                    f"{name}: line {opened}: a quoted field is never closed"
                ) from None
        raise _copy_error(name, exc) from None
    rows = int(status.split()[-1])
    seconds = time.monotonic() - progress.started
    log.info(
        "kbo: file copied",
        extra={"file": name, "rows": rows, "rows_per_s": round(rows / max(seconds, 1e-6))},
    )
    return rows


# ---- full load -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadResult:
    meta: ExtractMeta
    rows: dict[str, int]
    seconds: float
    applied: bool = True  # False: an update already applied, nothing done


def _check_full_set(source: KboSource) -> ExtractMeta:
    meta = read_meta(source)
    if meta.extract_type != "full":
        raise KboFileError(f"meta.csv: ExtractType is {meta.extract_type}, a full set is needed")
    for spec in TABLES:
        _check_header(source, f"{spec.file}.csv", spec.header)
    return meta


async def load_full(pool: Pool, *, source: KboSource) -> LoadResult:
    """Load a full set into new tables and swap them in, all in one transaction.

    Raises KboFileError (file and line named) with the tables in service untouched.
    """
    meta = _check_full_set(source)  # every header before any row: fail fast, name the file
    started = time.monotonic()
    rows: dict[str, int] = {}
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL datestyle = 'ISO, DMY'")  # the files' dd-mm-yyyy
        # One load or update at a time; lookups (plain reads) are not blocked by this lock.
        await conn.execute("LOCK TABLE kbo_extract IN EXCLUSIVE MODE")
        for spec in TABLES:
            staging = f"{spec.table}_next"
            await conn.execute(
                f"CREATE TABLE {staging} "
                f"(LIKE {spec.table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
            )
            name = f"{spec.file}.csv"
            log.info("kbo: loading", extra={"file": name})
            rows[name] = await _copy(conn, source, name, staging, spec)
            # Indexes after the rows: building one at the end is far cheaper than keeping it
            # up to date row by row.
            for index, definition in spec.indexes:
                await conn.execute(
                    "CREATE " + definition.format(name=f"{index}_next", table=staging)
                )
            await conn.execute(f"ANALYZE {staging}")
        # The swap: readers of the old tables finish first (DROP waits for their locks), later
        # ones wait for the commit and then read the new tables by name.
        for spec in TABLES:
            await conn.execute(f"DROP TABLE {spec.table}")
            await conn.execute(f"ALTER TABLE {spec.table}_next RENAME TO {spec.table}")
            for index, _ in spec.indexes:
                await conn.execute(f"ALTER INDEX {index}_next RENAME TO {index}")
        await conn.execute("DELETE FROM kbo_extract")
        await _record(conn, meta, rows)
    seconds = time.monotonic() - started
    log.info(
        "kbo: full set in service",
        extra={"extract_number": meta.extract_number, "rows": sum(rows.values())},
    )
    return LoadResult(meta=meta, rows=rows, seconds=seconds)


async def _record(conn: Conn, meta: ExtractMeta, rows: dict[str, int]) -> None:
    await conn.execute(
        """
        INSERT INTO kbo_extract (extract_number, extract_type, snapshot_date, extract_timestamp,
                                 version, rows)
        VALUES ($1, $2, $3, $4, $5, $6)
        """,
        meta.extract_number,
        meta.extract_type,
        meta.snapshot_date,
        meta.extract_timestamp,
        meta.version,
        rows,
    )


# ---- update sets -----------------------------------------------------------------------------


def _check_update_set(source: KboSource) -> ExtractMeta:
    meta = read_meta(source)
    if meta.extract_type != "update":
        raise KboFileError(f"meta.csv: ExtractType is {meta.extract_type}, an update set is needed")
    for spec in TABLES:
        delete, insert = f"{spec.file}_delete.csv", f"{spec.file}_insert.csv"
        if source.has(delete):
            _check_header(source, delete, _DELETE_HEADER.get(spec.file, _DEFAULT_DELETE_HEADER))
        if source.has(insert):
            _check_header(source, insert, spec.header)
    return meta


async def apply_update(pool: Pool, *, source: KboSource) -> LoadResult:
    """Apply an update set in one transaction: each entity in a delete or insert file loses its
    rows, then the insert files' rows go in. Idempotent by construction (a second run deletes
    and inserts the same rows), and an extract already applied is recognised and skipped."""
    meta = _check_update_set(source)
    started = time.monotonic()
    rows: dict[str, int] = {}
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL datestyle = 'ISO, DMY'")
        # Serialises updates and loads of the same set: the check below then holds to commit.
        await conn.execute("LOCK TABLE kbo_extract IN EXCLUSIVE MODE")
        done = await conn.fetchval(
            "SELECT true FROM kbo_extract WHERE extract_type = 'update' AND extract_number = $1",
            meta.extract_number,
        )
        if done:
            log.info("kbo: update already applied", extra={"extract_number": meta.extract_number})
            return LoadResult(meta=meta, rows={}, seconds=0.0, applied=False)
        for spec in TABLES:
            delete, insert = f"{spec.file}_delete.csv", f"{spec.file}_insert.csv"
            # Staging tables of this transaction (dropped below, or with it on a rollback);
            # the lock above keeps other updates from wanting the same names meanwhile.
            await conn.execute("CREATE UNLOGGED TABLE kbo_gone (key text)")
            await conn.execute(
                f"CREATE UNLOGGED TABLE kbo_new (LIKE {spec.table} INCLUDING DEFAULTS)"
            )
            if source.has(delete):
                key_spec = _Table(
                    file=spec.file,
                    table="kbo_gone",
                    header=("Key",),
                    key="key",
                    date_columns=(),
                    indexes=(),
                )
                rows[delete] = await _copy(conn, source, delete, "kbo_gone", key_spec)
            if source.has(insert):
                rows[insert] = await _copy(conn, source, insert, "kbo_new", spec)
            await conn.execute(
                f"""
                DELETE FROM {spec.table} WHERE {spec.key} IN (
                    SELECT key FROM kbo_gone UNION SELECT {spec.key} FROM kbo_new)
                """
            )
            try:
                columns = ", ".join(_columns(spec))
                await conn.execute(
                    f"INSERT INTO {spec.table} ({columns}) SELECT {columns} FROM kbo_new"
                )
            except asyncpg.UniqueViolationError:
                raise KboFileError(f"{insert}: an enterprise number appears twice") from None
            await conn.execute("DROP TABLE kbo_gone, kbo_new")
        await _record(conn, meta, rows)
    return LoadResult(meta=meta, rows=rows, seconds=time.monotonic() - started)


# ---- lookups ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExtractInService:
    extract_number: int
    extract_type: str
    snapshot_date: date


async def extract_in_service(pool: Pool | Conn) -> ExtractInService | None:
    """The latest extract applied (full or update), or None before the first load."""
    record = await pool.fetchrow(
        """
        SELECT extract_number, extract_type, snapshot_date FROM kbo_extract
        ORDER BY snapshot_date DESC, applied_at DESC LIMIT 1
        """
    )
    return ExtractInService(**dict(record)) if record else None


@dataclass(frozen=True)
class KboEnterprise:
    enterprise_number: str  # 10 digits
    status: str
    juridical_form: str | None
    start_date: date | None
    # (language code, type of denomination, denomination), in the file's order
    denominations: list[tuple[str, str, str]]
    address: dict[str, str | None] | None  # the registered office (REGO), columns by name


def dotted(enterprise_number: str) -> str:
    """0202239951 -> 0202.239.951, as the register's files spell it."""
    n = enterprise_number
    return f"{n[:4]}.{n[4:7]}.{n[7:]}"


async def find_enterprise(pool: Pool | Conn, *, enterprise_number: str) -> KboEnterprise | None:
    """The enterprise with this 10-digit number, its names and its registered office."""
    number = dotted(enterprise_number)
    record = await pool.fetchrow(
        """
        SELECT e.status, e.juridical_form, e.start_date,
               (SELECT coalesce(array_agg(ARRAY[d.language, d.type_of_denomination,
                                                d.denomination] ORDER BY d.ctid), '{}')
                FROM kbo_denomination d WHERE d.entity_number = e.enterprise_number) AS names,
               (SELECT to_jsonb(a) FROM kbo_address a
                WHERE a.entity_number = e.enterprise_number AND a.type_of_address = 'REGO'
                  AND a.date_striking_off IS NULL
                ORDER BY a.ctid LIMIT 1) AS address
        FROM kbo_enterprise e WHERE e.enterprise_number = $1
        """,
        number,
    )
    if record is None:
        return None
    address = record["address"]
    return KboEnterprise(
        enterprise_number=enterprise_number,
        status=record["status"],
        juridical_form=record["juridical_form"],
        start_date=record["start_date"],
        denominations=[(n[0], n[1], n[2]) for n in record["names"]],
        address=dict(address) if address is not None else None,
    )


def iter_rows(source: KboSource, name: str) -> Iterator[list[str]]:
    """The rows of one file after its header (for tests and the generator's checks)."""
    with source.open(name) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        reader = csv.reader(text)
        next(reader, None)
        yield from reader
