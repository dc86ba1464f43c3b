"""`onboarding preview-email`: a kind rendered with sample data into a file."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from email_templates import SAMPLE_BRANDING

runner = CliRunner()


def test_preview_email_writes_html_to_out(tmp_path: Path) -> None:
    """--out receives the HTML part and its path is printed."""
    out = tmp_path / "invitation.html"
    result = runner.invoke(
        app, ["preview-email", "invitation", "--language", "de", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(out.resolve())
    html = out.read_text(encoding="utf-8")
    assert "Einladung" in html and SAMPLE_BRANDING.colour in html


def test_preview_email_text_default_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--text writes ./preview-KIND-LANG.txt with the subject on top."""
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["preview-email", "reminder", "--language", "nl", "--text"])
    assert result.exit_code == 0, result.output
    written = tmp_path / "preview-reminder-nl.txt"
    assert result.output.strip() == str(written.resolve())
    assert written.read_text(encoding="utf-8").startswith("Subject: Herinnering: ")


@pytest.mark.parametrize(
    ("args", "exit_code"),
    [
        (["preview-email", "newsletter"], 2),
        (["preview-email", "invitation", "--language", "es"], 2),
    ],
)
def test_preview_email_refuses_what_it_cannot_render(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], exit_code: int
) -> None:
    """An unknown kind or language fails and writes nothing."""
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, args)
    assert result.exit_code == exit_code
    assert list(tmp_path.iterdir()) == []
