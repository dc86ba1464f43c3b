"""Configuration templates and billing defaults, one function per use case: the JSON routes
(api/routers/templates.py) and the console's settings pages call the same ones, so the role
rule, the validation against today's catalogs and the secrets kept on update live once."""

from __future__ import annotations

import uuid
from typing import Any

from app import pricing as app_pricing
from app.errors import Conflict, FieldIssue, Invalid, NotFound
from app.roles import ANY_ROLE, CONFIGURERS, require
from domain.setup import (
    SECRET_MASK,
    BillingDefaults,
    Catalog,
    IntegrationChoice,
    Payer,
    Role,
    SetupInvalid,
    SetupOverrides,
    TemplateBody,
    mask_choices,
    resolve_setup,
)
from store import partners
from store import setup_sources as setup_store
from store import templates as templates_store
from store.partners import UserRow
from store.pool import Pool
from store.pricing import Acknowledgement
from store.templates import TemplateRow


def invalid_setup(exc: SetupInvalid) -> Invalid:
    return Invalid(
        str(exc),
        slug="invalid-setup",
        title="Invalid setup",
        errors=tuple(FieldIssue(i.field, i.message, "invalid_setup") for i in exc.issues),
    )


def _no_template(template_id: uuid.UUID) -> NotFound:
    return NotFound(f"No template {template_id}")


def _duplicate(name: str) -> Conflict:
    return Conflict(
        f"A template is already named {name!r}", slug="conflict", title="Already exists"
    )


