"""/v1/invitations/{token}: the director's side. The token is the credential: no API key."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from pydantic import BaseModel
from temporalio.service import RPCError

from api.deps import ServicesDep
from api.problems import ProblemError, problem_responses
from domain.invitation import InvalidToken, TokenProblem, token_hash, verify_token
from domain.onboarding import AcceptInvitationInput, workflow_id_for
from store import invitations
from workflows.onboarding import OnboardingWorkflow

router = APIRouter(prefix="/v1/invitations", tags=["invitations"])


class InvitationPublic(BaseModel):
    status: str
    expires_at: datetime


def _problem(problem: TokenProblem) -> ProblemError:
    if problem == TokenProblem.expired:
        return ProblemError(
            410, "invitation-expired", "Invitation expired", "Ask for a new invitation."
        )
    # Malformed and forged look the same from outside: nothing to learn from the difference.
    return ProblemError(
        404, "invitation-not-found", "Unknown invitation", "This link is not valid."
    )


@router.get("/{token}", response_model=InvitationPublic, responses=problem_responses(404, 410))
async def read_invitation(token: str, services: ServicesDep) -> InvitationPublic:
    """Whether an invitation link can still be used."""
    try:
        claims = verify_token(
            token, services.settings.secret_key.get_secret_value(), now=datetime.now(UTC)
        )
    except InvalidToken as exc:
        raise _problem(exc.problem) from exc
    row = await invitations.find(services.pool, token_hash=token_hash(token))
    if row is None:
        raise _problem(TokenProblem.forged)
    state = "accepted" if row.accepted_at else "replaced" if row.revoked_at else "open"
    return InvitationPublic(status=state, expires_at=claims.expires_at)


@router.post(
    "/{token}/accept",
    response_model=InvitationPublic,
    responses=problem_responses(404, 409, 410, 503),
)
async def create_invitation_acceptance(token: str, services: ServicesDep) -> InvitationPublic:
    """Accept the invitation: once, before it expires; then the onboarding completes."""
    try:
        claims = verify_token(
            token, services.settings.secret_key.get_secret_value(), now=datetime.now(UTC)
        )
    except InvalidToken as exc:
        raise _problem(exc.problem) from exc
    hashed = token_hash(token)
    async with services.pool.acquire() as conn, conn.transaction():
        row = await invitations.mark_accepted(conn, token_hash=hashed)
        if row is None:
            existing = await invitations.find(conn, token_hash=hashed)
            if existing is None:
                raise _problem(TokenProblem.forged)
            raise ProblemError(
                409,
                "invitation-used",
                "Invitation already used",
                "This invitation was already accepted, or replaced by a newer one.",
            )
        # Signalled inside the transaction: if Temporal cannot be told, the token stays unused
        # and the director can simply try again.
        handle = services.temporal.get_workflow_handle_for(
            OnboardingWorkflow.run, workflow_id_for(claims.onboarding_id)
        )
        try:
            await handle.signal(
                OnboardingWorkflow.accept_invitation,
                AcceptInvitationInput(sequence=claims.sequence),
            )
        except RPCError as exc:
            raise ProblemError(
                503, "temporal-unavailable", "Try again shortly", "Could not record it now."
            ) from exc
    return InvitationPublic(status="accepted", expires_at=claims.expires_at)
