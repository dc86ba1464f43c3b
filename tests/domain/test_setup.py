"""Setup resolution: layer precedence, the plan/add-ons rule, accumulation, validation, masking."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from domain.setup import (
    SECRET_MASK,
    AddOn,
    BillingDefaults,
    BillingPeriod,
    Catalog,
    EffectiveIntegration,
    EffectiveSetup,
    Integration,
    IntegrationChoice,
    IntegrationKind,
    InvitationMode,
    Payer,
    Plan,
    SettingSpec,
    SettingType,
    SetupInvalid,
    SetupOverrides,
    TemplateBody,
    resolve_setup,
)

T = TypeVar("T")

LAYERS = ("overrides", "template", "billing_defaults")
PLAN_CODES = ("basic", "essentials", "premium", "pro")
ADD_ON_CODES = ("ocr", "payroll", "bank", "archive", "vat")
INTEGRATION_CODES = ("drive", "ledger", "bankfeed", "crm")
SETTING_NAMES = ("api_key", "company_id", "webhook", "notify", "sandbox")
FOLDER_TREES = ("standard", "light", "full")
UNKNOWN_USER = uuid.UUID(int=1)  # not a version-4 uuid, so never one of the generated users

property_settings = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


# ---- strategies -------------------------------------------------------------------------------
# Strategies are built once (module constants, or cached per tuple of choices): building them in
# every example costs more than the examples themselves.

USER_POOL = tuple(uuid.UUID(int=n, version=4) for n in range(100, 106))
booleans = st.booleans()
words = st.text(alphabet="abcdefghij", min_size=1, max_size=6)
_VALUES: dict[SettingType, st.SearchStrategy[Any]] = {
    SettingType.string: words,
    SettingType.integer: st.integers(),
    SettingType.boolean: st.booleans(),
    SettingType.url: st.builds("https://{}.example".format, words),
    SettingType.email: st.builds("{}@example.com".format, words),
}
template_ids = st.none() | st.uuids()
template_versions = st.none() | st.integers(min_value=1, max_value=50)
_SECRET_VALUES = {kind: values | st.just(SECRET_MASK) for kind, values in _VALUES.items()}


@lru_cache(maxsize=512)
def optional_one_of(items: tuple[T, ...]) -> st.SearchStrategy[T | None]:
    """None or one of the items (None only if there are none)."""
    return st.none() | st.sampled_from(items) if items else st.none()


@lru_cache(maxsize=512)
def lists_of(
    items: tuple[T, ...], *, unique: bool = False, min_size: int = 0, max_size: int = 4
) -> st.SearchStrategy[list[T]]:
    """Lists of the items, with repeats unless unique (empty if there are no items)."""
    if not items:
        return st.just([])
    return st.lists(st.sampled_from(items), unique=unique, min_size=min_size, max_size=max_size)


@st.composite
def setting_specs(draw: st.DrawFn, name: str) -> SettingSpec:
    """One setting of an app: any type, required or not, secret or not."""
    return SettingSpec(
        name=name,
        type=draw(st.sampled_from(SettingType)),
        required=draw(booleans),
        secret=draw(booleans),
    )


@st.composite
def catalogs(draw: st.DrawFn) -> Catalog:
    """A partner catalog: 1-4 plans sharing a pool of add-on codes, apps, trees and users."""
    plans = {}
    for code in draw(lists_of(PLAN_CODES, unique=True, min_size=1)):
        add_ons = draw(lists_of(ADD_ON_CODES, unique=True))
        plans[code] = Plan(
            code=code, name=code.title(), add_ons=[AddOn(code=a, name=a.title()) for a in add_ons]
        )
    integrations = {}
    for code in draw(lists_of(INTEGRATION_CODES, unique=True)):
        names = draw(lists_of(SETTING_NAMES, unique=True))
        integrations[code] = Integration(
            code=code,
            name=code.title(),
            kind=draw(st.sampled_from(IntegrationKind)),
            settings=[draw(setting_specs(name)) for name in names],
        )
    return Catalog(
        plans=plans,
        integrations=integrations,
        folder_trees=set(draw(lists_of(FOLDER_TREES, unique=True))),
        users=set(draw(lists_of(USER_POOL, unique=True))),
    )


def setting_values(spec: SettingSpec) -> st.SearchStrategy[Any]:
    """Values valid for a setting; a secret may also be the mask standing for a stored value."""
    return (_SECRET_VALUES if spec.secret else _VALUES)[spec.type]


def _required(app: Integration) -> set[str]:
    if app.kind != IntegrationKind.automation:
        return set()
    return {s.name for s in app.settings if s.required}


def _draw_settings(draw: st.DrawFn, app: Integration, must: set[str]) -> dict[str, Any]:
    return {
        spec.name: draw(setting_values(spec))
        for spec in app.settings
        if spec.name in must or draw(booleans)
    }


@dataclass(frozen=True)
class World:
    """A catalog and the three layers resolved against it."""

    catalog: Catalog
    template: TemplateBody
    billing: BillingDefaults
    overrides: SetupOverrides
    template_id: uuid.UUID | None = None
    template_version: int | None = None


@st.composite
def worlds(draw: st.DrawFn) -> World:
    """Layers valid against the catalog; each layer's add-ons fit the plan in force at it."""
    catalog = draw(catalogs())
    plans = optional_one_of(tuple(sorted(catalog.plans)))

    def plan() -> str | None:
        return draw(plans)

    def add_ons(plan: str) -> list[str]:
        return draw(lists_of(tuple(a.code for a in catalog.plans[plan].add_ons)))

    def optional_add_ons(plan: str | None) -> list[str] | None:
        if plan is None or not draw(booleans):
            return None
        return add_ons(plan)

    folder_trees = optional_one_of(tuple(sorted(catalog.folder_trees)))
    user_lists = lists_of(tuple(sorted(catalog.users)))
    app_codes = lists_of(tuple(sorted(catalog.integrations)), unique=True, max_size=3)

    billing_plan = plan()
    billing = BillingDefaults(
        pay_for_new_clients=draw(booleans),
        billing_period=draw(st.sampled_from(BillingPeriod)),
        plan=billing_plan,
        add_ons=add_ons(billing_plan) if billing_plan else [],
    )
    template_plan = plan()
    in_force = template_plan if template_plan is not None else billing_plan
    template_choices = []
    for code in draw(app_codes):
        app = catalog.integrations[code]
        enabled = draw(booleans)
        template_choices.append(
            IntegrationChoice(
                code=code,
                enabled=enabled,
                settings=_draw_settings(draw, app, _required(app) if enabled else set()),
            )
        )
    template = TemplateBody(
        user_ids=draw(user_lists),
        plan=template_plan,
        add_ons=optional_add_ons(in_force),
        payer=draw(optional_one_of(tuple(Payer))),
        billing_period=draw(optional_one_of(tuple(BillingPeriod))),
        integrations=template_choices,
        folder_tree=draw(folder_trees),
        invitation_mode=draw(st.sampled_from(InvitationMode)),
    )
    override_plan = plan()
    in_force = override_plan if override_plan is not None else in_force
    from_template = {c.code: c.settings for c in template_choices}
    override_choices = []
    for code in draw(app_codes):
        app = catalog.integrations[code]
        enabled = draw(booleans)
        missing = _required(app) - set(from_template.get(code, {})) if enabled else set()
        override_choices.append(
            IntegrationChoice(
                code=code, enabled=enabled, settings=_draw_settings(draw, app, missing)
            )
        )
    overrides = SetupOverrides(
        plan=override_plan,
        add_ons=optional_add_ons(in_force),
        payer=draw(optional_one_of(tuple(Payer))),
        billing_period=draw(optional_one_of(tuple(BillingPeriod))),
        collaborator_ids=draw(user_lists),
        integrations=override_choices,
        folder_tree=draw(folder_trees),
    )
    return World(
        catalog=catalog,
        template=template,
        billing=billing,
        overrides=overrides,
        template_id=draw(template_ids),
        template_version=draw(template_versions),
    )


