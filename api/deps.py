"""Process-wide services (created in the lifespan), authentication and role checks."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from temporalio.client import Client

from api import auth_failures, ratelimit
from api.problems import ProblemError
from app import company
from app import imports as app_imports
from app import roles as app_roles
from core.settings import Settings
from domain.setup import Role
from store import partners
from store.pool import Pool


@dataclass
class Services:
    settings: Settings
    pool: Pool
    temporal: Client
    # Built on first use (company look-ups), then kept: one HTTP client and pacer per process.
    _registry: company.RegistryClient | None = field(default=None, repr=False)
    # Built on first use (an import's file), closed with the app: one reading pool per process.
    _import_readers: app_imports.Readers | None = field(default=None, repr=False)

    def registry(self) -> company.RegistryClient:
        """The registry client, paced with the workers in the same fleet-wide budget; a person
        waits at most a couple of seconds for a slot (app/company.py)."""
        if self._registry is None:
            self._registry = company.registry_client(self.settings, self.pool)
        return self._registry

    def import_readers(self) -> app_imports.Readers:
        """The worker processes that read import files, and the slots that bound them."""
        if self._import_readers is None:
            self._import_readers = app_imports.Readers.start(self.settings)
        return self._import_readers

    async def close_import_readers(self) -> None:
        """Stop the reading processes (a reader at work ends with its file first)."""
        if self._import_readers is not None:
            readers, self._import_readers = self._import_readers, None
            await readers.close()

    async def aclose(self) -> None:
        """Close what was built on first use."""
        if self._registry is not None and hasattr(self._registry, "aclose"):
            await self._registry.aclose()
            self._registry = None
        await self.close_import_readers()


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_pool(services: ServicesDep) -> Pool:
    return services.pool


def get_temporal(services: ServicesDep) -> Client:
    return services.temporal


PoolDep = Annotated[Pool, Depends(get_pool)]
TemporalDep = Annotated[Client, Depends(get_temporal)]

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer onb_...`")


async def authenticate(
    services: Services, request: Request, credentials: HTTPAuthorizationCredentials | None
) -> partners.Caller:
    """The caller an `Authorization: Bearer` key belongs to, or a 401 problem; a 429 while the
    client's address has spent its budget of failed authentications (api/auth_failures.py)."""
    presented = bool(request.headers.get("authorization", "").strip())
    if credentials is None or credentials.scheme.lower() != "bearer":
        if presented:  # something else than a bearer key: a failed attempt all the same
            await auth_failures.failed(
                services.pool, services.settings, request, auth_failures.Kind.api_key
            )
        raise ProblemError(
            401,
            "unauthenticated",
            "Authentication required",
            "Send an API key as `Authorization: Bearer <key>`.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    caller = await partners.authenticate(services.pool, key=credentials.credentials)
    if caller is None:
        await auth_failures.failed(
            services.pool, services.settings, request, auth_failures.Kind.api_key
        )
        raise ProblemError(
            401,
            "invalid-api-key",
            "Invalid API key",
            "The API key is unknown or revoked.",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    await auth_failures.passed(
        services.pool, services.settings, request, auth_failures.Kind.api_key
    )
    return caller


async def get_caller(
    services: ServicesDep,
    request: Request,
    response: Response,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> partners.Caller:
    caller = await authenticate(services, request, credentials)
    # After authentication, so the budget is the key's, wherever the request lands.
    await ratelimit.enforce(
        services.pool, services.settings, key_id=caller.key_id, request=request, response=response
    )
    return caller


CallerDep = Annotated[partners.Caller, Depends(get_caller)]


def require(*roles: Role) -> Callable[[partners.Caller], Coroutine[Any, Any, partners.Caller]]:
    """A dependency letting through only callers with one of `roles`."""

    async def check(caller: CallerDep) -> partners.Caller:
        # The application's rule (app/roles.py): the console checks the same one.
        app_roles.require(caller.user.role, roles)
        return caller

    return check


ANY_ROLE = app_roles.ANY_ROLE
CONFIGURERS = app_roles.CONFIGURERS

AnyRoleDep = Annotated[partners.Caller, Depends(require(*ANY_ROLE))]
ConfigurerDep = Annotated[partners.Caller, Depends(require(*CONFIGURERS))]
AdminDep = Annotated[partners.Caller, Depends(require(Role.administrator))]


# Past a million, a caller is walking the table, not paging it; and PostgreSQL's OFFSET is a
# bigint, so an unbounded value would fail in the database (500) instead of here (422).
MAX_OFFSET = 1_000_000


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


def get_page(
    limit: Annotated[int, Query(ge=1, le=200, description="Items per page")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip")] = 0,
) -> Page:
    return Page(limit=limit, offset=offset)


PageDep = Annotated[Page, Depends(get_page)]
