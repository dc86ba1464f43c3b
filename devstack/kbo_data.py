"""KBO/BCE Open Data sets in the register's real CSV format, for `make dev`, tests and benches.

    write_full_set(directory, synthetic=3000)        # meta, enterprise, denomination, address,
                                                     # activity and code files, real ones included
    write_update_set(directory, extract_number=...)  # *_delete.csv and *_insert.csv files

The files are shaped as the register publishes them (Cookbook KBO Open Data): every field
quoted, comma-separated, a header row, enterprise numbers with dots ("0202.239.951"), dates
dd-mm-yyyy, denomination languages 0 unknown, 1 FR, 2 NL, 3 DE, 4 EN, type of denomination 001
(name), 002 (abbreviation), 003 (commercial name), registered offices as TypeOfAddress REGO.

Besides the synthetic enterprises (numbers starting 07, a range no real enterprise used in the
set has) the set holds seven real public companies with their names and head offices. Pure and
deterministic but for the files it writes, a row at a time: memory stays flat for millions.
"""

from __future__ import annotations

import csv
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final, TextIO

ENTERPRISE_HEADER: Final = (
    "EnterpriseNumber",
    "Status",
    "JuridicalSituation",
    "TypeOfEnterprise",
    "JuridicalForm",
    "JuridicalFormCAC",
    "StartDate",
)
DENOMINATION_HEADER: Final = ("EntityNumber", "Language", "TypeOfDenomination", "Denomination")
ADDRESS_HEADER: Final = (
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
)
ACTIVITY_HEADER: Final = (
    "EntityNumber",
    "ActivityGroup",
    "NaceVersion",
    "NaceCode",
    "Classification",
)


@dataclass(frozen=True)
class RealCompany:
    number: str  # dotted
    names: tuple[tuple[str, str], ...]  # (language code, denomination), type 001
    street_nl: str
    street_fr: str
    house_number: str
    box: str
    zipcode: str
    municipality_nl: str
    municipality_fr: str
    juridical_form: str
    start_date: str


# Head offices as the companies publish them (annual reports, KBO public search).
REAL_COMPANIES: Final = (
    RealCompany(
        "0202.239.951",
        (("2", "Proximus"), ("1", "Proximus")),
        "Koning Albert II-laan",
        "Boulevard du Roi Albert II",
        "27",
        "",
        "1030",
        "Schaarbeek",
        "Schaerbeek",
        "116",
        "01-01-1930",
    ),
    RealCompany(
        "0214.596.464",
        (("0", "bpost"),),
        "Anspachlaan",
        "Boulevard Anspach",
        "1",
        "1",
        "1000",
        "Brussel",
        "Bruxelles",
        "116",
        "01-01-1971",
    ),
    RealCompany(
        "0417.497.106",
        (("0", "Anheuser-Busch InBev"),),
        "Grote Markt",
        "Grand-Place",
        "1",
        "",
        "1000",
        "Brussel",
        "Bruxelles",
        "014",
        "02-08-1977",
    ),
    RealCompany(
        "0400.378.485",
        (("2", "Colruyt Group"),),
        "Edingensesteenweg",
        "Chaussée d'Enghien",
        "196",
        "",
        "1500",
        "Halle",
        "Hal",
        "014",
        "12-10-1950",
    ),
    RealCompany(
        "0403.227.515",
        (("2", "KBC Groep"), ("1", "KBC Groupe")),
        "Havenlaan",
        "Avenue du Port",
        "2",
        "",
        "1080",
        "Sint-Jans-Molenbeek",
        "Molenbeek-Saint-Jean",
        "014",
        "09-02-1935",
    ),
    RealCompany(
        "0403.091.220",
        (("1", "Solvay"),),
        "Ransbeekstraat",
        "Rue de Ransbeek",
        "310",
        "",
        "1120",
        "Brussel",
        "Bruxelles",
        "014",
        "26-12-1863",
    ),
    RealCompany(
        "0403.053.608",
        (("1", "UCB"),),
        "Researchdreef",
        "Allée de la Recherche",
        "60",
        "",
        "1070",
        "Anderlecht",
        "Anderlecht",
        "014",
        "18-01-1928",
    ),
)

SYNTHETIC_BODY_START: Final = 7_000_000  # 8-digit bodies 07000000..: numbers 07xx.xxx.xxx
MAX_SYNTHETIC: Final = 2_900_000  # stays below 10,000,000 (an eighth digit, still a leading 0)

