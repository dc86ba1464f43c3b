"""Bulk onboarding, first part: read a firm's client list (CSV or Excel) and validate every row.

    table = read_table(data, "clients.xlsx")   # bytes -> headers and rows, as the file has them
    mapping = resolve_mapping(table.headers)   # our field -> the file's header
    report = validate_rows(table, mapping)     # one OnboardingCreate per valid row

Pure: bytes in, models out, no I/O beyond parsing the bytes given, so the API and a workflow
activity can both call it. Every row goes through `OnboardingCreate`, so an imported client meets
exactly the rules of one sent to POST /v1/onboardings (SIRET checksum, Belgian national number,
e-mail, fiscal-year length...).

Every file is read within ImportLimits (bytes, uncompressed bytes for a workbook, rows, cells per
row), checked as the file is read, so a hostile file costs at most what the limits allow: a
workbook's declared sizes are checked before anything is inflated, and rows are read one at a
time and reading stops at the first row past a limit. The work is CPU-bound and synchronous: the
API runs it in a worker thread, never on its event loop.

Row numbers are the ones a person sees when opening the file in Excel: the header is row 1 (or the
row it is really on, if blank rows precede it), the first data row is row 2, and blank rows are
skipped without renumbering the rows after them.

Messages name the rule broken and the messages written here never repeat a cell's value: a
national number is personal data, and these reports end up in logs and in files sent back to the
firm. (The e-mail validator's own messages may quote a domain or a character.)
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
import zipfile
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import PurePath
from typing import Any, Final
from uuid import UUID

from pydantic import BaseModel, ConfigDict, ValidationError

from domain.identifiers import (
    InvalidIdentifier,
    validate_be_enterprise_number,
    validate_siret,
)
from domain.onboarding import InvitationIn, Language, OnboardingCreate
from domain.setup import InvitationMode

__all__ = [
    "DEFAULT_COLUMNS",
    "REQUIRED_FIELDS",
    "ImportFileError",
    "ImportLimitExceeded",
    "ImportLimits",
    "ImportMappingError",
    "ImportRead",
    "ImportReport",
    "ImportUpload",
    "RawRow",
    "RowError",
    "Table",
    "ValidRow",
    "parse_date",
    "parse_language",
    "prepare_import",
    "read_table",
    "resolve_mapping",
    "validate_rows",
]


class ImportFileError(ValueError):
    """The file as a whole cannot be imported: unreadable, unknown format, a required column
    missing. The message is meant for the person who sent the file."""


class ImportMappingError(ImportFileError):
    """The file's headers do not give the required columns, or the column mapping is wrong."""


class ImportLimitExceeded(ImportFileError):
    """The file is over one of the ImportLimits; `limit` names it (a field of ImportLimits) and
    `value` is the limit's value, both said in the message too."""

    def __init__(self, message: str, *, limit: str, value: int) -> None:
        super().__init__(message)
        self.limit = limit
        self.value = value

    def __reduce__(self) -> tuple[Any, ...]:
        # Raised in a worker process, unpickled in the API's: keyword-only arguments need this.
        return (_limit_exceeded, (str(self), self.limit, self.value))


def _limit_exceeded(message: str, limit: str, value: int) -> ImportLimitExceeded:
    return ImportLimitExceeded(message, limit=limit, value=value)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ImportLimits(_Frozen):
    """The most one import file may hold; the API takes them from settings (ONBOARDING_IMPORT_*)."""

    max_bytes: int = 10 * 1024 * 1024
    # Inflated size of all a workbook's parts, as the archive declares them. A 20,000-row
    # workbook of 15 columns is 15 to 25 MB inflated; a zip bomb is thousands of times that.
    max_uncompressed_bytes: int = 64 * 1024 * 1024
    # Non-blank data rows. Blank rows are bounded too, at _BLANK_ROWS_PER_ROW times this: each
    # costs a little to read, and an .xlsx row numbered 1,000,000,000 stands for as many blank
    # ones.
    max_rows: int = 20_000
    # Cells up to the last non-empty one in any row, the header included.
    max_columns: int = 200


class RawRow(_Frozen):
    """One non-blank data row: its number in the file and its cells by header (stripped text)."""

    number: int
    values: dict[str, str]


class Table(_Frozen):
    """A file's named columns, in file order, and its non-blank data rows."""

    headers: list[str]
    rows: list[RawRow]


class RowError(_Frozen):
    """One problem on one row; `field` is our field name (a key of DEFAULT_COLUMNS)."""

    row: int
    field: str
    message: str


class ValidRow(_Frozen):
    row: int
    request: OnboardingCreate
    siret: str | None  # compact, as validated; the key for matching existing clients later