# ---- reference model --------------------------------------------------------------------------


def unique(items: Iterable[T]) -> list[T]:
    seen: list[T] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def first_set(*values: T | None) -> T | None:
    return next((v for v in values if v is not None), None)


def expected_subscription(world: World) -> tuple[str | None, list[str]]:
    """Top down: add-ons are the first ones met, and the scan stops at the first plan."""
    o, t, b = world.overrides, world.template, world.billing
    plan: str | None = None
    add_ons: list[str] | None = None
    for layer_plan, layer_add_ons in (
        (o.plan, o.add_ons),
        (t.plan, t.add_ons),
        (b.plan, b.add_ons),
    ):
        if add_ons is None:
            add_ons = layer_add_ons
        if layer_plan is not None:
            plan = layer_plan
            break
    return plan, unique(add_ons or [])


def expected_payer(world: World) -> Payer:
    fallback = Payer.partner if world.billing.pay_for_new_clients else Payer.client
    return first_set(world.overrides.payer, world.template.payer) or fallback


def expected_integrations(world: World) -> list[EffectiveIntegration]:
    state: dict[str, tuple[bool, dict[str, Any]]] = {}
    for choice in world.template.integrations:
        state[choice.code] = (choice.enabled, dict(choice.settings))
    for choice in world.overrides.integrations:
        _, before = state.get(choice.code, (True, {}))
        state[choice.code] = (choice.enabled, {**before, **choice.settings})
    return [
        EffectiveIntegration(code=code, kind=world.catalog.integrations[code].kind, settings=values)
        for code, (enabled, values) in state.items()
        if enabled
    ]


