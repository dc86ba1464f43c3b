"""The client's integrations: connecting each app during the onboarding and after it (the
collaborators and subscription step is activities/client_setup.py).

Connecting an integration goes through a `Connector`, one per kind of partner app:
- redirection apps only grant the client access: nothing to call, the app is connected;
- automation apps receive the client's settings (secrets included) by an HTTP POST to their
  `connect_url`, with an Idempotency-Key the app uses to recognise a retry of the same connection.
  The call goes through the outbound policy (core/outbound.py): a URL that is not https in
  production, not allow-listed, or that resolves to a private, loopback or link-local address is
  never called, and redirects are never followed.

The same activity connects an app added or reconfigured after onboarding
(workflows/integrations.py): its input then names the change, whose row holds the secrets, and
the Idempotency-Key names it too, so each change is one connection at the app however often it
is retried. Removing calls the app's `disconnect_url` (disconnect_integration) the same way.

Outcomes, and what Temporal does with each:
- connected -> the client_integrations row says so, with the app's connection id;
- unavailable (5xx, 408, 429, timeout, connection trouble) -> a retryable failure;
- rejected (another 4xx, or a redirect) or misconfigured (a required setting missing or of the
  wrong type, no connect_url, a connect_url the outbound policy refuses) -> non-retryable: the
  same request cannot succeed later; a human fixes the settings and the workflow's update
  retries it.
Every failed attempt is written to the row before the error is raised, so the row shows the last
error even while Temporal is still retrying.

Error texts are ours ("answered 500", "timed out"), never the app's body: they reach the
onboarding's status, which every role of the partner reads, and whatever answers at connect_url
(an internal service, if the URL were ever pointed at one) must not be able to speak there.

Secret settings never travel in workflow inputs (the effective setup carries a mask), so this
module loads their real values from the database; they are never logged, and since no error
carries remote text, no error can carry a secret an app echoed back.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, Protocol

import httpx
from pydantic import BaseModel, ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.registry import parse_retry_after
from core import outbound
from core.outbound import OutboundPolicy, OutboundRefused, OutboundUnresolvable
from domain.error_types import ErrorType
from domain.setup import (
    SECRET_MASK,
    EffectiveIntegration,
    Integration,
    IntegrationKind,
    _check_setting,
)
from store import applied_setup as store
from store import catalogs
from store import integration_changes as changes
from store.pool import Pool

DEFAULT_CONNECT_TIMEOUT_SECONDS = 10.0
# What an app's connection id may look like to be kept: it is shown in the client's status, so
# an answer from something that is not an app cannot put arbitrary text there.
_CONNECTION_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,200}$")
# When a 429 comes without Retry-After: Temporal's own backoff would start at 1s anyway.
DEFAULT_RETRY_AFTER_SECONDS = 1.0

MISCONFIGURED = ErrorType.IntegrationMisconfigured
REJECTED = ErrorType.IntegrationRejected
UNAVAILABLE = ErrorType.IntegrationUnavailable


# ---- connectors -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectRequest:
    """One client's connection to one app, with the real setting values."""

    client_id: uuid.UUID
    partner_id: uuid.UUID
    app: Integration
    # Real secrets: kept out of repr so an accidental log line or traceback cannot show them.
    settings: dict[str, Any] = field(repr=False)
    # A change after onboarding (store/integration_changes.py); None: the onboarding's own.
    change_id: uuid.UUID | None = None

    @property
    def idempotency_key(self) -> str:
        # Stable across retries and re-runs of the same (client, app), and free of secrets. A
        # later change is a connection of its own (new settings the app must take), so its key
        # names it: retries of one change are recognised, a reconfiguration is not mistaken
        # for a retry of the first connection.
        if self.change_id is None:
            return f"{self.client_id}:{self.app.code}"
        return f"{self.client_id}:{self.app.code}:{self.change_id}"


