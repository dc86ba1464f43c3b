"""Reading and validating a firm's client list, from real CSV and XLSX files built in tmp_path."""

from __future__ import annotations

import codecs
import csv
import io
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
from stdnum import luhn
from stdnum.fr import siret as stdnum_siret

from domain.identifiers import validate_be_national_number
from domain.imports import (
    DEFAULT_COLUMNS,
    REQUIRED_FIELDS,
    ImportFileError,
    ImportReport,
    RawRow,
    RowError,
    Table,
    parse_date,
    parse_language,
    read_table,
    resolve_mapping,
    validate_rows,
)
from domain.onboarding import Language
from tests.import_files import BAD_CHECKSUM, FRENCH_HEADERS, client_list, write_xlsx

# Head offices of real public companies (../shared/reference/company-registry.md).
DANONE = "55203253400646"
LA_POSTE = "35600000000048"
DINUM = "13002526500013"
EDF = "55208131766522"


def make_siret(index: int) -> str:
    """A distinct valid SIRET per index: a Luhn-valid SIREN, a NIC, then the SIRET's Luhn digit."""
    siren_body = f"{10_000_000 + index * 7919:08d}"
    siren = siren_body + luhn.calc_check_digit(siren_body)
    body = f"{siren}{index % 10_000:04d}"
    siret = body + luhn.calc_check_digit(body)
    assert stdnum_siret.is_valid(siret)
    return siret


def make_national_number(born: date, serial: int) -> str:
    """A valid Belgian national number (the 2000+ checksum for births from 2000 on)."""
    body = f"{born:%y%m%d}{serial:03d}"
    base = int(body) + (2_000_000_000 if born.year >= 2000 else 0)
    number = f"{body}{97 - base % 97:02d}"
    assert validate_be_national_number(number) == number
    return number


def table_of(headers: list[str], *rows: list[str]) -> Table:
    """A Table as read_table would return it, data rows numbered from 2."""
    return Table(
        headers=headers,
        rows=[
            RawRow(number=number, values=dict(zip(headers, row, strict=True)))
            for number, row in enumerate(rows, start=2)
        ],
    )


def validate(table: Table) -> ImportReport:
    return validate_rows(table, resolve_mapping(table.headers))


def errors_of(report: ImportReport) -> set[tuple[int, str]]:
    return {(error.row, error.field) for error in report.errors}


CLIENT_HEADERS = ["First name", "Last name", "Email", "Language", "SIRET"]


def client_row(siret: str = "", *, language: str = "fr", index: int = 0) -> list[str]:
    return ["Anne", f"Martin{index}", f"anne{index}@martin.example", language, siret]


def test_read_table_xlsx_1000_rows_names_each_bad_row(tmp_path: Path) -> None:
    """A 1,000-row workbook with 20 bad rows: each named by row and field, the 980 others valid."""
    clients = client_list([make_siret(index) for index in range(1000)])
    bad, rows = clients.bad, clients.rows
    data = write_xlsx(tmp_path / "clients.xlsx", rows)
    report = validate(read_table(data, "clients.xlsx"))

    expected = clients.expected_errors
    assert report.total == 1000
    assert errors_of(report) == expected
    assert len(report.errors) == 20  # one error per bad row, nothing else
    assert len(report.valid) == 980
    assert {v.row for v in report.valid} == set(range(2, 1002)) - {row for row, _ in expected}
    for index, kind in bad.items():
        if kind == "duplicate":
            error = next(e for e in report.errors if e.row == index + 2)
            assert error.message == f"repeated: same SIRET as row {index + 1}"
    first = report.valid[0]
    assert first.row == 2
    assert first.siret == make_siret(0)
    assert first.request.client.first_name == "François"
    assert first.request.client.last_name == "Lefèvre-0"
    assert first.request.fiscal_year is not None
    assert first.request.fiscal_year.end == date(2026, 12, 31)
    assert first.request.director is not None
    assert first.request.director.last_name == "Garçon"


