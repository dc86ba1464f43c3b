"""What an application function refuses with: HTTP-free errors the API maps to problem details
(api/problems.py) and the console to a page or a form's field errors."""

from __future__ import annotations

from dataclasses import dataclass

from core.temporal import StartRefusal
from core.workflow_starts import StartFailed


@dataclass(frozen=True)
class FieldIssue:
    """One field at fault, named as the API names it (`invitation.scheduled_at`)."""

    field: str
    message: str
    # A stable name for what is wrong ("past", "too_far"), so a page can say it in its own words.
    code: str | None = None


class AppError(Exception):
    """A refusal: `status` is the HTTP status it stands for, `slug` its stable problem type."""

    status = 500
    slug = "internal-error"
    title = "Internal error"
    # Seconds after which the same request may succeed (a Retry-After header), when it may.
    retry_after: int | None = None

    def __init__(
        self,
        detail: str,
        *,
        slug: str | None = None,
        title: str | None = None,
        errors: tuple[FieldIssue, ...] = (),
        retry_after: int | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if slug is not None:
            self.slug = slug
        if title is not None:
            self.title = title
        self.errors = errors
        if retry_after is not None:
            self.retry_after = retry_after


class NotFound(AppError):
    """No such object for this firm: another firm's ids look exactly like unknown ones."""

    status = 404
    slug = "not-found"
    title = "Not found"


class Invalid(AppError):
    """Bad input, each field at fault named in `errors`."""

    status = 422
    slug = "validation-error"
    title = "Invalid request"

    @classmethod
    def field(cls, field: str, message: str, *, code: str | None = None) -> Invalid:
        return cls.fields((FieldIssue(field, message, code),))

    @classmethod
    def fields(cls, issues: tuple[FieldIssue, ...]) -> Invalid:
        """The one 422 every route and page answers for bad input: each field named."""
        named = ", ".join(dict.fromkeys(i.field for i in issues))
        return cls(f"Invalid field(s): {named}", errors=issues)


class Forbidden(AppError):
    """The caller's role may not do this."""

    status = 403
    slug = "forbidden"
    title = "Not allowed"


class Conflict(AppError):
    """Not possible in the object's current state."""

    status = 409
    slug = "not-now"
    title = "Not possible now"


class Unavailable(AppError):
    """Temporal cannot be reached now: the one answer every route and page gives for it (one
    title, a Retry-After), whatever the call was; the detail says what was and was not done."""

    status = 503
    slug = "temporal-unavailable"
    title = "Temporal unavailable"
    retry_after = 5


class TooManyRequests(AppError):
    """Over a rate limit: ask again after `retry_after` seconds."""

    status = 429
    slug = "rate-limited"
    title = "Too many requests"


class TooLarge(AppError):
    """The input is over a size limit: the same input never goes through."""

    status = 413
    slug = "request-too-large"
    title = "Request too large"


def not_started(
    failed: StartFailed, *, what: str, unavailable: str, again: str = "send the same request again"
) -> AppError:
    """What is answered when a workflow start did not happen (core/workflow_starts.py), the same
    for every start: Temporal down is the one Unavailable, whose `unavailable` detail says what
    was kept and what was not; an input over Temporal's size limit never starts (TooLarge); a
    refusal the deployment must fix first (a search attribute missing) says so and its reason."""
    refused = failed.refused
    if refused.kind == StartRefusal.too_large:
        return TooLarge(f"The {what} is too large to start; send shorter texts and fewer entries.")
    if refused.kind == StartRefusal.unavailable:
        return Unavailable(unavailable)
    return Unavailable(
        f"Cannot start the {what} now: {refused.reason}; {again} once it is fixed.",
        slug="temporal-refused",
        title="Temporal refused the start",
        retry_after=60,
    )