_STREETS: Final = (
    ("Kerkstraat", "Rue de l'Église"),
    ("Stationsstraat", "Rue de la Gare"),
    ("Molenstraat", "Rue du Moulin"),
    ("Schoolstraat", "Rue de l'École"),
    ("Dorpstraat", "Rue du Village"),
)
_TOWNS: Final = (
    ("1000", "Brussel", "Bruxelles", "1"),
    ("2000", "Antwerpen", "Anvers", "2"),
    ("4000", "Luik", "Liège", "1"),
    ("9000", "Gent", "Gand", "2"),
    ("5000", "Namen", "Namur", "1"),
    ("4700", "Eupen", "Eupen", "3"),
)
_WORDS: Final = ("Bakkerij", "Atelier", "Bureau", "Garage", "Consult", "Brasserie", "Studio")
_FORMS: Final = ("014", "015", "610", "016")  # NV/SA, BV/SRL, CommV/SComm, CV/SC


def number_for(body: int) -> str:
    """The dotted enterprise number of an 8-digit body: its check digits are 97 - body mod 97."""
    digits = f"{body:08d}{97 - body % 97:02d}"
    return f"{digits[:4]}.{digits[4:7]}.{digits[7:]}"


def synthetic_number(index: int) -> str:
    """The dotted number of the index-th synthetic enterprise (0-based)."""
    if not 0 <= index < MAX_SYNTHETIC:
        raise ValueError(f"index must be in [0, {MAX_SYNTHETIC})")
    return number_for(SYNTHETIC_BODY_START + index)


def synthetic_name(index: int, *, generation: int = 0) -> str:
    """The name of a synthetic enterprise (an update's generation renames it)."""
    base = f"{_WORDS[index % len(_WORDS)]} {index:07d}"
    return base if generation == 0 else f"{base} ({generation})"


@dataclass(frozen=True)
class _Synthetic:
    number: str
    language: str
    name: str
    town: tuple[str, str, str, str]
    street: tuple[str, str]
    house: str
    form: str
    start: str


