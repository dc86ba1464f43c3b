"""Client-list workbooks as firms send them, for the reading tests and the end-to-end import."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

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