def expected_setup(world: World) -> EffectiveSetup:
    plan, add_ons = expected_subscription(world)
    return EffectiveSetup(
        template_id=world.template_id,
        template_version=world.template_version,
        plan=plan,
        add_ons=add_ons,
        payer=expected_payer(world),
        billing_period=first_set(
            world.overrides.billing_period,
            world.template.billing_period,
            world.billing.billing_period,
        ),
        user_ids=unique([*world.template.user_ids, *world.overrides.collaborator_ids]),
        integrations=expected_integrations(world),
        folder_tree=first_set(world.overrides.folder_tree, world.template.folder_tree),
        invitation_mode=world.template.invitation_mode,
    )


def resolve_world(world: World) -> EffectiveSetup:
    return resolve_setup(
        template=world.template,
        template_id=world.template_id,
        template_version=world.template_version,
        billing=world.billing,
        overrides=world.overrides,
        catalog=world.catalog,
    )


def issue_fields(world: World) -> list[str]:
    with pytest.raises(SetupInvalid) as info:
        resolve_world(world)
    return [issue.field for issue in info.value.issues]


# ---- example catalog --------------------------------------------------------------------------

ALICE, BOB, CAROL = (uuid.UUID(int=n, version=4) for n in (10, 11, 12))
LEDGER = Integration(
    code="ledger",
    name="Ledger",
    kind=IntegrationKind.automation,
    connect_url="https://ledger.example/connect",
    settings=[
        SettingSpec(name="api_key", secret=True),
        SettingSpec(name="company_id", type=SettingType.integer),
        SettingSpec(name="webhook", type=SettingType.url, required=False),
        SettingSpec(name="notify", type=SettingType.email, required=False),
        SettingSpec(name="sandbox", type=SettingType.boolean, required=False),
        SettingSpec(name="label", required=False),
    ],
)
CATALOG = Catalog(
    plans={
        "essentials": Plan(
            code="essentials",
            name="Essentials",
            add_ons=[AddOn(code="ocr", name="OCR"), AddOn(code="bank", name="Bank")],
        ),
        "premium": Plan(
            code="premium",
            name="Premium",
            add_ons=[AddOn(code="ocr", name="OCR"), AddOn(code="payroll", name="Payroll")],
        ),
    },
    integrations={
        "drive": Integration(code="drive", name="Drive", kind=IntegrationKind.redirection),
        "ledger": LEDGER,
    },
    folder_trees={"standard", "light"},
    users={ALICE, BOB, CAROL},
)
LEDGER_OK = {"api_key": "k-123", "company_id": 42}


def example(
    *,
    template: TemplateBody | None = None,
    billing: BillingDefaults | None = None,
    overrides: SetupOverrides | None = None,
) -> World:
    return World(
        catalog=CATALOG,
        template=template or TemplateBody(),
        billing=billing or BillingDefaults(),
        overrides=overrides or SetupOverrides(),
    )


# ---- precedence -------------------------------------------------------------------------------


@property_settings
@given(worlds())
def test_resolve_setup_valid_layers_match_reference_model(world: World) -> None:
    """Valid layers resolve, field by field, to what the documented precedence gives."""
    result = resolve_world(world)
    assert result == expected_setup(world)
    assert len(result.add_ons) == len(set(result.add_ons))


