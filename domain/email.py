"""E-mail as data: what rendering produces and sending consumes."""

from __future__ import annotations

from pydantic import BaseModel


class Email(BaseModel):
    subject: str
    text: str
    html: str | None = None
