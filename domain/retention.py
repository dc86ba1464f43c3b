"""The tables under a retention policy: each has a period setting, a deleter in store/retention.py
and a label of the `onboarding_retention_rows_removed` metric."""

from __future__ import annotations

from enum import StrEnum


class Table(StrEnum):
    webhook_attempts = "webhook_attempts"
    webhook_deliveries = "webhook_deliveries"
    email_log = "email_log"
    console_sign_in_links = "console_sign_in_links"
    console_sessions = "console_sessions"
    import_rows = "import_rows"
