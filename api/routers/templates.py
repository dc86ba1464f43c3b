"""/v1/templates, /v1/billing-defaults and /v1/setup-previews: how new clients start."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from api.deps import AnyRoleDep, ConfigurerDep, PageDep, PoolDep
from api.pagination import PageOf
from api.problems import problem_responses
from api.setups import preview_or_problem
from app import templates as app_templates
from domain.exact import ExactBool
from domain.money import Currency
from domain.pricing import MonthlyCost
from domain.setup import (
    BillingDefaults,
    Catalog,
    EffectiveSetup,
    Payer,
    SetupOverrides,
    TemplateBody,
)
from domain.text import Text
from store import templates

router = APIRouter(prefix="/v1", tags=["templates"])


class TemplateBase(TemplateBody):
    name: Text = Field(min_length=1, max_length=120)
    description: Text = Field(default="", max_length=2000)


_ACK_DESCRIPTION = (
    "Required true when payer is `partner` (the firm pays): the firm confirms the pricing "
    "policy at the prices shown, recorded with who and when; otherwise 409 naming this field"
)


class TemplateCreate(TemplateBase):
    is_default: ExactBool = Field(default=False, description="Make it the partner's default")
    pricing_acknowledged: ExactBool = Field(default=False, description=_ACK_DESCRIPTION)


class TemplateUpdate(TemplateBase):
    pricing_acknowledged: ExactBool = Field(default=False, description=_ACK_DESCRIPTION)


class TemplateVersion(BaseModel):
    """One saved version of a template, with the pricing confirmation saved with it."""

    version: int
    name: str
    payer: Payer | None = Field(description="Who pays in this version; null: the billing defaults")
    saved_at: datetime
    pricing_acknowledged_by: uuid.UUID | None = Field(
        description="The user who confirmed the firm pays at the prices shown (payer partner)"
    )
    pricing_acknowledged_at: datetime | None
    acknowledged_monthly_cents: int | None = Field(
        description="The monthly cost shown when it was confirmed (null: not priced)"
    )
    currency: Currency | None


class BillingDefaultsUpdate(BillingDefaults):
    pricing_acknowledged: ExactBool = Field(
        default=False,
        description="Required true when pay_for_new_clients is true: the firm confirms the "
        "pricing policy, recorded with who and when; otherwise 409 naming this field",
    )


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
    monthly_cost: MonthlyCost | None = Field(
        default=None,
        description="What this setup would cost a month (the firm's special rates first; "
        "annual billing as its monthly equivalent); none without a plan",
    )


def _public(row: templates.TemplateRow, catalog: Catalog) -> TemplatePublic:
    return TemplatePublic(
        id=row.id,
        name=row.name,
        description=row.description,
        is_default=row.is_default,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        **app_templates.masked_body(row, catalog).model_dump(),
    )


def _body_of(model: TemplateBase) -> TemplateBody:
    return TemplateBody.model_validate(
        model.model_dump(include=set(TemplateBody.model_fields), mode="json")
    )


@router.get("/templates", response_model=PageOf[TemplatePublic])
async def read_templates(
    caller: AnyRoleDep, pool: PoolDep, page: PageDep
) -> PageOf[TemplatePublic]:
    """Configuration templates, the default first."""
    rows, total = await app_templates.list_templates(
        pool,
        partner_id=caller.partner.id,
        role=caller.user.role,
        limit=page.limit,
        offset=page.offset,
    )
    catalog = await app_templates.catalog(pool, partner_id=caller.partner.id)
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
    responses=problem_responses(403, 409, 422),
)
async def create_template(
    body: TemplateCreate, caller: ConfigurerDep, pool: PoolDep
) -> TemplatePublic:
    """Create a configuration template (optionally the new default); one where the firm pays
    needs `pricing_acknowledged: true`."""
    row = await app_templates.create_template(
        pool,
        partner_id=caller.partner.id,
        role=caller.user.role,
        name=body.name,
        description=body.description,
        body=_body_of(body),
        make_default=body.is_default,
        user_id=caller.user.id,
        pricing_acknowledged=body.pricing_acknowledged,
    )
    return _public(row, await app_templates.catalog(pool, partner_id=caller.partner.id))


@router.get(
    "/templates/{template_id}", response_model=TemplatePublic, responses=problem_responses(404)
)
async def read_template(
    template_id: uuid.UUID, caller: AnyRoleDep, pool: PoolDep
) -> TemplatePublic:
    """One template, secrets masked."""
    row = await app_templates.get_template(
        pool, partner_id=caller.partner.id, role=caller.user.role, template_id=template_id
    )
    return _public(row, await app_templates.catalog(pool, partner_id=caller.partner.id))


@router.put(
    "/templates/{template_id}",
    response_model=TemplatePublic,
    responses=problem_responses(403, 404, 409, 422),
)
async def update_template(
    template_id: uuid.UUID, body: TemplateUpdate, caller: ConfigurerDep, pool: PoolDep
) -> TemplatePublic:
    """Replace a template as a new version. Clients made earlier keep their snapshot. One where
    the firm pays needs `pricing_acknowledged: true` at every save."""
    row = await app_templates.update_template(
        pool,
        partner_id=caller.partner.id,
        role=caller.user.role,
        template_id=template_id,
        name=body.name,
        description=body.description,
        body=_body_of(body),
        user_id=caller.user.id,
        pricing_acknowledged=body.pricing_acknowledged,
    )
    return _public(row, await app_templates.catalog(pool, partner_id=caller.partner.id))


@router.get(
    "/templates/{template_id}/history",
    response_model=PageOf[TemplateVersion],
    responses=problem_responses(404),
)
async def read_template_history(
    template_id: uuid.UUID, caller: AnyRoleDep, pool: PoolDep, page: PageDep
) -> PageOf[TemplateVersion]:
    """Every saved version of a template, newest first, with who confirmed the pricing policy
    and when for the versions where the firm pays."""
    rows, total = await app_templates.template_history(
        pool,
        partner_id=caller.partner.id,
        role=caller.user.role,
        template_id=template_id,
        limit=page.limit,
        offset=page.offset,
    )
    return PageOf(
        items=[
            TemplateVersion(
                version=r.version,
                name=r.name,
                payer=r.body.get("payer"),
                saved_at=r.saved_at,
                pricing_acknowledged_by=r.acknowledged_by,
                pricing_acknowledged_at=r.acknowledged_at,
                acknowledged_monthly_cents=r.monthly_cents,
                currency=r.currency,
            )
            for r in rows
        ],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.post(
    "/templates/{template_id}/set-default",
    response_model=TemplatePublic,
    responses=problem_responses(403, 404),
)
async def set_default_template(
    template_id: uuid.UUID, caller: ConfigurerDep, pool: PoolDep
) -> TemplatePublic:
    """Make this template the partner's default (the previous default stops being one)."""
    row = await app_templates.set_default(
        pool, partner_id=caller.partner.id, role=caller.user.role, template_id=template_id
    )
    return _public(row, await app_templates.catalog(pool, partner_id=caller.partner.id))


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
    await app_templates.delete_template(
        pool,
        partner_id=caller.partner.id,
        role=caller.user.role,
        template_id=template_id,
        new_default=new_default,
    )


