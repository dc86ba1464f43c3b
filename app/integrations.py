"""A client's integrations after onboarding: list them with their history, and add, reconfigure,
retry or remove one at any time, each change run once by IntegrationChangeWorkflow.

Secrets: a change's settings arrive with their real values; what is recorded for the history,
the client's row and the workflow's input has every secret masked (Catalog.secret_names: secret
now or ever before), and the real values go to the change's own row, where only the connect
activity reads them. A secret left out or sent as the mask keeps the value the app has now (the
last change's, else the onboarding's), so reconfiguring one setting never needs the others
typed again, and no answer ever carries a secret.

The same request with the same Idempotency-Key is the same change (and the same run); removing
an app being removed or removed already answers that removal.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from temporalio.client import Client

from app import roles
from app.clients import client_not_found, ready_client
from app.errors import Conflict, FieldIssue, Invalid, NotFound, not_started
from core import workflow_starts
from domain.integrations import (
    IntegrationAction,
    IntegrationAdd,
    IntegrationChangeInput,
    IntegrationReconfigure,
)
from domain.setup import (
    SECRET_MASK,
    Catalog,
    EffectiveIntegration,
    EffectiveSetup,
    Integration,
    IntegrationKind,
    Role,
    _check_setting,
)
from store import applied_setup, clients
from store import integration_changes as changes
from store import setup_sources as setup_store
from store.pool import Pool

READ_ROLES = roles.ANY_ROLE
# As every other change of a client (subscription, fiscal years): who configures clients.
CHANGE_ROLES = roles.CONFIGURERS
# States from which each action may start (a running change is refused by the database too).
_RECONFIGURABLE = ("connected", "failed")
_REMOVABLE = ("connected", "failed", "pending")
_ACTIONS: dict[IntegrationAction, changes.Action] = {
    IntegrationAction.add: "add",
    IntegrationAction.reconfigure: "reconfigure",
    IntegrationAction.remove: "remove",
}


@dataclass(frozen=True)
class ClientIntegration:
    """Where one of the client's apps stands, its settings masked."""

    code: str
    name: str
    kind: str
    state: str
    settings: dict[str, Any]
    attempts: int
    last_error: str | None
    external_ref: str | None
    connected_at: datetime | None
    updated_at: datetime
    change_id: uuid.UUID | None


@dataclass(frozen=True)
class Changed:
    change: changes.ChangeRow
    # The same request again (or a removal already under way): the change made before.
    replayed: bool


def _snapshot_settings(client: clients.ClientRow, code: str) -> dict[str, Any]:
    setup = EffectiveSetup.model_validate(client.setup) if client.setup else None
    for integration in setup.integrations if setup else []:
        if integration.code == code:
            return dict(integration.settings)
    return {}


def _masked(catalog: Catalog, code: str, settings: dict[str, Any]) -> dict[str, Any]:
    secrets = catalog.secret_names(code)
    return {k: (SECRET_MASK if k in secrets else v) for k, v in settings.items()}


def _current_settings(
    catalog: Catalog, client: clients.ClientRow, row: applied_setup.IntegrationRow
) -> dict[str, Any]:
    # Masked again: a setting declared secret since the row was written is not shown either.
    kept = row.settings if row.settings is not None else _snapshot_settings(client, row.code)
    return _masked(catalog, row.code, kept)


async def _client(pool: Pool, partner_id: uuid.UUID, client_id: uuid.UUID) -> clients.ClientRow:
    client = await clients.get_for_partner(pool, partner_id=partner_id, client_id=client_id)
    if client is None:
        raise client_not_found(client_id)
    return client


async def list_integrations(
    pool: Pool, *, partner_id: uuid.UUID, client_id: uuid.UUID
) -> list[ClientIntegration]:
    """The client's apps (removed ones included, saying so), by code (any role)."""
    client = await _client(pool, partner_id, client_id)
    catalog = await setup_store.load_catalog(pool, partner_id=partner_id)
    rows = await applied_setup.list_integrations(pool, client_id=client_id)
    return [
        ClientIntegration(
            code=r.code,
            name=catalog.integrations[r.code].name if r.code in catalog.integrations else r.code,
            kind=r.kind,
            state=r.state,
            settings=_current_settings(catalog, client, r),
            attempts=r.attempts,
            last_error=r.last_error,
            external_ref=r.external_ref,
            connected_at=r.connected_at,
            updated_at=r.updated_at,
            change_id=r.change_id,
        )
        for r in rows
    ]