@property_settings
@given(worlds())
def test_precedence_scalar_fields_highest_layer_wins(world: World) -> None:
    """Plan, payer, billing period and folder tree each come from the highest layer setting them."""
    o, t, b = world.overrides, world.template, world.billing
    result = resolve_world(world)
    assert result.plan == first_set(o.plan, t.plan, b.plan), "plan"
    if o.payer is not None:
        assert result.payer == o.payer, "payer from overrides"
    elif t.payer is not None:
        assert result.payer == t.payer, "payer from template"
    else:
        fallback = Payer.partner if b.pay_for_new_clients else Payer.client
        assert result.payer == fallback, "payer from pay_for_new_clients"
    expected_period = first_set(o.billing_period, t.billing_period, b.billing_period)
    assert result.billing_period == expected_period, "billing period"
    assert result.folder_tree == first_set(o.folder_tree, t.folder_tree), "folder tree"


@pytest.mark.parametrize(
    ("template", "overrides", "pay_for_new_clients", "expected"),
    [
        (TemplateBody(), SetupOverrides(), False, Payer.client),
        (TemplateBody(), SetupOverrides(), True, Payer.partner),
        (TemplateBody(payer=Payer.client), SetupOverrides(), True, Payer.client),
        (
            TemplateBody(payer=Payer.client),
            SetupOverrides(payer=Payer.partner),
            False,
            Payer.partner,
        ),
    ],
)
def test_precedence_payer_examples(
    template: TemplateBody, overrides: SetupOverrides, pay_for_new_clients: bool, expected: Payer
) -> None:
    """Overrides beat the template, which beats the partner's pay-for-new-clients flag."""
    world = example(
        template=template,
        overrides=overrides,
        billing=BillingDefaults(pay_for_new_clients=pay_for_new_clients),
    )
    assert resolve_world(world).payer == expected


def test_precedence_fallbacks_empty_layers() -> None:
    """With nothing set anywhere: client pays, monthly, no plan, add-ons, users or integrations."""
    result = resolve_world(example())
    assert (result.payer, result.billing_period, result.plan, result.add_ons) == (
        Payer.client,
        BillingPeriod.monthly,
        None,
        [],
    )
    assert (result.user_ids, result.integrations, result.folder_tree) == ([], [], None)
    assert result.invitation_mode == InvitationMode.immediate


def test_precedence_billing_period_billing_default_used() -> None:
    """An annual billing default applies when neither template nor overrides set a period."""
    world = example(billing=BillingDefaults(billing_period=BillingPeriod.annual))
    assert resolve_world(world).billing_period == BillingPeriod.annual
    world = replace(world, template=TemplateBody(billing_period=BillingPeriod.monthly))
    assert resolve_world(world).billing_period == BillingPeriod.monthly


# ---- plan and add-ons travel together ---------------------------------------------------------


@property_settings
@given(worlds(), st.data())
def test_subscription_lower_add_ons_never_join_higher_plan(
    world: World, data: st.DataObject
) -> None:
    """A template plan with no add-ons at or above it resolves to no add-ons at all."""
    plan = data.draw(st.sampled_from(sorted(world.catalog.plans)))
    world = replace(
        world,
        template=world.template.model_copy(update={"plan": plan, "add_ons": None}),
        overrides=world.overrides.model_copy(update={"plan": None, "add_ons": None}),
    )
    result = resolve_world(world)
    assert (result.plan, result.add_ons) == (plan, [])


@property_settings
@given(worlds(), st.data())
def test_subscription_add_ons_without_plan_keep_plan_from_below(
    world: World, data: st.DataObject
) -> None:
    """Overrides giving add-ons but no plan keep the plan below and use their own add-ons."""
    below = first_set(world.template.plan, world.billing.plan)
    assume(below is not None)
    assert below is not None
    codes = [a.code for a in world.catalog.plans[below].add_ons]
    add_ons = data.draw(st.lists(st.sampled_from(codes), max_size=5)) if codes else []
    world = replace(
        world, overrides=world.overrides.model_copy(update={"plan": None, "add_ons": add_ons})
    )
    result = resolve_world(world)
    assert (result.plan, result.add_ons) == (below, unique(add_ons))


def test_subscription_override_plan_drops_lower_add_ons() -> None:
    """An override plan alone resolves to no add-ons, whatever the template and billing chose."""
    world = example(
        template=TemplateBody(plan="essentials", add_ons=["bank"]),
        billing=BillingDefaults(plan="essentials", add_ons=["ocr"]),
        overrides=SetupOverrides(plan="premium"),
    )
    result = resolve_world(world)
    assert (result.plan, result.add_ons) == ("premium", [])