class ImportReport(BaseModel):
    total: int  # non-blank data rows read
    valid: list[ValidRow]
    errors: list[RowError]  # by row, then in column order

    def to_csv(self) -> str:
        """The errors as CSV (row, field, message), one line per error, for the firm to fix."""
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["row", "field", "message"])
        writer.writerows((error.row, error.field, error.message) for error in self.errors)
        return buffer.getvalue()


# --- Columns --------------------------------------------------------------------------------------

# Our field -> the header spellings accepted for it, in French, English, Dutch and German (the
# languages of the firms' clients, as domain.onboarding.Language). Headers are compared after
# _normalize (case, accents, spaces and punctuation ignored), so "E-mail", "EMAIL" and "e mail"
# are one spelling, and so are "Début d'exercice" and "debut d exercice"; a German umlaut may
# also be typed as "ae", "oe", "ue" (see _ALIASES). Each spelling belongs to one field only.
DEFAULT_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "first_name": ("prénom", "first name", "firstname", "given name", "voornaam", "vorname"),
    "last_name": (
        "nom",
        "nom de famille",
        "last name",
        "surname",
        "family name",
        "naam",
        "achternaam",
        "familienaam",
        "nachname",
        "familienname",
        "zuname",
    ),
    "email": (
        "e-mail",
        "email",
        "courriel",
        "adresse e-mail",
        "adresse courriel",
        "mail",
        "email address",
        "e-mailadres",
        "mailadres",
        "e-mail-adresse",
    ),
    "language": ("langue", "language", "taal", "sprache", "correspondentietaal"),
    "company_name": (
        "entreprise",
        "société",
        "raison sociale",
        "dénomination",
        "nom de l'entreprise",
        "company",
        "company name",
        "bedrijfsnaam",
        "naam onderneming",
        "benaming",
        "bedrijf",
        "onderneming",
        "firmanaam",
        "firma",
        "firmenname",
        "unternehmen",
        "unternehmensname",
    ),
    "siret": ("siret", "n° siret", "no siret", "numéro siret", "siret number", "siret-nummer"),
    "enterprise_number": (
        "ondernemingsnummer",
        "numéro d'entreprise",
        "n° d'entreprise",
        "numéro BCE",
        "n° BCE",
        "KBO-nummer",
        "enterprise number",
        "company number",
        "BCE",
        "KBO",
        "ondernemingsnr",
        "unternehmensnummer",
        # The KBO/BCE's name in German: Zentrale Datenbank der Unternehmen.
        "ZDU-Nummer",
        "ZDU",
    ),
    "vat_number": (
        "numéro de TVA",
        "n° TVA",
        "TVA intracommunautaire",
        "n° TVA intracommunautaire",
        "btw-nummer",
        "BTW",
        "VAT number",
        "VAT",
        "btw-nr",
        "USt-IdNr.",
        "USt-ID",
        "Umsatzsteuer-Identifikationsnummer",
        "MwSt-Nummer",
        "MwSt",
        "Mehrwertsteuernummer",
    ),
    "address": ("adresse", "address", "adres", "anschrift"),
    "case_manager": (
        "gestionnaire",
        "gestionnaire de dossier",
        "responsable",
        "case manager",
        "étiquette",
        "tag",
        "dossierbeheerder",
        "beheerder",
        "verantwoordelijke",
        "sachbearbeiter",
        "betreuer",
        "verantwortlicher",
    ),
    "national_number": (
        "numéro de registre national",
        "n° de registre national",
        "registre national",
        "national number",
        "national register number",
        "rijksregisternummer",
        "rijksregister",
        "nationalregisternummer",
        "nationalregister",
    ),
    "partner_national_number": (
        "numéro de registre national du partenaire",
        "registre national du partenaire",
        "partner national number",
        "rijksregisternummer partner",
        "rijksregisternummer van de partner",
        "nationalregisternummer partner",
        "nationalregisternummer des partners",
    ),
    "fiscal_year_start": (
        "début d'exercice",
        "début exercice",
        "début de l'exercice",
        "fiscal year start",
        "begin boekjaar",
        "start boekjaar",
        "begin van het boekjaar",
        "beginn geschäftsjahr",
        "geschäftsjahresbeginn",
        "beginn des geschäftsjahres",
    ),
    "fiscal_year_end": (
        "fin d'exercice",
        "fin exercice",
        "fin de l'exercice",
        "fiscal year end",
        "einde boekjaar",
        "einde van het boekjaar",
        "ende geschäftsjahr",
        "geschäftsjahresende",
        "ende des geschäftsjahres",
    ),
    # A Belgian firm's director is its "zaakvoerder" (or "bestuurder"), a German one's its
    # "Geschäftsführer".
    "director_email": (
        "e-mail dirigeant",
        "e-mail du dirigeant",
        "courriel dirigeant",
        "director email",
        "e-mail zaakvoerder",
        "e-mail bestuurder",
        "e-mail geschäftsführer",
        "e-mail des geschäftsführers",
    ),
    "director_first_name": (
        "prénom dirigeant",
        "prénom du dirigeant",
        "director first name",
        "voornaam zaakvoerder",
        "voornaam bestuurder",
        "vorname geschäftsführer",
        "vorname des geschäftsführers",
    ),
    "director_last_name": (
        "nom dirigeant",
        "nom du dirigeant",
        "director last name",
        "naam zaakvoerder",
        "achternaam zaakvoerder",
        "naam bestuurder",
        "achternaam bestuurder",
        "nachname geschäftsführer",
        "nachname des geschäftsführers",
    ),
}

