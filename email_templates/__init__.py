"""E-mail templates (one folder per kind, one file per language and format) and their renderer.

Rendering is pure: `render(kind, language, context) -> Email`. Sending is done elsewhere.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateNotFound,
    select_autoescape,
)

from domain.email import Email

log = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).parent


class Renderer:
    """A jinja2 environment built once per process.

    StrictUndefined turns a missing context key into an error instead of an empty string in a
    client's inbox; autoescape protects the HTML part from user-supplied names.
    """

    def __init__(self, *, fallback_language: str = "en", directory: Path = TEMPLATES_DIR) -> None:
        self.fallback_language = fallback_language
        self.env = Environment(
            loader=FileSystemLoader(directory),
            undefined=StrictUndefined,
            autoescape=select_autoescape(enabled_extensions=("html",), default=False),
            keep_trailing_newline=True,
        )

    def _template_language(self, kind: str, language: str) -> str:
        try:
            self.env.get_template(f"{kind}/{language}.txt")
        except TemplateNotFound:
            log.warning(
                "missing e-mail translation, using fallback",
                extra={"kind": kind, "language": language, "fallback": self.fallback_language},
            )
            return self.fallback_language
        return language

    def render(self, kind: str, language: str, context: Mapping[str, Any]) -> Email:
        lang = self._template_language(kind, language)
        subject = self.env.get_template(f"{kind}/{lang}.subject.txt").render(context).strip()
        text = self.env.get_template(f"{kind}/{lang}.txt").render(context)
        html: str | None
        try:
            html = self.env.get_template(f"{kind}/{lang}.html").render(context)
        except TemplateNotFound:
            html = None
        return Email(subject=subject, text=text, html=html)
