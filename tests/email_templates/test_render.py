"""The e-mail templates rendered in every kind and language: content, escaping, fallback, MIME."""

from __future__ import annotations

import email
import itertools
import logging
from email import policy
from pathlib import Path
from typing import Any

import pytest
from jinja2 import TemplateNotFound, UndefinedError
from markupsafe import escape
from pydantic import ValidationError

from activities.email import build_message
from domain.email import Branding
from email_templates import (
    KINDS,
    LANGUAGES,
    SAMPLE_BRANDING,
    SAMPLE_CONTEXT,
    TEMPLATES_DIR,
    Renderer,
)

EVERY = list(itertools.product(KINDS, LANGUAGES))

# The link each e-mail exists to deliver.
MAIN_LINK = {
    "invitation": "accept_url",
    "reminder": "accept_url",
    "client_ready": "client_url",
    "expired": "client_url",
    "escalation": "client_url",
    "sign_in": "sign_in_url",
    "checklist_assigned": "checklist_url",
}
CLOSING = {
    "fr": "Cordialement",
    "nl": "Met vriendelijke groeten",
    "en": "Kind regards",
    "de": "Mit freundlichen Grüßen",
}
# A phrase only that kind says, in that language.
MARKER = {
    ("invitation", "fr"): "vous invite",
    ("invitation", "nl"): "nodigt u uit",
    ("invitation", "en"): "invites you",
    ("invitation", "de"): "lädt Sie ein",
    ("reminder", "fr"): "vous attend toujours",
    ("reminder", "nl"): "wacht nog op u",
    ("reminder", "en"): "still waiting",
    ("reminder", "de"): "wartet noch auf Sie",
    ("client_ready", "fr"): "configuration",
    ("client_ready", "nl"): "configuratie",
    ("client_ready", "en"): "set-up",
    ("client_ready", "de"): "Einrichtung",
    ("expired", "fr"): "a expiré",
    ("expired", "nl"): "verlopen",
    ("expired", "en"): "expired",
    ("expired", "de"): "abgelaufen",
    ("escalation", "fr"): "attendent une relance",
    ("escalation", "nl"): "wachten op een nieuwe poging",
    ("escalation", "en"): "waiting for a retry",
    ("escalation", "de"): "warten auf einen neuen Versuch",
    ("sign_in", "fr"): "pour vous connecter",
    ("sign_in", "nl"): "om u aan te melden",
    ("sign_in", "en"): "to sign in",
    ("sign_in", "de"): "anzumelden",
    ("checklist_assigned", "fr"): "compléter la liste",
    ("checklist_assigned", "nl"): "in te vullen",
    ("checklist_assigned", "en"): "complete the checklist",
    ("checklist_assigned", "de"): "auszufüllen",
}
SCRIPT = '<script>alert("x")</script>'


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def _context(kind: str, **changes: Any) -> dict[str, Any]:
    return {**SAMPLE_CONTEXT[kind], **changes}


def test_templates_exist_every_kind_and_language() -> None:
    """Every kind has its subject, text and HTML in every language."""
    missing = [
        f"{kind}/{language}.{suffix}"
        for kind, language in EVERY
        for suffix in ("subject.txt", "txt", "html")
        if not (TEMPLATES_DIR / kind / f"{language}.{suffix}").is_file()
    ]
    assert missing == []


@pytest.mark.parametrize(("kind", "language"), EVERY)
def test_render_subject_single_line_every_kind(
    renderer: Renderer, kind: str, language: str
) -> None:
    """The subject is one non-empty line with no surrounding whitespace."""
    subject = renderer.render(kind, language, SAMPLE_CONTEXT[kind]).subject
    assert subject
    assert "\n" not in subject and "\r" not in subject
    assert subject == subject.strip()


