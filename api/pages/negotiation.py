"""Content negotiation for the pages: HTML or JSON from one URL (`Accept`), and the page's
language (`Accept-Language`, else the partner's)."""

from __future__ import annotations

from api.pages.texts import LANGUAGES


def _media_ranges(accept: str) -> dict[str, float]:
    ranges: dict[str, float] = {}
    for item in accept.split(","):
        media, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media:
            ranges[media.strip().lower()] = quality
    return ranges


def wants_html(accept: str | None) -> bool:
    """True when the caller names text/html and prefers it to JSON (a browser); `*/*`, no Accept
    header or application/json keep the JSON answer API callers have always had."""
    ranges = _media_ranges(accept or "")
    html = ranges.get("text/html", 0.0)
    json = max(ranges.get("application/json", 0.0), ranges.get("*/*", 0.0))
    return html > 0 and html > json


def language_of(accept_language: str | None, fallback: str) -> str:
    """The browser's preferred language among ours, for links that name no client."""
    ranges = _media_ranges(accept_language or "")
    best, best_q = fallback, 0.0
    for tag, quality in ranges.items():
        primary = tag.split("-")[0]
        if primary in LANGUAGES and quality > best_q:
            best, best_q = primary, quality
    return best if best in LANGUAGES else "en"
