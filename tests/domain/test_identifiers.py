"""SIRET/SIREN and Belgian number validation, against real public numbers and stdnum itself."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from stdnum import luhn
from stdnum.be import nn as stdnum_be_nn
from stdnum.fr import siret as stdnum_siret

from domain.identifiers import (
    BeEnterpriseNumber,
    BeNationalNumber,
    InvalidIdentifier,
    Siren,
    Siret,
    siren_of,
    validate_be_enterprise_number,
    validate_be_national_number,
    validate_siren,
    validate_siret,
)

# Head offices of real public companies (../shared/reference/company-registry.md).
DANONE = "55203253400646"
LA_POSTE = "35600000000048"
DINUM = "13002526500013"
EDF = "55208131766522"


@pytest.mark.parametrize("siret", [DANONE, LA_POSTE, DINUM, EDF])
def test_validate_siret_accepts_real_head_offices(siret: str) -> None:
    """Real SIRETs, La Poste's head office included, validate to themselves."""
    assert validate_siret(siret) == siret


@pytest.mark.parametrize(
    "spelled", ["552 032 534 00646", "552.032.534.00646", "  55203253400646 ", "552032534 00646"]
)
def test_validate_siret_compacts_spaces_and_dots(spelled: str) -> None:
    """Spaces and dots are separators: the result is the 14 digits alone."""
    assert validate_siret(spelled) == DANONE


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("55203253400647", "SIRET checksum is invalid"),
        ("35600000000014", "SIRET checksum is invalid"),
        ("5520325340064", "SIRET must have 14 digits, got 13"),
        ("552032534006460", "SIRET must have 14 digits, got 15"),
        ("", "SIRET must have 14 digits, got 0"),
        ("552-032-534-00646", "SIRET must contain only digits"),
        ("5520325340064A", "SIRET must contain only digits"),
        # Arabic-Indic digits: str.isdigit() says yes, a SIRET says no.
        ("\u0665" * 14, "SIRET must contain only digits"),
    ],
)
def test_validate_siret_rejects_invalid_with_reason(value: str, message: str) -> None:
    """Bad checksum, the La Poste rule, length and stray characters each get their message."""
    with pytest.raises(InvalidIdentifier, match=f"^{message}"):
        validate_siret(value)


def test_validate_siret_accepts_la_poste_establishment_by_digit_sum() -> None:
    """A La Poste establishment is valid when its digit sum is a multiple of 5, Luhn or not."""
    establishment = "35600000000001"  # digit sum 15; fails Luhn
    assert not luhn.is_valid(establishment)
    assert validate_siret(establishment) == establishment


def test_validate_siret_rejects_luhn_valid_number_with_invalid_siren() -> None:
    """The first 9 digits must be a valid SIREN even when all 14 pass Luhn."""
    siret = "12345678900007"
    assert luhn.is_valid(siret)
    assert not luhn.is_valid(siret[:9])
    with pytest.raises(InvalidIdentifier, match="SIRET checksum is invalid"):
        validate_siret(siret)


@pytest.mark.parametrize("number", ["00000000000000", "000000000"])
def test_one_repeated_digit_is_refused_although_luhn_valid(number: str) -> None:
    """Zeros pass Luhn; no register issues them."""
    assert luhn.is_valid(number)
    validate = validate_siret if len(number) == 14 else validate_siren
    with pytest.raises(InvalidIdentifier, match="one digit repeated"):
        validate(number)


def test_invalid_identifier_message_omits_the_value() -> None:
    """Messages end up in logs and Temporal failures, so they never echo the number."""
    with pytest.raises(InvalidIdentifier) as caught:
        validate_be_national_number("85.07.30-033.29")
    assert "85073003329" not in str(caught.value)
    assert "85.07.30" not in str(caught.value)


@given(st.text(alphabet="0123456789 .", max_size=20))
def test_validate_siret_agrees_with_stdnum(value: str) -> None:
    """Accepts exactly what stdnum.fr.siret accepts, one digit repeated aside, and returns its
    compact form."""
    if stdnum_siret.is_valid(value) and len(set(stdnum_siret.compact(value))) > 1:
        assert validate_siret(value) == stdnum_siret.compact(value)
    else:
        with pytest.raises(InvalidIdentifier):
            validate_siret(value)


@given(st.integers(min_value=0, max_value=10**13 - 1))
def test_validate_siret_accepts_any_luhn_completed_number(prefix: int) -> None:
    """13 digits completed by their Luhn check digit are valid iff the 9-digit SIREN is."""
    body = f"{prefix:013d}"
    siret = body + luhn.calc_check_digit(body)
    if siret.startswith("356000000"):
        return  # La Poste: its own rule, covered above
    if len(set(siret)) == 1:
        with pytest.raises(InvalidIdentifier, match="repeated"):
            validate_siret(siret)
    elif luhn.is_valid(siret[:9]):
        assert validate_siret(siret) == siret
    else:
        with pytest.raises(InvalidIdentifier, match="checksum"):
            validate_siret(siret)


@pytest.mark.parametrize(
    ("siret", "siren"),
    [(DANONE, "552032534"), (LA_POSTE, "356000000"), ("130 025 265 00013", "130025265")],
)
def test_siren_of_returns_first_nine_digits(siret: str, siren: str) -> None:
    """The SIREN of a SIRET is its first 9 digits, separators removed."""
    assert siren_of(siret) == siren


