"""The console's Settings: configuration templates, billing defaults, users and roles, API keys.

Each page and form calls the application function its JSON route calls (app/templates.py,
app/users.py), so the role rules are the API's: anyone reads templates and billing defaults,
administrators and client managers change them, administrators alone manage users and API keys.
Every POST is checked for the session's CSRF token and our origin, then answered with a redirect
(post-redirect-get) or the form again with each field's error in the user's language. One
exception: a new API key is shown on the POST's own answer (never in a URL, never again), marked
`Cache-Control: no-store` so no cache or back button keeps it.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from pydantic import EmailStr, TypeAdapter, ValidationError
from starlette.datastructures import FormData
from starlette.responses import Response

from api.console import (
    PREFIX,
    _checked_form,
    _env,
    _Frame,
    _frame,
    _notice,
    _redirect,
    _render,
    _session,
    _to_sign_in,
    _url,
    _uuid,
)
from api.console.client_prices import cost_text
from api.console.texts import LANGUAGES, TEXTS
from api.deps import Services, ServicesDep
from app import pricing as app_pricing
from app import sign_in
from app import templates as app_templates
from app import users as app_users
from app.errors import AppError, Conflict, Forbidden, Invalid, NotFound
from app.roles import ADMINISTRATORS, CONFIGURERS
from domain.setup import (
    SECRET_MASK,
    BillingDefaults,
    BillingPeriod,
    Catalog,
    IntegrationChoice,
    Payer,
    Role,
    SettingType,
    TemplateBody,
)
from domain.text import Text
from store import limits
from store.console import SessionRow


def _known_id(text: str) -> uuid.UUID:
    """The id in a settings page's path; one that is no id is as unknown as another firm's."""
    parsed = _uuid(text)
    if parsed is None:
        raise NotFound(text)
    return parsed


router = APIRouter(include_in_schema=False)

BASE = "/settings"
NO_STORE = {"Cache-Control": "no-store"}
# The template form's fields in page order (the error summary follows it).
TEMPLATE_ORDER = (
    "name",
    "description",
    "user_ids",
    "plan",
    "add_ons",
    "payer",
    "pricing_acknowledged",
    "integrations",
)
BILLING_ORDER = ("pay_for_new_clients", "billing_period", "plan", "add_ons", "pricing_acknowledged")
USER_ORDER = ("user_name", "email", "role", "language")


def may_configure(role: Role) -> bool:
    return role in CONFIGURERS


def may_administer(role: Role) -> bool:
    return role in ADMINISTRATORS


# Pages offer only what the role may do (the app's rules, so a page never offers a refusal).
_env.globals["may_configure"] = may_configure
_env.globals["may_administer"] = may_administer


Page = Callable[[SessionRow, _Frame], Awaitable[Response]]


async def _guarded(request: Request, services: Services, page: Page, *, post: bool) -> Response:
    """Session, CSRF/origin (for a POST) and the app's refusals, the same for every page."""
    session = await _session(request, services)
    if session is None:
        return _to_sign_in(request)
    frame = _frame(request, services, session)
    if post and await _checked_form(request, services, session) is None:
        return _notice(frame, "refused", 403)
    try:
        return await page(session, frame)
    except Forbidden:
        return _notice(frame, "forbidden", 403)
    except NotFound:
        return _notice(frame, "not_found", 404)


def _who(session: SessionRow) -> dict[str, Any]:
    return {"partner_id": session.member.partner.id, "role": session.member.user.role}


def _text(form: FormData, name: str, limit: int = 2000) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def _done(frame: _Frame, path: str, done: str) -> Response:
    return _redirect(_url(frame, f"{BASE}{path}?done={done}"))


def _done_key(request: Request) -> str | None:
    """The confirmation to show, only one of ours (the query never carries free text)."""
    done = request.query_params.get("done", "")
    return done if done.isidentifier() and f"st_done_{done}" in TEXTS["en"] else None


# -- index --------------------------------------------------------------------------------------


@router.get(PREFIX + BASE)
async def read_console_settings(request: Request, services: ServicesDep) -> Response:
    """The settings this user's role may open."""

    async def page(session: SessionRow, frame: _Frame) -> Response:
        return _render(frame, "settings.html")

    return await _guarded(request, services, page, post=False)


# -- templates ----------------------------------------------------------------------------------