# ---- billing defaults ---------------------------------------------------------------------------


@router.get("/billing-defaults", response_model=BillingDefaults)
async def read_billing_defaults(caller: AnyRoleDep, pool: PoolDep) -> BillingDefaults:
    """What new clients get when neither the template nor the request says otherwise."""
    return await app_templates.read_billing(
        pool, partner_id=caller.partner.id, role=caller.user.role
    )


@router.put(
    "/billing-defaults",
    response_model=BillingDefaults,
    responses=problem_responses(403, 409, 422),
)
async def update_billing_defaults(
    body: BillingDefaultsUpdate, caller: ConfigurerDep, pool: PoolDep
) -> BillingDefaults:
    """Replace the billing defaults. Existing clients keep theirs. Paying for new clients needs
    `pricing_acknowledged: true`."""
    return await app_templates.update_billing(
        pool,
        partner_id=caller.partner.id,
        role=caller.user.role,
        body=BillingDefaults.model_validate(body.model_dump(exclude={"pricing_acknowledged"})),
        user_id=caller.user.id,
        pricing_acknowledged=body.pricing_acknowledged,
    )


# ---- preview ------------------------------------------------------------------------------------


@router.post("/setup-previews", response_model=SetupPreview)
async def create_setup_preview(
    body: SetupPreviewRequest, caller: AnyRoleDep, pool: PoolDep
) -> SetupPreview:
    """The setup a client would get from this template and these overrides; creates nothing."""
    preview = await preview_or_problem(pool, caller.partner.id, body.template_id, body.overrides)
    return SetupPreview(
        template_name=preview.template_name,
        setup=preview.setup,
        monthly_cost=preview.monthly_cost,
    )