@dataclass(frozen=True)
class DisconnectRequest:
    """One client's connection to one app, to end."""

    client_id: uuid.UUID
    partner_id: uuid.UUID
    app: Integration
    change_id: uuid.UUID
    external_ref: str | None

    @property
    def idempotency_key(self) -> str:
        return f"{self.client_id}:{self.app.code}:{self.change_id}:disconnect"


@dataclass(frozen=True)
class ConnectOutcome:
    """The app is connected; failures are raised as ApplicationError instead."""

    external_ref: str | None = None


class Connector(Protocol):
    async def connect(self, request: ConnectRequest) -> ConnectOutcome:
        """Connect the client to the app, or raise ApplicationError (see the module docstring)."""
        ...


class RedirectionConnector:
    """Redirection apps: granting access is all there is, so the client is connected at once."""

    async def connect(self, request: ConnectRequest) -> ConnectOutcome:
        return ConnectOutcome()


def validated_settings(app: Integration, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings the app declares, checked against its specs; IntegrationMisconfigured names
    every missing or ill-typed setting (never a value: some are secrets)."""
    problems: list[str] = []
    checked: dict[str, Any] = {}
    for spec in app.settings:
        value = settings.get(spec.name)
        # A mask is never a value, whether the setting is secret now or only was before.
        if value is None or value == "" or value == SECRET_MASK:
            if spec.required:
                problems.append(f"{spec.name!r} is required")
            continue
        problem = _check_setting(spec, value)
        if problem:
            problems.append(f"{spec.name!r} {problem}")
            continue
        checked[spec.name] = value
    if problems:
        raise ApplicationError(
            f"integration {app.code!r} is misconfigured: {'; '.join(problems)}",
            type=MISCONFIGURED,
            non_retryable=True,
        )
    return checked


class AutomationConnector:
    """Automation apps: POST the client's settings to the app's connect_url."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        timeout: float = DEFAULT_CONNECT_TIMEOUT_SECONDS,
        outbound_policy: OutboundPolicy | None = None,
    ) -> None:
        self._http = http
        self.timeout = timeout
        # No policy given: the strictest (https only, public hosts), never an open one.
        self.policy = outbound_policy or OutboundPolicy()

    async def connect(self, request: ConnectRequest) -> ConnectOutcome:
        app = request.app
        settings = validated_settings(app, request.settings)
        response = await self._post(
            app,
            "connect_url",
            app.connect_url,
            body={
                "client_id": str(request.client_id),
                "partner_id": str(request.partner_id),
                "integration": app.code,
                "settings": settings,
            },
            key=request.idempotency_key,
        )
        if response.is_success:
            return ConnectOutcome(external_ref=_connection_id(response))
        raise self._refusal(app, response, "refused the connection")

    async def disconnect(self, request: DisconnectRequest) -> None:
        """Tell the app the client's connection is over; no disconnect_url: nothing to tell.
        The app no longer knowing the connection (404, 410) is what was asked."""
        app = request.app
        if not app.disconnect_url:
            return
        response = await self._post(
            app,
            "disconnect_url",
            app.disconnect_url,
            body={
                "client_id": str(request.client_id),
                "partner_id": str(request.partner_id),
                "integration": app.code,
                "connection_id": request.external_ref,
            },
            key=request.idempotency_key,
        )
        if response.is_success or response.status_code in (404, 410):
            return
        raise self._refusal(app, response, "refused the disconnection")

    async def _post(
        self, app: Integration, url_name: str, url: str | None, *, body: Any, key: str
    ) -> httpx.Response:
        name = f"integration {app.code!r}"
        if not url:
            raise ApplicationError(
                f"{name} is misconfigured: automation app without {url_name}",
                type=MISCONFIGURED,
                non_retryable=True,
            )
        try:
            return await outbound.request(
                self._http,
                self.policy,
                "POST",
                url,
                json=body,
                headers={"Idempotency-Key": key},
                timeout=self.timeout,
            )
        except OutboundRefused as exc:
            raise ApplicationError(
                f"{name} is misconfigured: {url_name} is not allowed: {exc.reason}",
                type=MISCONFIGURED,
                non_retryable=True,
            ) from None
        # The request carries secrets, so `from None`: no exception whose text we do not
        # control is chained into the failure Temporal stores.
        except OutboundUnresolvable:
            # Retryable: a name that does not resolve now may be a DNS outage.
            raise ApplicationError(
                f"{name}: the {url_name} host does not resolve", type=UNAVAILABLE
            ) from None
        except httpx.TimeoutException:
            raise ApplicationError(
                f"{name} timed out (no answer within {self.timeout:g}s)", type=UNAVAILABLE
            ) from None
        except httpx.ConnectError:
            raise ApplicationError(
                f"{name} could not be reached (connection refused or failed)", type=UNAVAILABLE
            ) from None
        except httpx.RequestError as exc:
            raise ApplicationError(
                f"{name} could not be reached ({type(exc).__name__})", type=UNAVAILABLE
            ) from None

    def _refusal(self, app: Integration, response: httpx.Response, what: str) -> ApplicationError:
        """The error an unsuccessful answer means: retryable or not (module docstring)."""
        name = f"integration {app.code!r}"
        status = response.status_code
        if status == httpx.codes.TOO_MANY_REQUESTS:
            # next_retry_delay replaces the retry policy's backoff for this one retry, so the
            # next attempt comes when the app said it would take it.
            delay = parse_retry_after(
                response.headers.get("Retry-After"), default=DEFAULT_RETRY_AFTER_SECONDS
            )
            return ApplicationError(
                f"{name} is rate limiting (answered {status})",
                type=UNAVAILABLE,
                next_retry_delay=timedelta(seconds=delay),
            )
        if status >= 500 or status == httpx.codes.REQUEST_TIMEOUT:
            return ApplicationError(f"{name} answered {status}", type=UNAVAILABLE)
        if response.is_redirect:
            return ApplicationError(
                f"{name} answered {status}, a redirect; redirects are not followed: set "
                "its URL to the final address",
                type=REJECTED,
                non_retryable=True,
            )
        return ApplicationError(
            f"{name} {what} (answered {status})", type=REJECTED, non_retryable=True
        )