@router.get(PREFIX + BASE + "/templates")
async def read_console_templates(request: Request, services: ServicesDep) -> Response:
    """The firm's templates, the default first; set default and delete for who may."""

    async def page(session: SessionRow, frame: _Frame) -> Response:
        return await _templates_page(request, services, session, frame)

    return await _guarded(request, services, page, post=False)


async def _templates_page(
    request: Request,
    services: Services,
    session: SessionRow,
    frame: _Frame,
    *,
    status: int = 200,
    refused: str | None = None,
) -> Response:
    rows, _ = await app_templates.list_templates(
        services.pool, **_who(session), limit=200, offset=0
    )
    return _render(
        frame,
        "settings_templates.html",
        status=status,
        templates=rows,
        done=_done_key(request),
        refused=refused,
    )


def _integration_field(code: str, setting: str) -> str:
    return f"int__{code}__{setting}"


def _form_values(
    body: TemplateBody, catalog: Catalog, name: str, description: str
) -> dict[str, Any]:
    """What the form shows: the template's values, each secret masked."""
    chosen = {c.code: c for c in body.integrations}
    integrations: dict[str, Any] = {}
    for code, spec in catalog.integrations.items():
        choice = chosen.get(code)
        secrets = catalog.secret_names(code)
        settings = {}
        for s in spec.settings:
            value = choice.settings.get(s.name) if choice else None
            if value is not None and s.name in secrets:
                value = SECRET_MASK
            settings[s.name] = (
                ""
                if value is None
                else str(value).lower()
                if isinstance(value, bool)
                else str(value)
            )
        integrations[code] = {"enabled": bool(choice and choice.enabled), "settings": settings}
    return {
        "name": name,
        "description": description,
        "user_ids": {str(u) for u in body.user_ids},
        "plan": body.plan or "",
        "add_ons": set(body.add_ons or []),
        "payer": body.payer.value if body.payer else "",
        "pricing_acknowledged": False,
        "integrations": integrations,
    }


def _typed_values(form: FormData, catalog: Catalog) -> dict[str, Any]:
    """What was typed, to give the form back as it was sent."""
    integrations: dict[str, Any] = {}
    for code, spec in catalog.integrations.items():
        integrations[code] = {
            "enabled": form.get(f"int__{code}") == "1",
            "settings": {
                s.name: _text(form, _integration_field(code, s.name), 500) for s in spec.settings
            },
        }
    return {
        "name": _text(form, "name", 500),
        "description": _text(form, "description"),
        "user_ids": {v for v in form.getlist("user_ids") if isinstance(v, str)},
        "plan": _text(form, "plan", 120),
        "add_ons": {v for v in form.getlist("add_ons") if isinstance(v, str)},
        "payer": _text(form, "payer", 20),
        "pricing_acknowledged": form.get("pricing_acknowledged") == "1",
        "integrations": integrations,
    }


def _setting_value(kind: SettingType, raw: str) -> Any:
    """A typed setting: integers and yes/no as the catalog declares them; the rest as text."""
    if kind is SettingType.integer and raw.lstrip("-").isdigit():
        return int(raw)
    if kind is SettingType.boolean and raw in ("true", "false"):
        return raw == "true"
    return raw


def _template_body(values: dict[str, Any], catalog: Catalog, kept: TemplateBody) -> TemplateBody:
    """The form's template as the API's body; what the form does not show is kept as stored.
    Raises Invalid naming the form's field at fault."""
    integrations: list[IntegrationChoice] = []
    for code, spec in catalog.integrations.items():
        entered = values["integrations"][code]
        if not entered["enabled"]:
            continue
        settings = {
            s.name: _setting_value(s.type, entered["settings"][s.name])
            for s in spec.settings
            if entered["settings"][s.name] != ""
        }
        integrations.append(IntegrationChoice(code=code, enabled=True, settings=settings))
    try:
        return kept.model_copy(
            update={
                "user_ids": [uuid.UUID(u) for u in sorted(values["user_ids"])],
                "plan": values["plan"] or None,
                "add_ons": sorted(values["add_ons"]) if values["plan"] else None,
                "payer": Payer(values["payer"]) if values["payer"] else None,
                "integrations": integrations,
            }
        )
    except ValueError as exc:
        field = "user_ids" if "UUID" in str(exc) or "badly formed" in str(exc) else "payer"
        raise Invalid.field(field, "invalid") from exc