def test_siren_of_rejects_invalid_siret() -> None:
    """No SIREN is derived from an invalid SIRET."""
    with pytest.raises(InvalidIdentifier, match="SIRET checksum is invalid"):
        siren_of("55203253400647")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("552032534", "552032534"), ("552 032 534", "552032534"), ("356000000", "356000000")],
)
def test_validate_siren_accepts_valid(value: str, expected: str) -> None:
    """Real SIRENs validate to their 9 digits."""
    assert validate_siren(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("552032535", "SIREN checksum is invalid"),
        ("55203253", "SIREN must have 9 digits, got 8"),
        ("55203253400646", "SIREN must have 9 digits, got 14"),
        ("55203253X", "SIREN must contain only digits"),
    ],
)
def test_validate_siren_rejects_invalid_with_reason(value: str, message: str) -> None:
    """Checksum, length and characters each get their message."""
    with pytest.raises(InvalidIdentifier, match=f"^{message}"):
        validate_siren(value)


@pytest.mark.parametrize(
    "value", ["0202.239.951", "BE 0202 239 951", "BE0202239951", "202239951", "0202-239-951"]
)
def test_validate_be_enterprise_number_compacts_usual_spellings(value: str) -> None:
    """Dots, spaces, dashes, a BE prefix and the old 9-digit form give the 10 digits."""
    assert validate_be_enterprise_number(value) == "0202239951"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0202239952", "Belgian enterprise number checksum is invalid"),
        ("2202239951", "Belgian enterprise number must start with 0 or 1"),
        ("02022399", "Belgian enterprise number must have 10 digits, got 8"),
        ("0202A39951", "Belgian enterprise number must contain only digits"),
        ("0000000000", "Belgian enterprise number is invalid"),
    ],
)
def test_validate_be_enterprise_number_rejects_invalid_with_reason(
    value: str, message: str
) -> None:
    """Checksum, leading digit, length and characters each get their message."""
    with pytest.raises(InvalidIdentifier, match=f"^{message}"):
        validate_be_enterprise_number(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("85.07.30-033.28", "85073003328"),  # born 1985
        ("17 07 30 033 84", "17073003384"),  # born 2017: checksum over "2" + the digits
        ("85000003306", "85000003306"),  # month 00: birth date unknown or day counter exhausted
    ],
)
def test_validate_be_national_number_accepts_valid(value: str, expected: str) -> None:
    """Numbers of both centuries, and the unknown-month form, validate to their 11 digits."""
    assert stdnum_be_nn.is_valid(value)
    assert validate_be_national_number(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("85073003329", "Belgian national number checksum is invalid"),
        ("8507300332", "Belgian national number must have 11 digits, got 10"),
        ("85/07/30 033 28", "Belgian national number must contain only digits"),
        ("85130003397", "Belgian national number has an invalid birth month"),
        # A BIS number (month + 20) belongs to another register.
        ("85270003301", "Belgian national number has an invalid birth month"),
    ],
)
def test_validate_be_national_number_rejects_invalid_with_reason(value: str, message: str) -> None:
    """Checksum, length, characters and birth month each get their message."""
    with pytest.raises(InvalidIdentifier, match=f"^{message}"):
        validate_be_national_number(value)


def _with_check_digits(body: str, *, born_2000_or_later: bool) -> str:
    base = int(("2" if born_2000_or_later else "") + body)
    return f"{body}{97 - base % 97:02d}"


@given(
    st.integers(min_value=0, max_value=25),
    st.integers(min_value=0, max_value=10**7 - 1),
    st.booleans(),
)
def test_validate_be_national_number_agrees_with_stdnum_for_past_years(
    year: int, rest: int, born_2000_or_later: bool
) -> None:
    """For birth years 00..25 (in the past whatever today is) it matches stdnum.be.nn exactly."""
    number = _with_check_digits(f"{year:02d}{rest:07d}", born_2000_or_later=born_2000_or_later)
    if stdnum_be_nn.is_valid(number):
        assert validate_be_national_number(number) == number
    else:
        with pytest.raises(InvalidIdentifier):
            validate_be_national_number(number)


@given(
    st.integers(min_value=0, max_value=99),
    st.integers(min_value=0, max_value=10**7 - 1),
    st.booleans(),
)
def test_validate_be_national_number_is_lenient_only_on_future_birth_years(
    year: int, rest: int, born_2000_or_later: bool
) -> None:
    """Beyond stdnum, it accepts only a 2000+ checksum on a birth year after 2025."""
    number = _with_check_digits(f"{year:02d}{rest:07d}", born_2000_or_later=born_2000_or_later)
    try:
        validate_be_national_number(number)
    except InvalidIdentifier:
        return
    assert stdnum_be_nn.is_valid(number) or (born_2000_or_later and 2000 + year > 2025)


class _Company(BaseModel):
    siret: Siret
    siren: Siren | None = None
    enterprise_number: BeEnterpriseNumber | None = None
    director_national_number: BeNationalNumber | None = None


def test_annotated_types_store_compact_form() -> None:
    """Models using the annotated types keep the compact, validated numbers."""
    company = _Company(
        siret="552 032 534 00646",
        siren="552.032.534",
        enterprise_number="BE 0202.239.951",
        director_national_number="85.07.30-033.28",
    )
    assert company.siret == DANONE
    assert company.siren == "552032534"
    assert company.enterprise_number == "0202239951"
    assert company.director_national_number == "85073003328"


def test_annotated_types_report_failing_field_and_reason() -> None:
    """Pydantic names each failing field and carries the InvalidIdentifier message."""
    with pytest.raises(ValidationError) as caught:
        _Company(siret="55203253400647", director_national_number="85073003329")
    errors = {error["loc"]: error["msg"] for error in caught.value.errors()}
    assert errors == {
        ("siret",): "Value error, SIRET checksum is invalid",
        ("director_national_number",): "Value error, Belgian national number checksum is invalid",
    }
