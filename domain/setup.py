"""Partner configuration as data, and setup resolution: the pure function that turns a template,
the partner's billing defaults and per-client overrides into the client's effective setup.

Precedence, field by field, highest first:

1. the per-client overrides sent with the onboarding request;
2. the configuration template chosen for the client (the partner's default one if none is named);
3. the partner's billing defaults (plan, add-ons, payer, billing period);
4. built-in fallbacks: payer = client, billing period = monthly, no plan, no add-ons.

Two rules refine this:
- plan and add-ons travel together: add-ons are taken from the highest layer that sets them *at or
  above* the layer that supplied the plan, since a lower layer's add-ons were chosen for another
  plan; a layer that sets add-ons but no plan keeps the plan from below.
- users and integrations accumulate: the template's users plus the request's collaborators; the
  template's integrations plus the request's, a request entry for the same app replacing the
  template's settings key by key (or switching it off with `enabled: false`).

Every name in the result is checked against the partner's catalogs; each problem becomes a
`SetupIssue` naming the field, so the API can answer 422 with all of them at once.
"""

from __future__ import annotations

import re
import uuid
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from domain.exact import ExactBool
from domain.money import Price
from domain.text import JsonObject, Text

SECRET_MASK = "********"  # noqa: S105  # the mask shown in place of a secret
_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def _check_code(value: str) -> str:
    if not _CODE.match(value):
        raise ValueError("codes are 1-63 lower-case letters, digits, '-' or '_'")
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Role(StrEnum):
    administrator = "administrator"
    client_manager = "client_manager"
    accountant = "accountant"


class Payer(StrEnum):
    partner = "partner"
    client = "client"


class BillingPeriod(StrEnum):
    monthly = "monthly"
    annual = "annual"


class IntegrationKind(StrEnum):
    redirection = "redirection"
    automation = "automation"


class SettingType(StrEnum):
    string = "string"
    integer = "integer"
    boolean = "boolean"
    url = "url"
    email = "email"


class InvitationMode(StrEnum):
    immediate = "immediate"
    scheduled = "scheduled"
    manual = "manual"


# ---- catalogs ---------------------------------------------------------------------------------


class AddOn(Strict):
    code: str = Field(description="Identifier within the plan, e.g. `ocr`")
    name: Text = Field(min_length=1, max_length=120)
    price: Price | None = Field(default=None, description="The catalogue price; none: not priced")

    _code = field_validator("code")(_check_code)


class Plan(Strict):
    code: str = Field(description="Identifier within the partner, e.g. `essentials`")
    name: Text = Field(min_length=1, max_length=120)
    price: Price | None = Field(default=None, description="The catalogue price; none: not priced")
    add_ons: list[AddOn] = Field(default_factory=list)

    _code = field_validator("code")(_check_code)


class SettingSpec(Strict):
    name: Text = Field(min_length=1, max_length=64)
    type: SettingType = SettingType.string
    required: ExactBool = True
    secret: ExactBool = Field(default=False, description="Never returned by the API, never logged")


class Integration(Strict):
    """A partner app: `redirection` grants access only; `automation` needs settings."""

    code: str
    name: Text = Field(min_length=1, max_length=120)
    kind: IntegrationKind
    settings: list[SettingSpec] = Field(default_factory=list)
    connect_url: str | None = Field(
        default=None,
        max_length=2048,
        description="Automation apps: the endpoint called to connect a client (http or https; "
        "which hosts are allowed is the service's outbound policy)",
    )
    disconnect_url: str | None = Field(
        default=None,
        max_length=2048,
        description="Automation apps: the endpoint called when a client's integration is "
        "removed (POST, as connect_url); none: removing it tells the app nothing",
    )

    _code = field_validator("code")(_check_code)

    @field_validator("connect_url", "disconnect_url")
    @classmethod
    def _check_connect_url(cls, value: str | None) -> str | None:
        # Syntax only: which hosts may be called depends on settings and DNS, so the API and
        # the worker apply core/outbound.py on top of this.
        if value is None:
            return None
        if any(c.isspace() or not c.isprintable() for c in value):
            raise ValueError("must be a URL without spaces or control characters")
        try:
            parts = urlsplit(value)
            _ = parts.port  # reading it validates it: ValueError when out of range
        except ValueError:
            raise ValueError("must be a valid URL") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http or https URL naming a host")
        if parts.username is not None or parts.password is not None:
            raise ValueError("must not carry credentials")
        return value

    def secret_names(self) -> set[str]:
        return {s.name for s in self.settings if s.secret}