def _field_of(api_field: str, order: tuple[str, ...]) -> str:
    """The form field an API field name (`integrations[0].settings.key`) belongs to."""
    for layer in ("template.", "billing_defaults."):
        api_field = api_field.removeprefix(layer)
    head = api_field.split(".")[0].split("[")[0]
    return head if head in order else order[-1]


def _errors(frame: _Frame, exc: Invalid, order: tuple[str, ...]) -> dict[str, str]:
    texts = TEXTS[frame.lang]
    fields = {_field_of(e.field, order) for e in exc.errors} or {order[-1]}
    return {f: texts[f"st_error_{f}"] for f in order if f in fields}


async def _template_form(
    services: Services,
    session: SessionRow,
    frame: _Frame,
    *,
    template_id: uuid.UUID | None,
    values: dict[str, Any],
    catalog: Catalog,
    status: int = 200,
    errors: dict[str, str] | None = None,
) -> Response:
    # Anyone reads a template (as GET /v1/templates/{id} allows); whoever may not change it gets
    # the form read-only, without the users list (administrators' and client managers' only).
    editable = may_configure(session.member.user.role)
    users = await app_templates.assignable_users(services.pool, **_who(session)) if editable else []
    billing = await app_templates.read_billing(services.pool, **_who(session))
    cost = await app_pricing.cost_of(
        services.pool,
        partner_id=session.member.partner.id,
        plan=values["plan"] or billing.plan,
        add_ons=sorted(values["add_ons"]) if values["plan"] else billing.add_ons,
        period=billing.billing_period,
        catalog=catalog,
    )
    return _render(
        frame,
        "settings_template_form.html",
        editable=editable,
        status=status,
        template_id=str(template_id) if template_id else None,
        values=values,
        errors=errors or {},
        users=users,
        catalog=catalog,
        payers=[p.value for p in Payer],
        secrets={code: catalog.secret_names(code) for code in catalog.integrations},
        field_name=_integration_field,
        pricing_cost=cost_text(cost, frame.lang),
    )


@router.get(PREFIX + BASE + "/templates/new")
async def read_console_template_new(request: Request, services: ServicesDep) -> Response:
    """An empty template form (administrators and client managers)."""

    async def page(session: SessionRow, frame: _Frame) -> Response:
        await app_templates.assignable_users(services.pool, **_who(session))
        catalog = await app_templates.catalog(services.pool, partner_id=session.member.partner.id)
        values = _form_values(TemplateBody(), catalog, "", "")
        return await _template_form(
            services, session, frame, template_id=None, values=values, catalog=catalog
        )

    return await _guarded(request, services, page, post=False)


@router.post(PREFIX + BASE + "/templates/new")
async def create_console_template(request: Request, services: ServicesDep) -> Response:
    """Create the template; a name already used gives the form back (a double submit too)."""

    async def page(session: SessionRow, frame: _Frame) -> Response:
        form = await request.form()
        catalog = await app_templates.catalog(services.pool, partner_id=session.member.partner.id)
        values = _typed_values(form, catalog)
        return await _save_template(services, session, frame, None, values, catalog, TemplateBody())

    return await _guarded(request, services, page, post=True)