@pytest.mark.parametrize(("kind", "language"), EVERY)
def test_render_language_markers_every_kind(
    renderer: Renderer, kind: str, language: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Each language renders its own words (not another language's) without any fallback."""
    rendered = renderer.render(kind, language, SAMPLE_CONTEXT[kind])
    for part in (rendered.text, rendered.html or ""):
        assert MARKER[kind, language] in part
        assert CLOSING[language] in part
        assert not [other for other in LANGUAGES if other != language and CLOSING[other] in part]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize(("kind", "language"), EVERY)
def test_render_text_without_markup_every_kind(
    renderer: Renderer, kind: str, language: str
) -> None:
    """The plain-text part has no HTML and carries links verbatim."""
    text = renderer.render(kind, language, SAMPLE_CONTEXT[kind]).text
    assert "<" not in text and "&amp;" not in text
    if kind in MAIN_LINK:
        assert SAMPLE_CONTEXT[kind][MAIN_LINK[kind]] in text


@pytest.mark.parametrize(("kind", "language"), EVERY)
def test_render_html_link_and_branding_every_kind(
    renderer: Renderer, kind: str, language: str
) -> None:
    """The HTML part is the branded layout: language, logo, colour, and the main link."""
    html = renderer.render(kind, language, SAMPLE_CONTEXT[kind]).html
    assert html is not None
    assert html.startswith("<!DOCTYPE html>")
    assert f'<html lang="{language}">' in html
    assert f"background-color:{SAMPLE_BRANDING.colour}" in html
    assert f'src="{SAMPLE_BRANDING.logo_url}"' in html
    # An attribute holds the link HTML-escaped: "&" in a query string becomes "&amp;".
    assert f'href="{escape(SAMPLE_CONTEXT[kind][MAIN_LINK[kind]])}"' in html


@pytest.mark.parametrize("kind", KINDS)
def test_render_escapes_user_data_in_html_only(renderer: Renderer, kind: str) -> None:
    """A client name with markup is escaped in HTML, verbatim in text and subject (escalations
    name no client, data minimisation: the integrations' names stand in)."""
    changes: dict[str, Any] = {"client_name": SCRIPT}
    if kind == "escalation":
        changes = {"integrations": [SCRIPT]}
    elif kind == "sign_in":
        changes = {"user_name": SCRIPT}
    rendered = renderer.render(kind, "en", _context(kind, **changes))
    assert rendered.html is not None
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in rendered.html
    assert SCRIPT in rendered.text
    if kind in ("client_ready", "expired"):
        assert SCRIPT in rendered.subject


def test_render_escapes_list_items_and_branding_in_html(renderer: Renderer) -> None:
    """Themes and the partner's display name are escaped in HTML too."""
    branding = SAMPLE_BRANDING.model_copy(update={"display_name": "<b>Durand</b>"})
    context = _context("invitation", themes=["<i>Social</i>"], branding=branding)
    html = renderer.render("invitation", "fr", context).html
    assert html is not None
    assert "<b>" not in html and "<i>" not in html
    assert "&lt;b&gt;Durand&lt;/b&gt;" in html
    assert "<li>&lt;i&gt;Social&lt;/i&gt;</li>" in html


@pytest.mark.parametrize(
    ("kind", "key"), [(kind, key) for kind in KINDS for key in SAMPLE_CONTEXT[kind]]
)
def test_render_missing_key_raises_undefined_error(renderer: Renderer, kind: str, key: str) -> None:
    """Every documented context key is required: leaving one out raises, never mails a blank."""
    context = {k: v for k, v in SAMPLE_CONTEXT[kind].items() if k != key}
    with pytest.raises(UndefinedError, match=key):
        renderer.render(kind, "fr", context)


def test_readme_documents_every_context_key() -> None:
    """The README section of each kind names every key of its sample context."""
    readme = (TEMPLATES_DIR / "README.md").read_text(encoding="utf-8")
    undocumented = []
    for kind in KINDS:
        section = readme.split(f"### `{kind}`", 1)[1].split("\n### ", 1)[0]
        undocumented += [
            f"{kind}.{key}" for key in SAMPLE_CONTEXT[kind] if f"`{key}`" not in section
        ]
    assert undocumented == []


def test_render_missing_translation_falls_back_with_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An unknown language renders the configured fallback and warns once per file."""
    renderer = Renderer(fallback_language="nl")
    context = SAMPLE_CONTEXT["invitation"]
    with caplog.at_level(logging.WARNING, logger="email_templates"):
        rendered = renderer.render("invitation", "es", context)
    assert rendered == renderer.render("invitation", "nl", context)
    warnings = [vars(r) for r in caplog.records if r.levelno == logging.WARNING]
    assert [(w["kind"], w["language"], w["fallback"]) for w in warnings] == [
        ("invitation", "es", "nl")
    ] * 3
    assert sorted(w["file"] for w in warnings) == ["html", "subject.txt", "txt"]


def test_render_missing_html_only_falls_back_for_html(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A language missing only its HTML keeps its own subject and text and borrows the HTML."""
    (tmp_path / "demo").mkdir()
    files = {
        "en.subject.txt": "Hello {{ name }}",
        "en.txt": "Text {{ name }}",
        "en.html": "<p>Html {{ name }}</p>",
        "fr.subject.txt": "Bonjour {{ name }}",
        "fr.txt": "Texte {{ name }}",
    }
    for name, body in files.items():
        (tmp_path / "demo" / name).write_text(body, encoding="utf-8")
    renderer = Renderer(fallback_language="en", directory=tmp_path)
    with caplog.at_level(logging.WARNING, logger="email_templates"):
        rendered = renderer.render("demo", "fr", {"name": "Zoé"})
    assert (rendered.subject, rendered.text, rendered.html) == (
        "Bonjour Zoé",
        "Texte Zoé",
        "<p>Html Zoé</p>",
    )
    assert [(vars(r)["language"], vars(r)["file"]) for r in caplog.records] == [("fr", "html")]


def test_render_unknown_kind_raises_template_not_found(renderer: Renderer) -> None:
    """A kind with no templates at all is an error, not an empty e-mail."""
    with pytest.raises(TemplateNotFound):
        renderer.render("no_such_kind", "fr", {})


def test_render_branding_from_json_validated(renderer: Renderer) -> None:
    """Branding arriving as JSON renders like the model; an unsafe colour is refused."""
    as_json = SAMPLE_BRANDING.model_dump(mode="json")
    context = _context("reminder", branding=as_json)
    assert renderer.render("reminder", "de", context) == renderer.render(
        "reminder", "de", SAMPLE_CONTEXT["reminder"]
    )
    unsafe = {**as_json, "colour": "#000000;background:url(https://evil.example/x)"}
    with pytest.raises(ValidationError):
        renderer.render("reminder", "de", _context("reminder", branding=unsafe))


def test_render_header_without_logo_shows_name_in_contrast(renderer: Renderer) -> None:
    """Without a logo the header shows the name, dark on a light colour."""
    branding = Branding(display_name="Cabinet Durand", colour="#FFD54F")
    html = renderer.render("invitation", "fr", _context("invitation", branding=branding)).html
    assert html is not None
    assert "<img" not in html
    assert 'color:#111827;">Cabinet Durand</span>' in html


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("fr", "1er mars 2027"),
        ("nl", "1 maart 2027"),
        ("en", "1 March 2027"),
        ("de", "1. März 2027"),
    ],
)
def test_render_expiry_date_localised_from_iso_string(
    renderer: Renderer, language: str, expected: str
) -> None:
    """An ISO date (as it crosses Temporal) is written out in the e-mail's language."""
    rendered = renderer.render("reminder", language, _context("reminder", expires_on="2027-03-01"))
    assert expected in rendered.text
    assert expected in (rendered.html or "")


