"""E-mail as data: what rendering produces and sending consumes, and a partner's branding."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    HttpUrl,
    StringConstraints,
)

from domain.text import storable

DEFAULT_BRAND_COLOUR = "#1A73E8"


class Email(BaseModel):
    subject: str
    text: str
    html: str | None = None


def _require_https(url: HttpUrl) -> HttpUrl:
    # Mail clients block or warn about images fetched over plain HTTP.
    if url.scheme != "https":
        raise ValueError("logo_url must be an https URL")
    return url


# The colour is written into inline CSS: only #RRGGBB can never smuggle in another declaration.
HexColour = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^#[0-9A-Fa-f]{6}$"),
]
# The name also goes into the Subject and, later, the From header: one line only.
DisplayName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=120, pattern=r"^[^\r\n]+$"),
    AfterValidator(storable),
]
# HttpUrl's own limit, declared as the schema's maxLength for input and output alike.
URL_MAX_LENGTH = 2083


def _fits_normalised(url: HttpUrl) -> HttpUrl:
    # Checked on the normalised form (a trailing "/" added to a bare host, an IDN host spelled in
    # punycode), which is what is stored and answered: a 2083-character input could otherwise come
    # back longer than the schema promises, and fail the client that validates it.
    if len(str(url)) > URL_MAX_LENGTH:
        raise ValueError(f"URL must be at most {URL_MAX_LENGTH} characters once normalised")
    return url


HttpsUrl = Annotated[HttpUrl, AfterValidator(_require_https), AfterValidator(_fits_normalised)]


class Branding(BaseModel):
    """How a partner firm's e-mails look: its name, sender, logo and colour.

    Every e-mail template but `welcome` receives it as `branding`. Through Temporal it travels as
    `branding.model_dump(mode="json")`; the renderer validates it again, so a bad colour is refused
    before it reaches an inbox.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    display_name: DisplayName
    sender: EmailStr | None = None
    reply_to: EmailStr | None = None
    logo_url: HttpsUrl | None = None
    colour: HexColour = Field(default=DEFAULT_BRAND_COLOUR)

    @property
    def text_colour(self) -> str:
        """White or near-black, whichever reads better on `colour` (WCAG relative luminance)."""

        def channel(hex_pair: str) -> float:
            c = int(hex_pair, 16) / 255
            return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

        r, g, b = (channel(self.colour[i : i + 2]) for i in (1, 3, 5))
        luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
        # Contrast against white is 1.05 / (L + 0.05), against #111827 about (L + 0.05) / 0.059:
        # they are equal near L = 0.2.
        return "#FFFFFF" if luminance < 0.2 else "#111827"