REQUIRED_FIELDS: Final = ("first_name", "last_name", "email", "language")

_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


def _normalize(text: str) -> str:
    # NFKD splits "é" into "e" + a combining accent, which the filter then drops with the spaces
    # and punctuation ("n°", "d'", "-"): what is left is what a person reads as the same header.
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return _NOT_ALNUM.sub("", "".join(c for c in decomposed if not unicodedata.combining(c)))


# Without a German keyboard "ä" is typed "ae" ("Geschaeftsfuehrer"); _normalize alone makes it
# "a" ("Geschaftsfuhrer", as typed without the dots). Both are accepted.
_UMLAUTS: Final = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})

_ALIASES: Final[dict[str, frozenset[str]]] = {
    field: frozenset(
        _normalize(typed)
        for spelling in spellings
        for typed in (spelling, spelling.translate(_UMLAUTS))
    )
    for field, spellings in DEFAULT_COLUMNS.items()
}
_FIELD_ORDER: Final = {field: index for index, field in enumerate(DEFAULT_COLUMNS)}


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(repr(name) for name in names) or "none"


def resolve_mapping(
    headers: Sequence[str], overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Our field -> the file's header for it, for every field the file has a column for.

    `overrides` (field -> header) come first, for files whose headers we do not recognise; the
    header may be spelled loosely as the file's headers are matched (case, accents, spaces).
    Raises ImportFileError for a required field without a column, naming it and listing the
    headers found, and for anything ambiguous: two columns that could both be one field, an
    override naming an unknown field or a header not in the file.
    """
    by_key: dict[str, list[str]] = {}
    for header in headers:
        by_key.setdefault(_normalize(header), []).append(header)

    mapping: dict[str, str] = {}
    claimed: set[str] = set()
    for field, wanted in (overrides or {}).items():
        if field not in DEFAULT_COLUMNS:
            raise ImportFileError(
                f"unknown field {field!r} in the column mapping; "
                f"fields: {', '.join(DEFAULT_COLUMNS)}"
            )
        matches = [wanted] if wanted in headers else by_key.get(_normalize(wanted), [])
        if len(matches) != 1:
            raise ImportFileError(
                f"column {wanted!r} given for {field} is not in the file; "
                f"headers found: {_quoted(headers)}"
            )
        if matches[0] in claimed:
            raise ImportFileError(f"column {matches[0]!r} is given for more than one field")
        mapping[field] = matches[0]
        claimed.add(matches[0])

    for field, aliases in _ALIASES.items():
        if field in mapping:
            continue
        candidates = [h for h in headers if h not in claimed and _normalize(h) in aliases]
        if len(candidates) > 1:
            # Guessing would silently import the wrong column (two e-mail columns, say).
            raise ImportFileError(
                f"several columns could be {field}: {_quoted(candidates)}; "
                "say which one with a column mapping"
            )
        if candidates:
            mapping[field] = candidates[0]
            claimed.add(candidates[0])

    missing = [field for field in REQUIRED_FIELDS if field not in mapping]
    if missing:
        details = "; ".join(
            f"{field} (accepted headers: {', '.join(DEFAULT_COLUMNS[field])})" for field in missing
        )
        raise ImportFileError(
            f"missing required column: {details}; headers found: {_quoted(headers)}"
        )
    return dict(sorted(mapping.items(), key=lambda item: _FIELD_ORDER[item[0]]))


# --- Reading --------------------------------------------------------------------------------------

_ZIP_MAGIC: Final = b"PK\x03\x04"
# OLE2 compound file: Excel 97-2003 workbooks, and also password-protected .xlsx files.
_OLE2_MAGIC: Final = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_CSV_SUFFIXES: Final = frozenset({".csv", ".tsv", ".txt"})
_EXCEL_SUFFIXES: Final = frozenset({".xlsx", ".xlsm", ".xls"})
_DELIMITERS: Final = ("\t", ";", ",")  # on a tie, the earlier wins: a tab is never a header's text
_QUOTED: Final = re.compile(r'"[^"]*"')

_Record = tuple[int, list[str]]  # (row number in the file, cells as text)
_Records = Generator[_Record, None, None]
_BLANK_ROWS_PER_ROW: Final = 5
_EXCEL_MAX_COLUMNS: Final = 16_384  # XFD: no row Excel writes has more cells
_SCAN_CHUNK: Final = 1 << 20


def read_table(data: bytes, filename: str, limits: ImportLimits | None = None) -> Table:
    """Read a CSV or XLSX file into its headers and non-blank rows, every cell as stripped text.

    The format comes from the content (an .xlsx is a zip), then from the extension. CSV: UTF-8
    with or without BOM (UTF-16 with BOM too, Excel's "Unicode text"), else Windows-1252; the
    delimiter (';', ',' or tab) is the one the header line uses most. XLSX: the first sheet, cell
    values as text (dates as yyyy-mm-dd, whole numbers without ".0"). The header row is the first
    non-blank row; columns without a header are ignored, and a row with nothing under any named
    column counts as blank. Raises ImportFileError when the file cannot be read as either, and
    ImportLimitExceeded (an ImportFileError) as soon as the file is found over one of `limits`.
    """
    limits = limits or ImportLimits()
    if len(data) > limits.max_bytes:
        raise ImportLimitExceeded(
            f"{filename!r} is over {limits.max_bytes:,} bytes, the most one import takes",
            limit="max_bytes",
            value=limits.max_bytes,
        )
    suffix = PurePath(filename).suffix.lower()
    if not data.strip():
        raise ImportFileError(f"{filename!r} is empty")
    records: _Records
    if data.startswith(_ZIP_MAGIC):
        _check_archive(data, filename, limits)
        records = _xlsx_records(data, filename, limits)
    elif data.startswith(_OLE2_MAGIC):
        raise ImportFileError(
            f"{filename!r} is an Excel 97-2003 (.xls) or password-protected workbook, which cannot "
            "be read: save it as .xlsx without a password, or as CSV"
        )
    elif suffix in _CSV_SUFFIXES:
        records = _csv_records(data, filename)
    elif suffix in _EXCEL_SUFFIXES:
        raise ImportFileError(f"{filename!r} is named {suffix} but is not an Excel workbook")
    else:
        raise ImportFileError(
            f"{filename!r}: unknown file format; "
            "send an Excel workbook (.xlsx) or a CSV file (.csv)"
        )
    # closing: a row past a limit stops the reading, and the workbook is closed at once.
    with closing(records):
        return _table(records, filename, limits)


def _check_archive(data: bytes, filename: str, limits: ImportLimits) -> None:
    """Refuse a workbook whose parts inflate past the limit, from the sizes its central directory
    declares, before anything is inflated. A header that lies cannot get past this either: the
    zipfile module stops inflating a part at its declared size (and then fails its CRC check),
    so the declared sizes bound what is inflated."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            declared = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise ImportFileError(
            f"{filename!r} cannot be read as an Excel workbook (.xlsx): {type(exc).__name__}"
        ) from None
    if declared > limits.max_uncompressed_bytes:
        raise ImportLimitExceeded(
            f"{filename!r} inflates to {declared:,} bytes, over the "
            f"{limits.max_uncompressed_bytes:,} bytes one import takes",
            limit="max_uncompressed_bytes",
            value=limits.max_uncompressed_bytes,
        )


def _width(cells: list[str]) -> int:
    """Cells up to the last non-empty one: trailing empty cells (formatting Excel keeps, or
    trailing separators) are no data."""
    width = len(cells)
    while width and not cells[width - 1]:
        width -= 1
    return width


def _table(records: Iterator[_Record], filename: str, limits: ImportLimits) -> Table:
    def too_wide(number: int) -> ImportLimitExceeded:
        return ImportLimitExceeded(
            f"row {number} of {filename!r} has more than {limits.max_columns:,} cells, "
            "the most one row may have",
            limit="max_columns",
            value=limits.max_columns,
        )

    most_blank = limits.max_rows * _BLANK_ROWS_PER_ROW

    def too_many_blank() -> ImportLimitExceeded:
        return ImportLimitExceeded(
            f"{filename!r} has more than {most_blank:,} blank rows, the most one import reads "
            f"through (five times the limit of {limits.max_rows:,} rows): delete the empty rows",
            limit="max_rows",
            value=limits.max_rows,
        )

    blank = 0
    for number, cells in records:
        if any(cells):
            header_number, header_cells = number, cells
            break
        blank += 1
        if blank > most_blank:
            raise too_many_blank()
    else:
        raise ImportFileError(f"{filename!r} has no header row: it holds no data")
    if len(header_cells) > limits.max_columns and _width(header_cells) > limits.max_columns:
        raise too_wide(header_number)

    columns = [(index, header) for index, header in enumerate(header_cells) if header]
    first_at: dict[str, int] = {}
    for index, header in columns:
        if header in first_at:
            raise ImportFileError(
                f"the header {header!r} appears twice on row {header_number} "
                f"(columns {first_at[header] + 1} and {index + 1}): rename one of them"
            )
        first_at[header] = index

    rows: list[RawRow] = []
    for number, cells in records:
        width = len(cells)
        if width > limits.max_columns and _width(cells) > limits.max_columns:
            raise too_wide(number)
        values = {header: cells[index] if index < width else "" for index, header in columns}
        if any(values.values()):
            if len(rows) == limits.max_rows:
                raise ImportLimitExceeded(
                    f"{filename!r} has more than {limits.max_rows:,} rows of clients, the most "
                    "one import takes: split it into several files",
                    limit="max_rows",
                    value=limits.max_rows,
                )
            rows.append(RawRow(number=number, values=values))
        else:
            blank += 1
            if blank > most_blank:
                raise too_many_blank()
    return Table(headers=[header for _, header in columns], rows=rows)


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise ImportFileError(
                "the file starts as UTF-16 text but is not valid UTF-16"
            ) from None
    try:
        return data.decode("utf-8-sig")  # strips a BOM if there is one
    except UnicodeDecodeError:
        pass
    try:
        # What Excel writes for "CSV (separator: semicolon)" on a French or Belgian Windows.
        return data.decode("cp1252")
    except UnicodeDecodeError:
        raise ImportFileError(
            "the file is neither UTF-8 nor Windows-1252 text: export it again as CSV UTF-8"
        ) from None


def _delimiter(text: str) -> str:
    header = next((line for line in text.splitlines() if line.strip()), "")
    unquoted = _QUOTED.sub("", header)  # a quoted "Nom, prénom" does not vote for ','
    counts = {delimiter: unquoted.count(delimiter) for delimiter in _DELIMITERS}
    best = max(_DELIMITERS, key=counts.__getitem__)
    return best if counts[best] else ","


def _csv_records(data: bytes, filename: str) -> _Records:
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    number = 0
    try:
        # A record is a row as Excel shows it, even when a quoted cell spans several lines.
        for number, record in enumerate(reader, start=1):
            yield number, [cell.strip() for cell in record]
    except csv.Error as exc:
        raise ImportFileError(f"{filename!r}: unreadable CSV after row {number}: {exc}") from None


def _cells_in(xml: bytes) -> int:
    # A cell is <c>, <c/> or <c attributes...>; <col>, <cfRule> and the rest are not cells.
    return xml.count(b"<c ") + xml.count(b"<c>") + xml.count(b"<c/")


def _check_row_widths(data: bytes, sheet_path: str, filename: str, limits: ImportLimits) -> None:
    """Refuse a sheet with a row of more cells than Excel allows before openpyxl parses it:
    openpyxl builds a whole row in memory, and one row of millions of "<c/>" fits in a small file.

    Counts the cell tags between row tags in the raw XML, a chunk at a time, with bytes methods
    (a 25 MB sheet in a tenth of a second). Empty cells count here (they cost as much to build),
    so the bound is Excel's own, never lower than the limit; the limit itself is checked as rows
    are read, on the cells up to the last non-empty one. A cell spelled otherwise (a namespace
    prefix) is not counted: this may miss a wide row, never refuses a narrow one."""
    bound = max(limits.max_columns, _EXCEL_MAX_COLUMNS)
    widest = 0
    row = 0
    carry = b""
    with zipfile.ZipFile(io.BytesIO(data)) as archive, archive.open(sheet_path) as sheet:
        while chunk := sheet.read(_SCAN_CHUNK):
            buffer = carry + chunk
            # Every tag counted starts with "<" and is at most 4 bytes long: keep a "<" among the
            # last 4 bytes for the next chunk, so that no tag is cut in two.
            cut = buffer.rfind(b"<", max(0, len(buffer) - 4))
            cut = len(buffer) if cut == -1 else cut
            parts = buffer[:cut].split(b"<row")
            carry = buffer[cut:]
            row += _cells_in(parts[0])
            widest = max(widest, row)
            for part in parts[1:]:
                row = _cells_in(part)
                widest = max(widest, row)
            if widest > bound:
                break
    widest = max(widest, row + _cells_in(carry))
    if widest > bound:
        raise ImportLimitExceeded(
            f"a row of {filename!r} has more than {bound:,} cells, more than Excel writes "
            f"(and the most one row may have is {limits.max_columns:,})",
            limit="max_columns",
            value=limits.max_columns,
        )


def _xlsx_records(data: bytes, filename: str, limits: ImportLimits) -> _Records:
    # Imported here: openpyxl takes 0.18 s to import, and every process reading settings (the
    # CLI's each command, the worker, the API) imported it through core.settings for nothing.
    import openpyxl

    # openpyxl raises many kinds of exceptions on a damaged or foreign zip (an .ods, a .docx):
    # for an uploaded file, any of them means "not a workbook we can read".
    try:
        # data_only: a formula cell gives the value Excel last computed, not "=A2&B2".
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:
        raise ImportFileError(
            f"{filename!r} cannot be read as an Excel workbook (.xlsx): {type(exc).__name__}"
        ) from None
    try:
        if not workbook.worksheets:
            raise ImportFileError(f"{filename!r} has no worksheet")
        sheet = workbook.worksheets[0]
        # The sheet's part in the archive: a private attribute of openpyxl's read-only sheet,
        # stable since openpyxl 2.4 (pinned in uv.lock).
        sheet_path = getattr(sheet, "_worksheet_path", None)
        if isinstance(sheet_path, str):
            _check_row_widths(data, sheet_path, filename, limits)
        # Some tools write a wrong <dimension> (just "A1"); trusting it would drop every row.
        sheet.reset_dimensions()
        # One row at a time, as openpyxl's read-only mode parses the sheet: the caller stops at
        # the first row past a limit, and no more of the sheet is inflated or parsed.
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, [_cell_text(value) for value in values]
    except ImportFileError:
        raise
    except Exception as exc:
        raise ImportFileError(
            f"{filename!r} cannot be read as an Excel workbook (.xlsx): {type(exc).__name__}"
        ) from None
    finally:
        workbook.close()


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):  # before int: a bool is an int
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # Excel stores every number as a double: a SIRET typed as a number comes back as
        # 55203253400646.0, and is exact (14 digits are far below 2**53).
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value).strip()


