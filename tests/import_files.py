"""Client lists as firms send them (CSV and xlsx rows, whole workbooks, large and hostile ones):
the one place tests build import files, for the reading tests, the API, the CLI and end to end.
(tests/domain/test_imports.py builds parsed tables, not files, and keeps its own builders.)"""

from __future__ import annotations

import csv
import io
import struct
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from xml.sax.saxutils import escape

import openpyxl

FRENCH_HEADERS = [
    "Prénom",
    "Nom",
    "E-mail",
    "Langue",
    "Société",
    "SIRET",
    "Gestionnaire",
    "Début d'exercice",
    "Fin d'exercice",
    "E-mail dirigeant",
    "Prénom dirigeant",
    "Nom dirigeant",
]
BAD_CHECKSUM = "55203253400647"
BAD_KINDS = ["siret", "email", "language", "fiscal_year_end", "last_name", "duplicate"]


@dataclass(frozen=True)
class ClientList:
    rows: list[list[object]]  # the header first
    # Data index (0 = the first client, on sheet row 2) -> what is wrong with it.
    bad: dict[int, str]

    @property
    def expected_errors(self) -> set[tuple[int, str]]:
        """(sheet row, field) of each bad row: a repeated SIRET is named as a siret error."""
        return {
            (index + 2, "siret" if kind == "duplicate" else kind)
            for index, kind in self.bad.items()
        }

    def valid_sirets(self) -> list[str]:
        return [str(row[5]) for index, row in enumerate(self.rows[1:]) if index not in self.bad]


def client_list(sirets: Sequence[str], *, bad_rows: int = 20) -> ClientList:
    """One client per SIRET, with French headers and the mix firms send (numbers typed as numbers
    or text, dates or none, a director or not, languages spelt many ways), and `bad_rows` rows
    spoilt in as many ways, every 50th from the 26th."""
    bad = {25 + 50 * k: BAD_KINDS[k % len(BAD_KINDS)] for k in range(bad_rows)}
    assert max(bad, default=0) < len(sirets), "too few rows for that many bad ones"
    languages = ["fr", "Français", "NL", "nederlands", "english", "Deutsch"]
    rows: list[list[object]] = [[*FRENCH_HEADERS]]
    written: list[str] = []
    for index, siret in enumerate(sirets):
        with_director = index % 3 == 0
        row: list[object] = [
            "Hélène" if index % 2 else "François",
            f"Lefèvre-{index}",
            f"client{index}@cabinet.example",
            languages[index % len(languages)],
            f"Société n°{index}",
            # Half typed as numbers, as firms do, half as text.
            int(siret) if index % 2 else siret,
            "Julie",
            date(2026, 1, 1) if index % 4 == 0 else None,
            date(2026, 12, 31) if index % 8 == 0 else None,
            f"direction{index}@cabinet.example" if with_director else None,
            "Céline" if with_director else None,
            "Garçon" if with_director else None,
        ]
        match bad.get(index):
            case "siret":
                row[5] = BAD_CHECKSUM
            case "email":
                row[2] = "jean.dupont.example"
            case "language":
                row[3] = "espagnol"
            case "fiscal_year_end":
                row[7], row[8] = date(2026, 1, 1), date(2028, 6, 30)  # 30 months
            case "last_name":
                row[1] = None
            case "duplicate":
                row[5] = written[index - 1]
        written.append(str(row[5]))
        rows.append(row)
    return ClientList(rows=rows, bad=bad)


def write_xlsx(path: Path, rows: list[list[object]]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path.read_bytes()


# --- Large and hostile workbooks, written as bytes ------------------------------------------------
# openpyxl takes minutes to write 200,000 rows; these write the parts of a workbook by hand, as
# Excel does (shared strings, one sheet), in a second or two.

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.sharedStrings+xml"/>'
    "</Types>"
)
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Clients" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/sharedStrings" Target="sharedStrings.xml"/>'
    "</Relationships>"
)
SHEET_MEMBER = "xl/worksheets/sheet1.xml"


