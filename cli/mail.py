"""`onboarding mail`: the last messages the dev stack's SMTP sink caught, with their links.

The sink (devstack/smtp_sink.py) keeps every message as an .eml file under `.devstack/mail`,
named by arrival time; this reads the newest ones back, so a newcomer finds the director's
invitation link without opening files. Development only: production mail goes to real inboxes.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from html import unescape
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from cli.entry import settings_of

# Up to the first character no URL has unencoded; a sentence's final dot or bracket is trimmed.
_URL = re.compile(r"https?://[^\s<>\"']+")
_HREF = re.compile(r"""href\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


@dataclass(frozen=True)
class CaughtMail:
    file: str
    received: str
    to: str
    subject: str
    links: list[str]


def links_in(message: EmailMessage) -> list[str]:
    """Every http(s) link of the message, in order, once each: from the plain-text part, or
    the HTML part's hrefs when there is no text part."""
    found: list[str] = []
    text = message.get_body(preferencelist=("plain",))
    if text is not None:
        found = [url.rstrip(".,;:)]") for url in _URL.findall(text.get_content())]
    else:
        html = message.get_body(preferencelist=("html",))
        if html is not None:
            found = [unescape(href) for href in _HREF.findall(html.get_content())]
            found = [url for url in found if url.startswith(("http://", "https://"))]
    return list(dict.fromkeys(found))


def read_mail(path: Path) -> CaughtMail:
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    received = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    return CaughtMail(
        file=str(path),
        received=received.isoformat(timespec="seconds"),
        to=str(parsed.get("To", "")),
        subject=str(parsed.get("Subject", "")),
        links=links_in(parsed),
    )


def latest(directory: Path, *, limit: int) -> list[CaughtMail]:
    """The newest `limit` messages, newest first (the sink names files by arrival time)."""
    if not directory.is_dir():
        return []
    files = sorted(directory.glob("*.eml"), key=lambda p: p.name, reverse=True)
    return [read_mail(path) for path in files[:limit]]


def mail(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, help="At most this many messages")] = 10,
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="The sink's directory (default: .devstack/mail)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines")] = False,
) -> None:
    """List the last e-mails the dev stack's SMTP sink caught, newest first, with their links."""
    where = directory if directory is not None else settings_of(ctx).devstack_dir / "mail"
    messages = latest(where, limit=limit)
    if as_json:
        for message in messages:
            sys.stdout.write(json.dumps(asdict(message), ensure_ascii=False) + "\n")
        return
    console = Console()
    if not messages:
        console.print(f"No e-mail in {where} yet (is `make dev` running?).")
        return
    for message in messages:
        # Text, not markup: a subject may hold square brackets.
        console.print(Text(message.subject, style="bold"))
        console.print(Text(f"  to {message.to}, {message.received}"))
        for link in message.links:
            # soft_wrap: a long link stays one line a terminal can open with a click.
            console.print(Text(f"  {link}"), soft_wrap=True)
        console.print(Text(f"  {message.file}", style="dim"))
