"""CSV downloads from the console, safe to open in a spreadsheet.

A cell starting with = + - @ (or a tab or carriage return) is a formula to Excel, LibreOffice
and Google Sheets: a client named `=HYPERLINK(...)` would run as one on the firm's computer
(CSV injection, OWASP). Such cells are prefixed with an apostrophe, which spreadsheets show as
text. Rows are streamed: an export of every client never sits in memory whole.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterable, AsyncIterator, Iterable

from starlette.responses import StreamingResponse

from api.console import SECURITY_HEADERS

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Excel reads a CSV as Windows-1252 unless it starts with a byte-order mark: with it, accents
# ("Hélène") open as typed.
_BOM = "\ufeff"


def safe_cell(value: object) -> str:
    """The cell as text, an apostrophe first when a spreadsheet would read it as a formula."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


def _line(cells: Iterable[object]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow([safe_cell(c) for c in cells])
    return buffer.getvalue()


async def _encoded(rows: AsyncIterable[Iterable[object]]) -> AsyncIterator[bytes]:
    first = True
    async for row in rows:
        yield ((_BOM if first else "") + _line(row)).encode()
        first = False


def csv_response(rows: AsyncIterable[Iterable[object]], *, filename: str) -> StreamingResponse:
    """Stream `rows` (the header first) as a CSV file download named `filename`."""
    return StreamingResponse(
        _encoded(rows),
        media_type="text/csv; charset=utf-8",
        headers={
            **SECURITY_HEADERS,
            "Content-Disposition": f'attachment; filename="{filename}"',
        },
    )