class Catalog(BaseModel):
    """Everything of a partner's that setup resolution checks names against."""

    plans: dict[str, Plan] = Field(default_factory=dict)
    integrations: dict[str, Integration] = Field(default_factory=dict)
    folder_trees: set[str] = Field(default_factory=set)
    users: set[uuid.UUID] = Field(default_factory=set)
    checklists: set[uuid.UUID] = Field(default_factory=set)
    # Setting names each app code was ever declared secret under, whatever its definition now
    # (store/migrations/0017): a value stored as secret stays masked after a redefinition.
    ever_secret: dict[str, set[str]] = Field(default_factory=dict)

    def secret_names(self, code: str) -> set[str]:
        """The settings of app `code` whose values are never shown: secret now or ever before."""
        app = self.integrations.get(code)
        now = app.secret_names() if app else set()
        return now | self.ever_secret.get(code, set())


# ---- the layers -------------------------------------------------------------------------------


class IntegrationChoice(Strict):
    code: str
    enabled: ExactBool = True
    settings: JsonObject = Field(default_factory=dict)


class TemplateBody(Strict):
    """What a configuration template decides; None means "inherit from billing defaults"."""

    user_ids: list[uuid.UUID] = Field(
        default_factory=list, description="Partner users assigned to every client made with it"
    )
    plan: Text | None = None
    add_ons: list[Text] | None = None
    payer: Payer | None = None
    billing_period: BillingPeriod | None = None
    integrations: list[IntegrationChoice] = Field(default_factory=list)
    folder_tree: Text | None = None
    invitation_mode: InvitationMode = InvitationMode.immediate
    checklist_id: uuid.UUID | None = Field(
        default=None, description="Checklist assigned to every client made with it (seed 003)"
    )


class BillingDefaults(Strict):
    pay_for_new_clients: ExactBool = False
    billing_period: BillingPeriod = BillingPeriod.monthly
    plan: Text | None = None
    add_ons: list[Text] = Field(default_factory=list)


class SetupOverrides(Strict):
    """Per-client overrides sent with an onboarding request or a setup preview."""

    plan: Text | None = None
    add_ons: list[Text] | None = None
    payer: Payer | None = None
    billing_period: BillingPeriod | None = None
    collaborator_ids: list[uuid.UUID] = Field(default_factory=list)
    integrations: list[IntegrationChoice] = Field(default_factory=list)
    folder_tree: Text | None = None
    checklist_id: uuid.UUID | None = Field(
        default=None, description="This client's checklist instead of the template's"
    )


# ---- the result -------------------------------------------------------------------------------


class EffectiveIntegration(BaseModel):
    code: str
    kind: IntegrationKind
    settings: dict[str, Any]


class EffectiveSetup(BaseModel):
    """The setup a client is created with; snapshotted on the client, never changed afterwards."""

    template_id: uuid.UUID | None
    template_version: int | None
    plan: str | None
    add_ons: list[str]
    payer: Payer
    billing_period: BillingPeriod
    user_ids: list[uuid.UUID]
    integrations: list[EffectiveIntegration]
    folder_tree: str | None
    invitation_mode: InvitationMode
    # Defaulted: snapshots and workflow histories written before checklists still validate.
    checklist_id: uuid.UUID | None = None

    def masked(self, catalog: Catalog) -> EffectiveSetup:
        """A copy with every secret setting replaced by a mask: safe to return, log or store."""
        return self.model_copy(
            update={"integrations": [mask_integration(i, catalog) for i in self.integrations]}
        )


