"""POST /v1/imports under hostile files: limits answered 413/422 naming them, and the API (served
by a real uvicorn in this test's event loop) keeps answering while any file is read."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass

import httpx
import pytest
from temporalio.client import Client

from api.deps import Services
from api.main import create_app
from core.settings import Settings
from devstack.serving import serve_app as serve
from store.pool import Pool
from tests.factories import Tenant
from tests.import_files import (
    SHEET_MEMBER,
    declare_size,
    many_clients,
    many_clients_csv,
    xlsx_bytes,
)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A loop that parses a file itself stalls for the whole parse (seconds here); one that hands the
# file to a thread is held up at most by GIL hand-overs (5 ms each) and the machine's load.
MOST_LAG = 0.5


async def _post(
    api: httpx.AsyncClient, data: bytes, name: str, content_type: str = "text/csv"
) -> httpx.Response:
    return await api.post(
        "/v1/imports",
        files={"file": (name, data, content_type)},
        data={"dry_run": "true"},
        timeout=120,
    )


@dataclass
class Watched:
    response: httpx.Response
    seconds: float  # the upload, from send to answer
    worst_lag: float  # the longest the event loop was late to wake a 10 ms sleep
    health: list[tuple[float, int]]  # (seconds taken, status) of /healthz calls made meanwhile
    answered_before_upload: int  # /healthz answers received while the upload was pending


async def _watch(api: httpx.AsyncClient, upload: Awaitable[httpx.Response]) -> Watched:
    """Run `upload` while measuring how late the event loop is and calling /healthz again and
    again; the server runs in this loop, so a blocked server is a late loop."""
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    task = asyncio.ensure_future(upload)
    lags: list[float] = []
    health: list[tuple[float, int]] = []
    before_upload = 0

    async def tick() -> None:
        while not task.done():
            at = loop.time()
            await asyncio.sleep(0.01)
            lags.append(loop.time() - at - 0.01)

    async def probe() -> None:
        nonlocal before_upload
        while not task.done():
            at = time.perf_counter()
            answer = await api.get("/healthz")
            health.append((time.perf_counter() - at, answer.status_code))
            before_upload += not task.done()
            await asyncio.sleep(0.02)

    response, *_ = await asyncio.gather(task, tick(), probe())
    return Watched(
        response=response,
        seconds=time.perf_counter() - started,
        worst_lag=max(lags, default=0.0),
        health=health,
        answered_before_upload=before_upload,
    )


def _assert_responsive(watched: Watched) -> None:
    assert watched.worst_lag < MOST_LAG, watched
    assert watched.answered_before_upload >= 3, watched
    assert all(status == 200 for _, status in watched.health), watched.health
    assert max(seconds for seconds, _ in watched.health) < 2 * MOST_LAG, watched.health


def _assert_over_limit(response: httpx.Response, status: int, limit: str, value: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/import-limit-exceeded")
    assert problem["errors"] == [{"field": "file", "message": f"{limit} is {value}"}]
    assert f"{value:,}" in problem["detail"]


async def test_200k_row_workbook_refused_while_health_answers(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    """A ~160 KB workbook of 200,000 rows: 422 naming the row limit, read in a thread while the
    loop stays on time and /healthz keeps answering."""
    data = await asyncio.to_thread(xlsx_bytes, many_clients(200_000))
    assert len(data) < 250_000

    watched = await _watch(api, _post(api, data, "clients.xlsx", XLSX))

    _assert_over_limit(watched.response, 422, "max_rows", settings.import_max_rows)
    _assert_responsive(watched)


async def test_100k_row_csv_refused_while_health_answers(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    """A 5 MB CSV of 100,000 rows: 422 naming the row limit; the loop stays on time."""
    watched = await _watch(api, _post(api, many_clients_csv(100_000), "clients.csv"))

    _assert_over_limit(watched.response, 422, "max_rows", settings.import_max_rows)
    _assert_responsive(watched)


async def test_file_within_limits_processed_while_health_answers(api: httpx.AsyncClient) -> None:
    """5,000 valid rows are all read and validated (seconds of work) with the loop on time."""
    watched = await _watch(api, _post(api, many_clients_csv(5_000), "clients.csv"))

    assert watched.response.status_code == 200, watched.response.text
    body = watched.response.json()
    assert (body["total"], body["valid"], body["errors"]) == (5_000, 5_000, [])
    _assert_responsive(watched)


async def test_workbook_at_the_row_limit_accepted_one_more_refused(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    """The limit is inclusive: N rows pass, N + 1 are refused naming N."""
    settings.import_max_rows = 50
    exact = await _post(api, xlsx_bytes(many_clients(50)), "clients.xlsx", XLSX)
    assert exact.status_code == 200, exact.text
    assert exact.json()["total"] == 50

    over = await _post(api, xlsx_bytes(many_clients(51)), "clients.xlsx", XLSX)
    _assert_over_limit(over, 422, "max_rows", 50)


async def test_blank_rows_past_the_bound_refused(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    """A sheet of a header and endless empty rows is refused, not read to its end."""
    settings.import_max_rows = 10
    rows = [*list(many_clients(1)), *([[""] * 5] * 200)]
    response = await _post(api, xlsx_bytes(rows), "clients.xlsx", XLSX)
    _assert_over_limit(response, 422, "max_rows", 10)
    assert "blank rows" in response.json()["detail"]


async def test_zip_bomb_refused_before_inflating(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    """A workbook of ~70 KB that inflates past the limit: 413 naming the uncompressed limit."""
    limit = settings.import_max_uncompressed_bytes
    bomb = await asyncio.to_thread(xlsx_bytes, many_clients(3), padding=limit + 1)
    assert len(bomb) < limit // 500

    response = await _post(api, bomb, "clients.xlsx", XLSX)

    _assert_over_limit(response, 413, "max_uncompressed_bytes", limit)


async def test_declared_size_alone_refuses_before_inflating(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    """A small, readable workbook whose directory declares 4 GB for its sheet: refused 413 from
    the declaration. Had it been inflated, it would have read fine or failed its size check."""
    honest = xlsx_bytes(many_clients(3))
    assert (await _post(api, honest, "clients.xlsx", XLSX)).status_code == 200

    lying = declare_size(honest, SHEET_MEMBER, 2**32 - 1)
    response = await _post(api, lying, "clients.xlsx", XLSX)

    _assert_over_limit(
        response, 413, "max_uncompressed_bytes", settings.import_max_uncompressed_bytes
    )


async def test_understated_size_inflates_no_further_than_declared(api: httpx.AsyncClient) -> None:
    """A sheet of 200,000 rows (25 MB inflated) declared as 2,000 bytes: reading stops at the
    declared size, so the file is refused as unreadable, never read to its 200,000 rows."""
    honest = await asyncio.to_thread(xlsx_bytes, many_clients(200_000))
    lying = declare_size(honest, SHEET_MEMBER, 2_000)

    response = await _post(api, lying, "clients.xlsx", XLSX)

    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"].endswith("/invalid-import")
    assert problem["errors"][0]["field"] == "file"
    assert "cannot be read as an Excel workbook" in problem["detail"]


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
async def test_too_many_cells_in_a_row_refused(
    api: httpx.AsyncClient, settings: Settings, kind: str
) -> None:
    """A data row wider than the column limit: 422 naming it; trailing empty cells do not count."""
    settings.import_max_columns = 20
    header, *clients = many_clients(3)
    padded = [header, [*clients[0], *[""] * 50], *clients[1:]]
    wide = [header, clients[0], [*clients[1], *["x"] * 20]]

    def encode(rows: list[list[str]]) -> bytes:
        if kind == "xlsx":
            return xlsx_bytes(rows)
        return "\r\n".join(";".join(row) for row in rows).encode()

    name, content_type = ("clients.xlsx", XLSX) if kind == "xlsx" else ("clients.csv", "text/csv")
    assert (await _post(api, encode(padded), name, content_type)).status_code == 200
    response = await _post(api, encode(wide), name, content_type)
    _assert_over_limit(response, 422, "max_columns", 20)


async def test_row_wider_than_excel_refused_before_parsing(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    """A workbook row of 100,000 empty cells (400 KB of "<c/>", a few KB zipped), which openpyxl
    would build whole in memory: refused from a scan of the raw sheet, naming the column limit."""
    header, client = many_clients(1)
    data = xlsx_bytes([header, client, [*client, *[""] * 100_000]])
    assert len(data) < 20_000

    response = await _post(api, data, "clients.xlsx", XLSX)

    _assert_over_limit(response, 422, "max_columns", settings.import_max_columns)
    assert "16,384" in response.json()["detail"]


async def test_file_over_the_byte_limit_is_413(api: httpx.AsyncClient, settings: Settings) -> None:
    """A file over import_max_bytes: 413 naming the limit, nothing read."""
    settings.import_max_bytes = 10_000
    response = await _post(api, many_clients_csv(500), "clients.csv")
    _assert_over_limit(response, 413, "max_bytes", 10_000)


async def test_parallel_uploads_bounded(
    settings: Settings, pool: Pool, client: Client, tenant: Tenant
) -> None:
    """One reading process and a short wait: of three uploads at once, the ones that find no
    free slot in time get 503 with Retry-After, the others are read in full."""
    one = settings.model_copy(update={"import_max_parallel": 1, "import_wait_seconds": 0.2})
    app = create_app(one, services=Services(settings=one, pool=pool, temporal=client))
    data = many_clients_csv(3_000)

    async with serve(app) as api:
        api.headers.update(tenant.auth)
        responses = await asyncio.gather(*(_post(api, data, "clients.csv") for _ in range(3)))

    statuses = sorted(response.status_code for response in responses)
    assert statuses[0] == 200 and statuses[-1] == 503, statuses
    for response in responses:
        if response.status_code == 200:
            assert response.json()["total"] == 3_000
        else:
            assert response.json()["type"].endswith("/imports-busy")
            assert response.headers["Retry-After"] == "10"
