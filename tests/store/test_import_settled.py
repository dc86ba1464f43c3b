"""How a bulk import learns that its rows settled: the status projection marks the import row
with the first settling status, in the same statement, and the import reads the marks of its
window (real PostgreSQL)."""

from __future__ import annotations

import uuid

from store import imports, onboardings
from store.pool import Pool
from tests.factories import Tenant


async def _imported(pool: Pool, tenant: Tenant, rows: int) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """An import of `rows` valid rows, each linked to its claimed onboarding."""
    import_id = uuid.uuid4()
    await imports.create(
        pool,
        import_id=import_id,
        partner_id=tenant.partner.id,
        idempotency_key=str(import_id),
        request_hash="h",
        workflow_id=f"import-{import_id}",
        filename="clients.csv",
        created_by=tenant.admin.id,
        rows=[(n, None, {"row": n}, []) for n in range(1, rows + 1)],
    )
    ids = []
    for n in range(1, rows + 1):
        onboarding_id = uuid.uuid4()
        await onboardings.claim(
            pool,
            onboarding_id=onboarding_id,
            partner_id=tenant.partner.id,
            idempotency_key=f"import:{import_id}:{n}",
            request_hash="h",
            workflow_id=f"onboarding-{onboarding_id}",
            status="SETTING_UP",
            import_id=import_id,
        )
        await imports.link_row(
            pool, import_id=import_id, row=n, onboarding_id=onboarding_id, skipped=None
        )
        ids.append(onboarding_id)
    return import_id, ids


async def test_the_first_settling_status_marks_the_row_once(pool: Pool, tenant: Tenant) -> None:
    import_id, (first, second, third) = await _imported(pool, tenant, 3)
    await onboardings.set_status(pool, onboarding_id=first, status="SETTING_UP")
    assert await imports.settled_rows(pool, import_id=import_id, rows=[1, 2, 3]) == []

    # Waiting for a person frees the slot; the details come, setup goes on, READY later: the
    # row keeps the status that settled it (the import counted it then).
    await onboardings.set_status(pool, onboarding_id=first, status="AWAITING_COMPANY_DETAILS")
    await onboardings.set_status(pool, onboarding_id=first, status="SETTING_UP")
    await onboardings.set_status(pool, onboarding_id=first, status="READY")
    await onboardings.set_status(pool, onboarding_id=second, status="FAILED")
    await onboardings.set_status(pool, onboarding_id=third, status="SETTING_UP")

    assert await imports.settled_rows(pool, import_id=import_id, rows=[1, 2, 3]) == [
        (1, "AWAITING_COMPANY_DETAILS"),
        (2, "FAILED"),
    ]
    # Only the rows asked about (the import's window), only this import's.
    assert await imports.settled_rows(pool, import_id=import_id, rows=[2]) == [(2, "FAILED")]
    assert await imports.settled_rows(pool, import_id=uuid.uuid4(), rows=[1, 2]) == []
    # The projection itself follows every change.
    row = await onboardings.get(pool, partner_id=tenant.partner.id, onboarding_id=first)
    assert row is not None and row.status == "READY"


async def test_an_onboarding_outside_any_import_is_only_projected(
    pool: Pool, tenant: Tenant
) -> None:
    onboarding_id = uuid.uuid4()
    await onboardings.claim(
        pool,
        onboarding_id=onboarding_id,
        partner_id=tenant.partner.id,
        idempotency_key=str(onboarding_id),
        request_hash="h",
        workflow_id=f"onboarding-{onboarding_id}",
        status="SETTING_UP",
    )
    await onboardings.set_status(pool, onboarding_id=onboarding_id, status="READY")
    row = await onboardings.get(pool, partner_id=tenant.partner.id, onboarding_id=onboarding_id)
    assert row is not None and row.status == "READY"
