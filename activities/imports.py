"""Bulk import: turning a batch of validated rows into onboarding workflow inputs."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from pydantic import BaseModel
from temporalio import activity

from core import workflow_starts
from core.temporal import StartRefusal
from domain.imports_progress import CANCELLED_BEFORE_START, RowSettled
from domain.onboarding import (
    OnboardingCreate,
    OnboardingInput,
    OnboardingStatus,
    Timeouts,
    onboarding_id_for,
    onboarding_input_for,
    workflow_id_for,
)
from store import clients, import_lookups, imports, onboardings, partners
from store.pool import Pool


class PrepareBatchInput(BaseModel):
    import_id: uuid.UUID
    partner_id: uuid.UUID
    created_by: uuid.UUID | None = None
    after_row: int
    limit: int
    # What the import's start resolved from the firm's setting (app/notifications.keeps_muted);
    # None from imports started before it existed: their rows unmute, as they did.
    keep_muted: bool | None = None


class PreparedRow(BaseModel):
    row: int
    onboarding: OnboardingInput | None
    skipped: str | None = None


class ReleaseRowsInput(BaseModel):
    import_id: uuid.UUID
    rows: list[int]
    # What the import report says of these rows.
    reason: str = CANCELLED_BEFORE_START


class SettledRowsInput(BaseModel):
    import_id: uuid.UUID
    rows: list[int]


class PrepareBatchResult(BaseModel):
    rows: list[PreparedRow]
    last_row: int | None


class StartRowsInput(BaseModel):
    import_id: uuid.UUID
    partner_id: uuid.UUID
    task_queue: str
    # Only rows with an onboarding: skipped rows never reach a start.
    rows: list[PreparedRow]


class StartRowsResult(BaseModel):
    started: list[int] = []
    # Started before (an earlier attempt of this activity, or an earlier run of the import).
    already: list[int] = []
    # Temporal refused the input itself (e.g. over its payload limit): starting again cannot help.
    refused: list[int] = []


@activity.defn
async def start_onboardings(data: StartRowsInput) -> StartRowsResult:
    """Start the rows' onboardings as workflows of their own, together, from the worker's client.

    Not child workflows: a child's start and completion are events in the import's history, and
    the server refuses continue-as-new while such events keep arriving (each refusal replays the
    whole run), so an import whose onboardings settle steadily stalled at every boundary. Each
    onboarding lives its own life anyway (the import never waited for one to finish). Safe to
    repeat: the workflow id is the onboarding's, and a second start finds the first.
    """
    client = activity.client()
    result = StartRowsResult()

    async def start(prepared: PreparedRow) -> None:
        onboarding = prepared.onboarding
        assert onboarding is not None
        # As the API starts one (the same declaration): one run per onboarding, ever.
        declared = workflow_starts.onboarding(
            onboarding, status_since=datetime.now(UTC), import_id=data.import_id
        )
        try:
            outcome = await workflow_starts.start(client, declared, task_queue=data.task_queue)
        except workflow_starts.StartFailed as exc:
            if exc.refused.kind != StartRefusal.too_large:
                raise  # Temporal down, a namespace to fix...: the activity's retry may succeed
            # Our words only: the server's message may quote the input.
            activity.logger.warning("onboarding start refused", extra={"row": prepared.row})
            result.refused.append(prepared.row)
            return
        if outcome == workflow_starts.Outcome.ran_before:
            result.already.append(prepared.row)
        else:
            result.started.append(prepared.row)

    # Every start is waited for before a failure is raised: a retry then finds them started.
    outcomes = await asyncio.gather(
        *(start(p) for p in data.rows if p.onboarding is not None), return_exceptions=True
    )
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    for rows in (result.started, result.already, result.refused):
        rows.sort()
    return result


class ImportActivities:
    def __init__(self, pool: Pool, *, registry_task_queue: str, timeouts: Timeouts) -> None:
        self.pool = pool
        self.registry_task_queue = registry_task_queue
        self.timeouts = timeouts

    @activity.defn
    async def prepare_batch(self, data: PrepareBatchInput) -> PrepareBatchResult:
        """The next valid rows, each with its onboarding claimed; a SIRET or Belgian enterprise
        number that is already a client of the partner is reported, not onboarded twice. Safe
        to repeat."""
        partner = await partners.get(self.pool, partner_id=data.partner_id)
        if partner is None:
            raise LookupError(f"partner {data.partner_id} is gone")
        records = await imports.valid_rows_after(
            self.pool, import_id=data.import_id, after_row=data.after_row, limit=data.limit
        )
        # Only this batch's SIRENs: each batch asks about its own rows, not the whole file again.
        shared = await import_lookups.shared_sirens(
            self.pool,
            import_id=data.import_id,
            sirens=sorted({r.siret[:9] for r in records if r.siret}),
        )
        prepared: list[PreparedRow] = []
        for record in records:
            assert record.request is not None
            body = OnboardingCreate.model_validate(record.request)
            # One key per (import, row): a replayed batch claims the same onboarding again.
            onboarding_id = onboarding_id_for(
                data.partner_id, f"import:{data.import_id}:{record.row}"
            )
            owner = None
            if record.siret:
                owner = await clients.siret_owner(
                    self.pool, partner_id=data.partner_id, siret=record.siret
                )
            if owner is None and body.client.enterprise_number:
                owner = await clients.enterprise_number_owner(
                    self.pool,
                    partner_id=data.partner_id,
                    enterprise_number=body.client.enterprise_number,
                )
            if owner is not None and owner != onboarding_id:
                reason = "already a client of this partner"
                await imports.link_row(
                    self.pool,
                    import_id=data.import_id,
                    row=record.row,
                    onboarding_id=None,
                    skipped=reason,
                )
                prepared.append(PreparedRow(row=record.row, onboarding=None, skipped=reason))
                continue
            claimed, _ = await onboardings.claim(
                self.pool,
                onboarding_id=onboarding_id,
                partner_id=data.partner_id,
                idempotency_key=f"import:{data.import_id}:{record.row}",
                request_hash=body.fingerprint(),
                workflow_id=workflow_id_for(onboarding_id),
                status=OnboardingStatus.SETTING_UP.value,
                created_by=data.created_by,
                case_manager=body.client.case_manager,
                import_id=data.import_id,
            )
            await imports.link_row(
                self.pool,
                import_id=data.import_id,
                row=record.row,
                onboarding_id=onboarding_id,
                skipped=None,
            )
            prepared.append(
                PreparedRow(
                    row=record.row,
                    onboarding=onboarding_input_for(
                        body,
                        onboarding_id=onboarding_id,
                        partner_id=partner.id,
                        partner_name=partner.name,
                        today=claimed.created_at.date(),
                        overrides=body.overrides,
                        registry_task_queue=self.registry_task_queue,
                        timeouts=self.timeouts,
                        keep_muted=bool(data.keep_muted),
                    ).model_copy(
                        update={
                            "import_siren_shared": record.siret is not None
                            and record.siret[:9] in shared
                        }
                    ),
                )
            )
        return PrepareBatchResult(rows=prepared, last_row=records[-1].row if records else None)

    @activity.defn
    async def release_rows(self, data: ReleaseRowsInput) -> int:
        """Rows prepared but never started (the import was cancelled, or Temporal refused their
        start) give their onboarding back and are reported as not onboarded. Safe to repeat."""
        released = await imports.release_rows(
            self.pool, import_id=data.import_id, rows=data.rows, reason=data.reason
        )
        activity.logger.info("import rows released", extra={"released": released})
        return released

    @activity.defn
    async def settled_rows(self, data: SettledRowsInput) -> list[RowSettled]:
        """Which of the rows in the import's window settled since it last looked (the status
        projection marks them): one short read, run as a local activity."""
        found = await imports.settled_rows(self.pool, import_id=data.import_id, rows=data.rows)
        return [RowSettled(row=row, status=status) for row, status in found]