def test_read_table_csv_windows_1252_semicolons_keeps_accents(tmp_path: Path) -> None:
    """A French Excel "CSV (;)" export in Windows-1252: accents intact, French headers mapped."""
    text = (
        "Prénom;Nom;Courriel;Langue;Société;SIRET\r\n"
        f"Hélène;Lefèvre;helene@lefevre.example;Français;Façonnage Crème & Cie €;{DANONE}\r\n"
        f"Gaëtan;Mérçier;gaetan@mercier.example;néerlandais;Brasserie de l'Été;{EDF}\r\n"
    )
    path = tmp_path / "clients.csv"
    path.write_bytes(text.encode("cp1252"))
    data = path.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # the file really is not UTF-8

    table = read_table(data, path.name)
    report = validate(table)

    assert table.headers == ["Prénom", "Nom", "Courriel", "Langue", "Société", "SIRET"]
    assert table.rows[0].values["Société"] == "Façonnage Crème & Cie €"
    assert report.errors == []
    helene, gaetan = (valid.request.client for valid in report.valid)
    assert (helene.first_name, helene.last_name, helene.language) == ("Hélène", "Lefèvre", "fr")
    assert (gaetan.first_name, gaetan.last_name, gaetan.language) == ("Gaëtan", "Mérçier", "nl")
    assert gaetan.company_name == "Brasserie de l'Été"


def test_read_table_csv_utf8_bom_commas(tmp_path: Path) -> None:
    """A UTF-8 CSV with a BOM and commas: the BOM is not glued to the first header."""
    text = (
        "First name,Last name,Email,Language,Company,SIRET\n"
        f'Zoë,Brontë,zoe@bronte.example,EN,"Brontë, Sisters & Co",{DINUM}\n'
    )
    path = tmp_path / "clients.csv"
    path.write_bytes(codecs.BOM_UTF8 + text.encode("utf-8"))

    table = read_table(path.read_bytes(), path.name)
    report = validate(table)

    assert table.headers[0] == "First name"
    assert report.errors == []
    client = report.valid[0].request.client
    assert (client.first_name, client.company_name) == ("Zoë", "Brontë, Sisters & Co")
    assert report.valid[0].siret == DINUM


def test_read_table_csv_utf16_tabs(tmp_path: Path) -> None:
    """Excel's "Unicode text" export (UTF-16 with BOM, tab-separated) is read too."""
    text = f"Prénom\tNom\tE-mail\tLangue\tSIRET\r\nÉlise\tNoël\telise@noel.example\tfr\t{EDF}\r\n"
    path = tmp_path / "clients.txt"
    path.write_bytes(text.encode("utf-16"))

    report = validate(read_table(path.read_bytes(), path.name))

    assert report.errors == []
    assert report.valid[0].request.client.last_name == "Noël"


def test_read_table_csv_quoted_delimiter_in_header_does_not_vote() -> None:
    """A quoted header holding a comma does not make ',' the delimiter of a ';' file."""
    data = (
        f'"Nom, prénom";Prénom;Nom;Email;Langue;SIRET\r\nx;Anne;Martin;a@m.example;fr;{DANONE}\r\n'
    )

    table = read_table(data.encode(), "clients.csv")

    assert table.headers == ["Nom, prénom", "Prénom", "Nom", "Email", "Langue", "SIRET"]


def test_read_table_xlsx_number_cells_come_back_as_digits(tmp_path: Path) -> None:
    """SIRETs typed as numbers (int or float) come back as 14 digits; text keeps leading zeros."""
    young = make_national_number(date(2005, 3, 12), 123)
    assert young.startswith("0")
    data = write_xlsx(
        tmp_path / "clients.xlsx",
        [
            [*CLIENT_HEADERS, "Registre national", "Début d'exercice", "Note", "Créé le"],
            [*client_row(index=1)[:4], 55203253400646.0, young, date(2026, 4, 1), 3.5, None],
            [*client_row(index=2)[:4], int(LA_POSTE), None, None, 2, datetime(2026, 1, 2, 9, 30)],
        ],
    )

    table = read_table(data, "clients.xlsx")
    report = validate(table)

    first, second = (row.values for row in table.rows)
    assert first["SIRET"] == DANONE
    assert second["SIRET"] == LA_POSTE
    assert first["Registre national"] == young
    assert first["Début d'exercice"] == "2026-04-01"
    assert (first["Note"], second["Note"]) == ("3.5", "2")
    assert second["Créé le"] == "2026-01-02 09:30:00"
    assert report.errors == []
    assert [valid.siret for valid in report.valid] == [DANONE, LA_POSTE]
    assert report.valid[0].request.client.national_number == young


