"""E-mail templates (one folder per kind, one file per language and format) and their renderer.

Rendering is pure: `render(kind, language, context) -> Email`. Sending is done elsewhere. Each
kind's context keys are listed in README.md next to this file; `SAMPLE_CONTEXT` holds a realistic
example of each, used by `onboarding preview-email` and the tests.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateNotFound,
    select_autoescape,
)

from domain.email import Branding, Email
from domain.fiscal_calendar import MONTH_NAMES
from email_templates.samples import SAMPLE_BRANDING, SAMPLE_CONTEXT

__all__ = [
    "KINDS",
    "LANGUAGES",
    "SAMPLE_BRANDING",
    "SAMPLE_CONTEXT",
    "TEMPLATES_DIR",
    "Renderer",
]

log = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).parent

KINDS = (
    "invitation",
    "reminder",
    "client_ready",
    "expired",
    "escalation",
    "sign_in",
    "checklist_assigned",
)
LANGUAGES = ("fr", "nl", "en", "de")

# Month names come from the fiscal calendar (folder names); dates in running text write them in
# lower case in French and Dutch, capitalised in English and German.
_MONTHS = {
    language: tuple(m.lower() if language in ("fr", "nl") else m for m in names)
    for language, names in MONTH_NAMES.items()
}
_THOUSANDS = {"fr": "\u202f", "nl": ".", "en": ",", "de": "."}


def long_date(value: date | str, language: str) -> str:
    """A date as a person reads it in `language`: "15 décembre 2026", "15. Dezember 2026".

    Contexts cross Temporal as JSON, so an ISO string ("2026-12-15", or a datetime) is accepted.
    """
    if isinstance(value, datetime):
        day = value.date()
    elif isinstance(value, date):
        day = value
    else:
        # str() of a StrictUndefined raises UndefinedError, naming the missing key.
        day = datetime.fromisoformat(str(value)).date()
    month = _MONTHS[language][day.month - 1]
    if language == "de":
        return f"{day.day}. {month} {day.year}"
    if language == "fr" and day.day == 1:
        # French writes the first of the month as an ordinal: "1er mars".
        return f"1er {month} {day.year}"
    return f"{day.day} {month} {day.year}"


def number(value: int, language: str) -> str:
    """An integer with the digit grouping of `language`."""
    return f"{int(value):,}".replace(",", _THOUSANDS[language])


class Renderer:
    """A jinja2 environment built once per process.

    StrictUndefined turns a missing context key into an error instead of an empty string in a
    client's inbox; autoescape protects the HTML part from user-supplied names and leaves the text
    part and the subject verbatim.
    """

    def __init__(self, *, fallback_language: str = "en", directory: Path = TEMPLATES_DIR) -> None:
        self.fallback_language = fallback_language
        self.env = Environment(
            loader=FileSystemLoader(directory),
            undefined=StrictUndefined,
            autoescape=select_autoescape(enabled_extensions=("html",), default=False),
            keep_trailing_newline=True,
            # Block tags on their own line leave no blank line behind in the plain-text part.
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["long_date"] = long_date
        self.env.filters["number"] = number

    def _find(self, kind: str, language: str, suffix: str) -> Template | None:
        """The file `kind/language.suffix`, else the fallback language's one (with a warning).

        Each file falls back on its own, so a translation missing only its HTML still gets an HTML
        part. None when neither language has the file.
        """
        try:
            return self.env.get_template(f"{kind}/{language}.{suffix}")
        except TemplateNotFound:
            if language == self.fallback_language:
                return None
        try:
            template = self.env.get_template(f"{kind}/{self.fallback_language}.{suffix}")
        except TemplateNotFound:
            return None
        log.warning(
            "missing e-mail translation %s/%s.%s, using %s",
            kind,
            language,
            suffix,
            self.fallback_language,
            extra={
                "kind": kind,
                "language": language,
                "fallback": self.fallback_language,
                "file": suffix,
            },
        )
        return template

    def _required(self, kind: str, language: str, suffix: str) -> Template:
        template = self._find(kind, language, suffix)
        if template is None:
            raise TemplateNotFound(f"{kind}/{language}.{suffix}")
        return template

    def render(self, kind: str, language: str, context: Mapping[str, Any]) -> Email:
        """The subject, text and (when the kind has one) HTML of `kind` in `language`."""
        values = dict(context)
        if "branding" in values and not isinstance(values["branding"], Branding):
            # Branding arrives as a plain dict from a workflow: validating it here keeps an
            # unchecked colour or logo URL out of the HTML.
            values["branding"] = Branding.model_validate(values["branding"])
        subject_template = self._required(kind, language, "subject.txt")
        text_template = self._required(kind, language, "txt")
        # HTML is optional: a kind may be plain text only (every kind today has one).
        html_template = self._find(kind, language, "html")
        # A subject is one header line: a newline in user data would make the message unsendable.
        subject = " ".join(subject_template.render(values).split())
        text = text_template.render(values)
        html = html_template.render(values) if html_template is not None else None
        return Email(subject=subject, text=text, html=html)