async def _save_template(
    services: Services,
    session: SessionRow,
    frame: _Frame,
    template_id: uuid.UUID | None,
    values: dict[str, Any],
    catalog: Catalog,
    kept: TemplateBody,
) -> Response:
    texts = TEXTS[frame.lang]
    errors: dict[str, str] = {}
    if not values["name"]:
        errors["name"] = texts["st_required_name"]
    elif len(values["name"]) > 120:
        errors["name"] = texts["st_error_too_long"]
    try:
        body = _template_body(values, catalog, kept)
        if not errors:
            if template_id is None:
                await app_templates.create_template(
                    services.pool,
                    **_who(session),
                    name=values["name"],
                    description=values["description"],
                    body=body,
                    make_default=False,
                    user_id=session.member.user.id,
                    pricing_acknowledged=values["pricing_acknowledged"],
                )
            else:
                await app_templates.update_template(
                    services.pool,
                    **_who(session),
                    template_id=template_id,
                    name=values["name"],
                    description=values["description"],
                    body=body,
                    user_id=session.member.user.id,
                    pricing_acknowledged=values["pricing_acknowledged"],
                )
    except Invalid as exc:
        errors = {**errors, **_errors(frame, exc, TEMPLATE_ORDER)}
    except ValidationError:
        errors = {**errors, "integrations": texts["st_error_integrations"]}
    except AppError as exc:
        if exc.slug == app_pricing.REFUSED_SLUG:
            errors["pricing_acknowledged"] = texts["st_error_pricing_acknowledged"]
        elif exc.slug == "conflict":
            errors["name"] = texts["st_error_duplicate"]
        else:
            raise
    if errors:
        # A secret typed is never sent back in a page: the form asks for it again (a mask sent
        # still means the stored one).
        for code, entered in values["integrations"].items():
            for name in catalog.secret_names(code):
                if entered["settings"].get(name) not in (None, SECRET_MASK):
                    entered["settings"][name] = ""
        return await _template_form(
            services,
            session,
            frame,
            template_id=template_id,
            values=values,
            catalog=catalog,
            status=422,
            errors={f: errors[f] for f in TEMPLATE_ORDER if f in errors},
        )
    return _done(frame, "/templates", "template_saved")


@router.get(PREFIX + BASE + "/templates/{template_id}")
async def read_console_template(
    template_id: Text, request: Request, services: ServicesDep
) -> Response:
    """The template's form, secrets masked (read-only for whoever may not change it)."""

    async def page(session: SessionRow, frame: _Frame) -> Response:
        parsed = _known_id(template_id)
        row = await app_templates.get_template(services.pool, **_who(session), template_id=parsed)
        catalog = await app_templates.catalog(services.pool, partner_id=session.member.partner.id)
        values = _form_values(
            TemplateBody.model_validate(row.body), catalog, row.name, row.description
        )
        return await _template_form(
            services, session, frame, template_id=parsed, values=values, catalog=catalog
        )

    return await _guarded(request, services, page, post=False)


@router.post(PREFIX + BASE + "/templates/{template_id}")
async def update_console_template(
    template_id: Text, request: Request, services: ServicesDep
) -> Response:
    """Save the template as a new version; a secret left masked keeps the stored one."""

    async def page(session: SessionRow, frame: _Frame) -> Response:
        parsed = _known_id(template_id)
        form = await request.form()
        row = await app_templates.get_template(services.pool, **_who(session), template_id=parsed)
        catalog = await app_templates.catalog(services.pool, partner_id=session.member.partner.id)
        values = _typed_values(form, catalog)
        return await _save_template(
            services, session, frame, parsed, values, catalog, TemplateBody.model_validate(row.body)
        )

    return await _guarded(request, services, page, post=True)


@router.post(PREFIX + BASE + "/templates/{template_id}/default")
async def create_console_template_default(
    template_id: Text, request: Request, services: ServicesDep
) -> Response:
    """Make this template the default (setting it twice changes nothing more)."""

    async def page(session: SessionRow, frame: _Frame) -> Response:
        parsed = _known_id(template_id)
        await app_templates.set_default(services.pool, **_who(session), template_id=parsed)
        return _done(frame, "/templates", "default_set")

    return await _guarded(request, services, page, post=True)


@router.post(PREFIX + BASE + "/templates/{template_id}/delete")
async def create_console_template_delete(
    template_id: Text, request: Request, services: ServicesDep
) -> Response:
    """Delete a template; the default only with another named in its place."""

    async def page(session: SessionRow, frame: _Frame) -> Response:
        parsed = _known_id(template_id)
        form = await request.form()
        raw = _text(form, "new_default", 36)
        new_default = _uuid(raw) if raw else None
        try:
            await app_templates.delete_template(
                services.pool, **_who(session), template_id=parsed, new_default=new_default
            )
        except NotFound:
            # Deleted already (the same form sent twice) or never ours: the list, saying so.
            return await _templates_page(
                request,
                services,
                session,
                frame,
                status=404,
                refused=TEXTS[frame.lang]["st_gone"],
            )
        except (Invalid, Conflict) as exc:
            return await _templates_page(
                request,
                services,
                session,
                frame,
                status=exc.status,
                refused=TEXTS[frame.lang]["st_default_required"],
            )
        return _done(frame, "/templates", "template_deleted")

    return await _guarded(request, services, page, post=True)


# -- billing defaults ---------------------------------------------------------------------------


