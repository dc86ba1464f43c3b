"""The one settings class: every knob of the service, from ONBOARDING_* environment variables."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Self

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core import outbound
from domain.onboarding import Timeouts

PLACEHOLDER_SECRETS = frozenset({"", "changethis", "change-me", "dev-secret-change-me"})


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class SmtpSecurity(StrEnum):
    none = "none"
    starttls = "starttls"
    tls = "tls"


class LogFormat(StrEnum):
    json = "json"
    console = "console"


class Settings(BaseSettings):
    """Configuration of the API, the worker and the embedded dev stack.

    Passed down explicitly; nothing deep inside the code reads the environment itself.
    """

    model_config = SettingsConfigDict(env_prefix="ONBOARDING_", extra="ignore")

    env: Environment = Environment.development
    secret_key: SecretStr = Field(
        default=SecretStr("dev-secret-change-me"),
        description="Signs invitation tokens. Must be set to a real secret outside development.",
    )
    log_level: str = "INFO"
    log_format: LogFormat = LogFormat.json

    # PostgreSQL. DATABASE_URL (no prefix) is honoured too, as hosting platforms set it.
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("ONBOARDING_DATABASE_URL", "DATABASE_URL"),
        description="postgresql:// URL; unset in `make dev` means the embedded PostgreSQL.",
    )
    database_pool_min: int = 1
    database_pool_max: int = 10

    # Temporal
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    task_queue: str = "onboarding"

    # Company registry (SIRET lookup)
    registry_kind: str = Field(
        default="recherche-entreprises", description="recherche-entreprises or insee"
    )
    registry_base_url: str = "https://recherche-entreprises.api.gouv.fr"
    registry_timeout_seconds: float = 5.0
    registry_user_agent: str = "onboarding-service/0.1 (+https://onboarding.dev)"
    registry_insee_api_key: SecretStr | None = None
    registry_task_queue: str = "onboarding-registry"
    registry_rate_limit: float = Field(
        default=7.0, description="Lookups per second for the whole worker fleet (published limit)"
    )
    company_lookup_deadline_seconds: float = 120.0
    company_details_timeout_hours: float = 168.0
    integration_retry_window_hours: float = 168.0

    # Bulk import
    import_window: int = Field(
        default=50, ge=1, le=500, description="Onboardings of one import setting up at once"
    )

    # Outbound calls to URLs partners choose (integrations' connect_url): see core/outbound.py
    outbound_allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts outbound calls may reach: `partner.example` or `*.partner.example`, "
        "with an optional `:port`; empty means any public host",
    )
    outbound_allow_private_hosts: list[str] = Field(
        default_factory=list,
        description="Exact `host:port` entries reachable although private or loopback (the dev "
        "stack's and the tests' stand-ins); never a wildcard",
    )

    # SMTP
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_security: SmtpSecurity = SmtpSecurity.none
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_seconds: float = 10.0
    mail_from: str = "Onboarding <no-reply@onboarding.localhost>"

    # Invitations and e-mail content
    public_base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Base of the links put in e-mails (the accept link)",
    )
    invitation_reminder_days: list[float] = Field(default_factory=lambda: [3.0, 7.0])
    invitation_expiry_days: float = 14.0
    email_fallback_language: str = "en"

    # HTTP API
    api_host: str = "127.0.0.1"
    api_port: int = 8000

    # Embedded dev stack (`make dev`)
    devstack_dir: Path = Path(".devstack")
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    postgres_port: int = 54329
    smtp_sink_port: int = 1025
    registry_standin_port: int = 8081
    partner_app_port: int = 8082

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Self:
        if (
            self.env == Environment.production
            and self.secret_key.get_secret_value() in PLACEHOLDER_SECRETS
        ):
            raise ValueError(
                "ONBOARDING_SECRET_KEY must be set to a real secret when ONBOARDING_ENV=production"
            )
        return self

    @field_validator("outbound_allowed_hosts")
    @classmethod
    def _check_outbound_hosts(cls, value: list[str]) -> list[str]:
        for entry in value:
            outbound.HostPattern.parse(entry)
        return value

    @field_validator("outbound_allow_private_hosts")
    @classmethod
    def _check_outbound_private_hosts(cls, value: list[str]) -> list[str]:
        for entry in value:
            outbound.parse_private_host(entry)
        return value

    def onboarding_timeouts(self) -> Timeouts:
        """The deadlines an onboarding started now will keep for its whole life."""
        return Timeouts(
            company_lookup=timedelta(seconds=self.company_lookup_deadline_seconds),
            company_details=timedelta(hours=self.company_details_timeout_hours),
            integration_retry_window=timedelta(hours=self.integration_retry_window_hours),
            invitation_reminders=[timedelta(days=d) for d in self.invitation_reminder_days],
            invitation_expiry=timedelta(days=self.invitation_expiry_days),
        )

    def embedded_database_url(self) -> str:
        """The database `make dev` runs in its embedded PostgreSQL."""
        return f"postgresql://postgres@127.0.0.1:{self.postgres_port}/onboarding"

    def require_database_url(self) -> str:
        """The configured database; in development, the dev stack's embedded one by default,
        so `onboarding partner create` and friends work next to `make dev` with no set-up."""
        if self.database_url:
            return self.database_url
        if self.env == Environment.development:
            return self.embedded_database_url()
        raise RuntimeError("No database configured: set ONBOARDING_DATABASE_URL (or DATABASE_URL).")
