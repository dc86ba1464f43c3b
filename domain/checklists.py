"""Checklists (seed 003): what a firm asks a client's director for, and how answers are checked.

A partner keeps checklists in a catalog; one named by the client's setup is copied onto the
client when its setup completes, so a later edit of the catalog never changes what a client was
asked. The director answers with the invitation token; every required item answered completes
the checklist.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

from domain.exact import ExactBool
from domain.onboarding import Language
from domain.text import Text

# Decoded size of one document. A JSON request is capped by the API's body limit (1 MiB by
# default), and base64 inflates by 4/3: 512 KiB of document fits with room for the rest.
MAX_DOCUMENT_BYTES = 512 * 1024
_MAX_DOCUMENT_BASE64 = (MAX_DOCUMENT_BYTES + 2) // 3 * 4
MAX_ANSWER_CHARS = 4000
_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ItemKind(StrEnum):
    question = "question"
    document = "document"


class ChecklistItem(Strict):
    key: str = Field(
        description="Stable identifier of the item within its checklist, e.g. `bank_statements`;"
        " answers are sent by key"
    )
    kind: ItemKind
    label: Text = Field(min_length=1, max_length=300)
    required: ExactBool = True

    @field_validator("key")
    @classmethod
    def _check_key(cls, value: str) -> str:
        if not _KEY.match(value):
            raise ValueError("keys are 1-63 lower-case letters, digits, '-' or '_'")
        return value


class ChecklistBody(Strict):
    """What a partner writes: the catalog entry without its id."""

    name: Text = Field(min_length=1, max_length=120)
    language: Language
    items: list[ChecklistItem] = Field(min_length=1, max_length=100)

    @field_validator("items")
    @classmethod
    def _distinct_keys(cls, items: list[ChecklistItem]) -> list[ChecklistItem]:
        seen: set[str] = set()
        for item in items:
            if item.key in seen:
                raise ValueError(f"item key {item.key!r} is used twice")
            seen.add(item.key)
        return items


class Checklist(ChecklistBody):
    id: uuid.UUID


# ---- answers ------------------------------------------------------------------------------------


class DocumentIn(Strict):
    filename: Text = Field(min_length=1, max_length=255)
    content_type: Text = Field(default="application/octet-stream", max_length=127)
    content_base64: str = Field(
        min_length=1,
        max_length=_MAX_DOCUMENT_BASE64,
        description=f"The file, base64-encoded; at most {MAX_DOCUMENT_BYTES} bytes once decoded",
    )

    @field_validator("filename")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        # Shown to the firm and offered as a download name: no paths, no control characters.
        if any(c in value for c in "/\\") or not value.isprintable():
            raise ValueError("must be a file name without slashes or control characters")
        return value

    def content(self) -> bytes:
        try:
            data = base64.b64decode(self.content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("content_base64 is not valid base64") from None
        if len(data) > MAX_DOCUMENT_BYTES:
            raise ValueError(f"the document is over {MAX_DOCUMENT_BYTES} bytes")
        return data


def _answer_kind(value: Any) -> str:
    return "document" if isinstance(value, dict | DocumentIn) else "text"


# Tagged so a refused answer is named `answers.<key>.text` or `answers.<key>.document.<field>`.
Answer = (
    Annotated[
        Annotated[Text, Tag("text")] | Annotated[DocumentIn, Tag("document")],
        Discriminator(_answer_kind),
    ]
    | None
)


class AnswersIn(Strict):
    """Answers by item key: text for a question, a document for a document item, null to clear.
    Items not named keep their answers."""

    answers: dict[str, Answer] = Field(max_length=100)


class StoredAnswer(BaseModel):
    """One answer ready to store: exactly one of text or document."""

    key: str
    text: str | None = None
    filename: str | None = None
    content_type: str | None = None
    content: bytes | None = None


class AnswerIssue(BaseModel):
    field: str
    message: str


def check_answers(
    items: list[ChecklistItem], answers: dict[str, Answer]
) -> tuple[list[StoredAnswer], list[str], list[AnswerIssue]]:
    """(answers to store, keys to clear, issues naming `answers.<key>`), per item."""
    by_key = {i.key: i for i in items}
    stored: list[StoredAnswer] = []
    cleared: list[str] = []
    issues: list[AnswerIssue] = []
    for key, value in answers.items():
        field = f"answers.{key}"
        item = by_key.get(key)
        if item is None:
            issues.append(AnswerIssue(field=field, message="not an item of this checklist"))
            continue
        if value is None:
            cleared.append(key)
        elif item.kind == ItemKind.question:
            if not isinstance(value, str):
                issues.append(AnswerIssue(field=field, message="expects a text answer"))
            elif not value:
                issues.append(AnswerIssue(field=field, message="must not be empty; null clears"))
            elif len(value) > MAX_ANSWER_CHARS:
                issues.append(
                    AnswerIssue(field=field, message=f"at most {MAX_ANSWER_CHARS} characters")
                )
            else:
                stored.append(StoredAnswer(key=key, text=value))
        elif not isinstance(value, DocumentIn):
            issues.append(
                AnswerIssue(field=field, message="expects a document (filename, content_base64)")
            )
        else:
            try:
                content = value.content()
            except ValueError as exc:
                issues.append(AnswerIssue(field=f"{field}.content_base64", message=str(exc)))
                continue
            stored.append(
                StoredAnswer(
                    key=key,
                    filename=value.filename,
                    content_type=value.content_type,
                    content=content,
                )
            )
    return stored, cleared, issues


# ---- progress -----------------------------------------------------------------------------------


class AnswerPublic(BaseModel):
    text: str | None = None
    filename: str | None = None
    content_type: str | None = None
    size: int | None = None
    answered_at: datetime


class ItemProgress(ChecklistItem):
    answer: AnswerPublic | None = None


class ChecklistProgress(BaseModel):
    checklist_id: uuid.UUID
    name: str
    language: Language
    items: list[ItemProgress]
    answered: list[str] = Field(description="Keys of the items answered")
    missing_required: list[str] = Field(description="Keys of the required items not answered")
    assigned_at: datetime
    completed_at: datetime | None = Field(
        description="When every required item was first answered; set once"
    )


def progress(
    *,
    checklist_id: uuid.UUID,
    name: str,
    language: str,
    items: list[dict[str, Any]],
    answers: dict[str, AnswerPublic],
    assigned_at: datetime,
    completed_at: datetime | None,
) -> ChecklistProgress:
    parsed = [ChecklistItem.model_validate(i) for i in items]
    return ChecklistProgress(
        checklist_id=checklist_id,
        name=name,
        language=Language(language),
        items=[ItemProgress(**i.model_dump(), answer=answers.get(i.key)) for i in parsed],
        answered=[i.key for i in parsed if i.key in answers],
        missing_required=[i.key for i in parsed if i.required and i.key not in answers],
        assigned_at=assigned_at,
        completed_at=completed_at,
    )


def is_complete(items: list[dict[str, Any]], answered: set[str]) -> bool:
    return all(i["key"] in answered for i in items if i.get("required", True))
