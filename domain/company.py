"""A company establishment as a registry describes it, whichever registry answered."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

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


class CompanyRecord(BaseModel):
    """One establishment (SIRET) and its legal unit (SIREN), as the registry knows them."""

    model_config = ConfigDict(frozen=True)

    siret: str = Field(pattern=r"^[0-9]{14}$")
    siren: str = Field(pattern=r"^[0-9]{9}$")
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