def test_validate_rows_national_number_lost_zero_gets_a_hint(tmp_path: Path) -> None:
    """A national number typed as a number loses its leading 0: the error says how to fix it."""
    young = make_national_number(date(2005, 3, 12), 123)
    data = write_xlsx(
        tmp_path / "clients.xlsx",
        [[*CLIENT_HEADERS, "National number"], [*client_row(), int(young)]],
    )

    report = validate(read_table(data, "clients.xlsx"))

    (error,) = report.errors
    assert (error.row, error.field) == (2, "national_number")
    assert "must have 11 digits, got 10" in error.message
    assert "leading 0" in error.message
    assert young.lstrip("0") not in error.message  # personal data stays out of reports


def test_validate_rows_siret_with_no_break_spaces_is_accepted() -> None:
    """French Excel's thousands separator (a no-break space) in a SIRET is a separator."""
    report = validate(
        table_of(CLIENT_HEADERS, client_row("55\u00a0203\u202f253\u00a0400\u00a0646"))
    )

    assert report.errors == []
    assert report.valid[0].siret == DANONE


def test_validate_rows_siret_in_scientific_notation_gets_a_hint() -> None:
    """A SIRET exported as 5,52033E+13 is refused with the fix in the message."""
    report = validate(table_of(CLIENT_HEADERS, client_row("5,52033E+13")))

    (error,) = report.errors
    assert error.field == "siret"
    assert "scientific notation" in error.message


def test_resolve_mapping_missing_required_column_names_it() -> None:
    """A required column absent: the error names the field and lists the headers found."""
    with pytest.raises(ImportFileError) as caught:
        resolve_mapping(["Prénom", "Nom", "Courriel", "SIRET"])

    message = str(caught.value)
    assert "missing required column: language" in message
    assert "langue" in message  # what we would have accepted
    assert "'Prénom', 'Nom', 'Courriel', 'SIRET'" in message  # what the file has


def test_resolve_mapping_missing_required_column_from_a_real_file(tmp_path: Path) -> None:
    """A workbook without an e-mail column fails as a whole, before any row."""
    data = write_xlsx(tmp_path / "c.xlsx", [["Prénom", "Nom", "Langue"], ["Anne", "Martin", "fr"]])

    with pytest.raises(ImportFileError, match="missing required column: email"):
        resolve_mapping(read_table(data, "c.xlsx").headers)


def test_resolve_mapping_matches_case_accents_and_spaces() -> None:
    """Headers match whatever their case, accents, spaces and punctuation."""
    headers = ["PRENOM", "nom de famille", "E mail", " LANGUE ", "N° SIRET", "Debut d exercice"]

    mapping = resolve_mapping(headers)

    assert mapping == {
        "first_name": "PRENOM",
        "last_name": "nom de famille",
        "email": "E mail",
        "language": " LANGUE ",
        "siret": "N° SIRET",
        "fiscal_year_start": "Debut d exercice",
    }


def test_resolve_mapping_override_takes_unknown_headers() -> None:
    """Overrides name the columns we cannot recognise; the rest is still found by its header."""
    headers = ["Contact", "Nom", "Mail client", "Langue", "Mail"]

    mapping = resolve_mapping(headers, {"first_name": "contact", "email": "Mail client"})

    assert mapping == {
        "first_name": "Contact",
        "last_name": "Nom",
        "email": "Mail client",  # not "Mail", which the override displaced
        "language": "Langue",
    }


def test_resolve_mapping_override_validates_rows(tmp_path: Path) -> None:
    """A file read with an override validates its rows through the overridden column."""
    path = tmp_path / "clients.csv"
    path.write_text(f"Contact;Nom;Adresse mail;Langue;SIRET\nAnne;Martin;a@m.example;fr;{EDF}\n")
    table = read_table(path.read_bytes(), path.name)

    report = validate_rows(
        table, resolve_mapping(table.headers, {"first_name": "Contact", "email": "Adresse mail"})
    )

    assert report.errors == []
    assert report.valid[0].request.client.email == "a@m.example"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"nickname": "Contact"}, "unknown field 'nickname'"),
        ({"first_name": "Given"}, "column 'Given' given for first_name is not in the file"),
        ({"first_name": "Contact", "last_name": "Contact"}, "given for more than one field"),
    ],
)
def test_resolve_mapping_override_refuses_bad_entries(
    overrides: dict[str, str], message: str
) -> None:
    """An override naming an unknown field, an absent header or a header twice is refused."""
    with pytest.raises(ImportFileError, match=message):
        resolve_mapping(["Contact", "Nom", "Email", "Langue"], overrides)


