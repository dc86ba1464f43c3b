"""MkDocs hooks (mkdocs.yml `hooks:`): the generated reference is made at build time, so the site
cannot show a setting, a command or a route that the code no longer has (or miss a new one).

A page asks for a generated part with a marker on a line of its own: `<!-- generated: settings -->`
or `<!-- generated: cli -->`; the static API reference (Swagger UI over the OpenAPI document) is
added as files under reference/api/."""

from __future__ import annotations

from typing import Any

from mkdocs.structure.files import File, Files

from docsgen import reference

GENERATED = {
    "<!-- generated: settings -->": reference.settings_markdown,
    "<!-- generated: cli -->": reference.cli_markdown,
}


def on_files(files: Files, config: Any, **kwargs: Any) -> Files:
    for name, content in reference.api_files().items():
        files.append(File.generated(config, f"reference/api/{name}", content=content))
    return files


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    for marker, generate in GENERATED.items():
        if marker in markdown:
            markdown = markdown.replace(marker, generate())
    return markdown