async def history(
    pool: Pool, *, partner_id: uuid.UUID, client_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[changes.ChangeRow], int]:
    """The client's integration changes, newest first (any role)."""
    await _client(pool, partner_id, client_id)
    return await changes.list_for_client(pool, client_id=client_id, limit=limit, offset=offset)


async def get_change(
    pool: Pool, *, partner_id: uuid.UUID, client_id: uuid.UUID, change_id: uuid.UUID
) -> changes.ChangeRow:
    """One change (its status URL), of a client of the firm."""
    await _client(pool, partner_id, client_id)
    row = await changes.get(pool, client_id=client_id, change_id=change_id)
    if row is None:
        raise NotFound(f"No integration change {change_id}")
    return row


# ---- changes ------------------------------------------------------------------------------------


def _settings_issues(app: Integration, settings: dict[str, Any]) -> list[FieldIssue]:
    """Every setting at fault, named `settings.<name>`; never a value (some are secrets)."""
    issues: list[FieldIssue] = []
    specs = {s.name: s for s in app.settings}
    for name in sorted(settings):
        if name not in specs:
            issues.append(FieldIssue(f"settings.{name}", "is not a setting of this app", "unknown"))
    for spec in app.settings:
        value = settings.get(spec.name)
        if value is None or value == "" or value == SECRET_MASK:
            if spec.required:
                issues.append(FieldIssue(f"settings.{spec.name}", "is required", "required"))
            continue
        problem = _check_setting(spec, value)
        if problem:
            issues.append(FieldIssue(f"settings.{spec.name}", problem, "invalid"))
    return issues