def test_resolve_mapping_ambiguous_columns_refused() -> None:
    """Two columns that could both be the e-mail: no guess, the caller must choose."""
    with pytest.raises(ImportFileError, match="several columns could be email"):
        resolve_mapping(["Prénom", "Nom", "Email", "Courriel", "Langue"])


def test_default_columns_spellings_belong_to_one_field() -> None:
    """Every accepted spelling maps to its own field, so none is claimed by two fields."""
    placeholders = {field: f"column {n}" for n, field in enumerate(REQUIRED_FIELDS)}
    for field, spellings in DEFAULT_COLUMNS.items():
        for spelling in spellings:
            overrides = {f: header for f, header in placeholders.items() if f != field}
            mapping = resolve_mapping([spelling, *overrides.values()], overrides)
            assert mapping.get(field) == spelling, (field, spelling)


def test_validate_rows_duplicate_siret_within_file() -> None:
    """The same SIRET twice, spelled differently: the later row is refused, naming the first."""
    report = validate(
        table_of(
            CLIENT_HEADERS,
            client_row(DANONE, index=1),
            client_row(EDF, index=2),
            client_row("552 032 534 00646", index=3),
            client_row(DANONE, index=4),
        )
    )

    assert [valid.row for valid in report.valid] == [2, 3]
    assert report.errors == [
        RowError(row=4, field="siret", message="repeated: same SIRET as row 2"),
        RowError(row=5, field="siret", message="repeated: same SIRET as row 2"),
    ]


def test_validate_rows_duplicate_siret_counts_invalid_first_row() -> None:
    """A SIRET repeated from a row that is invalid for another reason is still a repeat."""
    report = validate(
        table_of(CLIENT_HEADERS, client_row(EDF, language="xx"), client_row(EDF, index=2))
    )

    assert errors_of(report) == {(2, "language"), (3, "siret")}
    assert report.valid == []


def test_read_table_row_numbers_count_header_as_row_one(tmp_path: Path) -> None:
    """Row numbers are the file's: header row 1, blank rows skipped but still counted."""
    path = tmp_path / "clients.csv"
    path.write_text(
        "Prénom;Nom;Email;Langue\n"  # row 1
        "Anne;Martin;anne@martin.example;fr\n"  # row 2
        "\n"  # row 3, blank
        ";;;\n"  # row 4, only separators
        'Paul;"Du\nPont";paul@dupont.example;fr\n'  # row 5, one row in Excel over two lines
        "Léa;Roux;lea@roux;fr\n",  # row 6, bad e-mail
        encoding="utf-8",
    )

    table = read_table(path.read_bytes(), path.name)
    report = validate(table)

    assert [row.number for row in table.rows] == [2, 5, 6]
    assert errors_of(report) == {(6, "email")}
    assert report.total == 3