def keep_secrets(
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


def masked_body(row: TemplateRow, catalog: Catalog) -> TemplateBody:
    """The template's body as anyone may read it: every secret setting masked."""
    body = TemplateBody.model_validate(row.body)
    return body.model_copy(update={"integrations": mask_choices(body.integrations, catalog)})


async def catalog(pool: Pool, *, partner_id: uuid.UUID) -> Catalog:
    return await setup_store.load_catalog(pool, partner_id=partner_id)


async def _validated(
    pool: Pool,
    partner_id: uuid.UUID,
    body: TemplateBody,
    *,
    user_id: uuid.UUID,
    pricing_acknowledged: bool,
) -> tuple[TemplateBody, Acknowledgement | None]:
    """A template must resolve against today's catalogs and billing defaults, and one making the
    firm pay needs the pricing policy confirmed (app.pricing.confirmed_payment): the body, and
    the confirmation to record with it."""
    found = await setup_store.load_catalog(pool, partner_id=partner_id)
    billing = await setup_store.load_billing(pool, partner_id=partner_id)
    try:
        effective = resolve_setup(
            template=body,
            template_id=None,
            template_version=None,
            billing=billing,
            overrides=SetupOverrides(),
            catalog=found,
        )
    except SetupInvalid as exc:
        raise invalid_setup(exc) from exc
    acknowledgement = await app_pricing.confirmed_payment(
        pool,
        partner_id=partner_id,
        user_id=user_id,
        payer=body.payer,
        acknowledged=pricing_acknowledged,
        plan=effective.plan,
        add_ons=effective.add_ons,
        period=effective.billing_period,
    )
    return body, acknowledgement


async def list_templates(
    pool: Pool, *, partner_id: uuid.UUID, role: Role, limit: int, offset: int
) -> tuple[list[TemplateRow], int]:
    """The firm's templates, the default first."""
    require(role, ANY_ROLE)
    return await templates_store.list_(pool, partner_id=partner_id, limit=limit, offset=offset)


async def get_template(
    pool: Pool, *, partner_id: uuid.UUID, role: Role, template_id: uuid.UUID
) -> TemplateRow:
    """One template of the firm (another firm's is NotFound, like a made-up id)."""
    require(role, ANY_ROLE)
    row = await templates_store.get(pool, partner_id=partner_id, template_id=template_id)
    if row is None:
        raise _no_template(template_id)
    return row


async def create_template(
    pool: Pool,
    *,
    partner_id: uuid.UUID,
    role: Role,
    name: str,
    description: str,
    body: TemplateBody,
    make_default: bool,
    user_id: uuid.UUID,
    pricing_acknowledged: bool = False,
) -> TemplateRow:
    """Create a template (optionally the new default), valid against today's catalogs; one
    where the firm pays needs `pricing_acknowledged`, recorded with who and when."""
    require(role, CONFIGURERS)
    checked, acknowledgement = await _validated(
        pool, partner_id, body, user_id=user_id, pricing_acknowledged=pricing_acknowledged
    )
    try:
        return await templates_store.create(
            pool,
            partner_id=partner_id,
            name=name,
            description=description,
            body=checked.model_dump(mode="json"),
            make_default=make_default,
            acknowledgement=acknowledgement,
        )
    except templates_store.DuplicateName as exc:
        raise _duplicate(name) from exc


async def update_template(
    pool: Pool,
    *,
    partner_id: uuid.UUID,
    role: Role,
    template_id: uuid.UUID,
    name: str,
    description: str,
    body: TemplateBody,
    user_id: uuid.UUID,
    pricing_acknowledged: bool = False,
) -> TemplateRow:
    """Replace a template as a new version, a masked secret keeping the stored one. Clients
    made earlier keep their snapshot. Every save where the firm pays needs
    `pricing_acknowledged` again: the prices may have changed since the last one."""
    require(role, CONFIGURERS)
    current = await templates_store.get(pool, partner_id=partner_id, template_id=template_id)
    if current is None:
        raise _no_template(template_id)
    old = TemplateBody.model_validate(current.body)
    body = body.model_copy(
        update={"integrations": keep_secrets(body.integrations, old.integrations)}
    )
    checked, acknowledgement = await _validated(
        pool, partner_id, body, user_id=user_id, pricing_acknowledged=pricing_acknowledged
    )
    try:
        row = await templates_store.update(
            pool,
            partner_id=partner_id,
            template_id=template_id,
            name=name,
            description=description,
            body=checked.model_dump(mode="json"),
            acknowledgement=acknowledgement,
        )
    except templates_store.DuplicateName as exc:
        raise _duplicate(name) from exc
    if row is None:
        raise _no_template(template_id)
    return row


async def set_default(
    pool: Pool, *, partner_id: uuid.UUID, role: Role, template_id: uuid.UUID
) -> TemplateRow:
    """Make this template the firm's default (the previous default stops being one)."""
    require(role, CONFIGURERS)
    row = await templates_store.set_default(pool, partner_id=partner_id, template_id=template_id)
    if row is None:
        raise _no_template(template_id)
    return row


async def delete_template(
    pool: Pool,
    *,
    partner_id: uuid.UUID,
    role: Role,
    template_id: uuid.UUID,
    new_default: uuid.UUID | None,
) -> None:
    """Delete a template. The default can only go if another is named default in its place."""
    require(role, CONFIGURERS)
    current = await templates_store.get(pool, partner_id=partner_id, template_id=template_id)
    if current is None:
        raise _no_template(template_id)
    if new_default is not None and (
        new_default == template_id
        or await templates_store.get(pool, partner_id=partner_id, template_id=new_default) is None
    ):
        raise Invalid(
            "new_default must be another template of this partner",
            errors=(FieldIssue("new_default", "not another template of yours", "unknown"),),
        )
    try:
        await templates_store.delete(
            pool, partner_id=partner_id, template_id=template_id, new_default_id=new_default
        )
    except templates_store.DefaultRequired as exc:
        raise Conflict(
            "This is the default template: name another one with ?new_default=<id> to delete it.",
            slug="default-template-required",
            title="A default template is required",
        ) from exc


async def read_billing(pool: Pool, *, partner_id: uuid.UUID, role: Role) -> BillingDefaults:
    """What new clients get when neither the template nor the request says otherwise."""
    require(role, ANY_ROLE)
    return await setup_store.load_billing(pool, partner_id=partner_id)


async def update_billing(
    pool: Pool,
    *,
    partner_id: uuid.UUID,
    role: Role,
    body: BillingDefaults,
    user_id: uuid.UUID,
    pricing_acknowledged: bool = False,
) -> BillingDefaults:
    """Replace the billing defaults (valid against the plans); existing clients keep theirs.
    Defaults where the firm pays for new clients need `pricing_acknowledged`."""
    require(role, CONFIGURERS)
    found = await setup_store.load_catalog(pool, partner_id=partner_id)
    try:
        effective = resolve_setup(
            template=TemplateBody(),
            template_id=None,
            template_version=None,
            billing=body,
            overrides=SetupOverrides(),
            catalog=found,
        )
    except SetupInvalid as exc:
        raise invalid_setup(exc) from exc
    acknowledgement = await app_pricing.confirmed_payment(
        pool,
        partner_id=partner_id,
        user_id=user_id,
        payer=Payer.partner if body.pay_for_new_clients else Payer.client,
        acknowledged=pricing_acknowledged,
        plan=effective.plan,
        add_ons=effective.add_ons,
        period=effective.billing_period,
    )
    await templates_store.put_billing(
        pool,
        partner_id=partner_id,
        body=body.model_dump(mode="json"),
        acknowledgement=acknowledgement,
    )
    return body


async def template_history(
    pool: Pool,
    *,
    partner_id: uuid.UUID,
    role: Role,
    template_id: uuid.UUID,
    limit: int,
    offset: int,
) -> tuple[list[templates_store.HistoryRow], int]:
    """Every saved version of a template, newest first, each with the pricing confirmation
    (who, when, the monthly cost shown) saved with it when the firm pays (any role)."""
    require(role, ANY_ROLE)
    if await templates_store.get(pool, partner_id=partner_id, template_id=template_id) is None:
        raise _no_template(template_id)
    return await templates_store.history(
        pool, partner_id=partner_id, template_id=template_id, limit=limit, offset=offset
    )


async def assignable_users(pool: Pool, *, partner_id: uuid.UUID, role: Role) -> list[UserRow]:
    """The users a template may assign to new clients, for whoever may write templates (a firm
    has tens of users, not thousands)."""
    require(role, CONFIGURERS)
    rows, _ = await partners.list_users(pool, partner_id=partner_id, limit=500, offset=0)
    return rows