def test_subscription_override_plan_and_add_ons_travel_together() -> None:
    """An override giving plan and add-ons wins both."""
    world = example(
        template=TemplateBody(plan="essentials", add_ons=["bank"]),
        overrides=SetupOverrides(plan="premium", add_ons=["payroll", "ocr"]),
    )
    result = resolve_world(world)
    assert (result.plan, result.add_ons) == ("premium", ["payroll", "ocr"])


def test_subscription_template_add_ons_keep_billing_plan() -> None:
    """Template add-ons without a template plan apply to the billing defaults' plan."""
    world = example(
        template=TemplateBody(add_ons=["bank"]),
        billing=BillingDefaults(plan="essentials", add_ons=["ocr"]),
    )
    result = resolve_world(world)
    assert (result.plan, result.add_ons) == ("essentials", ["bank"])


def test_subscription_billing_defaults_used_alone() -> None:
    """With no plan above, the billing defaults give both plan and add-ons."""
    world = example(billing=BillingDefaults(plan="premium", add_ons=["payroll"]))
    result = resolve_world(world)
    assert (result.plan, result.add_ons) == ("premium", ["payroll"])


def test_subscription_explicit_empty_add_ons_override_lower_ones() -> None:
    """An explicit empty add-on list at the plan's layer is kept, not inherited from below."""
    world = example(
        template=TemplateBody(add_ons=[]),
        billing=BillingDefaults(plan="essentials", add_ons=["ocr"]),
    )
    assert resolve_world(world).add_ons == []


def test_subscription_duplicate_add_ons_collapsed() -> None:
    """Repeated add-on codes are kept once, at their first position."""
    world = example(overrides=SetupOverrides(plan="essentials", add_ons=["ocr", "bank", "ocr"]))
    assert resolve_world(world).add_ons == ["ocr", "bank"]


# ---- users and integrations accumulate --------------------------------------------------------


@property_settings
@given(worlds())
def test_users_template_then_collaborators_each_once(world: World) -> None:
    """Users are the template's then the collaborators, each once, in first-seen order."""
    user_ids = resolve_world(world).user_ids
    assert len(user_ids) == len(set(user_ids))
    assert set(user_ids) == {*world.template.user_ids, *world.overrides.collaborator_ids}
    assert user_ids == unique([*world.template.user_ids, *world.overrides.collaborator_ids])


def test_users_overlapping_lists_example() -> None:
    """A collaborator already assigned by the template is not listed twice."""
    world = example(
        template=TemplateBody(user_ids=[BOB, ALICE]),
        overrides=SetupOverrides(collaborator_ids=[CAROL, ALICE, CAROL]),
    )
    assert resolve_world(world).user_ids == [BOB, ALICE, CAROL]


@property_settings
@given(worlds())
def test_integrations_merge_key_by_key_first_seen_order(world: World) -> None:
    """Integrations accumulate, overrides merge settings key by key, disabled ones are dropped."""
    result = resolve_world(world)
    assert result.integrations == expected_integrations(world)
    codes = [i.code for i in result.integrations]
    seen = unique(c.code for c in [*world.template.integrations, *world.overrides.integrations])
    assert codes == [code for code in seen if code in codes]


def test_integrations_override_merges_settings_example() -> None:
    """An override for a template app keeps the template's other settings, its own ones win."""
    world = example(
        template=TemplateBody(
            integrations=[
                IntegrationChoice(code="ledger", settings={**LEDGER_OK, "label": "from template"}),
                IntegrationChoice(code="drive"),
            ]
        ),
        overrides=SetupOverrides(
            integrations=[IntegrationChoice(code="ledger", settings={"company_id": 7})]
        ),
    )
    result = resolve_world(world)
    assert result.integrations == [
        EffectiveIntegration(
            code="ledger",
            kind=IntegrationKind.automation,
            settings={"api_key": "k-123", "company_id": 7, "label": "from template"},
        ),
        EffectiveIntegration(code="drive", kind=IntegrationKind.redirection, settings={}),
    ]


def test_integrations_override_disabled_removes_template_app() -> None:
    """`enabled: false` in the overrides switches a template app off."""
    world = example(
        template=TemplateBody(
            integrations=[
                IntegrationChoice(code="drive"),
                IntegrationChoice(code="ledger", settings=LEDGER_OK),
            ]
        ),
        overrides=SetupOverrides(integrations=[IntegrationChoice(code="drive", enabled=False)]),
    )
    assert [i.code for i in resolve_world(world).integrations] == ["ledger"]