def test_read_table_row_numbers_in_xlsx_keep_blank_rows(tmp_path: Path) -> None:
    """A workbook with blank rows above the header and between clients keeps Excel's numbers."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet["A3"], sheet["B3"], sheet["C3"], sheet["D3"] = "Prénom", "Nom", "Email", "Langue"
    sheet["A4"], sheet["B4"], sheet["C4"], sheet["D4"] = "Anne", "Martin", "a@m.example", "fr"
    sheet["A7"], sheet["B7"], sheet["C7"], sheet["D7"] = "Paul", "", "p@d.example", "fr"
    workbook.save(tmp_path / "clients.xlsx")

    table = read_table((tmp_path / "clients.xlsx").read_bytes(), "clients.xlsx")
    report = validate(table)

    assert [row.number for row in table.rows] == [4, 7]
    assert report.errors == [RowError(row=7, field="last_name", message="required")]


@pytest.mark.parametrize(
    ("fiscal_year", "field", "message"),
    [
        (("2026-01-01", "2028-06-30"), "fiscal_year_end", "at most 24 months"),
        (("2026-01-01", "2025-12-31"), "fiscal_year_end", "must end after it starts"),
        (("", "2026-12-31"), "fiscal_year_start", "required when a fiscal year end is given"),
        (("01/13/2026", ""), "fiscal_year_start", "not a date"),
        (("2026-01-01", "31/02/2026"), "fiscal_year_end", "not a date"),
    ],
)
def test_validate_rows_fiscal_year_errors_name_the_column(
    fiscal_year: tuple[str, str], field: str, message: str
) -> None:
    """A fiscal-year problem is reported on the start or end column that causes it."""
    headers = [*CLIENT_HEADERS, "Fiscal year start", "Fiscal year end"]

    report = validate(table_of(headers, [*client_row(), *fiscal_year]))

    (error,) = report.errors
    assert (error.row, error.field) == (2, field)
    assert message in error.message


def test_validate_rows_fiscal_year_start_alone_defaults_end() -> None:
    """A start without an end gives a fiscal year whose end the request leaves to its default."""
    headers = [*CLIENT_HEADERS, "Début exercice"]

    report = validate(table_of(headers, [*client_row(), "15.03.2026"]))

    fiscal_year = report.valid[0].request.fiscal_year
    assert fiscal_year is not None
    assert fiscal_year.resolve().end == date(2027, 3, 14)


@pytest.mark.parametrize(
    ("director", "errors"),
    [
        (("", "Céline", "Garçon"), {"director_email"}),
        (("celine@garcon.example", "", ""), {"director_first_name", "director_last_name"}),
        (("celine@", "Céline", "Garçon"), {"director_email"}),
    ],
)
def test_validate_rows_director_needs_email_and_names(
    director: tuple[str, str, str], errors: set[str]
) -> None:
    """A director comes with an e-mail and both names, or not at all."""
    headers = [*CLIENT_HEADERS, "Director email", "Director first name", "Director last name"]

    report = validate(table_of(headers, [*client_row(), *director]))

    assert {error.field for error in report.errors} == errors


def test_validate_rows_director_built_when_email_given() -> None:
    """A director e-mail with names makes the request's director; none leaves it to the default."""
    headers = [*CLIENT_HEADERS, "E-mail dirigeant", "Prénom dirigeant", "Nom dirigeant"]

    report = validate(
        table_of(
            headers,
            [*client_row(index=1), "celine@garcon.example", "Céline", "Garçon"],
            [*client_row(index=2), "", "", ""],
        )
    )

    with_director, without = (valid.request for valid in report.valid)
    assert with_director.director is not None
    assert with_director.director.email == "celine@garcon.example"
    assert without.director is None


def test_validate_rows_every_error_of_a_row_reported() -> None:
    """A row with several problems lists each, in column order, naming the rule, not the value."""
    report = validate(
        table_of(CLIENT_HEADERS, ["", "Martin", "not-an-email", "klingon", BAD_CHECKSUM])
    )

    assert [(e.row, e.field) for e in report.errors] == [
        (2, "first_name"),
        (2, "email"),
        (2, "language"),
        (2, "siret"),
    ]
    assert report.errors[3].message == "SIRET checksum is invalid"
    assert all(BAD_CHECKSUM not in error.message for error in report.errors)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("fr", Language.fr),
        ("FR", Language.fr),
        ("Français", Language.fr),
        ("francais", Language.fr),
        ("French", Language.fr),
        ("fr-BE", Language.fr),
        ("nl", Language.nl),
        ("Néerlandais", Language.nl),
        ("Nederlands", Language.nl),
        ("dutch", Language.nl),
        ("nl_BE", Language.nl),
        ("en", Language.en),
        ("Anglais", Language.en),
        ("ENGLISH", Language.en),
        ("de", Language.de),
        ("allemand", Language.de),
        ("Deutsch", Language.de),
        ("german", Language.de),
        ("espagnol", None),
        ("es", None),
        ("", None),
    ],
)
def test_parse_language_names_and_codes(value: str, expected: Language | None) -> None:
    """Codes, names in French, English or the language itself, and regional tags; else None."""
    assert parse_language(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-31", date(2026, 1, 31)),
        ("31/01/2026", date(2026, 1, 31)),
        ("31-01-2026", date(2026, 1, 31)),
        ("31.01.2026", date(2026, 1, 31)),
        ("1/2/2026", date(2026, 2, 1)),
        (" 01/02/2026 ", date(2026, 2, 1)),
        ("31/02/2026", None),
        ("01/02/26", None),
        ("01/02.2026", None),
        ("2026/01/31", None),
        ("46023", None),
        ("", None),
    ],
)
def test_parse_date_formats(value: str, expected: date | None) -> None:
    """ISO and day-first dates with '/', '-' or '.'; impossible or ambiguous ones are None."""
    assert parse_date(value) == expected


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (b"%PDF-1.7 ...", "clients.pdf", "unknown file format"),
        (b"Prenom;Nom\n", "clients", "unknown file format"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 64, "clients.xls", "save it as .xlsx"),
        (b"<html><table>", "clients.xlsx", "is named .xlsx but is not an Excel workbook"),
        (b"PK\x03\x04 not really a zip", "clients.xlsx", "cannot be read as an Excel workbook"),
        (b"", "clients.csv", "is empty"),
        (b"\n;;\n\n", "clients.csv", "no header row"),
    ],
)
def test_read_table_unreadable_file_refused(data: bytes, filename: str, message: str) -> None:
    """Anything but a readable CSV or XLSX is refused with a message saying what to send."""
    with pytest.raises(ImportFileError, match=message):
        read_table(data, filename)