def _billing_values(billing: BillingDefaults) -> dict[str, Any]:
    return {
        "pay_for_new_clients": billing.pay_for_new_clients,
        "billing_period": billing.billing_period.value,
        "plan": billing.plan or "",
        "add_ons": set(billing.add_ons),
        "pricing_acknowledged": False,
    }


async def _billing_page(
    request: Request,
    services: Services,
    session: SessionRow,
    frame: _Frame,
    *,
    values: dict[str, Any],
    status: int = 200,
    errors: dict[str, str] | None = None,
) -> Response:
    catalog = await app_templates.catalog(services.pool, partner_id=session.member.partner.id)
    known = {p.value for p in BillingPeriod}
    cost = await app_pricing.cost_of(
        services.pool,
        partner_id=session.member.partner.id,
        plan=values["plan"] or None,
        add_ons=sorted(values["add_ons"]),
        period=BillingPeriod(values["billing_period"])
        if values["billing_period"] in known
        else BillingPeriod.monthly,
        catalog=catalog,
    )
    return _render(
        frame,
        "settings_billing.html",
        pricing_cost=cost_text(cost, frame.lang),
        status=status,
        values=values,
        errors=errors or {},
        catalog=catalog,
        periods=[p.value for p in BillingPeriod],
        done=_done_key(request),
    )


@router.get(PREFIX + BASE + "/billing")
async def read_console_billing(request: Request, services: ServicesDep) -> Response:
    """The billing defaults; a form for administrators and client managers."""

    async def page(session: SessionRow, frame: _Frame) -> Response:
        billing = await app_templates.read_billing(services.pool, **_who(session))
        return await _billing_page(
            request, services, session, frame, values=_billing_values(billing)
        )

    return await _guarded(request, services, page, post=False)


@router.post(PREFIX + BASE + "/billing")
async def update_console_billing(request: Request, services: ServicesDep) -> Response:
    """Replace the billing defaults; existing clients keep theirs."""

    async def page(session: SessionRow, frame: _Frame) -> Response:
        form = await request.form()
        values: dict[str, Any] = {
            "pay_for_new_clients": form.get("pay_for_new_clients") == "1",
            "billing_period": _text(form, "billing_period", 20),
            "plan": _text(form, "plan", 120),
            "add_ons": {v for v in form.getlist("add_ons") if isinstance(v, str)},
            "pricing_acknowledged": form.get("pricing_acknowledged") == "1",
        }
        try:
            body = BillingDefaults(
                pay_for_new_clients=values["pay_for_new_clients"],
                billing_period=BillingPeriod(values["billing_period"]),
                plan=values["plan"] or None,
                add_ons=sorted(values["add_ons"]) if values["plan"] else [],
            )
            await app_templates.update_billing(
                services.pool,
                **_who(session),
                body=body,
                user_id=session.member.user.id,
                pricing_acknowledged=values["pricing_acknowledged"],
            )
        except Conflict as exc:
            if exc.slug != app_pricing.REFUSED_SLUG:
                raise
            return await _billing_page(
                request,
                services,
                session,
                frame,
                values=values,
                status=409,
                errors={"pricing_acknowledged": TEXTS[frame.lang]["st_error_pricing_acknowledged"]},
            )
        except Invalid as exc:
            return await _billing_page(
                request,
                services,
                session,
                frame,
                values=values,
                status=422,
                errors=_errors(frame, exc, BILLING_ORDER),
            )
        except ValueError:
            return await _billing_page(
                request,
                services,
                session,
                frame,
                values=values,
                status=422,
                errors={"billing_period": TEXTS[frame.lang]["st_error_billing_period"]},
            )
        return _done(frame, "/billing", "billing_saved")

    return await _guarded(request, services, page, post=True)


# -- users and roles ----------------------------------------------------------------------------


async def _users_page(
    request: Request,
    services: Services,
    session: SessionRow,
    frame: _Frame,
    *,
    values: dict[str, str] | None = None,
    status: int = 200,
    errors: dict[str, str] | None = None,
    refused: str | None = None,
) -> Response:
    rows, _ = await app_users.list_users(services.pool, **_who(session), limit=500, offset=0)
    return _render(
        frame,
        "settings_users.html",
        status=status,
        users=rows,
        me=session.member.user.id,
        roles=[r.value for r in Role],
        languages=LANGUAGES,
        values=values
        or {"user_name": "", "email": "", "role": "accountant", "language": frame.lang},
        errors=errors or {},
        done=_done_key(request),
        refused=refused,
    )


