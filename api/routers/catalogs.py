"""/v1/plans, /v1/integrations, /v1/folder-trees: a partner's catalogs.

Everyone of the partner reads them; administrators and client managers change them, except
where an automation app sends its settings (`connect_url`) and which of them are secret: those
are the administrator's alone, since they decide where the administrator-entered secrets go
(deleting such an app, or declaring plain a setting that was once secret, included).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from fastapi import APIRouter, status
from pydantic import BaseModel, Field, ValidationError

from api.deps import AnyRoleDep, ConfigurerDep, PageDep, PoolDep, ServicesDep
from api.pagination import PageOf
from api.params import CatalogCode
from api.problems import ProblemError, problem_responses
from app import pricing as app_pricing
from app.errors import Invalid
from core.outbound import OutboundPolicy, OutboundRefused, OutboundUnresolvable
from domain.folders import FolderTreeTemplate
from domain.money import Price
from domain.setup import Integration, IntegrationKind, Plan, Role
from store import catalogs, partners
from store.catalogs import CatalogTable
from store.pool import Pool

router = APIRouter(prefix="/v1", tags=["catalogs"])

M = TypeVar("M", bound=BaseModel)


class FolderTree(FolderTreeTemplate):
    code: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="Identifier, e.g. `ged`")


def _missing(what: str, code: str) -> ProblemError:
    return ProblemError(404, "not-found", "Not found", f"No {what} {code!r}")


async def _create(pool: Pool, table: CatalogTable, partner: Any, code: str, body: M) -> M:
    if not await catalogs.create(
        pool, table, partner_id=partner, code=code, body=body.model_dump(mode="json")
    ):
        raise ProblemError(409, "conflict", "Already exists", f"Code {code!r} is already used")
    return body


async def _get(pool: Pool, table: CatalogTable, partner: Any, code: str, model: type[M]) -> M:
    body = await catalogs.get(pool, table, partner_id=partner, code=code)
    if body is None:
        raise _missing(table.rstrip("s").replace("_", " "), code)
    return model.model_validate(body)


async def _replace(pool: Pool, table: CatalogTable, partner: Any, code: str, body: M) -> M:
    if getattr(body, "code", code) != code:
        raise Invalid.field("code", "a code cannot change; create a new entry instead")
    if not await catalogs.replace(
        pool, table, partner_id=partner, code=code, body=body.model_dump(mode="json")
    ):
        raise _missing(table.rstrip("s").replace("_", " "), code)
    return body


async def _delete(pool: Pool, table: CatalogTable, partner: Any, code: str) -> None:
    if not await catalogs.delete(pool, table, partner_id=partner, code=code):
        raise _missing(table.rstrip("s").replace("_", " "), code)


async def _list(
    pool: Pool, table: CatalogTable, partner: Any, page: Any, model: type[M]
) -> PageOf[M]:
    bodies, total = await catalogs.list_(
        pool, table, partner_id=partner, limit=page.limit, offset=page.offset
    )
    return PageOf[model](  # type: ignore[valid-type]  # runtime-parametrised generic
        items=[model.model_validate(b) for b in bodies],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


# ---- plans --------------------------------------------------------------------------------------


@router.get("/plans", response_model=PageOf[Plan])
async def read_plans(caller: AnyRoleDep, pool: PoolDep, page: PageDep) -> PageOf[Plan]:
    """Subscription plans, each with its add-ons."""
    return await _list(pool, "plans", caller.partner.id, page, Plan)


@router.post(
    "/plans",
    response_model=Plan,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(403, 409),
)
async def create_plan(body: Plan, caller: ConfigurerDep, pool: PoolDep) -> Plan:
    """Add a plan (with its add-ons)."""
    return await _create(pool, "plans", caller.partner.id, body.code, body)


@router.get("/plans/{code}", response_model=Plan, responses=problem_responses(404))
async def read_plan(code: CatalogCode, caller: AnyRoleDep, pool: PoolDep) -> Plan:
    """One plan."""
    return await _get(pool, "plans", caller.partner.id, code, Plan)


@router.put("/plans/{code}", response_model=Plan, responses=problem_responses(403, 404))
async def update_plan(code: CatalogCode, body: Plan, caller: ConfigurerDep, pool: PoolDep) -> Plan:
    """Replace a plan's name and add-ons. Existing clients keep their snapshot."""
    return await _replace(pool, "plans", caller.partner.id, code, body)