# --- Cell values ----------------------------------------------------------------------------------

_LANGUAGES: Final[dict[str, Language]] = {
    _normalize(name): language
    for language, names in {
        Language.fr: ("fr", "français", "french"),
        Language.nl: ("nl", "néerlandais", "nederlands", "dutch"),
        Language.en: ("en", "anglais", "english"),
        Language.de: ("de", "allemand", "deutsch", "german"),
    }.items()
    for name in names
}
_REGIONAL_TAG: Final = re.compile(r"([a-z]{2})[-_][a-z]{2}")


def parse_language(value: str) -> Language | None:
    """fr/nl/en/de, their names in French, English or their own language, or a regional tag
    ("fr-BE", "nl_BE"); case and accents ignored. None when it is none of these."""
    text = value.strip().lower()
    if regional := _REGIONAL_TAG.fullmatch(text):
        text = regional.group(1)
    return _LANGUAGES.get(_normalize(text))


_ISO_DATE: Final = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
# Day first, as written in France and Belgium; the same separator twice ("01/02.2026" is a typo).
_DAY_FIRST_DATE: Final = re.compile(r"(\d{1,2})([/.-])(\d{1,2})\2(\d{4})")


def parse_date(value: str) -> date | None:
    """yyyy-mm-dd, dd/mm/yyyy, dd-mm-yyyy or dd.mm.yyyy; None when not a real date."""
    text = value.strip()
    try:
        if match := _ISO_DATE.fullmatch(text):
            return date(int(match[1]), int(match[2]), int(match[3]))
        if match := _DAY_FIRST_DATE.fullmatch(text):
            return date(int(match[4]), int(match[3]), int(match[1]))
    except ValueError:  # 31/02/2026
        return None
    return None