@router.get(PREFIX + BASE + "/users")
async def read_console_users(request: Request, services: ServicesDep) -> Response:
    """The firm's users and their roles (administrators)."""

    async def page(session: SessionRow, frame: _Frame) -> Response:
        return await _users_page(request, services, session, frame)

    return await _guarded(request, services, page, post=False)


@router.post(PREFIX + BASE + "/users")
async def create_console_user(request: Request, services: ServicesDep) -> Response:
    """Add a user; an address already a user of the firm gives the form back (a double submit
    adds one user)."""

    async def page(session: SessionRow, frame: _Frame) -> Response:
        form = await request.form()
        texts = TEXTS[frame.lang]
        values = {f: _text(form, f, 254) for f in USER_ORDER}
        errors: dict[str, str] = {}
        if not values["user_name"]:
            errors["user_name"] = texts["st_required_user_name"]
        elif len(values["user_name"]) > 200:
            errors["user_name"] = texts["st_error_too_long"]
        email = _email(values["email"])
        if email is None:
            errors["email"] = texts["st_error_email"]
        if values["role"] not in {r.value for r in Role}:
            errors["role"] = texts["st_error_role"]
        if values["language"] not in LANGUAGES:
            errors["language"] = texts["st_error_language"]
        if not errors and email is not None:
            try:
                await app_users.create_user(
                    services.pool,
                    **_who(session),
                    email=email,
                    name=values["user_name"],
                    user_role=Role(values["role"]),
                    language=values["language"],
                )
            except AppError as exc:
                if exc.slug != "conflict":
                    raise
                errors["email"] = texts["st_error_email_taken"]
        if errors:
            return await _users_page(
                request,
                services,
                session,
                frame,
                values=values,
                status=422,
                errors={f: errors[f] for f in USER_ORDER if f in errors},
            )
        return _done(frame, "/users", "user_added")

    return await _guarded(request, services, page, post=True)


def _email(raw: str) -> str | None:
    """The address as the API's EmailStr reads it, or None."""
    try:
        return str(TypeAdapter(EmailStr).validate_python(raw))
    except ValidationError:
        return None


UserAction = Callable[[SessionRow, uuid.UUID, FormData], Awaitable[str]]


async def _user_action(
    user_id: str, request: Request, services: Services, action: UserAction
) -> Response:
    async def page(session: SessionRow, frame: _Frame) -> Response:
        parsed = _known_id(user_id)
        form = await request.form()
        try:
            done = await action(session, parsed, form)
        except Forbidden:
            raise
        except NotFound:
            # Gone already (the same form sent twice) or never ours: the list, saying so, with
            # the 404 another firm's id gets.
            return await _users_page(
                request, services, session, frame, status=404, refused=TEXTS[frame.lang]["st_gone"]
            )
        except AppError as exc:
            key = {"last-administrator": "st_last_admin", "self-deletion": "st_self"}.get(
                exc.slug, "st_error_role"
            )
            return await _users_page(
                request, services, session, frame, status=exc.status, refused=TEXTS[frame.lang][key]
            )
        return _done(frame, "/users", done)

    return await _guarded(request, services, page, post=True)


@router.post(PREFIX + BASE + "/users/{user_id}/role")
async def update_console_user_role(
    user_id: Text, request: Request, services: ServicesDep
) -> Response:
    """Change a user's role; never the firm's last administrator's."""

    async def change(session: SessionRow, parsed: uuid.UUID, form: FormData) -> str:
        raw = _text(form, "role", 20)
        if raw not in {r.value for r in Role}:
            raise Invalid.field("role", "unknown role")
        await app_users.update_user(
            services.pool, **_who(session), user_id=parsed, user_role=Role(raw)
        )
        return "role_changed"

    return await _user_action(user_id, request, services, change)


@router.post(PREFIX + BASE + "/users/{user_id}/delete")
async def create_console_user_delete(
    user_id: Text, request: Request, services: ServicesDep
) -> Response:
    """Remove a user and their API keys; not oneself, nor the last administrator."""

    async def remove(session: SessionRow, parsed: uuid.UUID, form: FormData) -> str:
        await app_users.delete_user(
            services.pool, **_who(session), caller_id=session.member.user.id, user_id=parsed
        )
        return "user_removed"

    return await _user_action(user_id, request, services, remove)


