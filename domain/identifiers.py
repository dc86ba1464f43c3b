"""Company and person identifiers: French SIRET/SIREN, Belgian enterprise and national numbers.

Each `validate_*` function returns the compact form (digits only) or raises `InvalidIdentifier`
with a message fit for an API client. The `Annotated` aliases (`Siret`, `Siren`, ...) let pydantic
models validate these fields and report the field name on failure.

Pure and deterministic, so workflow code may call it. Messages never repeat the value: a Belgian
national number is personal data, and error messages end up in logs and Temporal failures, which
payload encryption does not cover.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Final

from pydantic import AfterValidator, Field
from stdnum.be import nn as be_nn
from stdnum.be import vat as be_vat
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, ValidationError
from stdnum.fr import siren as fr_siren
from stdnum.fr import siret as fr_siret

from domain.text import Text

__all__ = [
    "BeEnterpriseNumber",
    "BeNationalNumber",
    "EuVatNumber",
    "InvalidIdentifier",
    "Siren",
    "Siret",
    "siren_of",
    "validate_be_enterprise_number",
    "validate_be_national_number",
    "validate_eu_vat_number",
    "validate_siren",
    "validate_siret",
]


class InvalidIdentifier(ValueError):
    """An identifier that fails its format, length or checksum rule.

    A ValueError, so pydantic turns it into a validation error on the field that used it.
    """


_ASCII_DIGITS: Final = frozenset("0123456789")


def _is_digits(number: str) -> bool:
    # Not str.isdigit(): it accepts other scripts' digits and superscripts, which int() then
    # misreads or rejects.
    return bool(number) and set(number) <= _ASCII_DIGITS


def _validate(
    value: str,
    *,
    label: str,
    length: int,
    separators: str,
    compact: Callable[[str], str],
    validate: Callable[[str], object],
    component_error: str = "is invalid",
    refuse_repeated: bool = False,
) -> str:
    # Format and length are checked here rather than read back from stdnum's exceptions, so the
    # message can say how many digits were given; stdnum's validate then applies the checksum
    # rules (including their exceptions, such as La Poste's SIRETs).
    number = compact(value)
    if number and not _is_digits(number):
        raise InvalidIdentifier(f"{label} must contain only digits ({separators} allowed)")
    if len(number) != length:
        raise InvalidIdentifier(f"{label} must have {length} digits, got {len(number)}")
    if refuse_repeated and len(set(number)) == 1:
        # 000000000 and 00000000000000 pass the Luhn checksum; no register issues one digit
        # repeated, and such a number is a placeholder typed to get past a required field.
        raise InvalidIdentifier(f"{label} cannot be one digit repeated")
    try:
        validate(number)
    except InvalidChecksum:
        raise InvalidIdentifier(f"{label} checksum is invalid") from None
    except InvalidComponent:
        raise InvalidIdentifier(f"{label} {component_error}") from None
    except ValidationError:
        raise InvalidIdentifier(f"{label} is invalid") from None
    return number


def validate_siret(value: str) -> str:
    """Return the 14-digit SIRET, or raise InvalidIdentifier (length, digits, checksum)."""
    return _validate(
        value,
        label="SIRET",
        length=14,
        separators="spaces and dots",
        compact=fr_siret.compact,
        validate=fr_siret.validate,
        refuse_repeated=True,
    )


def validate_siren(value: str) -> str:
    """Return the 9-digit SIREN, or raise InvalidIdentifier (length, digits, checksum)."""
    return _validate(
        value,
        label="SIREN",
        length=9,
        separators="spaces and dots",
        compact=fr_siren.compact,
        validate=fr_siren.validate,
        refuse_repeated=True,
    )


def siren_of(siret: str) -> str:
    """Return the SIREN (company) of a SIRET (establishment), validating the SIRET first."""
    return validate_siret(siret)[:9]


def validate_be_enterprise_number(value: str) -> str:
    """Return the 10-digit Belgian enterprise number (KBO/BCE), or raise InvalidIdentifier.

    Accepts the usual spellings: "BE 0202.239.951", "0202239951", the old 9-digit form.
    """
    return _validate(
        value,
        label="Belgian enterprise number",
        length=10,
        separators="spaces, dots, dashes, slashes and a BE prefix",
        compact=be_vat.compact,
        validate=be_vat.validate,
        component_error="must start with 0 or 1",
    )


def _check_be_national_number(number: str) -> str:
    # stdnum.be.nn.validate tries the 2000+ checksum only when 20YY is not after date.today():
    # a result that depends on the clock is non-deterministic in workflow code, and the Temporal
    # sandbox forbids date.today() outright. So the rule is applied here without the clock: the
    # number is valid if its check digits match either century. This accepts the same numbers as
    # stdnum for every birth year up to today, and additionally a 2000+ checksum on a birth year
    # still in the future, which no issued number has.
    body, check = int(number[:-2]), int(number[-2:])
    if check not in (97 - body % 97, 97 - (2_000_000_000 + body) % 97):
        raise InvalidChecksum
    # Month 00 is allowed: it stands for an unknown birth date or an exhausted day counter.
    # 20..52 are BIS numbers (stdnum.be.bis), a different register, refused as stdnum.be.nn does.
    if int(number[2:4]) > 12:
        raise InvalidComponent
    return number


def validate_be_national_number(value: str) -> str:
    """Return the 11-digit Belgian national register number (NN/RRN), or raise InvalidIdentifier.

    Accepts the usual spellings ("85.07.30-033.28"). Deterministic: see _check_be_national_number
    for how it departs from stdnum.be.nn.validate.
    """
    return _validate(
        value,
        label="Belgian national number",
        length=11,
        separators="spaces, dots and dashes",
        compact=be_nn.compact,
        validate=_check_be_national_number,
        component_error="has an invalid birth month",
    )


def validate_eu_vat_number(value: str) -> str:
    """Return an EU VAT number as VIES takes it (country code and number, no separators:
    "FR40303265045"), or raise InvalidIdentifier (unknown country, format or checksum)."""
    try:
        return str(eu_vat.validate(value))
    except InvalidChecksum:
        raise InvalidIdentifier("EU VAT number checksum is invalid") from None
    except InvalidComponent:
        raise InvalidIdentifier("EU VAT number must start with an EU country code") from None
    except InvalidFormat:
        raise InvalidIdentifier("EU VAT number has an invalid format for its country") from None
    except ValidationError:
        raise InvalidIdentifier("EU VAT number is invalid") from None


Siret = Annotated[
    Text,
    AfterValidator(validate_siret),
    Field(
        description="French establishment number, 14 digits (spaces and dots allowed)",
        examples=["55203253400646"],
    ),
]
Siren = Annotated[
    Text,
    AfterValidator(validate_siren),
    Field(description="French company number, 9 digits", examples=["552032534"]),
]
BeEnterpriseNumber = Annotated[
    Text,
    AfterValidator(validate_be_enterprise_number),
    Field(description="Belgian enterprise number (KBO/BCE), 10 digits", examples=["0202239951"]),
]
BeNationalNumber = Annotated[
    Text,
    AfterValidator(validate_be_national_number),
    Field(description="Belgian national register number, 11 digits"),
]
EuVatNumber = Annotated[
    Text,
    AfterValidator(validate_eu_vat_number),
    Field(
        description="EU VAT number with its country code, checked in VIES",
        examples=["FR40303265045"],
    ),
]