# --- Validation -----------------------------------------------------------------------------------

_CLIENT_FIELDS: Final = (
    "first_name",
    "last_name",
    "email",
    "company_name",
    "address",
    "siret",
    "enterprise_number",
    "vat_number",
    "case_manager",
    "national_number",
    "partner_national_number",
)
_IDENTIFIER_FIELDS: Final = frozenset(
    {"siret", "enterprise_number", "vat_number", "national_number", "partner_national_number"}
)
_NATIONAL_NUMBER_FIELDS: Final = frozenset({"national_number", "partner_national_number"})
# French Excel formats numbers with a (narrow) no-break space between thousands, and an exported
# CSV keeps it: "55 203 253 400 646". The identifier rules accept ordinary spaces only.
_NO_BREAK_SPACES: Final = str.maketrans({"\u00a0": " ", "\u202f": " "})
_SCIENTIFIC: Final = re.compile(r"\d+(?:[.,]\d+)?[eE]\+?\d+")
_DATE_FORMATS: Final = "yyyy-mm-dd, dd/mm/yyyy, dd-mm-yyyy or dd.mm.yyyy"


def validate_rows(table: Table, mapping: Mapping[str, str]) -> ImportReport:
    """Validate every row as an OnboardingCreate; collect each row's errors, field by field.

    A row builds the client from its columns, a fiscal year when a start is given and a director
    when a director e-mail is given. A SIRET already seen on an earlier row makes the later row
    invalid ("repeated: same SIRET as row N"), whatever else is wrong with either row, so the
    message stays true after the firm fixes the other errors.
    """
    for field, header in mapping.items():
        if field not in DEFAULT_COLUMNS:
            raise ImportFileError(f"unknown field {field!r} in the column mapping")
        if header not in table.headers:
            raise ImportFileError(f"column {header!r} mapped to {field} is not in the file")

    valid: list[ValidRow] = []
    errors: list[RowError] = []
    first_row_of: dict[str, int] = {}
    for raw in table.rows:
        cells = {field: raw.values.get(header, "").strip() for field, header in mapping.items()}
        request, problems = _validate_row(cells)
        # A SIRET check is a good share of a row's cost: reuse the one the request made.
        siret = request.client.siret if request else _valid_siret(cells.get("siret", ""))
        if siret is not None:
            first = first_row_of.setdefault(siret, raw.number)
            if first != raw.number:
                problems.setdefault("siret", f"repeated: same SIRET as row {first}")
        number = (
            request.client.enterprise_number
            if request
            else _valid_enterprise_number(cells.get("enterprise_number", ""))
        )
        if number is not None:
            # "BE" keeps the two registers' keys apart in one dictionary.
            first = first_row_of.setdefault(f"BE{number}", raw.number)
            if first != raw.number:
                problems.setdefault(
                    "enterprise_number", f"repeated: same enterprise number as row {first}"
                )
        if request is not None and not problems:
            valid.append(ValidRow(row=raw.number, request=request, siret=siret))
        else:
            errors.extend(
                RowError(row=raw.number, field=field, message=message)
                for field, message in sorted(
                    problems.items(), key=lambda item: _FIELD_ORDER.get(item[0], len(_FIELD_ORDER))
                )
            )
    return ImportReport(total=len(table.rows), valid=valid, errors=errors)