def test_integrations_override_reenables_template_app() -> None:
    """An app disabled in the template comes back, with merged settings, if the overrides ask."""
    world = example(
        template=TemplateBody(
            integrations=[
                IntegrationChoice(code="ledger", enabled=False, settings={"api_key": "a"})
            ]
        ),
        overrides=SetupOverrides(
            integrations=[
                IntegrationChoice(code="drive"),
                IntegrationChoice(code="ledger", settings={"company_id": 1}),
            ]
        ),
    )
    result = resolve_world(world)
    assert [(i.code, i.settings) for i in result.integrations] == [
        ("ledger", {"api_key": "a", "company_id": 1}),
        ("drive", {}),
    ]


# ---- validation -------------------------------------------------------------------------------


@property_settings
@given(worlds(), st.sampled_from(LAYERS))
def test_validation_unknown_plan_names_supplying_layer(world: World, layer: str) -> None:
    """An unknown plan is reported, alone, on the plan field of the layer that supplied it."""
    supplier = LAYERS.index(layer)
    # The layer gets the unknown plan, those above it name none, those below keep theirs.
    updates: list[dict[str, Any]] = [
        {"plan": "no-such-plan"} if i == supplier else {"plan": None} if i < supplier else {}
        for i in range(len(LAYERS))
    ]
    overrides = world.overrides.model_copy(update=updates[0])
    template = world.template.model_copy(update=updates[1])
    billing = world.billing.model_copy(update=updates[2])
    world = replace(world, overrides=overrides, template=template, billing=billing)
    assert issue_fields(world) == [f"{layer}.plan"]


@property_settings
@given(worlds())
def test_validation_foreign_add_on_reported_on_add_ons_field(world: World) -> None:
    """An add-on outside the resolved plan is reported on the add-ons field that gave it."""
    add_ons = [*(world.overrides.add_ons or []), "no-such-add-on"]
    world = replace(world, overrides=world.overrides.model_copy(update={"add_ons": add_ons}))
    assert issue_fields(world) == ["overrides.add_ons"]


@pytest.mark.parametrize(
    ("template", "billing", "overrides", "expected"),
    [
        (
            TemplateBody(),
            BillingDefaults(plan="essentials"),
            SetupOverrides(plan="nope"),
            "overrides.plan",
        ),
        (
            TemplateBody(plan="nope"),
            BillingDefaults(plan="essentials"),
            SetupOverrides(),
            "template.plan",
        ),
        (TemplateBody(), BillingDefaults(plan="nope"), SetupOverrides(), "billing_defaults.plan"),
        (
            TemplateBody(plan="essentials"),
            BillingDefaults(),
            SetupOverrides(add_ons=["payroll"]),
            "overrides.add_ons",
        ),
        (
            TemplateBody(plan="essentials", add_ons=["payroll"]),
            BillingDefaults(),
            SetupOverrides(),
            "template.add_ons",
        ),
        (
            TemplateBody(),
            BillingDefaults(add_ons=["ocr"]),
            SetupOverrides(),
            "billing_defaults.add_ons",
        ),
        (
            TemplateBody(folder_tree="nope"),
            BillingDefaults(),
            SetupOverrides(),
            "template.folder_tree",
        ),
        (
            TemplateBody(),
            BillingDefaults(),
            SetupOverrides(folder_tree="nope"),
            "overrides.folder_tree",
        ),
        (
            TemplateBody(user_ids=[UNKNOWN_USER]),
            BillingDefaults(),
            SetupOverrides(),
            "template.user_ids",
        ),
        (
            TemplateBody(),
            BillingDefaults(),
            SetupOverrides(collaborator_ids=[UNKNOWN_USER]),
            "overrides.collaborator_ids",
        ),
    ],
)
def test_validation_single_problem_examples(
    template: TemplateBody, billing: BillingDefaults, overrides: SetupOverrides, expected: str
) -> None:
    """Each unknown name is reported once, on the field of the layer that supplied it."""
    assert issue_fields(example(template=template, billing=billing, overrides=overrides)) == [
        expected
    ]