def _request_hash(action: IntegrationAction, code: str, masked: dict[str, Any]) -> str:
    # Of the masked settings: a secret's digest would be a guessable trace of it. The same key
    # with another secret value is then taken for the same request: the first one stands.
    text = json.dumps([action.value, code, masked], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


async def _replayed(
    pool: Pool,
    *,
    client_id: uuid.UUID,
    idempotency_key: str | None,
    action: IntegrationAction,
    code: str,
) -> changes.ChangeRow | None:
    """The change this Idempotency-Key made, if any; a Conflict when it was another request."""
    if idempotency_key is None:
        return None
    done = await changes.by_key(pool, client_id=client_id, idempotency_key=idempotency_key)
    if done is not None and (done.action != action.value or done.code != code):
        raise Conflict(
            "This Idempotency-Key was used for another integration change of the client.",
            slug="idempotency-key-reused",
            title="Idempotency-Key reused",
            errors=(FieldIssue("Idempotency-Key", "was used for another request", "reused"),),
        )
    return done


async def _kept_secrets(pool: Pool, client: clients.ClientRow, code: str) -> dict[str, Any]:
    """The secret values the app has now: the last change's, else the onboarding's."""
    last = await changes.last_secrets(pool, client_id=client.id, code=code)
    if last is not None:
        return last
    return await applied_setup.integration_secrets(
        pool, onboarding_id=client.onboarding_id, template_id=client.template_id, code=code
    )


async def _change(
    pool: Pool,
    temporal: Client,
    *,
    client: clients.ClientRow,
    app: Integration,
    catalog: Catalog,
    action: IntegrationAction,
    settings: dict[str, Any],
    requested_by: uuid.UUID,
    idempotency_key: str | None,
    task_queue: str,
) -> Changed:
    """Validate the settings, record the change, start its workflow."""
    code = app.code
    secret_names = catalog.secret_names(code)
    real: dict[str, Any] = {}
    if action != IntegrationAction.remove:
        kept = await _kept_secrets(pool, client, code)
        # A secret left out or masked keeps its value; one typed replaces it.
        for name in secret_names:
            value = settings.get(name)
            if value is None or value == SECRET_MASK:
                if name in kept:
                    real[name] = kept[name]
            else:
                real[name] = value
        effective = {k: v for k, v in settings.items() if k not in secret_names} | real
        issues = _settings_issues(app, effective)
        if issues:
            raise Invalid(
                "Invalid field(s): " + ", ".join(i.field for i in issues), errors=tuple(issues)
            )
        settings = effective
    masked = _masked(catalog, code, settings)
    try:
        change, created = await changes.begin(
            pool,
            change_id=uuid.uuid4(),
            client_id=client.id,
            code=code,
            kind=app.kind.value,
            action=_ACTIONS[action],
            settings=masked,
            secrets=real,
            idempotency_key=idempotency_key,
            request_hash=_request_hash(action, code, masked),
            requested_by=requested_by,
        )
    except changes.ChangeRunning:
        raise Conflict(
            f"A change of integration {code!r} is still running; try again once it is over.",
            slug="integration-change-running",
            title="Integration change running",
            errors=(FieldIssue("code", "has a change running", "running"),),
        ) from None
    if change.state == "running":
        # Started again on a replay too: the first request may have recorded the change and
        # failed before reaching Temporal. The change's id in the workflow id makes this safe.
        await _start(
            pool,
            temporal,
            client=client,
            change=change,
            action=action,
            integration=EffectiveIntegration(code=code, kind=app.kind, settings=masked),
            task_queue=task_queue,
        )
    return Changed(change=change, replayed=not created)


async def _start(
    pool: Pool,
    temporal: Client,
    *,
    client: clients.ClientRow,
    change: changes.ChangeRow,
    action: IntegrationAction,
    integration: EffectiveIntegration,
    task_queue: str,
) -> None:
    data = IntegrationChangeInput(
        change_id=change.id,
        client_id=client.id,
        partner_id=client.partner_id,
        onboarding_id=client.onboarding_id,
        action=action,
        integration=integration,
    )
    try:
        # A run that finished under the change's id left its outcome on the change.
        await workflow_starts.start(
            temporal, workflow_starts.integration_change(data), task_queue=task_queue
        )
    except workflow_starts.StartFailed as exc:
        # Not started: the change ends here, so it blocks no later one; the row says why.
        error = "the change could not be started (Temporal unavailable); ask again"
        await changes.finish(pool, change_id=change.id, state="failed", error=error)
        await applied_setup.upsert_integration_state(
            pool,
            client_id=client.id,
            code=integration.code,
            kind=integration.kind.value,
            state="failed",
            error=error,
            attempted=False,
        )
        raise not_started(
            exc,
            what="integration change",
            unavailable="The integration change could not be started now; send the same "
            "request again.",
        ) from exc


def _not_added(code: str) -> NotFound:
    return NotFound(f"The client has no integration {code!r}")


async def add(
    pool: Pool,
    temporal: Client,
    *,
    partner_id: uuid.UUID,
    client_id: uuid.UUID,
    role: Role,
    requested_by: uuid.UUID,
    body: IntegrationAdd,
    idempotency_key: str | None,
    task_queue: str,
) -> Changed:
    """Connect the client to an app of the firm's catalogue, in the background."""
    roles.require(role, CHANGE_ROLES)
    client = await ready_client(pool, partner_id=partner_id, client_id=client_id)
    action = IntegrationAction.add
    done = await _replayed(
        pool, client_id=client_id, idempotency_key=idempotency_key, action=action, code=body.code
    )
    if done is not None:
        return Changed(change=done, replayed=True)
    catalog = await setup_store.load_catalog(pool, partner_id=partner_id)
    app = catalog.integrations.get(body.code)
    if app is None:
        raise Invalid.field("code", "is not an app of the firm's catalogue", code="unknown")
    row = await applied_setup.get_integration(pool, client_id=client_id, code=body.code)
    if row is not None and row.state != "removed":
        raise Conflict(
            f"The client already has integration {body.code!r}; reconfigure it instead.",
            slug="integration-exists",
            title="Integration already added",
            errors=(FieldIssue("code", "is already added", "exists"),),
        )
    return await _change(
        pool,
        temporal,
        client=client,
        app=app,
        catalog=catalog,
        action=action,
        settings=dict(body.settings),
        requested_by=requested_by,
        idempotency_key=idempotency_key,
        task_queue=task_queue,
    )


async def reconfigure(
    pool: Pool,
    temporal: Client,
    *,
    partner_id: uuid.UUID,
    client_id: uuid.UUID,
    code: str,
    role: Role,
    requested_by: uuid.UUID,
    body: IntegrationReconfigure,
    merge: bool,
    idempotency_key: str | None,
    task_queue: str,
) -> Changed:
    """Connect the app again with new settings (`merge`: those given change, the others stay;
    otherwise they replace the settings, secrets left out kept), in the background. A failed
    app reconfigured with its settings unchanged is tried again."""
    roles.require(role, CHANGE_ROLES)
    client = await ready_client(pool, partner_id=partner_id, client_id=client_id)
    action = IntegrationAction.reconfigure
    done = await _replayed(
        pool, client_id=client_id, idempotency_key=idempotency_key, action=action, code=code
    )
    if done is not None:
        return Changed(change=done, replayed=True)
    row = await applied_setup.get_integration(pool, client_id=client_id, code=code)
    if row is None or row.state == "removed":
        raise _not_added(code)
    if row.state not in _RECONFIGURABLE:
        raise Conflict(
            f"Integration {code!r} is {row.state}; reconfigure it once that is over.",
            slug="integration-change-running",
            title="Integration change running",
            errors=(FieldIssue("code", f"is {row.state}", "running"),),
        )
    catalog = await setup_store.load_catalog(pool, partner_id=partner_id)
    app = catalog.integrations.get(code)
    if app is None:
        raise Conflict(
            f"Integration {code!r} is no longer in the firm's catalogue: it can only be removed.",
            slug="integration-not-in-catalogue",
            title="Integration not in the catalogue",
            errors=(FieldIssue("code", "is not in the catalogue", "unknown"),),
        )
    current = _current_settings(catalog, client, row)
    settings = (current | dict(body.settings)) if merge else dict(body.settings)
    # A setting set to null in a merge is taken away.
    settings = {k: v for k, v in settings.items() if v is not None}
    return await _change(
        pool,
        temporal,
        client=client,
        app=app,
        catalog=catalog,
        action=action,
        settings=settings,
        requested_by=requested_by,
        idempotency_key=idempotency_key,
        task_queue=task_queue,
    )


async def retry(
    pool: Pool,
    temporal: Client,
    *,
    partner_id: uuid.UUID,
    client_id: uuid.UUID,
    code: str,
    role: Role,
    requested_by: uuid.UUID,
    task_queue: str,
) -> Changed:
    """Try a failed app again with the settings it has: a reconfiguration changing nothing."""
    return await reconfigure(
        pool,
        temporal,
        partner_id=partner_id,
        client_id=client_id,
        code=code,
        role=role,
        requested_by=requested_by,
        body=IntegrationReconfigure(settings={}),
        merge=True,
        idempotency_key=None,
        task_queue=task_queue,
    )


async def remove(
    pool: Pool,
    temporal: Client,
    *,
    partner_id: uuid.UUID,
    client_id: uuid.UUID,
    code: str,
    role: Role,
    requested_by: uuid.UUID,
    idempotency_key: str | None,
    task_queue: str,
) -> Changed:
    """Disconnect the client from the app, in the background; asking again while it is being
    removed, or once it is, answers that removal."""
    roles.require(role, CHANGE_ROLES)
    client = await ready_client(pool, partner_id=partner_id, client_id=client_id)
    action = IntegrationAction.remove
    done = await _replayed(
        pool, client_id=client_id, idempotency_key=idempotency_key, action=action, code=code
    )
    if done is not None:
        return Changed(change=done, replayed=True)
    row = await applied_setup.get_integration(pool, client_id=client_id, code=code)
    if row is None:
        raise _not_added(code)
    if row.state in ("disconnecting", "removed") and row.change_id is not None:
        under_way = await changes.get(pool, client_id=client_id, change_id=row.change_id)
        if under_way is not None and under_way.action == action.value:
            return Changed(change=under_way, replayed=True)
    if row.state not in _REMOVABLE:
        raise Conflict(
            f"Integration {code!r} is {row.state}; remove it once that is over.",
            slug="integration-change-running",
            title="Integration change running",
            errors=(FieldIssue("code", f"is {row.state}", "running"),),
        )
    catalog = await setup_store.load_catalog(pool, partner_id=partner_id)
    # Removing needs no catalogue entry: an app taken out of it can still be let go of.
    app = catalog.integrations.get(code) or Integration.model_construct(
        code=code, name=code, kind=IntegrationKind(row.kind), settings=[]
    )
    return await _change(
        pool,
        temporal,
        client=client,
        app=app,
        catalog=catalog,
        action=action,
        settings=_current_settings(catalog, client, row),
        requested_by=requested_by,
        idempotency_key=idempotency_key,
        task_queue=task_queue,
    )