def _valid_siret(text: str) -> str | None:
    if not text:
        return None
    try:
        return validate_siret(text.translate(_NO_BREAK_SPACES))
    except InvalidIdentifier:
        return None


def _valid_enterprise_number(text: str) -> str | None:
    if not text:
        return None
    try:
        return validate_be_enterprise_number(text.translate(_NO_BREAK_SPACES))
    except InvalidIdentifier:
        return None


def _validate_row(cells: Mapping[str, str]) -> tuple[OnboardingCreate | None, dict[str, str]]:
    # field -> message, the first problem found per field: one cell, one message to act on.
    problems: dict[str, str] = {}

    client: dict[str, Any] = {}
    for field in _CLIENT_FIELDS:
        if text := cells.get(field, ""):
            client[field] = (
                text.translate(_NO_BREAK_SPACES) if field in _IDENTIFIER_FIELDS else text
            )
    if text := cells.get("language", ""):
        if (language := parse_language(text)) is not None:
            client["language"] = language
        else:
            problems["language"] = (
                "unknown language: use fr, nl, en or de, or the language's name "
                "(français, nederlands, english, deutsch...)"
            )
    payload: dict[str, Any] = {"client": client}

    start_text, end_text = cells.get("fiscal_year_start", ""), cells.get("fiscal_year_end", "")
    start = parse_date(start_text) if start_text else None
    end = parse_date(end_text) if end_text else None
    if start_text and start is None:
        problems["fiscal_year_start"] = f"not a date: use {_DATE_FORMATS}"
    if end_text and end is None:
        problems["fiscal_year_end"] = f"not a date: use {_DATE_FORMATS}"
    if end_text and not start_text:
        problems["fiscal_year_start"] = "required when a fiscal year end is given"
    if start is not None:
        payload["fiscal_year"] = {"start": start, "end": end}

    director = {
        key: text
        for key in ("email", "first_name", "last_name")
        if (text := cells.get(f"director_{key}", ""))
    }
    if "email" in director:
        payload["director"] = director
    elif director:
        problems["director_email"] = "required when a director's name is given"

    try:
        request = OnboardingCreate.model_validate(payload)
    except ValidationError as exc:
        for error in exc.errors(include_url=False, include_input=False):
            field = _field_of(error["loc"], end_given=bool(end_text))
            message = "required" if error["type"] == "missing" else error["msg"]
            message = message.removeprefix("Value error, ")
            problems.setdefault(field, message + _hint(field, cells.get(field, "")))
        return None, problems
    return request, problems