def test_read_table_zip_content_read_as_xlsx_whatever_the_name(tmp_path: Path) -> None:
    """A workbook uploaded under another name is still recognised by its content."""
    data = write_xlsx(tmp_path / "c.xlsx", [["Prénom", "Nom", "Email", "Langue"]])

    assert read_table(data, "export.csv").headers == ["Prénom", "Nom", "Email", "Langue"]


def test_read_table_duplicate_header_refused() -> None:
    """Two columns with the same header cannot be told apart: the file is refused."""
    with pytest.raises(ImportFileError, match="'Email' appears twice on row 1"):
        read_table(b"Prenom;Email;Nom;Email\n", "clients.csv")


def test_read_table_unnamed_columns_ignored() -> None:
    """Cells under no header are dropped, and a row with only those counts as blank."""
    table = read_table(b"Prenom;;Nom;\nAnne;x;Martin;y\n;note;;\n", "clients.csv")

    assert table.headers == ["Prenom", "Nom"]
    assert table.rows == [RawRow(number=2, values={"Prenom": "Anne", "Nom": "Martin"})]


def test_report_to_csv_one_line_per_error() -> None:
    """The error report is CSV with a header, one line per error, commas in messages quoted."""
    report = validate(
        table_of(CLIENT_HEADERS, client_row(language="xx"), client_row(BAD_CHECKSUM, index=2))
    )

    lines = list(csv.reader(io.StringIO(report.to_csv())))

    assert lines[0] == ["row", "field", "message"]
    assert [line[:2] for line in lines[1:]] == [["2", "language"], ["3", "siret"]]
    assert lines[1][2].startswith("unknown language: use fr, nl, en or de")
    assert lines[2][2] == "SIRET checksum is invalid"


def test_validate_rows_5000_full_rows(tmp_path: Path) -> None:
    """5,000 full rows, every column filled, all read and valid (speed lives in make bench)."""
    young = make_national_number(date(1985, 7, 30), 33)
    lines = [";".join([*FRENCH_HEADERS, "Registre national"])]
    lines += [
        f"Hélène;Lefèvre{i};h{i}@cabinet.example;fr;Société {i};{make_siret(i)};Julie;"
        f"01/01/2026;31/12/2026;d{i}@cabinet.example;Céline;Garçon;{young}"
        for i in range(5000)
    ]
    path = tmp_path / "clients.csv"
    path.write_bytes("\r\n".join(lines).encode("cp1252"))
    data = path.read_bytes()

    report = validate(read_table(data, path.name))

    assert (report.total, len(report.valid), report.errors) == (5000, 5000, [])


