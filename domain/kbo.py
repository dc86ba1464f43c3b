"""What the KBO/BCE Open Data says of a Belgian enterprise, as the onboarding's company record.

Codes as the register publishes them (Cookbook KBO Open Data): denomination languages 0 unknown,
1 FR, 2 NL, 3 DE, 4 EN; type of denomination 001 name, 002 abbreviation, 003 commercial name;
status AC active, ST stopped. Pure: the activity reads the tables, this shapes the answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Final

from domain.company import CompanyRecord

KBO_SOURCE: Final = "kbo-open-data"
# The register publishes a full set each month and updates on working days: past this the data
# set in service has missed more than a month of changes.
STALE_AFTER_DAYS: Final = 45
LANGUAGE_CODES: Final = {"fr": "1", "nl": "2", "de": "3", "en": "4"}
_NAME: Final = "001"


def pick_denomination(denominations: Sequence[tuple[str, str, str]], language: str) -> str | None:
    """The enterprise's name (type 001) in the client's language when it has one, else its first
    name; an abbreviation or commercial name only when it has no name at all."""
    names = [d for d in denominations if d[1] == _NAME] or list(denominations)
    wanted = LANGUAGE_CODES.get(language)
    for code, _, text in names:
        if code == wanted:
            return text
    return names[0][2] if names else None


def _in(language: str, address: Mapping[str, str | None], field: str) -> str | None:
    # Brussels addresses have both spellings; Flemish ones often only the Dutch one.
    nl, fr = address.get(f"{field}_nl") or None, address.get(f"{field}_fr") or None
    return (fr or nl) if language != "nl" else (nl or fr)


def address_line(address: Mapping[str, str | None], language: str) -> str | None:
    """ "Boulevard du Roi Albert II 27, 1030 Schaerbeek" in the client's language when the
    register has that spelling; a box as "bte"/"bus"."""
    street = _in(language, address, "street")
    town = _in(language, address, "municipality")
    number = address.get("house_number") or ""
    box = address.get("box") or ""
    first = " ".join(part for part in (street, number) if part)
    if box:
        first += f" {'bus' if language == 'nl' else 'bte'} {box}"
    second = " ".join(part for part in (address.get("zipcode"), town) if part)
    return ", ".join(part for part in (first, second) if part) or None


def company_from_kbo(
    *,
    enterprise_number: str,
    status: str,
    juridical_form: str | None,
    denominations: Sequence[tuple[str, str, str]],
    address: Mapping[str, str | None] | None,
    language: str,
    extract: date,
) -> CompanyRecord:
    """The company record of a KBO enterprise, in the client's language where it can be."""
    return CompanyRecord(
        enterprise_number=enterprise_number,
        name=pick_denomination(denominations, language),
        address=address_line(address, language) if address else None,
        postal_code=address.get("zipcode") if address else None,
        city=_in(language, address, "municipality") if address else None,
        legal_form=juridical_form,
        is_head_office=True,
        active=status == "AC",
        source=KBO_SOURCE,
        extract_date=extract,
    )