@router.delete(
    "/plans/{code}", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(403, 404)
)
async def delete_plan(code: CatalogCode, caller: ConfigurerDep, pool: PoolDep) -> None:
    """Remove a plan from the catalog."""
    await _delete(pool, "plans", caller.partner.id, code)


class PartnerRate(BaseModel):
    """The firm's agreed rate for a plan or one of its add-ons, overriding the catalogue's price
    (set by the operator; see app/pricing.py for why the firm cannot set its own)."""

    plan: str
    add_on: str | None = Field(description="None: the plan itself")
    price: Price
    set_at: datetime


@router.get("/partner-rates", response_model=list[PartnerRate])
async def read_partner_rates(caller: AnyRoleDep, pool: PoolDep) -> list[PartnerRate]:
    """The firm's special rates, which the monthly costs shown apply before catalogue prices."""
    rows = await app_pricing.rates(pool, partner_id=caller.partner.id, role=caller.user.role)
    return [PartnerRate(plan=r.plan, add_on=r.add_on, price=r.price, set_at=r.set_at) for r in rows]


# ---- integrations -------------------------------------------------------------------------------


def _sensitive(app: Integration | None) -> tuple[str | None, str | None, list[str]]:
    """What decides where secrets and connection ids go: the URLs, and each secret setting as
    declared."""
    if app is None:
        return None, None, []
    secrets = sorted(s.model_dump_json() for s in app.settings if s.secret)
    return app.connect_url, app.disconnect_url, secrets


async def _require_admin_for_sensitive(
    pool: Pool,
    caller: partners.Caller,
    *,
    before: Integration | None,
    after: Integration | None,
    code: str,
) -> None:
    """The one rule on who changes what is secret: creating (`before` None), replacing and
    deleting (`after` None) an integration all come through here.

    Only an administrator may set or change connect_url, add, remove or unmark a secret setting,
    delete an app that has either, or declare plain a setting that was ever secret under this
    code (a delete then create would otherwise get round the first rules). Stored values stay
    masked whatever the definition says (domain.setup.Catalog.secret_names); this rule keeps the
    definition itself honest.
    """
    if caller.user.role == Role.administrator:
        return
    you = f"you are {caller.user.role.value}."
    if _sensitive(after) != _sensitive(before):
        what = (
            "delete an integration that has a connect_url or secret settings"
            if after is None
            else "set an integration's connect_url or change which of its settings are secret"
        )
        raise ProblemError(
            403, "forbidden", "Not allowed", f"Only an administrator can {what}; {you}"
        )
    if after is not None:
        ever = await catalogs.ever_secret(pool, partner_id=caller.partner.id, code=code)
        plain = sorted(s.name for s in after.settings if not s.secret and s.name in ever)
        if plain:
            raise ProblemError(
                403,
                "forbidden",
                "Not allowed",
                f"Setting(s) {', '.join(plain)} of integration {code!r} were declared secret: "
                f"only an administrator can declare them otherwise; {you}",
            )


async def _checked_connect_url(
    policy: OutboundPolicy, url: str | None, field: str = "connect_url"
) -> str | None:
    """The URL in the spelling the outbound policy checked (what is stored, so the worker calls
    exactly that), or 422 naming `connect_url` when the policy refuses it, here rather than at
    the first onboarding. The worker checks again before every call (DNS answers change)."""
    if url is None:
        return None
    try:
        target = policy.check(url)
        url = target.canonical
        await policy.resolve(target)
    except OutboundRefused as exc:
        raise Invalid.field(field, f"not allowed: {exc.reason}") from None
    except OutboundUnresolvable:
        pass  # not known to DNS yet is no reason to refuse; the worker will tell
    return url


@router.get("/integrations", response_model=PageOf[Integration])
async def read_integrations(
    caller: AnyRoleDep, pool: PoolDep, page: PageDep
) -> PageOf[Integration]:
    """Partner apps: redirection (access only) or automation (with settings)."""
    return await _list(pool, "integrations", caller.partner.id, page, Integration)


