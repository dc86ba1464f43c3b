"""`onboarding mail`: the dev SMTP sink's last messages, newest first, with their links; the
messages are real SMTP deliveries to the sink writing .eml files, as under `make dev`."""

from __future__ import annotations

import json
import smtplib
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.mail import latest
from cli.main import app
from devstack.ports import free_port
from devstack.smtp_sink import SmtpSink
from email_templates import SAMPLE_CONTEXT, Renderer


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SmtpSink]:
    with SmtpSink(port=free_port(), directory=tmp_path / "mail") as server:
        yield server


def _send(sink: SmtpSink, to: str, subject: str, text: str | None, html: str | None) -> None:
    message = EmailMessage()
    message["From"] = "Cabinet <no-reply@cabinet.example>"
    message["To"] = to
    message["Subject"] = subject
    if text is not None:
        message.set_content(text)
    if html is not None:
        if text is None:
            message.set_content(html, subtype="html")
        else:
            message.add_alternative(html, subtype="html")
    with smtplib.SMTP(sink.host, sink.port, timeout=5) as smtp:
        smtp.send_message(message)


def _three_messages(sink: SmtpSink) -> str:
    """An old notice, the director's invitation as the renderer makes it, and an HTML-only
    message; returns the invitation's accept link."""
    _send(sink, "old@example.com", "Old notice", "Nothing to click.", None)
    invitation = Renderer().render("invitation", "fr", SAMPLE_CONTEXT["invitation"])
    _send(sink, "director@example.com", invitation.subject, invitation.text, invitation.html)
    _send(
        sink,
        "staff@example.com",
        "HTML only",
        None,
        '<p><a href="https://app.example/clients/7?a=1&amp;b=2">open</a> '
        '<a href="mailto:x@example.com">write</a></p>',
    )
    sink.handler.wait_for(3)
    return str(SAMPLE_CONTEXT["invitation"]["accept_url"])


def test_latest_lists_newest_first_with_their_links(sink: SmtpSink) -> None:
    """The newest messages come first, each with its links once, in order: the text part's,
    or the HTML hrefs (entities decoded, no mailto) when there is no text part."""
    accept_url = _three_messages(sink)
    assert sink.handler.directory is not None
    newest, invitation = latest(sink.handler.directory, limit=2)
    assert newest.subject == "HTML only"
    assert newest.links == ["https://app.example/clients/7?a=1&b=2"]
    assert invitation.to == "director@example.com"
    assert invitation.links[0] == accept_url
    assert len(invitation.links) == len(set(invitation.links))
    assert [m.subject for m in latest(sink.handler.directory, limit=10)][-1] == "Old notice"


def test_mail_command_prints_the_invitation_link(sink: SmtpSink) -> None:
    """`onboarding mail` shows subject, recipient and the clickable link; `--json` the same as
    JSON lines; an empty directory says where it looked."""
    accept_url = _three_messages(sink)
    directory = str(sink.handler.directory)
    runner = CliRunner()
    shown = runner.invoke(app, ["mail", "--dir", directory, "--limit", "2"])
    assert shown.exit_code == 0, shown.output
    assert "director@example.com" in shown.output
    # On a line of its own, unbroken, so a terminal can open it with a click.
    assert any(line.strip() == accept_url for line in shown.output.splitlines()), shown.output
    assert "Old notice" not in shown.output

    lines = runner.invoke(app, ["mail", "--dir", directory, "--json"]).output.splitlines()
    rows = [json.loads(line) for line in lines]
    assert [row["to"] for row in rows] == [
        "staff@example.com",
        "director@example.com",
        "old@example.com",
    ]
    assert accept_url in rows[1]["links"]

    empty = runner.invoke(app, ["mail", "--dir", str(Path(directory) / "none")])
    assert empty.exit_code == 0 and "No e-mail in" in empty.output