@pytest.mark.parametrize(
    ("template", "overrides", "expected"),
    [
        (TemplateBody(plan="essentials"), SetupOverrides(plan=""), "overrides.plan"),
        (TemplateBody(plan=" "), SetupOverrides(), "template.plan"),
        (
            TemplateBody(folder_tree="standard"),
            SetupOverrides(folder_tree=""),
            "overrides.folder_tree",
        ),
    ],
)
def test_validation_blank_value_counts_as_set(
    template: TemplateBody, overrides: SetupOverrides, expected: str
) -> None:
    """A blank plan or folder tree is the value resolved, reported on the layer that gave it."""
    world = example(template=template, billing=BillingDefaults(plan="premium"), overrides=overrides)
    assert issue_fields(world) == [expected]


def test_validation_missing_required_setting_in_template() -> None:
    """A template automation app lacking a required setting is reported at its settings path."""
    world = example(
        template=TemplateBody(
            integrations=[
                IntegrationChoice(code="drive"),
                IntegrationChoice(code="ledger", settings={"api_key": "k"}),
            ]
        )
    )
    assert issue_fields(world) == ["template.integrations[1].settings.company_id"]


def test_validation_missing_required_setting_in_overrides() -> None:
    """An override automation app lacking required settings is reported at its settings path."""
    world = example(
        overrides=SetupOverrides(
            integrations=[
                IntegrationChoice(code="drive"),
                IntegrationChoice(code="ledger", settings={"company_id": ""}),
            ]
        )
    )
    assert issue_fields(world) == [
        "overrides.integrations[1].settings.api_key",
        "overrides.integrations[1].settings.company_id",
    ]


def test_validation_override_completes_template_settings() -> None:
    """Settings missing from the template but given by an override for the same app are fine."""
    world = example(
        template=TemplateBody(integrations=[IntegrationChoice(code="ledger")]),
        overrides=SetupOverrides(
            integrations=[IntegrationChoice(code="ledger", settings=LEDGER_OK)]
        ),
    )
    assert resolve_world(world).integrations[0].settings == LEDGER_OK


def test_validation_disabled_app_not_checked() -> None:
    """A switched-off app is neither checked nor kept, even if unknown or incomplete."""
    world = example(
        template=TemplateBody(integrations=[IntegrationChoice(code="ledger")]),
        overrides=SetupOverrides(
            integrations=[
                IntegrationChoice(code="ledger", enabled=False),
                IntegrationChoice(code="no-such-app", enabled=False),
            ]
        ),
    )
    assert resolve_world(world).integrations == []


@pytest.mark.parametrize(
    ("layer", "field"),
    [
        ("template", "template.integrations[1].code"),
        ("overrides", "overrides.integrations[1].code"),
    ],
)
def test_validation_unknown_integration_reported_on_code(layer: str, field: str) -> None:
    """An app missing from the catalog is reported on its choice's code field."""
    choices = [IntegrationChoice(code="drive"), IntegrationChoice(code="no-such-app")]
    world = (
        example(template=TemplateBody(integrations=choices))
        if layer == "template"
        else example(overrides=SetupOverrides(integrations=choices))
    )
    assert issue_fields(world) == [field]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("company_id", "42"),
        ("company_id", True),
        ("company_id", 4.2),
        ("api_key", 123),
        ("webhook", "ftp://ledger.example"),
        ("webhook", 5),
        ("notify", "not an email"),
        ("notify", "no-at-sign"),
        ("sandbox", 1),
        ("sandbox", "true"),
        ("label", ["a"]),
    ],
)
def test_validation_wrong_setting_type_reported(name: str, value: Any) -> None:
    """A setting value of the wrong type is reported on that setting's path."""
    world = example(
        overrides=SetupOverrides(
            integrations=[IntegrationChoice(code="ledger", settings={**LEDGER_OK, name: value})]
        )
    )
    with pytest.raises(SetupInvalid) as info:
        resolve_world(world)
    spec = next(s for s in LEDGER.settings if s.name == name)
    assert [(i.field, i.message) for i in info.value.issues] == [
        (f"overrides.integrations[0].settings.{name}", f"must be a {spec.type.value}")
    ]


def test_validation_masked_secret_accepted() -> None:
    """The mask in place of a secret stands for a stored value and is not type-checked."""
    world = example(
        overrides=SetupOverrides(
            integrations=[
                IntegrationChoice(code="ledger", settings={**LEDGER_OK, "api_key": SECRET_MASK})
            ]
        )
    )
    assert resolve_world(world).integrations[0].settings["api_key"] == SECRET_MASK