def test_resolve_mapping_dutch_headers_with_enterprise_number_need_no_mapping() -> None:
    """A Dutch-headed file (Voornaam, Naam, E-mail, Taal, Ondernemingsnummer) maps by itself,
    and its enterprise numbers come out as 10 digits whatever their spelling."""
    headers = ["Voornaam", "Naam", "E-mail", "Taal", "Ondernemingsnummer"]
    table = table_of(
        headers,
        ["Jan", "Peeters", "jan@peeters.be", "nl", "BE0202.239.951"],
        ["An", "Maes", "an@maes.be", "Nederlands", "0214596464"],
        ["Els", "Claes", "els@claes.be", "nl", "417497106"],
    )
    mapping = resolve_mapping(table.headers)
    assert mapping["enterprise_number"] == "Ondernemingsnummer"
    report = validate_rows(table, mapping)
    assert report.errors == []
    assert [v.request.client.enterprise_number for v in report.valid] == [
        "0202239951",
        "0214596464",
        "0417497106",
    ]


@pytest.mark.parametrize(
    "header", ["Numéro d'entreprise", "Enterprise number", "N° BCE", "KBO-nummer"]
)
def test_resolve_mapping_enterprise_number_french_and_english_headers(header: str) -> None:
    """The enterprise number's column is found under its French and English names too."""
    assert (
        resolve_mapping(["Prénom", "Nom", "Courriel", "Langue", header])["enterprise_number"]
        == header
    )


def test_validate_rows_enterprise_number_bad_checksum_and_repeat_named() -> None:
    """A wrong check digit is refused naming the field; a number seen on an earlier row (in
    another spelling) is refused as a repeat of that row."""
    headers = ["Prénom", "Nom", "Courriel", "Langue", "Numéro d'entreprise"]
    report = validate(
        table_of(
            headers,
            ["A", "B", "a@b.be", "fr", "0202.239.952"],
            ["C", "D", "c@d.be", "fr", "0202.239.951"],
            ["E", "F", "e@f.be", "fr", "BE 0202 239 951"],
        )
    )
    assert [v.row for v in report.valid] == [3]
    assert [(e.row, e.field) for e in report.errors] == [
        (2, "enterprise_number"),
        (4, "enterprise_number"),
    ]
    assert "checksum" in report.errors[0].message
    assert report.errors[1].message == "repeated: same enterprise number as row 3"


def test_validate_rows_vat_number_column_compacted_or_refused_by_name() -> None:
    """A "BTW-nummer" / "Numéro de TVA" column gives the VAT number as VIES takes it; a bad one
    is refused naming vat_number."""
    headers = ["Voornaam", "Naam", "E-mail", "Taal", "BTW-nummer"]
    report = validate(
        table_of(
            headers,
            ["Jan", "Peeters", "jan@p.be", "nl", "BE 0202.239.951"],
            ["An", "Maes", "an@m.be", "nl", "FR40303265046"],
        )
    )
    assert [v.request.client.vat_number for v in report.valid] == ["BE0202239951"]
    assert [(e.row, e.field) for e in report.errors] == [(3, "vat_number")]
    assert (
        resolve_mapping(["Prénom", "Nom", "Courriel", "Langue", "Numéro de TVA"])["vat_number"]
        == "Numéro de TVA"
    )


# Every column the importer knows, headed as a Dutch-speaking (Flemish) and a German-speaking
# firm's export heads it; the test below checks that each list names every field.
DUTCH_HEADERS = {
    "first_name": "Voornaam",
    "last_name": "Achternaam",
    "email": "E-mailadres",
    "language": "Taal",
    "company_name": "Bedrijfsnaam",
    "siret": "SIRET-nummer",
    "enterprise_number": "Ondernemingsnummer",
    "vat_number": "BTW-nummer",
    "address": "Adres",
    "case_manager": "Dossierbeheerder",
    "national_number": "Rijksregisternummer",
    "partner_national_number": "Rijksregisternummer partner",
    "fiscal_year_start": "Begin boekjaar",
    "fiscal_year_end": "Einde boekjaar",
    "director_email": "E-mail zaakvoerder",
    "director_first_name": "Voornaam zaakvoerder",
    "director_last_name": "Achternaam zaakvoerder",
}
GERMAN_HEADERS = {
    "first_name": "Vorname",
    "last_name": "Nachname",
    "email": "E-Mail-Adresse",
    "language": "Sprache",
    "company_name": "Firmenname",
    "siret": "SIRET-Nummer",
    "enterprise_number": "Unternehmensnummer",
    "vat_number": "USt-IdNr.",
    "address": "Anschrift",
    "case_manager": "Sachbearbeiter",
    "national_number": "Nationalregisternummer",
    "partner_national_number": "Nationalregisternummer des Partners",
    "fiscal_year_start": "Beginn des Geschäftsjahres",
    "fiscal_year_end": "Ende des Geschäftsjahres",
    "director_email": "E-Mail Geschäftsführer",
    "director_first_name": "Vorname Geschäftsführer",
    "director_last_name": "Nachname Geschäftsführer",
}


