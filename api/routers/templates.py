"""/v1/templates, /v1/billing-defaults and /v1/setup-previews: how new clients start."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from api.deps import AnyRoleDep, ConfigurerDep, PageDep, PoolDep
from api.pagination import PageOf
from api.problems import FieldError, ProblemError, problem_responses
from api.setups import resolve_or_problem
from domain.exact import ExactBool
from domain.setup import (
    SECRET_MASK,
    BillingDefaults,
    Catalog,
    EffectiveSetup,
    IntegrationChoice,
    SetupInvalid,
    SetupOverrides,
    TemplateBody,
    mask_choices,
    resolve_setup,
)
from domain.text import Text
from store import setup as setup_store
from store import templates
from store.pool import Pool

router = APIRouter(prefix="/v1", tags=["templates"])


class TemplateBase(TemplateBody):
    name: Text = Field(min_length=1, max_length=120)
    description: Text = Field(default="", max_length=2000)


class TemplateCreate(TemplateBase):
    is_default: ExactBool = Field(default=False, description="Make it the partner's default")


class TemplateUpdate(TemplateBase):
    pass


class TemplatePublic(TemplateBase):
    id: uuid.UUID
    is_default: bool
    version: int = Field(description="Bumped by every update; onboardings record the one used")
    created_at: datetime
    updated_at: datetime


class SetupPreviewRequest(BaseModel):
    template_id: uuid.UUID | None = Field(
        default=None, description="The template to start from; the partner's default if omitted"
    )
    overrides: SetupOverrides = Field(default_factory=SetupOverrides)


class SetupPreview(BaseModel):
    template_name: str
    setup: EffectiveSetup


def _invalid(exc: SetupInvalid) -> ProblemError:
    return ProblemError(
        422,
        "invalid-setup",
        "Invalid setup",
        str(exc),
        errors=[FieldError(field=i.field, message=i.message) for i in exc.issues],
    )


def _keep_secrets(
    new: list[IntegrationChoice], old: list[IntegrationChoice]
) -> list[IntegrationChoice]:
    """A client sends back what it read: a masked value means "keep the stored secret"."""
    stored = {c.code: c.settings for c in old}
    kept: list[IntegrationChoice] = []
    for choice in new:
        settings: dict[str, Any] = {}
        for k, v in choice.settings.items():
            settings[k] = stored.get(choice.code, {}).get(k) if v == SECRET_MASK else v
        kept.append(choice.model_copy(update={"settings": settings}))
    return kept


def _public(row: templates.TemplateRow, catalog: Catalog) -> TemplatePublic:
    body = TemplateBody.model_validate(row.body)
    body = body.model_copy(update={"integrations": mask_choices(body.integrations, catalog)})
    return TemplatePublic(
        id=row.id,
        name=row.name,
        description=row.description,
        is_default=row.is_default,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        **body.model_dump(),
    )


async def _validated_body(pool: Pool, partner_id: uuid.UUID, body: TemplateBody) -> TemplateBody:
    """A template must resolve against today's catalogs and billing defaults."""
    catalog = await setup_store.load_catalog(pool, partner_id=partner_id)
    billing = await setup_store.load_billing(pool, partner_id=partner_id)
    try:
        resolve_setup(
            template=body,
            template_id=None,
            template_version=None,
            billing=billing,
            overrides=SetupOverrides(),
            catalog=catalog,
        )
    except SetupInvalid as exc:
        raise _invalid(exc) from exc
    return body


def _no_template(template_id: uuid.UUID) -> ProblemError:
    return ProblemError(404, "not-found", "Not found", f"No template {template_id}")


def _body_of(model: TemplateBase) -> TemplateBody:
    return TemplateBody.model_validate(
        model.model_dump(include=set(TemplateBody.model_fields), mode="json")
    )


