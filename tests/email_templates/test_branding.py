"""The partner's Branding: what it accepts, how it normalises, and the text colour it derives."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from domain.email import DEFAULT_BRAND_COLOUR, Branding


def test_branding_defaults_to_neutral_blue() -> None:
    """Only the display name is required; the colour defaults to the neutral blue."""
    branding = Branding(display_name="Cabinet Durand")
    assert (branding.colour, branding.logo_url, branding.sender, branding.reply_to) == (
        DEFAULT_BRAND_COLOUR,
        None,
        None,
        None,
    )


def test_branding_colour_normalised_to_upper_case() -> None:
    """A lower-case hex colour is accepted and written upper-case."""
    assert Branding(display_name="D", colour=" #0b6e4f ").colour == "#0B6E4F"


@pytest.mark.parametrize(
    "colour",
    ["blue", "#12345", "#1234567", "1A73E8", "#GGGGGG", "#1A73E8;background:url(x)", "#fff"],
)
def test_branding_colour_rejects_non_hex(colour: str) -> None:
    """Anything but #RRGGBB is refused: the value goes into inline CSS."""
    with pytest.raises(ValidationError):
        Branding(display_name="D", colour=colour)


@pytest.mark.parametrize(
    "url", ["http://static.example/logo.png", "javascript:alert(1)", "ftp://x.example/l.png"]
)
def test_branding_logo_url_rejects_non_https(url: str) -> None:
    """A logo must be served over https."""
    with pytest.raises(ValidationError):
        Branding(display_name="D", logo_url=url)


@pytest.mark.parametrize(
    "changes",
    [
        {"display_name": ""},
        {"display_name": "   "},
        {"display_name": "Durand\nBcc: x@example.com"},
        {"sender": "not an e-mail"},
        {"reply_to": "durand@"},
        {"unknown": "field"},
    ],
)
def test_branding_rejects_invalid_fields(changes: dict[str, str]) -> None:
    """An empty or multi-line name, a malformed address or an unknown field is refused."""
    with pytest.raises(ValidationError):
        Branding.model_validate({"display_name": "Cabinet Durand", **changes})


@pytest.mark.parametrize(
    ("colour", "text_colour"),
    [
        ("#1A73E8", "#FFFFFF"),
        ("#0B6E4F", "#FFFFFF"),
        ("#FFD54F", "#111827"),
        ("#FFFFFF", "#111827"),
    ],
)
def test_branding_text_colour_contrasts_with_colour(colour: str, text_colour: str) -> None:
    """Text on the brand colour is white on dark colours and near-black on light ones."""
    assert Branding(display_name="D", colour=colour).text_colour == text_colour


def test_branding_json_round_trip() -> None:
    """Branding survives the JSON trip through a Temporal payload unchanged."""
    branding = Branding(
        display_name="Fiduciaire Müller",
        sender="bonjour@muller.example",
        reply_to="accueil@muller.example",
        logo_url="https://static.muller.example/logo.png",
        colour="#0B6E4F",
    )
    assert Branding.model_validate(branding.model_dump(mode="json")) == branding