# -- API keys -----------------------------------------------------------------------------------

NONCE_FIELD = "form_id"
_NONCE = re.compile(r"^[0-9a-f]{32}$")
# How long a create-key form's nonce stays claimed: longer than anyone keeps a page open.
_NONCE_SECONDS = 86_400.0


async def _first_sending(services: Services, nonce: str) -> bool:
    """Whether this is the first sending of the form carrying `nonce` (claimed fleet-wide in
    PostgreSQL: one slot per day under the nonce's digest). A form without one is refused."""
    if not _NONCE.fullmatch(nonce):
        return False
    slot = await limits.take(
        services.pool, key=f"console-form:{sign_in.digest(nonce)}", interval=_NONCE_SECONDS
    )
    return slot.granted


async def _keys_page(
    request: Request,
    services: Services,
    session: SessionRow,
    frame: _Frame,
    *,
    status: int = 200,
    created: str | None = None,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    already: bool = False,
) -> Response:
    keys = await app_users.list_keys(services.pool, **_who(session), user_id=None)
    users, _ = await app_users.list_users(services.pool, **_who(session), limit=500, offset=0)
    response = _render(
        frame,
        "settings_api_keys.html",
        status=status,
        keys=keys,
        users=users,
        names={u.id: u.name for u in users},
        created=created,
        already=already,
        nonce_field=NONCE_FIELD,
        nonce=secrets.token_hex(16),
        values=values or {"key_name": "", "user_id": str(session.member.user.id)},
        errors=errors or {},
        done=_done_key(request),
    )
    response.headers.update(headers or {})
    return response


@router.get(PREFIX + BASE + "/api-keys")
async def read_console_api_keys(request: Request, services: ServicesDep) -> Response:
    """The firm's API keys, never the keys themselves (administrators)."""

    async def page(session: SessionRow, frame: _Frame) -> Response:
        return await _keys_page(request, services, session, frame)

    return await _guarded(request, services, page, post=False)


@router.post(PREFIX + BASE + "/api-keys")
async def create_console_api_key(request: Request, services: ServicesDep) -> Response:
    """Create a key and show it on this answer only: not in a URL, not cached, never again."""

    async def page(session: SessionRow, frame: _Frame) -> Response:
        form = await request.form()
        texts = TEXTS[frame.lang]
        values = {"key_name": _text(form, "key_name", 200), "user_id": _text(form, "user_id", 36)}
        errors: dict[str, str] = {}
        if not values["key_name"]:
            errors["key_name"] = texts["st_required_key_name"]
        elif len(values["key_name"]) > 100:
            errors["key_name"] = texts["st_error_too_long"]
        owner = _uuid(values["user_id"])
        if owner is None:
            errors["user_id"] = texts["st_error_user_id"]
        if errors or owner is None:
            return await _keys_page(
                request, services, session, frame, status=422, values=values, errors=errors
            )
        if not await _first_sending(services, _text(form, NONCE_FIELD, 64)):
            # The same form again (a double click, a reload): the key made by the first sending
            # is listed, but its value was on that answer only; nothing more is created.
            return await _keys_page(
                request, services, session, frame, status=409, already=True, headers=NO_STORE
            )
        try:
            _, key = await app_users.create_key(
                services.pool, **_who(session), user_id=owner, name=values["key_name"]
            )
        except NotFound:
            return await _keys_page(
                request,
                services,
                session,
                frame,
                status=422,
                values=values,
                errors={"user_id": texts["st_error_user_id"]},
            )
        return await _keys_page(request, services, session, frame, created=key, headers=NO_STORE)

    return await _guarded(request, services, page, post=True)


@router.post(PREFIX + BASE + "/api-keys/{key_id}/revoke")
async def create_console_api_key_revoke(
    key_id: Text, request: Request, services: ServicesDep
) -> Response:
    """Revoke a key: it stops working at once (revoking twice is harmless)."""

    async def page(session: SessionRow, frame: _Frame) -> Response:
        parsed = _known_id(key_id)
        await app_users.revoke_key(services.pool, **_who(session), key_id=parsed)
        return _done(frame, "/api-keys", "key_revoked")

    return await _guarded(request, services, page, post=True)
