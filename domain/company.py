"""A company establishment as a registry describes it, whichever registry answered."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

# What the registries publish in place of a value the company has not agreed to make public:
# the API Recherche d'entreprises says "[NON-DIFFUSIBLE]", INSEE Sirene says "[ND]".
MASKED_VALUES = frozenset({"[NON-DIFFUSIBLE]", "[ND]"})


def unmask(value: Any) -> Any:
    """None for a masked or blank string, the value itself otherwise (stripped if a string)."""
    if isinstance(value, str):
        value = value.strip()
        if not value or value.upper() in MASKED_VALUES:
            return None
    return value


# A masked or blank value is "not known", never a name or an address to show.
PublicText = Annotated[str | None, BeforeValidator(unmask)]


class VatCheck(BaseModel):
    """What VIES (the EU's VAT number check) said of the company's VAT number."""

    model_config = ConfigDict(frozen=True)

    vat_number: str = Field(description="Country code and number, e.g. BE0202239951")
    state: Literal["valid", "invalid", "unchecked"]
    reason: str | None = Field(default=None, description="Why unchecked (VIES unavailable...)")
    name: PublicText = Field(default=None, description="The name VIES gives, when valid")
    checked_at: datetime | None = None


class CompanyRecord(BaseModel):
    """One establishment (SIRET) and its legal unit (SIREN), as the registry knows them; or a
    Belgian enterprise (no SIRET, its enterprise number) as the KBO/BCE knows it."""

    model_config = ConfigDict(frozen=True)

    # Optional since Belgian companies: older histories always carry both.
    siret: str | None = Field(default=None, pattern=r"^[0-9]{14}$")
    siren: str | None = Field(default=None, pattern=r"^[0-9]{9}$")
    enterprise_number: str | None = Field(
        default=None, pattern=r"^[01][0-9]{9}$", description="Belgian enterprise number (KBO/BCE)"
    )
    name: PublicText = Field(description="Legal name; a sole trader's first name and name")
    address: PublicText = Field(description="Full postal address on one line")
    postal_code: PublicText = None
    city: PublicText = None
    activity_code: PublicText = Field(default=None, description="NAF/APE code, e.g. 70.10Z")
    legal_form: PublicText = Field(default=None, description="INSEE nature juridique, e.g. 5599")
    is_head_office: bool
    active: bool = Field(description="Legal unit active and this establishment not closed")
    closed_on: date | None = None
    source: str = Field(description="Which registry answered, e.g. recherche-entreprises")
    extract_date: date | None = Field(
        default=None, description="For a register read from a downloaded data set: its date"
    )
    vat_check: VatCheck | None = Field(
        default=None, description="VIES's answer about the company's VAT number, when asked"
    )
