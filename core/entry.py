"""A process's settings, read once where the process starts and set up logging before anything.

The entry points (the `onboarding` command line, `python -m devstack.dev`, the benchmarks'
worker processes) call `read_settings` once and pass the result down; nothing else constructs
`Settings()` (tests/test_settings_house.py). Reading them anywhere else would skip this logging
setup, whose filters keep personal data and credentials out of every library's log lines
(core/logging.py), and could read another environment than the process started with.
"""

from __future__ import annotations

import os

from core.logging import configure_logging
from core.settings import LogFormat, Settings


def read_settings(*, person_watches: bool = False) -> Settings:
    """The settings from the environment, with logging set up from them. `person_watches`: a
    person reads the output (`onboarding dev`), so readable lines unless JSON is asked for
    explicitly with ONBOARDING_LOG_FORMAT."""
    settings = Settings()
    fmt = settings.log_format
    if person_watches and "ONBOARDING_LOG_FORMAT" not in os.environ:
        fmt = LogFormat.console
    configure_logging(level=settings.log_level, fmt=fmt)
    return settings