@router.get("/templates", response_model=PageOf[TemplatePublic])
async def read_templates(
    caller: AnyRoleDep, pool: PoolDep, page: PageDep
) -> PageOf[TemplatePublic]:
    """Configuration templates, the default first."""
    rows, total = await templates.list_(
        pool, partner_id=caller.partner.id, limit=page.limit, offset=page.offset
    )
    catalog = await setup_store.load_catalog(pool, partner_id=caller.partner.id)
    return PageOf(
        items=[_public(r, catalog) for r in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.post(
    "/templates",
    response_model=TemplatePublic,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(403, 409),
)
async def create_template(
    body: TemplateCreate, caller: ConfigurerDep, pool: PoolDep
) -> TemplatePublic:
    """Create a configuration template (optionally the new default)."""
    checked = await _validated_body(pool, caller.partner.id, _body_of(body))
    try:
        row = await templates.create(
            pool,
            partner_id=caller.partner.id,
            name=body.name,
            description=body.description,
            body=checked.model_dump(mode="json"),
            make_default=body.is_default,
        )
    except templates.DuplicateName as exc:
        raise ProblemError(
            409, "conflict", "Already exists", f"A template is already named {body.name!r}"
        ) from exc
    catalog = await setup_store.load_catalog(pool, partner_id=caller.partner.id)
    return _public(row, catalog)


@router.get(
    "/templates/{template_id}", response_model=TemplatePublic, responses=problem_responses(404)
)
async def read_template(
    template_id: uuid.UUID, caller: AnyRoleDep, pool: PoolDep
) -> TemplatePublic:
    """One template, secrets masked."""
    row = await templates.get(pool, partner_id=caller.partner.id, template_id=template_id)
    if row is None:
        raise _no_template(template_id)
    return _public(row, await setup_store.load_catalog(pool, partner_id=caller.partner.id))


@router.put(
    "/templates/{template_id}",
    response_model=TemplatePublic,
    responses=problem_responses(403, 404, 409),
)
async def update_template(
    template_id: uuid.UUID, body: TemplateUpdate, caller: ConfigurerDep, pool: PoolDep
) -> TemplatePublic:
    """Replace a template as a new version. Clients made earlier keep their snapshot."""
    current = await templates.get(pool, partner_id=caller.partner.id, template_id=template_id)
    if current is None:
        raise _no_template(template_id)
    new_body = _body_of(body)
    old_body = TemplateBody.model_validate(current.body)
    new_body = new_body.model_copy(
        update={"integrations": _keep_secrets(new_body.integrations, old_body.integrations)}
    )
    checked = await _validated_body(pool, caller.partner.id, new_body)
    try:
        row = await templates.update(
            pool,
            partner_id=caller.partner.id,
            template_id=template_id,
            name=body.name,
            description=body.description,
            body=checked.model_dump(mode="json"),
        )
    except templates.DuplicateName as exc:
        raise ProblemError(
            409, "conflict", "Already exists", f"A template is already named {body.name!r}"
        ) from exc
    if row is None:
        raise _no_template(template_id)
    return _public(row, await setup_store.load_catalog(pool, partner_id=caller.partner.id))


@router.post(
    "/templates/{template_id}/set-default",
    response_model=TemplatePublic,
    responses=problem_responses(403, 404),
)
async def set_default_template(
    template_id: uuid.UUID, caller: ConfigurerDep, pool: PoolDep
) -> TemplatePublic:
    """Make this template the partner's default (the previous default stops being one)."""
    row = await templates.set_default(pool, partner_id=caller.partner.id, template_id=template_id)
    if row is None:
        raise _no_template(template_id)
    return _public(row, await setup_store.load_catalog(pool, partner_id=caller.partner.id))


@router.delete(
    "/templates/{template_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(403, 404, 409),
)
async def delete_template(
    template_id: uuid.UUID,
    caller: ConfigurerDep,
    pool: PoolDep,
    new_default: Annotated[
        uuid.UUID | None,
        Query(description="Required when deleting the default: the template to become default"),
    ] = None,
) -> None:
    """Delete a template. The default can only go if another is named default in its place."""
    current = await templates.get(pool, partner_id=caller.partner.id, template_id=template_id)
    if current is None:
        raise _no_template(template_id)
    if new_default is not None and (
        new_default == template_id
        or await templates.get(pool, partner_id=caller.partner.id, template_id=new_default) is None
    ):
        raise ProblemError(
            422,
            "validation-error",
            "Invalid request",
            "new_default must be another template of this partner",
            errors=[FieldError(field="new_default", message="not another template of yours")],
        )
    try:
        await templates.delete(
            pool, partner_id=caller.partner.id, template_id=template_id, new_default_id=new_default
        )
    except templates.DefaultRequired as exc:
        raise ProblemError(
            409,
            "default-template-required",
            "A default template is required",
            "This is the default template: name another one with ?new_default=<id> to delete it.",
        ) from exc


# ---- billing defaults ---------------------------------------------------------------------------


@router.get("/billing-defaults", response_model=BillingDefaults)
async def read_billing_defaults(caller: AnyRoleDep, pool: PoolDep) -> BillingDefaults:
    """What new clients get when neither the template nor the request says otherwise."""
    return await setup_store.load_billing(pool, partner_id=caller.partner.id)


@router.put("/billing-defaults", response_model=BillingDefaults, responses=problem_responses(403))
async def update_billing_defaults(
    body: BillingDefaults, caller: ConfigurerDep, pool: PoolDep
) -> BillingDefaults:
    """Replace the billing defaults. Existing clients keep theirs."""
    catalog = await setup_store.load_catalog(pool, partner_id=caller.partner.id)
    try:
        resolve_setup(
            template=TemplateBody(),
            template_id=None,
            template_version=None,
            billing=body,
            overrides=SetupOverrides(),
            catalog=catalog,
        )
    except SetupInvalid as exc:
        raise _invalid(exc) from exc
    await templates.put_billing(
        pool, partner_id=caller.partner.id, body=body.model_dump(mode="json")
    )
    return body


# ---- preview ------------------------------------------------------------------------------------


@router.post("/setup-previews", response_model=SetupPreview)
async def create_setup_preview(
    body: SetupPreviewRequest, caller: AnyRoleDep, pool: PoolDep
) -> SetupPreview:
    """The setup a client would get from this template and these overrides; creates nothing."""
    row, effective, catalog = await resolve_or_problem(
        pool, caller.partner.id, body.template_id, body.overrides
    )
    return SetupPreview(template_name=row.name, setup=effective.masked(catalog))