class SetupIssue(BaseModel):
    field: str
    message: str


class SetupInvalid(ValueError):
    def __init__(self, issues: list[SetupIssue]) -> None:
        super().__init__("; ".join(f"{i.field}: {i.message}" for i in issues))
        self.issues = issues


def mask_settings(code: str, settings: dict[str, Any], catalog: Catalog) -> dict[str, Any]:
    """The settings of app `code` with every value of a setting ever declared secret masked."""
    secrets = catalog.secret_names(code)
    return {k: (SECRET_MASK if k in secrets else v) for k, v in settings.items()}


def mask_choices(choices: list[IntegrationChoice], catalog: Catalog) -> list[IntegrationChoice]:
    return [
        c.model_copy(update={"settings": mask_settings(c.code, c.settings, catalog)})
        for c in choices
    ]


def mask_integration(integration: EffectiveIntegration, catalog: Catalog) -> EffectiveIntegration:
    return integration.model_copy(
        update={"settings": mask_settings(integration.code, integration.settings, catalog)}
    )


# ---- resolution -------------------------------------------------------------------------------


def _subscription(
    overrides: SetupOverrides, template: TemplateBody, billing: BillingDefaults
) -> tuple[str | None, list[str]]:
    layers: list[tuple[str | None, list[str] | None]] = [
        (overrides.plan, overrides.add_ons),
        (template.plan, template.add_ons),
        (billing.plan, billing.add_ons),
    ]
    plan_layer = next((i for i, (plan, _) in enumerate(layers) if plan is not None), None)
    if plan_layer is None:
        # No layer names a plan: add-ons may still come from the highest layer giving them.
        add_ons = next((a for _, a in layers if a is not None), [])
        return None, list(add_ons)
    plan = layers[plan_layer][0]
    add_ons = next((a for _, a in layers[: plan_layer + 1] if a is not None), [])
    return plan, list(dict.fromkeys(add_ons))


def _integrations(
    template: TemplateBody, overrides: SetupOverrides
) -> dict[str, tuple[str, IntegrationChoice]]:
    """code -> (field path of the choice that decided it, merged choice), in first-seen order."""
    merged: dict[str, tuple[str, IntegrationChoice]] = {}
    for i, choice in enumerate(template.integrations):
        merged[choice.code] = (f"template.integrations[{i}]", choice)
    for i, choice in enumerate(overrides.integrations):
        path = f"overrides.integrations[{i}]"
        if choice.code in merged:
            _, base = merged[choice.code]
            choice = IntegrationChoice(
                code=choice.code,
                enabled=choice.enabled,
                settings={**base.settings, **choice.settings},
            )
        merged[choice.code] = (path, choice)
    return merged


def _check_setting(spec: SettingSpec, value: Any) -> str | None:
    ok = {
        SettingType.string: isinstance(value, str),
        SettingType.integer: isinstance(value, int) and not isinstance(value, bool),
        SettingType.boolean: isinstance(value, bool),
        SettingType.url: isinstance(value, str) and value.startswith(("https://", "http://")),
        SettingType.email: isinstance(value, str) and re.fullmatch(r"[^@\s]+@[^@\s]+", value),
    }[spec.type]
    return None if ok else f"must be a {spec.type.value}"


