"""Where the command line reads its settings: once per process, at its entry, with logging set up
from them before the command does anything with them.

The `onboarding` callback puts one `Entry` on the click context; each command asks it for the
settings (`settings_of(ctx)`). Reading them is deferred to that first ask, not done in the
callback: `--help` and the commands that need no settings (`preview-email`, `mail --dir`) must
keep working where the environment would not validate (a production shell without its secrets).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import typer

from core.entry import read_settings
from core.settings import Settings


@dataclass
class Entry:
    """The settings of this run of the command line, read at most once."""

    # A person reads the output (`onboarding dev`): core/entry.py's readable lines.
    person_watches: bool = False
    _settings: Settings | None = field(default=None, repr=False)

    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = read_settings(person_watches=self.person_watches)
        return self._settings


def settings_of(ctx: typer.Context) -> Settings:
    """The settings of this run, from the `Entry` the `onboarding` callback made."""
    # ensure_object: a sub-app invoked on its own (cli/kbo.py's app in a test) makes its own.
    return ctx.ensure_object(Entry).settings()
