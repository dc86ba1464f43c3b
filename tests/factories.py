"""What tests make (tenants, clients, the test converter, a time-skipping server), in one place:
imported by conftest's fixtures and by the tests alike."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment

from core import temporal
from core.settings import Environment, Settings
from devstack.temporal_server import test_server_binary
from domain.onboarding import client_id_for
from domain.search_attributes import ALL_KEYS
from store import clients, onboardings, partners
from store.pool import Pool


def converter_for_tests() -> DataConverter:
    """The converter of every test client: test settings, so the development payload key
    (the same one `onboarding worker` gets with ONBOARDING_ENV=test)."""
    return temporal.data_converter(Settings(env=Environment.test))


@asynccontextmanager
async def started_time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping test server of its own, with our search attributes, stopped on exit."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(test_server_binary()),
        data_converter=converter_for_tests(),
    )
    try:
        # The test server starts with none of our search attributes; workflows upsert them.
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=env.client.namespace,
                search_attributes={
                    key.name: IndexedValueType.ValueType(int(key.indexed_value_type))
                    for key in ALL_KEYS
                },
            )
        )
        yield env
    finally:
        await env.shutdown()


@dataclass(frozen=True)
class Tenant:
    """A partner made the way `onboarding partner create` makes one, with its admin's key."""

    partner: partners.PartnerRow
    admin: partners.UserRow
    key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


async def make_tenant(
    pool: Pool, name: str = "Cabinet Test", *, new_clients_muted: bool = False
) -> Tenant:
    """A partner as `onboarding partner create` makes one, but for its new clients' default:
    off (switched on at the end of setup, what the tests of every other behaviour were written
    for) unless asked; a new firm's own default (kept muted) is tested in
    tests/api/test_notification_defaults.py."""
    partner, admin, key = await partners.create_partner(
        pool, name=name, admin_email=f"admin-{uuid.uuid4().hex[:8]}@example.com", admin_name="Ada"
    )
    if not new_clients_muted:
        await partners.set_new_clients_muted(pool, partner_id=partner.id, muted=False)
    return Tenant(partner=partner, admin=admin, key=key)


async def make_client(
    pool: Pool,
    tenant: Tenant,
    *,
    language: str = "fr",
    muted: bool = True,
    name: str = "Client",
    email: str = "client@example.com",
    enterprise_number: str | None = None,
) -> tuple[uuid.UUID, uuid.UUID]:
    """(onboarding id, client id) of a client row, made the way the workflow makes one."""
    onboarding_id = uuid.uuid4()
    await onboardings.claim(
        pool,
        onboarding_id=onboarding_id,
        partner_id=tenant.partner.id,
        idempotency_key=str(onboarding_id),
        request_hash="h",
        workflow_id=f"onboarding-{onboarding_id}",
        status="SETTING_UP",
        created_by=tenant.admin.id,
    )
    row, _ = await clients.create(
        pool,
        client_id=client_id_for(onboarding_id),
        partner_id=tenant.partner.id,
        onboarding_id=onboarding_id,
        name=name,
        email=email,
        language=language,
        enterprise_number=enterprise_number,
    )
    if not muted:
        await clients.complete_setup(pool, client_id=row.id, keep_muted=False)
    return onboarding_id, row.id
