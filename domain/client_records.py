"""What staff send to correct a client's company fields or change its national register numbers,
and how a national number is shown to a role that may not read it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from domain.identifiers import BeNationalNumber
from domain.text import Text


class CompanyCorrectionIn(BaseModel):
    """The company fields to correct; a field left out (or equal to today's value) is kept."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Text | None = Field(default=None, min_length=1, max_length=200)
    address: Text | None = Field(default=None, min_length=1, max_length=500)
    legal_form: Text | None = Field(
        default=None, min_length=1, max_length=100, description="e.g. 5710 (INSEE), 014 (KBO)"
    )
    from_registry: bool = Field(
        default=False,
        strict=True,
        description="True when applying what a re-lookup found (the history says so)",
    )


class NationalNumbersIn(BaseModel):
    """The numbers to change: a field left out is kept, null clears it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    national_number: BeNationalNumber | None = Field(
        default=None, description="The client's Belgian national register number, 11 digits"
    )
    partner_national_number: BeNationalNumber | None = Field(
        default=None, description="The client's partner's national register number, 11 digits"
    )


def mask_national_number(number: str | None) -> str | None:
    """Only the last 3 digits, the rest as bullets: enough to tell two people apart."""
    if number is None or not number.isdigit():
        return number  # none, or the erasure's marker: nothing of a person to hide
    return "\u2022" * max(0, len(number) - 3) + number[-3:]
