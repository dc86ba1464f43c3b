"""The error types our activities and workflows raise (`ApplicationError.type`).

Their messages are written in our own words: codes and ids, no remote text, no personal data.
So the onboarding's status, its failure and `waiting_for` may show them (workflows/failures.py,
workflows/read_model.py); any other error reaching a workflow is one Temporal
converted from a Python exception (its type is the class name), whose text may quote data or a
remote answer, and is shown by its type alone.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorType(StrEnum):
    ChecklistMissing = "ChecklistMissing"
    ClientMissing = "ClientMissing"
    CompanyDetailsTimeout = "CompanyDetailsTimeout"
    DataError = "DataError"
    DuplicateEnterpriseNumber = "DuplicateEnterpriseNumber"
    DuplicateSiret = "DuplicateSiret"
    FolderTreeInvalid = "FolderTreeInvalid"
    FolderTreeMissing = "FolderTreeMissing"
    IntegrationMisconfigured = "IntegrationMisconfigured"
    IntegrationRejected = "IntegrationRejected"
    IntegrationUnavailable = "IntegrationUnavailable"
    InvalidFiscalYear = "InvalidFiscalYear"
    ViesBusy = "ViesBusy"
    ViesRejected = "ViesRejected"
    ViesUnavailable = "ViesUnavailable"
    InvalidSiret = "InvalidSiret"
    OnboardingFailed = "OnboardingFailed"
    RegistryRateLimited = "RegistryRateLimited"
    RegistryRejected = "RegistryRejected"
    RegistryUnavailable = "RegistryUnavailable"
    SetupInvalid = "SetupInvalid"
    SmtpDeferred = "SmtpDeferred"
    SmtpUnavailable = "SmtpUnavailable"


def is_ours(error_type: str | None) -> bool:
    """Whether an error of this type carries a message in our own words."""
    return error_type in ErrorType.__members__