@pytest.mark.parametrize("headers", [DUTCH_HEADERS, GERMAN_HEADERS], ids=["nl", "de"])
def test_resolve_mapping_dutch_and_german_headers_name_every_field(
    headers: dict[str, str],
) -> None:
    """A file headed in Dutch or German, every column the importer knows, maps each to its field
    without a manual mapping."""
    assert set(headers) == set(DEFAULT_COLUMNS)
    assert resolve_mapping(list(headers.values())) == headers


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("Firma", "company_name"),
        ("Unternehmen", "company_name"),
        ("Onderneming", "company_name"),
        ("Familienname", "last_name"),
        ("Mehrwertsteuernummer", "vat_number"),
        ("MwSt-Nummer", "vat_number"),
        ("ZDU-Nummer", "enterprise_number"),
        ("Geschäftsjahresbeginn", "fiscal_year_start"),
        ("Geschaeftsjahresende", "fiscal_year_end"),
        ("Betreuer", "case_manager"),
        ("Verantwoordelijke", "case_manager"),
        ("Naam zaakvoerder", "director_last_name"),
    ],
)
def test_resolve_mapping_other_dutch_and_german_spellings(header: str, field: str) -> None:
    """The other usual spellings of a column in Dutch or German (umlauts typed or not) are found
    too."""
    base = {"first_name": "Vorname", "last_name": "Nachname", "email": "E-Mail", "language": "Taal"}
    headers = [h for f, h in base.items() if f != field]
    assert resolve_mapping([*headers, header])[field] == header


def test_dutch_and_german_files_validate_like_french_ones(tmp_path: Path) -> None:
    """A Dutch CSV (semicolons, Windows-1252) and a German .xlsx, every column filled, are read,
    mapped and validated with no error and the values in their fields."""
    nl_values = [
        "Jan", "Peeters", "jan@peeters.example", "Nederlands", "Peeters BV", "",
        "0202.239.951", "BE 0202.239.951", "Kerkstraat 1, 2000 Antwerpen", "Julie",
        make_national_number(date(1985, 7, 30), 33), "", "01/01/2026", "31/12/2026",
        "an@peeters.example", "An", "Maes",
    ]  # fmt: skip
    de_values: list[object] = [
        "Jürgen", "Müller", "juergen@mueller.example", "Deutsch", "Müller GmbH", DANONE, "",
        "", "Hauptstraße 3, 4700 Eupen", "Marc", "", "", "01.04.2026", "", "", "", "",
    ]  # fmt: skip
    csv_path = tmp_path / "klanten.csv"
    csv_path.write_bytes(
        "\r\n".join([";".join(DUTCH_HEADERS.values()), ";".join(nl_values)]).encode("cp1252")
    )
    german: list[object] = [*GERMAN_HEADERS.values()]
    xlsx = write_xlsx(tmp_path / "kunden.xlsx", [german, de_values])

    nl = validate(read_table(csv_path.read_bytes(), csv_path.name))
    de = validate(read_table(xlsx, "kunden.xlsx"))

    assert (nl.errors, de.errors) == ([], [])
    nl_request = nl.valid[0].request
    assert (nl_request.client.first_name, nl_request.client.language) == ("Jan", Language.nl)
    assert nl_request.client.enterprise_number == "0202239951"
    assert nl_request.client.case_manager == "Julie"
    assert nl_request.director is not None and nl_request.director.last_name == "Maes"
    de_request = de.valid[0].request
    assert (de_request.client.last_name, de_request.client.language) == ("Müller", Language.de)
    assert de_request.client.siret == DANONE
    assert de_request.fiscal_year is not None
    assert de_request.fiscal_year.start == date(2026, 4, 1)