def xlsx_bytes(rows: Iterable[Sequence[str]], *, padding: int = 0, dimension: bool = True) -> bytes:
    """A one-sheet workbook of text cells, strings shared as Excel shares them. `padding` bytes of
    blanks inside the sheet make a small file that inflates far (a zip bomb). Excel writes the
    sheet's <dimension>; without one (dimension=False), openpyxl reads the whole sheet once more
    to look for it."""
    strings: dict[str, int] = {}
    sheet = io.StringIO()
    sheet.write(
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    )
    if dimension:
        # The value does not matter to openpyxl's read-only mode (reset_dimensions); its presence
        # spares a pass over the sheet.
        sheet.write('<dimension ref="A1"/>')
    sheet.write("<sheetData>")
    for row in rows:
        # Excel numbers rows; without a number a row is the next one, and rows that repeat
        # compress as Excel's own never could: the point of a hostile file.
        sheet.write("<row>")
        for text in row:
            if text:
                shared = strings.setdefault(text, len(strings))
                # A cell's reference is optional: without one it is the next column.
                sheet.write(f'<c t="s"><v>{shared}</v></c>')
            else:
                sheet.write("<c/>")
        sheet.write("</row>")
    sheet.write(" " * padding)
    sheet.write("</sheetData></worksheet>")
    shared_xml = "".join(
        [
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">',
            *(f"<si><t>{escape(text)}</t></si>" for text in strings),
            "</sst>",
        ]
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _ROOT_RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        archive.writestr("xl/sharedStrings.xml", shared_xml)
        archive.writestr(SHEET_MEMBER, sheet.getvalue())
    return buffer.getvalue()


def declare_size(data: bytes, member: str, size: int) -> bytes:
    """The archive with `member`'s uncompressed size in the central directory replaced by `size`:
    a header that lies, as a hostile file's may."""
    patched = bytearray(data)
    name = member.encode()
    at = patched.find(b"PK\x01\x02")
    found = False
    while at != -1:
        name_length = struct.unpack_from("<H", patched, at + 28)[0]
        if patched[at + 46 : at + 46 + name_length] == name:
            struct.pack_into("<I", patched, at + 24, size)
            found = True
        at = patched.find(b"PK\x01\x02", at + 46)
    assert found, f"{member} not in the archive"
    return bytes(patched)


def many_clients(count: int) -> Iterator[list[str]]:
    """A header and `count` valid clients with the required columns, a hundred people over and over:
    a few hundred kilobytes as a workbook, tens of megabytes once read."""
    yield ["Prénom", "Nom", "E-mail", "Langue", "Gestionnaire"]
    for index in range(count):
        person = index % 100
        yield ["Hélène", f"Lefèvre-{person}", f"client{person}@cabinet.example", "fr", "Julie"]


HEADERS = "Prénom;Nom;Courriel;Langue;Société;SIRET;Gestionnaire"


ROWS = [
    "Hélène;Lefèvre;helene@danone.example;français;Danone;55203253400646;Julie",
    "François;Garçon;francois@edf.example;fr;EDF;55208131766522;Julie",
    "Zoé;Noël;zoe@bad.example;espagnol;Bad;55203253400647;Marc",
    "Loïc;Bréhat;loic@dup.example;fr;Danone bis;55203253400646;Marc",
]


def clients_csv(rows: list[str]) -> bytes:
    # As French Excel exports it: semicolons, Windows-1252, CRLF.
    return "\r\n".join([HEADERS, *rows]).encode("cp1252")


def many_clients_csv(rows: int) -> bytes:
    return "\r\n".join(";".join(row) for row in many_clients(rows)).encode("cp1252")


def french_csv(rows: list[list[object]]) -> bytes:
    """The client list as a French spreadsheet saves it: semicolons, dates as dd/mm/yyyy."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    for row in rows:
        writer.writerow(
            [c.strftime("%d/%m/%Y") if isinstance(c, date) else "" if c is None else c for c in row]
        )
    return buffer.getvalue().encode()


XLSX_HEADERS = ["Prénom", "Nom", "Courriel", "Langue", "Société", "SIRET"]


def clients_xlsx(path: Path, *rows: list[str]) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(XLSX_HEADERS)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path
