"""The one settings class: every knob of the service, from ONBOARDING_* environment variables."""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.codec import DEV_KEY, DEV_KEY_ID, parse_keys
from core.hosts import HostPattern, parse_private_host
from domain.imports import ImportLimits
from domain.onboarding import Timeouts
from domain.retention import Table

PLACEHOLDER_SECRETS = frozenset({"", "changethis", "change-me", "dev-secret-change-me"})

# Temporal Cloud's endpoints: namespace (`ns.acct.tmprl.cloud`) and regional API-key ones
# (`us-east-1.aws.api.temporal.io`). They accept TLS only, with an API key or a client cert.
TEMPORAL_CLOUD_DOMAINS = (".tmprl.cloud", ".api.temporal.io")


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

    # hide_input_in_errors: a refused setting's error would otherwise print the whole input,
    # API keys and passwords included, in the traceback of `onboarding worker`/`api`.
    # use_attribute_docstrings: a field's docstring is its description, which the settings
    # reference of the documentation site is generated from (docsgen/reference.py).
    model_config = SettingsConfigDict(
        env_prefix="ONBOARDING_",
        extra="ignore",
        hide_input_in_errors=True,
        use_attribute_docstrings=True,
    )

    env: Environment = Environment.development
    """`development`, `test` or `production`; production refuses placeholder secrets and
    development-only shortcuts.
    """
    secret_key: SecretStr = Field(
        default=SecretStr("dev-secret-change-me"),
        description="Signs invitation tokens. Must be set to a real secret outside development.",
    )
    log_level: str = "INFO"
    """Python logging level of every logger (`DEBUG`, `INFO`, `WARNING`, ...)."""
    log_format: LogFormat = LogFormat.json
    """`json` (one object per line) or `console`; `onboarding dev` defaults to `console`."""

    # PostgreSQL. DATABASE_URL (no prefix) is honoured too, as hosting platforms set it.
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("ONBOARDING_DATABASE_URL", "DATABASE_URL"),
        description="postgresql:// URL; unset in `make dev` means the embedded PostgreSQL.",
    )
    database_pool_min: int = 1
    """Connections the asyncpg pool keeps open at least."""
    database_pool_max: int = 10
    """Connections the asyncpg pool opens at most."""

    # Temporal
    temporal_address: str = "127.0.0.1:7233"
    """Temporal frontend, `host:port`."""
    temporal_namespace: str = "default"
    """Temporal namespace of every workflow."""
    task_queue: str = "onboarding"
    """The worker's main task queue (workflows and every activity but the registry lookups)."""

    # Connecting to a production Temporal (self-hosted with TLS/mTLS, or Temporal Cloud); see
    # core/temporal.py::tls_config and docs/guides/deployers.md (production Temporal).
    temporal_tls: bool | None = Field(
        default=None,
        description="TLS to Temporal on or off; unset: on when a TLS file, a server name or "
        "an API key is set",
    )
    temporal_tls_server_ca_file: Path | None = Field(
        default=None,
        description="PEM file of the CA(s) that sign Temporal's server certificate; unset: the "
        "system's roots",
    )
    temporal_tls_client_cert_file: Path | None = Field(
        default=None, description="PEM client certificate (chain) for mTLS; needs the key file"
    )
    temporal_tls_client_key_file: Path | None = Field(
        default=None, description="PEM private key (unencrypted) of the client certificate"
    )
    temporal_tls_server_name: str | None = Field(
        default=None,
        description="Name sent as SNI and checked in the server's certificate, when it differs "
        "from the address's host",
    )
    temporal_api_key: SecretStr | None = Field(
        default=None, description="Temporal Cloud API key (sent as a bearer token); implies TLS"
    )

    # Payload encryption (core/codec.py) and the codec server for the Temporal UI and CLI
    payload_keys: SecretStr | None = Field(
        default=None,
        description="AES-256 keys that encrypt Temporal payloads, current and previous: "
        '{"id": "base64 of 32 bytes", ...} or "id:base64,...". Required outside development.',
    )
    payload_key_id: str | None = Field(
        default=None, description="The key that encrypts new payloads; default: the only key"
    )
    codec_token: SecretStr | None = Field(
        default=None,
        description="Bearer token of the codec server (/codec/encode, /codec/decode); unset "
        "means the codec server is off, except for loopback callers in development",
    )
    codec_cors_origins: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:8233", "http://localhost:8233"],
        description="Origins of the Temporal UI allowed to call the codec server from a browser",
    )

    # Company registry (SIRET lookup)
    registry_kind: str = Field(
        default="recherche-entreprises", description="recherche-entreprises or insee"
    )
    registry_base_url: str = "https://recherche-entreprises.api.gouv.fr"
    """Base URL of the company registry; `make dev` points it at its stand-in unless set."""
    registry_timeout_seconds: float = 5.0
    """Deadline of one registry request."""
    registry_user_agent: str = "onboarding-service/0.1 (+https://onboarding.dev)"
    """User-Agent sent to the registry."""
    registry_insee_api_key: SecretStr | None = None
    """INSEE Sirene API key, needed when `registry_kind` is `insee`."""
    registry_task_queue: str = "onboarding-registry"
    """The rate-limited task queue of registry lookups."""
    registry_rate_limit: float = Field(
        default=7.0, description="Lookups per second for the whole worker fleet (published limit)"
    )
    registry_fleet_margin: float = Field(
        default=0.0,
        ge=0,
        description="Fleet start slots are (1 + margin) / rate apart (the window counted from "
        "each request's end is what keeps the limit; this only spreads the starts)",
    )
    registry_fleet_horizon_seconds: float = Field(
        default=4.0,
        ge=0,
        description="How far ahead a lookup may reserve its fleet slot (what a killed worker "
        "can waste; plus the request timeout, within the lookup's 15 s)",
    )
    registry_queue_partitions: int = Field(
        default=4,
        ge=1,
        description="Partitions of the registry task queue on the Temporal server "
        "(matching.numTaskqueueReadPartitions; 4 by default): the queue's rate guard is the "
        "registry's rate times this, since the server splits a queue's limit between them",
    )
    # VIES, the EU's VAT number check (Belgian clients found in the KBO)
    vies_base_url: str = "https://ec.europa.eu/taxation_customs/vies/rest-api"
    """VIES, the EU's VAT number check; `make dev` points it at its stand-in unless set."""
    vies_timeout_seconds: float = 10.0
    """How long one VAT check may take before it is retried."""
    vies_rate_limit: float = Field(
        default=2.0,
        gt=0,
        description="VAT checks per second for the whole worker fleet (VIES publishes no limit "
        "but refuses bursts with MS_MAX_CONCURRENT_REQ)",
    )
    company_lookup_deadline_seconds: float = 120.0
    """Registry unreachable this long: the onboarding asks a person for the company details."""
    company_details_timeout_hours: float = 168.0
    """Nobody gives the company details this long: the onboarding FAILS with the reason."""
    integration_retry_window_hours: float = 168.0
    """How long a run stays open for retries of a failed integration."""
    max_run_age_days: float = Field(default=30.0, ge=1.0)
    """The longest an onboarding run waits (for an unmute, a manual send, its scheduled time, a
    resend, its director) before it continues as new with its state. No run is then older than
    this, so a workflow patch can retire on a known date: once every run started before it has
    continued as new (workflows/patches.py). Fixed in each onboarding's input when it starts,
    as its other deadlines are: a run must not change course when the setting does.
    """
    # When the onboarding's creator gets a reminder e-mail (company details still missing, failed
    # integrations not retried); unset: half-way to the deadline.
    company_details_reminder_hours: float | None = Field(default=None, gt=0)
    """When the onboarding's creator is reminded that company details are missing (a notice follows
    at the deadline); unset: half the timeout.
    """
    integration_reminder_hours: float | None = Field(default=None, gt=0)
    """When the creator is reminded of failed integrations not retried (a notice follows when the
    window closes); unset: half the window.
    """

    worker_max_cached_workflows: int = Field(
        default=200, ge=1, description="Workflows a worker keeps in memory between their tasks"
    )

    # Metrics for Prometheus (core/metrics.py; docs/reference/metrics.md)
    metrics_enabled: bool = Field(
        default=False,
        description="Serve GET /metrics on the API, unauthenticated (aggregate counts only, no "
        "ids); keep it off the public path",
    )
    metrics_refresh_seconds: float = Field(
        default=15.0,
        ge=0,
        description="How long /metrics reuses the onboarding counts it read from PostgreSQL",
    )
    metrics_stuck_after_hours: float = Field(
        default=48.0,
        gt=0,
        description="An unfinished onboarding whose status has not changed for this long "
        "counts as stuck in onboarding_stuck",
    )
    temporal_metrics_bind_address: str | None = Field(
        default=None,
        description="host:port where the Temporal SDK serves its Prometheus metrics (set it on "
        "workers); unset: off",
    )
    worker_metrics_bind_address: str | None = Field(
        default=None,
        description="host:port where a worker serves its own counters (registry requests, "
        "e-mails) for Prometheus; unset: off",
    )

    # Tracing with OpenTelemetry (core/tracing.py; docs/guides/ops.md, "Tracing")
    otlp_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("ONBOARDING_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
        description="Base URL of an OpenTelemetry collector's OTLP/HTTP receiver (e.g. "
        "http://otel-collector:4318; spans go to its /v1/traces); unset: no tracing",
    )
    tracing_sample_ratio: float = Field(
        default=1.0,
        ge=0,
        le=1,
        description="Share of API requests whose trace is kept (the workers follow each "
        "request's decision)",
    )

    # Bulk import
    import_window: int = Field(
        default=50, ge=1, le=500, description="Onboardings of one import setting up at once"
    )
    import_max_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1, description="Largest import file accepted (413 above)"
    )
    import_max_uncompressed_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1,
        description="Largest inflated size an .xlsx may declare (413 above), checked before "
        "inflating anything",
    )
    import_max_rows: int = Field(
        default=20_000, ge=1, description="Most client rows in one import file (422 above)"
    )
    import_max_columns: int = Field(
        default=200, ge=1, description="Most cells in one row of an import file (422 above)"
    )
    import_max_parallel: int = Field(
        default=2,
        ge=1,
        description="Import files read at once per API process, each in a worker process",
    )
    import_wait_seconds: float = Field(
        default=30.0,
        ge=0,
        description="How long an upload waits for a free reading slot before a 503",
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

    # Webhooks (Standard Webhooks): the worker's delivery loop, see worker/webhooks.py
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Deadline of one delivery attempt (the whole request)"
    )
    webhook_backoff_base_seconds: float = Field(
        default=5.0, gt=0, description="Wait after a first failed attempt; x4 after each next one"
    )
    webhook_backoff_max_seconds: float = Field(
        default=43_200.0, gt=0, description="Longest wait between two attempts (12 h)"
    )
    webhook_retry_window_hours: float = Field(
        default=72.0, gt=0, description="A delivery is retried for this long, then given up"
    )
    webhook_disable_after_hours: float = Field(
        default=72.0,
        ge=0,
        description="An endpoint failing with no success for this long is disabled and the "
        "partner's administrators are e-mailed",
    )
    webhook_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long a claimed delivery is reserved for one attempt; after it, a "
        "killed worker's delivery is retaken. Keep it above the timeout's worst case",
    )
    webhook_poll_seconds: float = Field(
        default=1.0, gt=0, description="Pause of the delivery loop when nothing is due"
    )
    webhook_batch_size: int = Field(default=20, ge=1, description="Deliveries sent at once")
    webhook_secret_grace_hours: float = Field(
        default=24.0, ge=0, description="After a rotation the previous secret signs this long"
    )

    # Retention (workflows/retention.py, on a Temporal schedule the worker registers): rows older
    # than each period are deleted in batches; 0 keeps a table's rows for ever.
    retention_cron: str = Field(
        default="17 3 * * *",
        description="When the retention schedule runs (cron, UTC): daily at 03:17 by default",
    )
    retention_batch_size: int = Field(
        default=5_000,
        ge=1,
        description="Rows deleted per statement (one short transaction each, a heartbeat after)",
    )
    retention_webhook_attempts_days: float = Field(
        default=30.0,
        ge=0,
        description="Webhook delivery attempts are kept this long after they started",
    )
    retention_webhook_deliveries_days: float = Field(
        default=90.0,
        ge=0,
        description="Webhook deliveries delivered or given up are kept this long (with their "
        "attempts); pending ones are never deleted",
    )
    retention_email_log_days: float = Field(
        default=365.0,
        ge=0,
        description="E-mail log rows (recipient, subject, outcome; never a body) of COMPLETED or "
        "FAILED onboardings are kept this long after they were written",
    )
    retention_sign_in_links_days: float = Field(
        default=7.0, ge=0, description="Console sign-in links are kept this long after they expired"
    )
    retention_console_sessions_days: float = Field(
        default=30.0,
        ge=0,
        description="Console sessions are kept this long after their absolute expiry",
    )
    retention_import_rows_days: float = Field(
        default=90.0,
        ge=0,
        description="The file rows of a finished import (no row left to settle) are kept this "
        "long after the import; the import itself and its onboardings stay",
    )

    # SMTP
    smtp_host: str = "127.0.0.1"
    """SMTP server host."""
    smtp_port: int = 1025
    """SMTP server port."""
    smtp_security: SmtpSecurity = SmtpSecurity.none
    """`none`, `starttls` or `tls` (implicit TLS)."""
    smtp_username: str | None = None
    """SMTP login, when set."""
    smtp_password: SecretStr | None = None
    """SMTP password, with `smtp_username`."""
    smtp_timeout_seconds: float = 10.0
    """Deadline of each SMTP operation."""
    mail_from: str = "Onboarding <no-reply@onboarding.localhost>"
    """Sender of every e-mail."""

    # Invitations and e-mail content
    public_base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Base of the links put in e-mails (the accept link)",
    )
    invitation_reminder_days: list[float] = Field(default_factory=lambda: [3.0, 7.0])
    """Reminders of an unaccepted invitation after these many days (JSON list)."""
    invitation_horizon_days: int = Field(
        default=366, ge=1, description="How far ahead an invitation may be scheduled"
    )
    invitation_expiry_days: float = 14.0
    """The invitation link's life."""
    email_fallback_language: str = "en"
    """Used when an e-mail template lacks the client's language (a warning is logged)."""

    # HTTP API
    allowed_hosts: list[str] = Field(
        # Loopback for `make dev`, the compose health check and the tests' servers; `testserver`
        # is Starlette's TestClient's.
        default_factory=lambda: ["127.0.0.1", "localhost", "::1", "testserver"],
        description="Host names the API answers for (the Host header), besides the public base "
        "URL's host: `api.example`, `*.example.com` (names below it), or `*` (any: only behind a "
        "proxy that checks it); any other name gets 400",
    )
    api_host: str = "127.0.0.1"
    """Where the API listens: address."""
    api_port: int = 8000
    """Where the API listens: port."""
    api_max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest request body (JSON); over it: 413"
    )
    api_max_upload_bytes: int | None = Field(
        default=None,
        ge=1024,
        description="Largest multipart upload; unset: import_max_bytes plus 1 MiB for the form",
    )
    docs_enabled: bool | None = Field(
        default=None,
        description="Serve Swagger UI at /docs (its assets from the API itself); unset: on in "
        "development and test, off in production. /openapi.json is served either way",
    )
    # Per-API-key rate limits, shared by every API process (a token bucket in PostgreSQL).
    api_rate_limit_per_second: float = Field(default=20.0, gt=0)
    """Each API key's token bucket, shared by every API process: refill per second."""
    api_rate_limit_burst: int = Field(default=40, ge=1)
    """Each API key's token bucket: its size (the burst)."""
    # Polling an import's progress (GET /v1/imports...) has a budget of its own.
    api_rate_limit_import_reads_per_second: float = Field(default=50.0, gt=0)
    """The same bucket for `GET /v1/imports/...`: refill per second."""
    api_rate_limit_import_reads_burst: int = Field(default=100, ge=1)
    """The same bucket for `GET /v1/imports/...`: its size."""

    # Failed authentications per client address (api/auth_failures.py): a token bucket in
    # PostgreSQL, shared by every API process. A partner's integration that fails to
    # authenticate does so on every call anyway; 60 a minute is far beyond a person mistyping.
    auth_failures_per_minute: float = Field(
        default=60.0,
        gt=0,
        description="Failed authentications (wrong API key, invitation or codec token) one "
        "client address may make per minute, once its burst is spent; past it every "
        "credential from that address is answered 429 until the bucket refills",
    )
    auth_failures_burst: int = Field(
        default=60, ge=1, description="Failed authentications one address may make at once"
    )
    client_address_header: str | None = Field(
        default=None,
        description="Header a reverse proxy sets to the client's address (X-Forwarded-For, "
        "X-Real-IP), believed only from trusted_proxies; unset: the peer address",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or networks (CIDR) of the reverse proxies whose "
        "client_address_header is believed",
    )

    # Embedded dev stack (`make dev`)
    devstack_dir: Path = Path(".devstack")
    """Where `make dev` keeps its data (PostgreSQL, Temporal's SQLite file, mail, logs)."""
    temporal_port: int = 7233
    """Dev stack: the Temporal dev server's gRPC port."""
    temporal_ui_port: int = 8233
    """Dev stack: the Temporal UI's port."""
    postgres_port: int = 54329
    """Dev stack: the embedded PostgreSQL's port."""
    smtp_sink_port: int = 1025
    """Dev stack: the SMTP sink's port."""
    registry_standin_port: int = 8081
    """Dev stack: the company-registry stand-in's port."""
    partner_app_port: int = 8082
    """Dev stack: the partner automation-app stand-in's port."""
    vies_standin_port: int = 8083
    """Dev stack: the VIES stand-in's port."""
    temporal_metrics_port: int = 9464  # the dev worker's Temporal SDK metrics
    """Dev stack: the worker's Temporal SDK metrics port."""
    worker_metrics_port: int = 9465  # the dev worker's own counters
    """Dev stack: the worker's own counters' port."""

    @field_validator("otlp_endpoint", mode="before")
    @classmethod
    def _check_otlp_endpoint(cls, value: object) -> object:
        if value == "" or value is None:
            return None  # compose passes `${VAR:-}` as an empty string: "not set"
        if not str(value).startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL, e.g. http://otel-collector:4318")
        return value

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

    @field_validator("allowed_hosts")
    @classmethod
    def _check_allowed_hosts(cls, value: list[str]) -> list[str]:
        for entry in value:
            name = entry.removeprefix("*.")
            if entry != "*" and (
                not name
                or any(c in name for c in "*/[]@ ")
                or name.count(":") == 1  # a port: names are matched whatever the port
            ):
                raise ValueError(
                    f"{entry!r}: a host name (`api.example`), `*.example.com` or `*`, "
                    "without scheme, port or brackets"
                )
        return [entry.lower() for entry in value]

    @field_validator("outbound_allowed_hosts")
    @classmethod
    def _check_outbound_hosts(cls, value: list[str]) -> list[str]:
        for entry in value:
            HostPattern.parse(entry)
        return value

    @field_validator("outbound_allow_private_hosts")
    @classmethod
    def _check_outbound_private_hosts(cls, value: list[str]) -> list[str]:
        for entry in value:
            parse_private_host(entry)
        return value

    @field_validator("temporal_metrics_bind_address", "worker_metrics_bind_address", mode="before")
    @classmethod
    def _check_bind_address(cls, value: object) -> object:
        if value == "" or value is None:
            return None  # compose passes `${VAR:-}` as an empty string: "not set"
        host, sep, port = str(value).rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be host:port, e.g. 0.0.0.0:9464")
        return value

    @field_validator("client_address_header", mode="before")
    @classmethod
    def _empty_header_is_unset(cls, value: object) -> object:
        return None if value == "" else value  # compose's `${VAR:-}`: "not set"

    @field_validator("trusted_proxies")
    @classmethod
    def _check_trusted_proxies(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an address or a network (CIDR)") from None
        return value

    @model_validator(mode="after")
    def _refuse_header_without_proxies(self) -> Self:
        # A header believed from any peer is one every client can set to any address it likes.
        if self.client_address_header is not None and not self.trusted_proxies:
            raise ValueError(
                "ONBOARDING_CLIENT_ADDRESS_HEADER needs ONBOARDING_TRUSTED_PROXIES: the "
                "addresses of the proxies that set it"
            )
        return self

    @field_validator("codec_token", "payload_key_id", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # docker compose passes `${VAR:-}` as an empty string: that means "not set".
        return None if value == "" else value

    @model_validator(mode="after")
    def _refuse_missing_payload_keys(self) -> Self:
        # Parsed here so a bad key stops every process at start-up, not at the first workflow.
        keys, current = self.payload_keyring()
        if self.env in (Environment.development, Environment.test):
            return self
        if current == DEV_KEY_ID or DEV_KEY in keys.values():
            raise ValueError(
                "ONBOARDING_PAYLOAD_KEYS must be set to real keys (not the development key) "
                f"when ONBOARDING_ENV={self.env.value}"
            )
        token = self.codec_token
        if token is not None and token.get_secret_value() in PLACEHOLDER_SECRETS:
            raise ValueError(
                "ONBOARDING_CODEC_TOKEN must be a real secret (or unset: codec server off) "
                f"when ONBOARDING_ENV={self.env.value}"
            )
        return self

    @field_validator(
        "temporal_tls",
        "temporal_tls_server_ca_file",
        "temporal_tls_client_cert_file",
        "temporal_tls_client_key_file",
        "temporal_tls_server_name",
        "temporal_api_key",
        mode="before",
    )
    @classmethod
    def _empty_temporal_setting_is_unset(cls, value: object) -> object:
        # compose passes `${VAR:-}` as an empty string: "not set", not "TLS off" nor a file "".
        return None if value == "" else value

    @model_validator(mode="after")
    def _refuse_unusable_temporal_connection(self) -> Self:
        # Checked here, files read and parsed, so `onboarding worker` and `api` stop at start-up
        # naming the setting, not at their first call with a TLS library's error. The messages
        # name settings and paths only, never a key or a certificate's content.
        problems = _temporal_connection_problems(self)
        if problems:
            raise ValueError("Temporal connection settings refused: " + "; ".join(problems))
        return self

    def temporal_tls_enabled(self) -> bool:
        """Whether the Temporal connection uses TLS: as set, else on as soon as something that
        only TLS can carry is set (a CA, a client certificate, a server name, an API key)."""
        if self.temporal_tls is not None:
            return self.temporal_tls
        return bool(_temporal_tls_settings_set(self))

    def payload_keyring(self) -> tuple[dict[str, bytes], str]:
        """(every key that decrypts, the id of the one that encrypts), from the settings.

        With no keys configured: the public development key (refused outside development and
        test by the validator). In development and test the development key always decrypts,
        so a local history written before keys were configured still reads.
        """
        raw = self.payload_keys.get_secret_value() if self.payload_keys else ""
        if raw.strip() in PLACEHOLDER_SECRETS:
            return {DEV_KEY_ID: DEV_KEY}, DEV_KEY_ID
        keys = parse_keys(raw)
        current = self.payload_key_id
        if current is None:
            if len(keys) != 1:
                raise ValueError(
                    "ONBOARDING_PAYLOAD_KEY_ID must name the current key when several are given"
                )
            current = next(iter(keys))
        if current not in keys:
            raise ValueError(
                f"ONBOARDING_PAYLOAD_KEY_ID {current!r} is not among ONBOARDING_PAYLOAD_KEYS"
            )
        if self.env in (Environment.development, Environment.test):
            keys.setdefault(DEV_KEY_ID, DEV_KEY)
        return keys, current

    def served_hosts(self) -> list[str]:
        """The host names the API answers for: the allowed ones and the public base URL's."""
        public = urlsplit(self.public_base_url).hostname
        return [*self.allowed_hosts, *([public] if public else [])]

    def serves_docs(self) -> bool:
        """Whether /docs is served: as set, else outside production only. A production API is
        the partners' endpoint, not a browsing site: a page running a 1.5 MB third-party
        script on the API's own origin is attack surface nobody there needs by default."""
        if self.docs_enabled is not None:
            return self.docs_enabled
        return self.env != Environment.production

    def upload_limit(self) -> int:
        """The body limit for uploads: by default derived from the import file's own limit, so
        the two cannot drift apart (the import route then names the file limit itself)."""
        if self.api_max_upload_bytes is not None:
            return self.api_max_upload_bytes
        return self.import_max_bytes + 1_048_576

    def onboarding_timeouts(self) -> Timeouts:
        """The deadlines an onboarding started now will keep for its whole life."""
        return Timeouts(
            company_lookup=timedelta(seconds=self.company_lookup_deadline_seconds),
            company_details=timedelta(hours=self.company_details_timeout_hours),
            integration_retry_window=timedelta(hours=self.integration_retry_window_hours),
            invitation_reminders=[timedelta(days=d) for d in self.invitation_reminder_days],
            invitation_expiry=timedelta(days=self.invitation_expiry_days),
            details_reminder_after=None
            if self.company_details_reminder_hours is None
            else timedelta(hours=self.company_details_reminder_hours),
            integration_reminder_after=None
            if self.integration_reminder_hours is None
            else timedelta(hours=self.integration_reminder_hours),
            max_run_age=timedelta(days=self.max_run_age_days),
        )

    def import_limits(self) -> ImportLimits:
        """What one import file may hold (the API refuses the rest, naming the limit)."""
        return ImportLimits(
            max_bytes=self.import_max_bytes,
            max_uncompressed_bytes=self.import_max_uncompressed_bytes,
            max_rows=self.import_max_rows,
            max_columns=self.import_max_columns,
        )

    def retention_periods(self) -> dict[Table, float]:
        """Days each table's rows are kept (0: for ever)."""
        return {
            Table.webhook_attempts: self.retention_webhook_attempts_days,
            Table.webhook_deliveries: self.retention_webhook_deliveries_days,
            Table.email_log: self.retention_email_log_days,
            Table.console_sign_in_links: self.retention_sign_in_links_days,
            Table.console_sessions: self.retention_console_sessions_days,
            Table.import_rows: self.retention_import_rows_days,
        }

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


def _env_name(field: str) -> str:
    return f"ONBOARDING_{field.upper()}"


def _temporal_tls_settings_set(settings: Settings) -> list[str]:
    """The environment names of the set Temporal settings that need TLS."""
    values = {
        "temporal_tls_server_ca_file": settings.temporal_tls_server_ca_file,
        "temporal_tls_client_cert_file": settings.temporal_tls_client_cert_file,
        "temporal_tls_client_key_file": settings.temporal_tls_client_key_file,
        "temporal_tls_server_name": settings.temporal_tls_server_name,
        "temporal_api_key": settings.temporal_api_key,
    }
    return [_env_name(field) for field, value in values.items() if value is not None]


def _is_temporal_cloud(address: str) -> bool:
    host = address.rpartition(":")[0] or address
    return host.strip("[]").rstrip(".").lower().endswith(TEMPORAL_CLOUD_DOMAINS)


def _temporal_connection_problems(settings: Settings) -> list[str]:
    """Why these settings cannot make a working Temporal connection, in the settings' names."""
    problems: list[str] = []
    cert = settings.temporal_tls_client_cert_file
    key = settings.temporal_tls_client_key_file
    cert_name = _env_name("temporal_tls_client_cert_file")
    key_name = _env_name("temporal_tls_client_key_file")
    if cert is not None and key is None:
        problems.append(f"{cert_name} is set without {key_name} (mTLS needs both)")
    if key is not None and cert is None:
        problems.append(f"{key_name} is set without {cert_name} (mTLS needs both)")
    api_key = settings.temporal_api_key
    if api_key is not None and api_key.get_secret_value().strip() in PLACEHOLDER_SECRETS:
        problems.append(f"{_env_name('temporal_api_key')} is a placeholder, not an API key")
    needing_tls = _temporal_tls_settings_set(settings)
    if settings.temporal_tls is False and needing_tls:
        problems.append(
            f"{_env_name('temporal_tls')}=false contradicts {', '.join(needing_tls)}, "
            "which only TLS can carry (an API key in plaintext would travel readable)"
        )
    if _is_temporal_cloud(settings.temporal_address):
        address = _env_name("temporal_address")
        if not settings.temporal_tls_enabled():
            remedy = (
                f"remove {_env_name('temporal_tls')}=false"
                if settings.temporal_tls is False
                else f"set {_env_name('temporal_api_key')} or a client certificate"
            )
            problems.append(
                f"{address} is a Temporal Cloud endpoint, which accepts TLS only: plaintext "
                f"refused ({remedy})"
            )
        elif api_key is None and cert is None:
            problems.append(
                f"{address} is a Temporal Cloud endpoint: set {_env_name('temporal_api_key')} "
                f"or a client certificate ({cert_name} and {key_name})"
            )
    ca = settings.temporal_tls_server_ca_file
    if ca is not None:
        problems += _certificate_problems(_env_name("temporal_tls_server_ca_file"), ca)
    if cert is not None and key is not None:
        cert_problems = _certificate_problems(cert_name, cert)
        problems += cert_problems or _key_problems(key_name, key, cert_name=cert_name, cert=cert)
    return problems


# The PEM checks below never pass a parser's error on: OpenSSL's text may quote the bytes it
# choked on, which for a key file is the secret itself. The cryptography imports are local so
# only a process configured for TLS loads the X.509 machinery.


def _read(name: str, path: Path) -> bytes | str:
    """The file's bytes, or why it cannot be read."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return f"{name}: no file at {path}"
    except OSError as exc:
        return f"{name}: {path} cannot be read ({exc.strerror or type(exc).__name__})"


def _certificate_problems(name: str, path: Path) -> list[str]:
    from cryptography import x509

    data = _read(name, path)
    if isinstance(data, str):
        return [data]
    try:
        x509.load_pem_x509_certificates(data)
    except ValueError:
        return [f"{name}: {path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"]
    return []


def _key_problems(name: str, path: Path, *, cert_name: str, cert: Path) -> list[str]:
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    data = _read(name, path)
    if isinstance(data, str):
        return [data]
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        return [f"{name}: {path} is encrypted; Temporal's client needs an unencrypted key"]
    except (ValueError, UnsupportedAlgorithm):
        return [f"{name}: {path} holds no PEM private key (-----BEGIN PRIVATE KEY-----)"]
    # The key types the SDK's TLS stack (rustls) signs with.
    if not isinstance(
        key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    ):
        return [f"{name}: {path} is a {type(key).__name__}; use an RSA, ECDSA or Ed25519 key"]
    leaf = x509.load_pem_x509_certificates(cert.read_bytes())[0]
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != leaf.public_key().public_bytes(*spki):
        return [f"{name}: {path} is not the key of the certificate in {cert_name}"]
    return []