@router.post(
    "/integrations",
    response_model=Integration,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(403, 409),
)
async def create_integration(
    body: Integration, caller: ConfigurerDep, services: ServicesDep
) -> Integration:
    """Add a partner app, declaring the settings an automation app needs."""
    await _require_admin_for_sensitive(
        services.pool, caller, before=None, after=body, code=body.code
    )
    policy = OutboundPolicy.from_settings(services.settings)
    url = await _checked_connect_url(policy, body.connect_url)
    gone = await _checked_connect_url(policy, body.disconnect_url, "disconnect_url")
    body = body.model_copy(update={"connect_url": url, "disconnect_url": gone})
    return await _create(services.pool, "integrations", caller.partner.id, body.code, body)


@router.get("/integrations/{code}", response_model=Integration, responses=problem_responses(404))
async def read_integration(code: CatalogCode, caller: AnyRoleDep, pool: PoolDep) -> Integration:
    """One partner app."""
    return await _get(pool, "integrations", caller.partner.id, code, Integration)


@router.put(
    "/integrations/{code}", response_model=Integration, responses=problem_responses(403, 404)
)
async def update_integration(
    code: CatalogCode, body: Integration, caller: ConfigurerDep, services: ServicesDep
) -> Integration:
    """Replace a partner app's description (connect_url and secrets: administrators only)."""
    pool = services.pool
    before = await _get(pool, "integrations", caller.partner.id, code, Integration)
    await _require_admin_for_sensitive(pool, caller, before=before, after=body, code=code)
    if body.connect_url != before.connect_url:
        policy = OutboundPolicy.from_settings(services.settings)
        url = await _checked_connect_url(policy, body.connect_url)
        body = body.model_copy(update={"connect_url": url})
    if body.disconnect_url != before.disconnect_url:
        policy = OutboundPolicy.from_settings(services.settings)
        gone = await _checked_connect_url(policy, body.disconnect_url, "disconnect_url")
        body = body.model_copy(update={"disconnect_url": gone})
    return await _replace(pool, "integrations", caller.partner.id, code, body)


@router.delete(
    "/integrations/{code}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(403, 404),
)
async def delete_integration(code: CatalogCode, caller: ConfigurerDep, pool: PoolDep) -> None:
    """Remove a partner app from the catalog (one with connect_url or secrets: administrators
    only). Values stored for its secret settings stay masked."""
    stored = await catalogs.get(pool, "integrations", partner_id=caller.partner.id, code=code)
    if stored is None:
        raise _missing("integration", code)
    try:
        before = Integration.model_validate(stored)
    except ValidationError:
        # Saved before today's rules: what it sends where cannot be told, so as if it did.
        before = Integration.model_construct(
            code=code, name=code, kind=IntegrationKind.automation, settings=[], connect_url="?"
        )
    await _require_admin_for_sensitive(pool, caller, before=before, after=None, code=code)
    await _delete(pool, "integrations", caller.partner.id, code)


# ---- folder trees -------------------------------------------------------------------------------


@router.get("/folder-trees", response_model=PageOf[FolderTree])
async def read_folder_trees(caller: AnyRoleDep, pool: PoolDep, page: PageDep) -> PageOf[FolderTree]:
    """Folder-tree templates."""
    return await _list(pool, "folder_trees", caller.partner.id, page, FolderTree)


@router.post(
    "/folder-trees",
    response_model=FolderTree,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(403, 409),
)
async def create_folder_tree(body: FolderTree, caller: ConfigurerDep, pool: PoolDep) -> FolderTree:
    """Add a folder-tree template; folders marked per_fiscal_year get monthly sub-folders."""
    return await _create(pool, "folder_trees", caller.partner.id, body.code, body)


@router.get("/folder-trees/{code}", response_model=FolderTree, responses=problem_responses(404))
async def read_folder_tree(code: CatalogCode, caller: AnyRoleDep, pool: PoolDep) -> FolderTree:
    """One folder-tree template."""
    return await _get(pool, "folder_trees", caller.partner.id, code, FolderTree)


@router.put(
    "/folder-trees/{code}", response_model=FolderTree, responses=problem_responses(403, 404)
)
async def update_folder_tree(
    code: CatalogCode, body: FolderTree, caller: ConfigurerDep, pool: PoolDep
) -> FolderTree:
    """Replace a folder-tree template. Existing clients keep their folders."""
    return await _replace(pool, "folder_trees", caller.partner.id, code, body)


@router.delete(
    "/folder-trees/{code}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(403, 404),
)
async def delete_folder_tree(code: CatalogCode, caller: ConfigurerDep, pool: PoolDep) -> None:
    """Remove a folder-tree template."""
    await _delete(pool, "folder_trees", caller.partner.id, code)