def test_validation_unknown_setting_name_reported() -> None:
    """A setting the app does not declare is reported on its path."""
    world = example(
        template=TemplateBody(
            integrations=[IntegrationChoice(code="drive", settings={"colour": "blue"})]
        )
    )
    assert issue_fields(world) == ["template.integrations[0].settings.colour"]


def test_validation_several_problems_all_reported() -> None:
    """Every problem is reported, not just the first one met."""
    world = example(
        template=TemplateBody(
            user_ids=[UNKNOWN_USER],
            plan="essentials",
            add_ons=["payroll", "vat"],
            folder_tree="nope",
            integrations=[IntegrationChoice(code="ledger", settings={"company_id": "x"})],
        ),
        overrides=SetupOverrides(
            integrations=[IntegrationChoice(code="no-such-app"), IntegrationChoice(code="drive")]
        ),
    )
    assert issue_fields(world) == [
        "template.add_ons",
        "template.add_ons",
        "template.user_ids",
        "template.folder_tree",
        "template.integrations[0].settings.api_key",
        "template.integrations[0].settings.company_id",
        "overrides.integrations[0].code",
    ]


@property_settings
@given(worlds())
def test_validation_several_problems_property_all_reported(world: World) -> None:
    """Unknown plan, tree, collaborator and app in one request are all reported together."""
    n = len(world.overrides.integrations)
    overrides = world.overrides.model_copy(
        update={
            "plan": "no-such-plan",
            "folder_tree": "no-such-tree",
            "collaborator_ids": [*world.overrides.collaborator_ids, UNKNOWN_USER],
            "integrations": [*world.overrides.integrations, IntegrationChoice(code="no-such-app")],
        }
    )
    assert sorted(issue_fields(replace(world, overrides=overrides))) == sorted(
        [
            "overrides.plan",
            "overrides.folder_tree",
            "overrides.collaborator_ids",
            f"overrides.integrations[{n}].code",
        ]
    )


def test_validation_error_message_lists_every_issue() -> None:
    """The exception text joins every issue as `field: message`."""
    world = example(overrides=SetupOverrides(plan="nope", folder_tree="gone"))
    with pytest.raises(SetupInvalid) as info:
        resolve_world(world)
    assert str(info.value) == (
        "overrides.plan: unknown plan 'nope'; overrides.folder_tree: unknown folder tree 'gone'"
    )


# ---- determinism and masking ------------------------------------------------------------------


@property_settings
@given(worlds())
def test_determinism_same_inputs_equal_outputs(world: World) -> None:
    """Resolving equal inputs twice gives equal setups and leaves the inputs untouched."""
    before = [m.model_dump() for m in (world.template, world.billing, world.overrides)]
    copy = World(
        catalog=world.catalog.model_copy(deep=True),
        template=world.template.model_copy(deep=True),
        billing=world.billing.model_copy(deep=True),
        overrides=world.overrides.model_copy(deep=True),
        template_id=world.template_id,
        template_version=world.template_version,
    )
    assert resolve_world(world) == resolve_world(copy)
    assert [m.model_dump() for m in (world.template, world.billing, world.overrides)] == before


@property_settings
@given(worlds())
def test_masked_replaces_exactly_secret_settings(world: World) -> None:
    """Masking replaces secret settings with the mask, keeps everything else, and is idempotent."""
    result = resolve_world(world)
    original = result.model_copy(deep=True)
    masked = result.masked(world.catalog)
    assert result == original
    assert masked.model_copy(update={"integrations": result.integrations}) == result
    assert len(masked.integrations) == len(result.integrations)
    for clear, hidden in zip(result.integrations, masked.integrations, strict=True):
        secrets = world.catalog.integrations[clear.code].secret_names()
        assert (hidden.code, hidden.kind) == (clear.code, clear.kind)
        assert hidden.settings == {
            k: SECRET_MASK if k in secrets else v for k, v in clear.settings.items()
        }
    assert masked.masked(world.catalog) == masked


def test_masked_example() -> None:
    """Only the secret `api_key` is hidden; the other settings are returned as they are."""
    world = example(
        overrides=SetupOverrides(
            integrations=[
                IntegrationChoice(code="ledger", settings={**LEDGER_OK, "label": "main"}),
                IntegrationChoice(code="drive"),
            ]
        )
    )
    masked = resolve_world(world).masked(CATALOG)
    assert [i.settings for i in masked.integrations] == [
        {"api_key": SECRET_MASK, "company_id": 42, "label": "main"},
        {},
    ]
