"""The documentation site's reference pages that are generated from the code, so they cannot
drift from it: every setting (from the settings class), every command (from the Typer app), the
OpenAPI document (from the app), and the Swagger UI page that shows it offline."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer.main
from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from core.settings import Environment, Settings

ENV_PREFIX = "ONBOARDING_"


@dataclass(frozen=True)
class SettingEntry:
    name: str  # the field's name
    variables: list[str]  # the environment variables that set it, first the usual one
    type: str
    default: str
    description: str


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value: Any = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if value is None:
        return "unset"
    if isinstance(value, SecretStr):
        value = value.get_secret_value()  # a public placeholder, refused in production
    if isinstance(value, list):
        return json.dumps(value)
    return str(value.value if hasattr(value, "value") else value)


def _type(annotation: Any) -> str:
    text = annotation.__name__ if isinstance(annotation, type) else str(annotation)
    return re.sub(r"\b(?:[a-z_]+\.)+", "", text.replace("typing.", "")).replace("NoneType", "None")


def setting_entries(settings_class: type[Settings] = Settings) -> list[SettingEntry]:
    """One entry per field of the settings class, in the class's order."""
    entries = []
    for name, field in settings_class.model_fields.items():
        variables = [ENV_PREFIX + name.upper()]
        if isinstance(field.validation_alias, AliasChoices):
            variables = [str(choice) for choice in field.validation_alias.choices]
        entries.append(
            SettingEntry(
                name=name,
                variables=variables,
                type=_type(field.annotation),
                default=_default(field),
                description=_one_line(field.description),
            )
        )
    return entries


def _cell(text: str) -> str:
    """Text a Markdown table cell shows as written: a `|`, even in code, would end the cell, and
    `<NAME>` outside code would be read as an HTML tag."""
    parts = re.split(r"(`[^`]*`)", text.replace("|", "\\|"))
    return "".join(p if p.startswith("`") else p.replace("<", "&lt;") for p in parts)


def undocumented_settings(settings_class: type[Settings] = Settings) -> list[str]:
    """The settings whose reference entry would say nothing: no description, no docstring."""
    return [e.variables[0] for e in setting_entries(settings_class) if not e.description]


def settings_markdown() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for entry in setting_entries():
        variables = " or ".join(f"`{v}`" for v in entry.variables)
        kind = entry.type.replace(" | ", " or ")  # a `|` in a table's code span shows its `\\`
        rows.append(
            f"| {variables} | `{_cell(entry.default)}` | {_cell(entry.description)} (`{kind}`) |"
        )
    return "\n".join(rows) + "\n"


@dataclass(frozen=True)
class CommandEntry:
    path: str  # `onboarding partner create`
    help: str
    usage: str
    params: list[tuple[str, str, str]]  # (how it is written, its help, its default)


# Typer vendors its own click (typer._click), so commands are read by what they have, not by
# their class.
def _commands(command: Any, path: str) -> list[CommandEntry]:
    if hasattr(command, "commands"):
        found = []
        for name in sorted(command.commands):
            found += _commands(command.commands[name], f"{path} {name}")
        return found
    context = command.context_class(command, info_name=path)
    params = []
    for param in command.params:
        if param.name == "help":
            continue
        option = param.param_type_name == "option"
        written = ", ".join(param.opts) if option else (param.name or "").upper()
        if option and param.secondary_opts:
            written += " / " + ", ".join(param.secondary_opts)
        help_text = _one_line(getattr(param, "help", None))
        default = "" if param.required or param.default is None else str(param.default)
        params.append((written, help_text, default))
    usage = " ".join(command.collect_usage_pieces(context))
    return [CommandEntry(path, _one_line(command.help), f"{path} {usage}".strip(), params)]


def command_entries(app: typer.Typer | None = None) -> list[CommandEntry]:
    """Every command of `onboarding` (or of `app`), sub-commands included, by name."""
    if app is None:
        from cli.main import app as onboarding

        app = onboarding
    return _commands(typer.main.get_command(app), "onboarding")


def undocumented_commands(app: typer.Typer | None = None) -> list[str]:
    """The commands whose reference entry would say nothing: no docstring, no help."""
    return [entry.path for entry in command_entries(app) if not entry.help]


def cli_markdown() -> str:
    parts = []
    for entry in command_entries():
        parts.append(f"## `{entry.path}`\n\n{entry.help}\n\n```text\n{entry.usage}\n```\n")
        if entry.params:
            parts.append("| argument or option | meaning | default |\n|---|---|---|")
            for written, help_text, default in entry.params:
                shown = f"`{default}`" if default else ""
                parts.append(f"| `{_cell(written)}` | {_cell(help_text)} | {shown} |")
            parts.append("")
    return "\n".join(parts)


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document the API serves at /openapi.json (test settings: nothing connects)."""
    from api.main import create_app

    return create_app(Settings(env=Environment.test)).openapi()


def swagger_assets() -> dict[str, bytes]:
    """Swagger UI's files from the fastapi-offline wheel (the API's own /docs serves them too)."""
    import fastapi_offline

    static = Path(fastapi_offline.__file__).parent / "static"
    return {
        name: (static / name).read_bytes() for name in ("swagger-ui-bundle.js", "swagger-ui.css")
    }


# A page of its own (not inside a Material page, whose styles would fight Swagger UI's), with no
# inline script, loading only files next to it: the site works offline and under a strict CSP.
SWAGGER_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>HTTP API: the OpenAPI document</title>
<link rel="stylesheet" href="swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="swagger-ui-bundle.js"></script>
<script src="swagger-init.js"></script>
</body>
</html>
"""

SWAGGER_INIT = """SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  supportedSubmitMethods: [],
});
"""


def api_files() -> dict[str, bytes]:
    """The files of the site's static API reference, by their name under reference/api/."""
    files = swagger_assets()
    files["index.html"] = SWAGGER_PAGE.encode()
    files["swagger-init.js"] = SWAGGER_INIT.encode()
    files["openapi.json"] = json.dumps(openapi_document(), indent=1).encode()
    return files