def resolve_setup(
    *,
    template: TemplateBody,
    template_id: uuid.UUID | None,
    template_version: int | None,
    billing: BillingDefaults,
    overrides: SetupOverrides,
    catalog: Catalog,
) -> EffectiveSetup:
    """Combine the layers (see the module docstring) and validate; raise SetupInvalid."""
    issues: list[SetupIssue] = []
    plan, add_ons = _subscription(overrides, template, billing)
    plan_field = (
        "overrides.plan"
        if overrides.plan is not None
        else "template.plan"
        if template.plan is not None
        else ("billing_defaults.plan")
    )
    add_ons_field = (
        "overrides.add_ons"
        if overrides.add_ons is not None
        else "template.add_ons"
        if template.add_ons is not None
        else "billing_defaults.add_ons"
    )
    if plan is not None and plan not in catalog.plans:
        issues.append(SetupIssue(field=plan_field, message=f"unknown plan {plan!r}"))
    elif add_ons:
        allowed = {a.code for a in catalog.plans[plan].add_ons} if plan else set()
        for code in add_ons:
            if code not in allowed:
                where = f"plan {plan!r}" if plan else "no plan"
                issues.append(
                    SetupIssue(
                        field=add_ons_field, message=f"add-on {code!r} does not belong to {where}"
                    )
                )

    payer = (
        overrides.payer
        or template.payer
        or (Payer.partner if billing.pay_for_new_clients else Payer.client)
    )
    period = overrides.billing_period or template.billing_period or billing.billing_period

    user_ids = list(dict.fromkeys([*template.user_ids, *overrides.collaborator_ids]))
    for uid in user_ids:
        if uid not in catalog.users:
            source = (
                "overrides.collaborator_ids"
                if uid in overrides.collaborator_ids
                else ("template.user_ids")
            )
            issues.append(SetupIssue(field=source, message=f"unknown partner user {uid}"))

    folder_tree = (
        overrides.folder_tree if overrides.folder_tree is not None else template.folder_tree
    )
    if folder_tree is not None and folder_tree not in catalog.folder_trees:
        field = (
            "overrides.folder_tree" if overrides.folder_tree is not None else "template.folder_tree"
        )
        issues.append(SetupIssue(field=field, message=f"unknown folder tree {folder_tree!r}"))

    checklist_id = (
        overrides.checklist_id if overrides.checklist_id is not None else template.checklist_id
    )
    if checklist_id is not None and checklist_id not in catalog.checklists:
        field = (
            "overrides.checklist_id"
            if overrides.checklist_id is not None
            else "template.checklist_id"
        )
        issues.append(SetupIssue(field=field, message=f"unknown checklist {checklist_id}"))

    integrations: list[EffectiveIntegration] = []
    for code, (path, choice) in _integrations(template, overrides).items():
        if not choice.enabled:
            continue
        app = catalog.integrations.get(code)
        if app is None:
            issues.append(SetupIssue(field=f"{path}.code", message=f"unknown integration {code!r}"))
            continue
        specs = {s.name: s for s in app.settings}
        for name in choice.settings:
            if name not in specs:
                issues.append(
                    SetupIssue(field=f"{path}.settings.{name}", message="not a setting of this app")
                )
        if app.kind == IntegrationKind.automation:
            for spec in app.settings:
                value = choice.settings.get(spec.name)
                if value is None or value == "":
                    if spec.required:
                        issues.append(
                            SetupIssue(
                                field=f"{path}.settings.{spec.name}",
                                message=f"required by automation app {code!r}",
                            )
                        )
                    continue
                # A masked secret stands for a value kept in the database, checked when stored.
                problem = (
                    None if spec.secret and value == SECRET_MASK else _check_setting(spec, value)
                )
                if problem:
                    issues.append(SetupIssue(field=f"{path}.settings.{spec.name}", message=problem))
        integrations.append(
            EffectiveIntegration(
                code=code,
                kind=app.kind,
                settings={k: v for k, v in choice.settings.items() if k in specs},
            )
        )

    if issues:
        raise SetupInvalid(issues)
    return EffectiveSetup(
        template_id=template_id,
        template_version=template_version,
        plan=plan,
        add_ons=add_ons,
        payer=payer,
        billing_period=period,
        user_ids=user_ids,
        integrations=integrations,
        folder_tree=folder_tree,
        invitation_mode=template.invitation_mode,
        checklist_id=checklist_id,
    )