def _field_of(loc: tuple[int | str, ...], *, end_given: bool) -> str:
    """Our field name for a pydantic error location in OnboardingCreate."""
    match loc:
        case ("client", str(name), *_):
            return name
        case ("fiscal_year", "start", *_):
            return "fiscal_year_start"
        case ("fiscal_year", "end", *_):
            return "fiscal_year_end"
        case ("fiscal_year", *_):
            # A rule on the whole year (length, order) is broken by the end the file gives; with
            # no end given, the default one follows from the start.
            return "fiscal_year_end" if end_given else "fiscal_year_start"
        case ("director", "email" | "first_name" | "last_name" as name, *_):
            return f"director_{name}"
        case _:
            return ".".join(str(part) for part in loc) or "row"


def _hint(field: str, text: str) -> str:
    # The two ways Excel mangles a long number typed in a number-formatted column; the fix is the
    # same, and the firm will not guess it from "must have 11 digits".
    if field not in _IDENTIFIER_FIELDS:
        return ""
    if _SCIENTIFIC.fullmatch(text):
        return " (Excel wrote the number in scientific notation: format the column as text)"
    if field in _NATIONAL_NUMBER_FIELDS and text.isascii() and text.isdigit() and len(text) == 10:
        return " (a leading 0 may have been lost: format the column as text)"
    return ""


