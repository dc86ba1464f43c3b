"""Every `workflow.patched` id of our workflows, with the day it shipped: the patch lifecycle.

A change that alters a workflow's history ships behind a patch: runs begun before it replay the old
branch, new runs record a marker and take the new one. A patch lives in three stages:
1. patched: both branches kept (`workflow.patched(ID)`);
2. deprecated: once no run started before `shipped` is open (`onboarding patches` counts them),
   the old branch is deleted and the call becomes `workflow.deprecate_patch(ID)`, which replays
   histories with or without the marker; `deprecated` says since when;
3. removed: once no run started before `deprecated` is open either, the call goes too, and the
   patch leaves this registry (histories recorded with its undeprecated marker retire with it).
Onboardings waiting longer than their maximum age (`Settings.max_run_age_days`)
continue as new: after setup since BOUNDED_WAITS, and while a step waits in NEEDS_ATTENTION for a
person since BOUNDED_ATTENTION. From then on, no onboarding run is older than that, so each stage
is reached on a known date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class Workflow(StrEnum):
    """Workflow types, as Temporal's visibility names them."""

    onboarding = "OnboardingWorkflow"
    bulk_import = "BulkImportWorkflow"


@dataclass(frozen=True)
class Patch:
    id: str
    workflow: Workflow
    shipped: date
    why: str
    deprecated: date | None = None


# ---- OnboardingWorkflow ----------------------------------------------------------------------
LOCAL_DB_STEPS = "local-db-steps"
WAIT_FOR_UNMUTE = "wait-for-unmute"
PROJECT_INVITATION = "project-invitation"
ESCALATIONS = "escalations"
NOTICE_WHEN_SOMEONE = "notice-when-someone"
ASSIGN_CHECKLIST = "assign-checklist"
KBO_LOOKUP = "kbo-lookup"
VIES_CHECK = "vies-check"
BOUNDED_WAITS = "bounded-waits"
BOUNDED_ATTENTION = "bounded-attention"
PARK_RESUME_TIMES = "park-resume-times"
# ---- BulkImportWorkflow ----------------------------------------------------------------------
SETTLED_IN_DB = "import-settled-in-db"
STARTS_BY_ACTIVITY = "import-starts-by-activity"

_O, _B = Workflow.onboarding, Workflow.bulk_import
PATCHES: tuple[Patch, ...] = (
    Patch(
        LOCAL_DB_STEPS,
        _O,
        date(2026, 11, 29),
        "short PostgreSQL steps run as local activities; READY written with complete_setup",
    ),
    Patch(
        WAIT_FOR_UNMUTE,
        _O,
        date(2026, 11, 29),
        "a client kept muted waits for its notifications to be switched on, then is invited",
    ),
    Patch(
        PROJECT_INVITATION,
        _O,
        date(2026, 11, 29),
        "where the invitation stands is projected on the client row for the clients list",
    ),
    Patch(
        ESCALATIONS,
        _O,
        date(2026, 11, 29),
        "the onboarding's creator is reminded of, then told about, what waits for them",
    ),
    Patch(
        NOTICE_WHEN_SOMEONE,
        _O,
        date(2026, 11, 30),
        "a setup without collaborators sends no collaborators' notice",
    ),
    Patch(
        ASSIGN_CHECKLIST,
        _O,
        date(2026, 11, 29),
        "the setup's checklist is assigned to the client when setup completes",
    ),
    Patch(
        KBO_LOOKUP,
        _O,
        date(2026, 12, 4),
        "a Belgian client is looked up in the local KBO/BCE tables",
    ),
    Patch(
        VIES_CHECK,
        _O,
        date(2026, 12, 4),
        "an EU VAT number is checked in VIES",
    ),
    Patch(
        BOUNDED_WAITS,
        _O,
        date(2026, 12, 4),
        "a run waiting past its maximum age continues as new with its state",
    ),
    Patch(
        BOUNDED_ATTENTION,
        _O,
        date(2026, 12, 5),
        "a step parked in NEEDS_ATTENTION past the run's maximum age continues as new, still "
        "parked: the next run waits for the resume and does not redo the steps done",
    ),
    Patch(
        PARK_RESUME_TIMES,
        _O,
        date(2026, 12, 5),
        "a step parked and resumed in the same run goes on as if it had only been slow: the "
        "invitation's reminders count from its actual send, and READY is said before the "
        "checklist, so a checklist resumed returns to READY, not SETTING_UP",
    ),
    Patch(
        SETTLED_IN_DB,
        _B,
        date(2026, 11, 29),
        "the import reads its settled rows from PostgreSQL instead of its children's signals",
        deprecated=date(2026, 12, 5),
    ),
    Patch(
        STARTS_BY_ACTIVITY,
        _B,
        date(2026, 11, 30),
        "onboardings are started by an activity as workflows of their own, not as children",
        deprecated=date(2026, 12, 5),
    ),
)
