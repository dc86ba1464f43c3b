"""A client's fiscal year and its folder tree, created from the partner's folder-tree template.

A large tree takes a while, so folders go in by batches of `FOLDER_BATCH`, parents before
children, with a heartbeat after each batch. The heartbeat carries how many planned folders are
done and a fingerprint of the plan: a retry after a worker crash skips the batches already done,
but only if it planned the very same folders (the partner may have edited the template since).
Every insert ignores folders that exist, so a replay, resumed or not, creates each folder once.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any, Final

import asyncpg
from pydantic import BaseModel, ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.error_types import ErrorType
from domain.fiscal_calendar import FiscalYear, months
from domain.folders import FolderTreeTemplate, PlannedFolder, plan_folders
from store import catalogs, folders
from store.pool import Pool

__all__ = [
    "FOLDER_BATCH",
    "CreateFoldersInput",
    "CreateFoldersResult",
    "FolderActivities",
    "plan_fingerprint",
]

# Folders per insert statement and per heartbeat: a batch takes milliseconds, so any heartbeat
# timeout of a few seconds or more is met even on a slow database.
FOLDER_BATCH: Final = 200


class CreateFoldersInput(BaseModel):
    client_id: uuid.UUID
    partner_id: uuid.UUID
    # A code in the partner's folder_trees catalog; None: the fiscal year only, no folders.
    folder_tree: str | None
    fiscal_year_start: date
    fiscal_year_end: date
    language: str


class CreateFoldersResult(BaseModel):
    folders_planned: int
    folders_created: int  # by this attempt; 0 when an earlier attempt created them all
    months: int  # month folders under each per-fiscal-year folder
    attempt: int


def plan_fingerprint(planned: Sequence[PlannedFolder]) -> str:
    """A short digest of the planned paths, in order: equal plans give equal fingerprints."""
    digest = hashlib.sha256()
    for folder in planned:
        # NUL cannot occur in a folder name (control characters are refused), so no two
        # different plans join to the same bytes.
        digest.update(folder.path.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:32]


def _resume_from(details: Sequence[Any], *, fingerprint: str, total: int) -> int:
    # Anything unexpected (no details, another plan, an older format) means starting over, which
    # is always safe: inserts skip the folders that exist.
    if len(details) < 2 or details[1] != fingerprint:
        return 0
    done = details[0]
    if not isinstance(done, int) or isinstance(done, bool):
        return 0
    return min(max(done, 0), total)


class FolderActivities:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    async def _load_tree(self, partner_id: uuid.UUID, code: str) -> FolderTreeTemplate:
        body = await catalogs.get(self.pool, "folder_trees", partner_id=partner_id, code=code)
        if body is None:
            raise ApplicationError(
                f"folder tree {code!r} is not in the partner's catalog",
                type=ErrorType.FolderTreeMissing,
                non_retryable=True,
            )
        try:
            # The catalog stores the template with its code beside it; the model forbids extras.
            return FolderTreeTemplate.model_validate({k: v for k, v in body.items() if k != "code"})
        except ValidationError as exc:
            # Stored by an older or looser API: retrying reads the same body again.
            raise ApplicationError(
                f"folder tree {code!r} is not a valid template: {exc}",
                type=ErrorType.FolderTreeInvalid,
                non_retryable=True,
            ) from exc

    @activity.defn
    async def create_folders(self, data: CreateFoldersInput) -> CreateFoldersResult:
        try:
            fiscal_year = FiscalYear(start=data.fiscal_year_start, end=data.fiscal_year_end)
        except ValidationError as exc:
            raise ApplicationError(
                f"invalid fiscal year: {exc}", type=ErrorType.InvalidFiscalYear, non_retryable=True
            ) from exc
        tree = (
            await self._load_tree(data.partner_id, data.folder_tree)
            if data.folder_tree is not None
            else None
        )
        try:
            await folders.create_fiscal_year(
                self.pool,
                client_id=data.client_id,
                starts_on=fiscal_year.start,
                ends_on=fiscal_year.end,
            )
        except asyncpg.ForeignKeyViolationError as exc:
            raise ApplicationError(
                f"client {data.client_id} does not exist",
                type=ErrorType.ClientMissing,
                non_retryable=True,
            ) from exc

        planned = plan_folders(tree, fiscal_year, data.language) if tree is not None else []
        fingerprint = plan_fingerprint(planned)
        info = activity.info()
        done = _resume_from(info.heartbeat_details, fingerprint=fingerprint, total=len(planned))
        if done:
            activity.logger.info("resuming folder creation", extra={"folders_done": done})
        created = 0
        # Plan order puts every parent before its children, so each batch finds its parents in
        # the table: created by an earlier batch, or by an earlier attempt.
        for offset in range(done, len(planned), FOLDER_BATCH):
            batch = planned[offset : offset + FOLDER_BATCH]
            created += await folders.insert_folders(
                self.pool, client_id=data.client_id, folders=batch
            )
            activity.heartbeat(offset + len(batch), fingerprint)
        activity.logger.info(
            "folders ready", extra={"folders_planned": len(planned), "folders_created": created}
        )
        return CreateFoldersResult(
            folders_planned=len(planned),
            folders_created=created,
            months=len(months(fiscal_year)),
            attempt=info.attempt,
        )