def _connection_id(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None  # accepted without saying more: connected, no reference to keep
    ref = body.get("connection_id") if isinstance(body, dict) else None
    if isinstance(ref, (str, int)) and not isinstance(ref, bool):
        text = str(ref)
        return text if _CONNECTION_ID.match(text) else None
    return None


# ---- activity inputs and results ----------------------------------------------------------------


class ConnectIntegrationInput(BaseModel):
    client_id: uuid.UUID
    partner_id: uuid.UUID
    onboarding_id: uuid.UUID
    template_id: uuid.UUID | None = None
    # Secret settings hold SECRET_MASK here: this input is stored in workflow history.
    integration: EffectiveIntegration
    # A change after onboarding: its secrets are the change's, its idempotency key its own.
    change_id: uuid.UUID | None = None


class ConnectIntegrationResult(BaseModel):
    code: str
    state: Literal["connected"]
    external_ref: str | None
    attempt: int


class RecordIntegrationFailureInput(BaseModel):
    client_id: uuid.UUID
    code: str
    kind: IntegrationKind
    error: str


class DisconnectIntegrationInput(BaseModel):
    client_id: uuid.UUID
    partner_id: uuid.UUID
    change_id: uuid.UUID
    code: str
    kind: IntegrationKind


class DisconnectIntegrationResult(BaseModel):
    code: str
    state: Literal["removed"]
    attempt: int


class FinishIntegrationChangeInput(BaseModel):
    change_id: uuid.UUID
    state: Literal["done", "failed"]
    error: str | None = None


# ---- activities ---------------------------------------------------------------------------------


class IntegrationActivities:
    def __init__(
        self,
        pool: Pool,
        http: httpx.AsyncClient,
        *,
        timeout: float = DEFAULT_CONNECT_TIMEOUT_SECONDS,
        outbound_policy: OutboundPolicy | None = None,
        connectors: Mapping[IntegrationKind, Connector] | None = None,
    ) -> None:
        self.pool = pool
        self.connectors: Mapping[IntegrationKind, Connector] = connectors or {
            IntegrationKind.redirection: RedirectionConnector(),
            IntegrationKind.automation: AutomationConnector(http, timeout, outbound_policy),
        }

    @activity.defn
    async def connect_integration(self, data: ConnectIntegrationInput) -> ConnectIntegrationResult:
        code = data.integration.code
        attempt = activity.info().attempt
        existing = await store.get_integration(self.pool, client_id=data.client_id, code=code)
        if (
            existing is not None
            and existing.state == "connected"
            and (data.change_id is None or existing.change_id == data.change_id)
        ):
            # Already done (a replay, or a retry after a lost acknowledgement): calling the app
            # again would at best be deduplicated by it. A later change's connection is done
            # only once that change connected it (a reconfiguration starts from connected).
            return ConnectIntegrationResult(
                code=code, state="connected", external_ref=existing.external_ref, attempt=attempt
            )
        try:
            request = await self._request(data)
            outcome = await self.connectors[request.app.kind].connect(request)
        except ApplicationError as exc:
            await self._record_failure(data, exc.message)
            activity.logger.warning(
                "integration not connected",
                extra={"integration": code, "error_type": exc.type, "attempt": attempt},
            )
            raise
        except Exception as exc:
            # Unexpected: its text is not ours to vouch for, so only its type is recorded.
            await self._record_failure(data, f"internal error ({type(exc).__name__})")
            raise
        row = await store.upsert_integration_state(
            self.pool,
            client_id=data.client_id,
            code=code,
            kind=data.integration.kind.value,
            state="connected",
            external_ref=outcome.external_ref,
        )
        activity.logger.info(
            "integration connected",
            extra={"integration": code, "kind": row.kind, "attempt": attempt},
        )
        return ConnectIntegrationResult(
            code=code, state="connected", external_ref=row.external_ref, attempt=attempt
        )

    @activity.defn
    async def record_integration_failure(self, data: RecordIntegrationFailureInput) -> None:
        """The workflow's verdict once retries are exhausted (or the last attempt timed out and
        could not record itself): not an attempt of its own, so `attempts` is unchanged."""
        await store.upsert_integration_state(
            self.pool,
            client_id=data.client_id,
            code=data.code,
            kind=data.kind.value,
            state="failed",
            error=data.error,
            attempted=False,
        )

    @activity.defn
    async def disconnect_integration(
        self, data: DisconnectIntegrationInput
    ) -> DisconnectIntegrationResult:
        """End the client's connection to the app (its disconnect_url told, once per change:
        the Idempotency-Key names the change), then record it removed."""
        code = data.code
        attempt = activity.info().attempt
        existing = await store.get_integration(self.pool, client_id=data.client_id, code=code)
        if existing is None or existing.change_id != data.change_id:
            raise ApplicationError(
                f"integration {code!r} is not being removed by this change",
                type="IntegrationChangeSuperseded",
                non_retryable=True,
            )
        if existing.state == "removed":
            return DisconnectIntegrationResult(code=code, state="removed", attempt=attempt)
        try:
            # An app no longer in the catalog cannot be told; the client's side is ended all
            # the same, as removing it was asked. Its kind now decides how it is told.
            app = await self._app(data.partner_id, code, None, gone_ok=True)
            # Only automation apps have something to call (redirection apps only granted
            # access), so a connector without `disconnect` has nothing to say.
            connector = self.connectors[app.kind] if app is not None else None
            disconnect = getattr(connector, "disconnect", None)
            if app is not None and disconnect is not None:
                await disconnect(
                    DisconnectRequest(
                        client_id=data.client_id,
                        partner_id=data.partner_id,
                        app=app,
                        change_id=data.change_id,
                        external_ref=existing.external_ref,
                    )
                )
        except ApplicationError as exc:
            await changes.record_disconnect_failure(
                self.pool,
                client_id=data.client_id,
                code=code,
                change_id=data.change_id,
                error=exc.message,
            )
            activity.logger.warning(
                "integration not disconnected",
                extra={"integration": code, "error_type": exc.type, "attempt": attempt},
            )
            raise
        await changes.mark_removed(
            self.pool, client_id=data.client_id, code=code, change_id=data.change_id
        )
        activity.logger.info("integration removed", extra={"integration": code, "attempt": attempt})
        return DisconnectIntegrationResult(code=code, state="removed", attempt=attempt)

    @activity.defn
    async def finish_integration_change(self, data: FinishIntegrationChangeInput) -> None:
        """The change's outcome on its history row (a replay writes nothing new)."""
        await changes.finish(
            self.pool, change_id=data.change_id, state=data.state, error=data.error
        )

    async def _request(self, data: ConnectIntegrationInput) -> ConnectRequest:
        """The app as the catalog defines it now, and the settings with secrets unmasked."""
        code = data.integration.code
        app = await self._app(data.partner_id, code, data.integration.kind)
        assert app is not None  # gone_ok is False: a missing app raised

        settings = dict(data.integration.settings)
        # Asked even when the app declares no secret now: a setting declared secret before was
        # masked in the setup all the same (domain.setup.Catalog.secret_names), and its value
        # is only in the database.
        if data.change_id is not None:
            # A later change carries every secret the app gets, the kept ones copied when it
            # was asked (app/integrations.py).
            real = await changes.secrets(self.pool, change_id=data.change_id)
        else:
            real = await store.integration_secrets(
                self.pool,
                onboarding_id=data.onboarding_id,
                template_id=data.template_id,
                code=code,
            )
        settings.update({k: v for k, v in real.items() if v != SECRET_MASK})
        return ConnectRequest(
            client_id=data.client_id,
            partner_id=data.partner_id,
            app=app,
            settings=settings,
            change_id=data.change_id,
        )

    async def _app(
        self,
        partner_id: uuid.UUID,
        code: str,
        kind: IntegrationKind | None,
        *,
        gone_ok: bool = False,
    ) -> Integration | None:
        """The app as the catalog defines it now (None when gone and `gone_ok`), of `kind`
        unless that is None."""
        body = await catalogs.get(self.pool, "integrations", partner_id=partner_id, code=code)
        if body is None:
            if gone_ok:
                return None
            raise ApplicationError(
                f"integration {code!r} is no longer in the partner's catalog",
                type=MISCONFIGURED,
                non_retryable=True,
            )
        try:
            app = Integration.model_validate(body)
        except ValidationError as exc:
            # Saved before today's rules (a connect_url that is no URL, say): only the field
            # names, since a value may be a secret or a URL not to be repeated.
            fields = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})
            raise ApplicationError(
                f"integration {code!r} is misconfigured: its catalog entry is not valid "
                f"({', '.join(fields)}); an administrator has to fix it",
                type=MISCONFIGURED,
                non_retryable=True,
            ) from None
        if kind is not None and app.kind != kind:
            raise ApplicationError(
                f"integration {code!r} changed from {kind.value} to "
                f"{app.kind.value} since the setup was resolved",
                type=MISCONFIGURED,
                non_retryable=True,
            )
        return app

    async def _record_failure(self, data: ConnectIntegrationInput, error: str) -> None:
        await store.upsert_integration_state(
            self.pool,
            client_id=data.client_id,
            code=data.integration.code,
            kind=data.integration.kind.value,
            state="failed",
            error=error,
        )