# --- One upload, start to end, in a worker process ----------------------------------------------

StoredRow = tuple[int, str | None, dict[str, Any] | None, list[dict[str, Any]]]


@dataclass(frozen=True)
class ImportUpload:
    """An uploaded file and the options it came with, as sent to a worker process."""

    data: bytes
    filename: str
    overrides: dict[str, str] | None
    options: str  # the options as hashed with the file for idempotency
    template_id: UUID | None
    invitation_mode: InvitationMode | None


@dataclass(frozen=True)
class ImportRead:
    """What the API needs back from a read upload: small enough to cross a process boundary
    (no model per row), and the rows to store only when it stores them."""

    total: int
    valid: int
    errors: list[RowError]
    digest: str  # of the file and its options
    rows: list[StoredRow] | None  # as the import table keeps them, sorted by row


def prepare_import(upload: ImportUpload, limits: ImportLimits, *, with_rows: bool) -> ImportRead:
    """Read, map and validate an upload, and hash it; with_rows: also build the rows to store.

    Raises ImportLimitExceeded, ImportMappingError (headers or mapping), or ImportFileError (the
    file itself). Meant to run in a worker process: everything here is CPU-bound, and the
    garbage collections a 20,000-row file triggers (up to 0.5 s each, measured, holding the GIL)
    would stall any thread of the API's process, its event loop included.
    """
    table = read_table(upload.data, upload.filename, limits)
    try:
        columns = resolve_mapping(table.headers, upload.overrides)
    except ImportFileError as exc:
        raise ImportMappingError(str(exc)) from None
    report = validate_rows(table, columns)
    del table
    digest = hashlib.sha256(upload.data + upload.options.encode()).hexdigest()
    rows = _stored_rows(upload, report) if with_rows else None
    return ImportRead(
        total=report.total,
        valid=len(report.valid),
        errors=report.errors,
        digest=digest,
        rows=rows,
    )


def _stored_rows(upload: ImportUpload, report: ImportReport) -> list[StoredRow]:
    errors_by_row: dict[int, list[dict[str, Any]]] = {}
    for error in report.errors:
        errors_by_row.setdefault(error.row, []).append(error.model_dump())
    invitation = InvitationIn(mode=upload.invitation_mode) if upload.invitation_mode else None
    rows: list[StoredRow] = [
        (
            valid.row,
            valid.siret,
            valid.request.model_copy(
                update={
                    "template_id": upload.template_id,
                    "invitation": invitation or valid.request.invitation,
                }
            ).model_dump(mode="json"),
            [],
        )
        for valid in report.valid
    ]
    rows += [(row, None, None, errs) for row, errs in errors_by_row.items()]
    return sorted(rows)