def _synthetic(index: int, *, generation: int = 0) -> _Synthetic:
    town = _TOWNS[index % len(_TOWNS)]
    return _Synthetic(
        number=synthetic_number(index),
        language=town[3],
        name=synthetic_name(index, generation=generation),
        town=town,
        street=_STREETS[(index // len(_TOWNS)) % len(_STREETS)],
        house=str(1 + index % 180),
        form=_FORMS[index % len(_FORMS)],
        start=f"{1 + index % 28:02d}-{1 + index % 12:02d}-{1990 + index % 35}",
    )


def _writer(handle: TextIO, header: tuple[str, ...]) -> Any:
    writer = csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(header)
    return writer


def write_meta(directory: Path, *, extract_type: str, extract_number: int, snapshot: date) -> None:
    """meta.csv: the snapshot is a Friday midnight's, the extract made on the Sunday after."""
    stamp = datetime.combine(snapshot, datetime.min.time()).replace(hour=6)
    with (directory / "meta.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = _writer(handle, ("Variable", "Value"))
        writer.writerow(("SnapshotDate", snapshot.strftime("%d-%m-%Y")))
        writer.writerow(("ExtractTimestamp", stamp.strftime("%d-%m-%Y %H:%M:%S")))
        writer.writerow(("ExtractType", extract_type))
        writer.writerow(("ExtractNumber", str(extract_number)))
        writer.writerow(("Version", "1.0.0"))


def _enterprise_row(s: _Synthetic) -> tuple[str, ...]:
    return (s.number, "AC", "000", "2", s.form, "", s.start)


def _address_row(s: _Synthetic) -> tuple[str, ...]:
    zipcode, town_nl, town_fr, _ = s.town
    return (s.number, "REGO", "", "", zipcode, town_nl, town_fr, *s.street, s.house, "", "", "")


def _real_rows() -> Iterator[tuple[str, tuple[str, ...], list[tuple[str, ...]], tuple[str, ...]]]:
    for c in REAL_COMPANIES:
        yield (
            c.number,
            (c.number, "AC", "000", "2", c.juridical_form, "", c.start_date),
            [(c.number, language, "001", name) for language, name in c.names],
            (
                c.number,
                "REGO",
                "",
                "",
                c.zipcode,
                c.municipality_nl,
                c.municipality_fr,
                c.street_nl,
                c.street_fr,
                c.house_number,
                c.box,
                "",
                "",
            ),
        )


def write_full_set(
    directory: Path,
    *,
    synthetic: int = 3000,
    extract_number: int = 140,
    snapshot: date | None = None,
    stopped: int = 0,
) -> Path:
    """A full set in `directory` (created); `stopped`: how many synthetic ones are ST."""
    if synthetic > MAX_SYNTHETIC:
        raise ValueError(f"at most {MAX_SYNTHETIC} synthetic enterprises")
    directory.mkdir(parents=True, exist_ok=True)
    write_meta(
        directory,
        extract_type="full",
        extract_number=extract_number,
        snapshot=snapshot or date(2026, 11, 27),
    )
    files = {
        name: (directory / f"{name}.csv").open("w", encoding="utf-8", newline="")
        for name in ("enterprise", "denomination", "address", "activity")
    }
    try:
        enterprises = _writer(files["enterprise"], ENTERPRISE_HEADER)
        names = _writer(files["denomination"], DENOMINATION_HEADER)
        addresses = _writer(files["address"], ADDRESS_HEADER)
        activities = _writer(files["activity"], ACTIVITY_HEADER)
        for number, enterprise, denominations, address in _real_rows():
            enterprises.writerow(enterprise)
            names.writerows(denominations)
            addresses.writerow(address)
            activities.writerow((number, "001", "2008", "70100", "MAIN"))
        for index in range(synthetic):
            s = _synthetic(index)
            row = _enterprise_row(s)
            if index < stopped:
                row = (row[0], "ST", *row[2:])
            enterprises.writerow(row)
            names.writerow((s.number, s.language, "001", s.name))
            addresses.writerow(_address_row(s))
            activities.writerow((s.number, "001", "2008", "69201", "MAIN"))
    finally:
        for handle in files.values():
            handle.close()
    with (directory / "code.csv").open("w", encoding="utf-8", newline="") as handle:
        codes = _writer(handle, ("Category", "Code", "Language", "Description"))
        codes.writerow(("Status", "AC", "FR", "Actif"))
        codes.writerow(("Status", "AC", "NL", "Actief"))
        codes.writerow(("TypeOfAddress", "REGO", "FR", "Siège"))
        codes.writerow(("TypeOfAddress", "REGO", "NL", "Zetel"))
    return directory


def write_update_set(
    directory: Path,
    *,
    extract_number: int = 141,
    snapshot: date | None = None,
    renamed: range = range(0, 10),
    removed: range = range(10, 15),
    added: range = range(0, 0),
) -> Path:
    """An update set: `renamed` synthetic enterprises get a new name (deleted and inserted, as
    the register sends a change), `removed` ones are deleted, `added` ones are new."""
    directory.mkdir(parents=True, exist_ok=True)
    write_meta(
        directory,
        extract_type="update",
        extract_number=extract_number,
        snapshot=snapshot or date(2026, 12, 1),
    )
    deletes = [synthetic_number(i) for i in (*renamed, *removed)]
    inserts = [_synthetic(i, generation=extract_number) for i in renamed] + [
        _synthetic(i) for i in added
    ]
    for name, key in (
        ("enterprise", "EnterpriseNumber"),
        ("denomination", "EntityNumber"),
        ("address", "EntityNumber"),
    ):
        with (directory / f"{name}_delete.csv").open("w", encoding="utf-8", newline="") as h:
            writer = _writer(h, (key,))
            writer.writerows((number,) for number in deletes)
    with (directory / "enterprise_insert.csv").open("w", encoding="utf-8", newline="") as h:
        writer = _writer(h, ENTERPRISE_HEADER)
        writer.writerows(_enterprise_row(s) for s in inserts)
    with (directory / "denomination_insert.csv").open("w", encoding="utf-8", newline="") as h:
        writer = _writer(h, DENOMINATION_HEADER)
        writer.writerows((s.number, s.language, "001", s.name) for s in inserts)
    with (directory / "address_insert.csv").open("w", encoding="utf-8", newline="") as h:
        writer = _writer(h, ADDRESS_HEADER)
        writer.writerows(_address_row(s) for s in inserts)
    return directory


def zip_set(directory: Path, archive: Path) -> Path:
    """The set's files in one ZIP archive, as the register serves them."""
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as out:
        for path in sorted(directory.glob("*.csv")):
            out.write(path, arcname=path.name)
    return archive


async def ensure_dev_set(database_url: str, directory: Path, *, synthetic: int = 3000) -> str:
    """`make dev`: a small generated set in service unless one already is; what was done."""
    from datetime import timedelta

    from store import kbo
    from store.pool import create_pool

    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        extract = await kbo.extract_in_service(pool)
        if extract is not None:
            return f"KBO extract {extract.extract_number} of {extract.snapshot_date} in service"
        # The Friday before today, as the register's monthly snapshot is a Friday's.
        today = date.today()
        snapshot = today - timedelta(days=(today.weekday() - 4) % 7)
        write_full_set(directory, synthetic=synthetic, snapshot=snapshot)
        source = kbo.KboSource(directory)
        try:
            result = await kbo.load_full(pool, source=source)
        finally:
            source.close()
        return f"KBO sample loaded: {result.rows['enterprise.csv']} enterprises of {snapshot}"
    finally:
        await pool.close()