@pytest.mark.parametrize(
    ("language", "count", "expected"),
    [
        ("fr", 1, "1 dossier a été créé."),
        ("fr", 1248, "1\u202f248 dossiers ont été créés."),
        ("nl", 1, "Er is 1 map aangemaakt."),
        ("nl", 1248, "Er zijn 1.248 mappen aangemaakt."),
        ("en", 1, "1 folder was created."),
        ("en", 1248, "1,248 folders were created."),
        ("de", 1, "1 Ordner wurde angelegt."),
        ("de", 1248, "1.248 Ordner wurden angelegt."),
    ],
)
def test_render_folder_count_plural_and_grouping(
    renderer: Renderer, language: str, count: int, expected: str
) -> None:
    """The folder count agrees in number and groups its digits the local way."""
    context = _context("client_ready", folder_count=count)
    assert expected in renderer.render("client_ready", language, context).text


def test_render_empty_lists_leave_their_section_out(renderer: Renderer) -> None:
    """No themes, no failed integrations: no heading introducing an empty list."""
    invitation = renderer.render("invitation", "fr", _context("invitation", themes=[]))
    ready = renderer.render("client_ready", "fr", _context("client_ready", integrations_failed=[]))
    assert "thèmes" not in invitation.text and "<ul" not in (invitation.html or "")
    assert "connectées" in ready.text
    assert "échec" not in ready.text and "échec" not in (ready.html or "")


def test_render_subject_collapses_newlines_in_user_data(renderer: Renderer) -> None:
    """A newline in a client name cannot split the Subject header."""
    context = _context("expired", client_name="Dupont\r\nBcc: victim@example.com")
    rendered = renderer.render("expired", "en", context)
    assert rendered.subject == "Invitation expired: Dupont Bcc: victim@example.com"


def test_build_message_invitation_multipart_alternative(renderer: Renderer) -> None:
    """A rendered invitation becomes multipart/alternative: text/plain first, then text/html."""
    rendered = renderer.render("invitation", "fr", SAMPLE_CONTEXT["invitation"])
    message = build_message(
        rendered,
        mail_from="Fiduciaire Müller <bonjour@fiduciaire-muller.example>",
        recipient="elodie.lefevre@boulangerie-lefevre.example",
        message_id="<invitation.1.test@fiduciaire-muller.example>",
    )
    parsed = email.message_from_bytes(message.as_bytes(), policy=policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    parts = list(parsed.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    assert [part.get_content_charset() for part in parts] == ["utf-8", "utf-8"]
    assert parts[0].get_content() == rendered.text
    assert parts[1].get_content() == rendered.html
    assert parsed["Subject"] == rendered.subject
