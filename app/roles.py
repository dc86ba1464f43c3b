"""Who may do what: the role rules every use case checks, for the API and the console alike."""

from __future__ import annotations

from app.errors import Forbidden
from domain.setup import Role

ANY_ROLE = (Role.administrator, Role.client_manager, Role.accountant)
CONFIGURERS = (Role.administrator, Role.client_manager)
ADMINISTRATORS = (Role.administrator,)


def require(role: Role, allowed: tuple[Role, ...]) -> None:
    """Forbidden unless `role` is one of `allowed` (the message names both, never a person)."""
    if role not in allowed:
        names = ", ".join(r.value for r in allowed)
        raise Forbidden(f"This needs the role {names}; you are {role.value}.")


def allows(role: Role, allowed: tuple[Role, ...]) -> bool:
    """Whether `role` is one of `allowed`: a page offers a form only to those `require` lets in."""
    return role in allowed
