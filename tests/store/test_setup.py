"""Setup sources in one read: the same answer as the separate reads it replaces."""

from __future__ import annotations

import uuid

from store import catalogs, templates
from store import setup_sources as setup_store
from store.pool import Pool
from tests.factories import Tenant


async def test_sources_match_the_separate_reads(pool: Pool, tenant: Tenant) -> None:
    """Default or named template, catalog and billing as load_template, load_catalog and
    load_billing give them; an unknown template is None, the rest still there."""
    partner_id = tenant.partner.id
    await catalogs.create(
        pool, "folder_trees", partner_id=partner_id, code="tree-b", body={"code": "tree-b"}
    )
    default = await setup_store.load_sources(pool, partner_id=partner_id, template_id=None)
    expected = await setup_store.load_template(pool, partner_id=partner_id, template_id=None)
    assert default.template == expected and expected is not None and expected.is_default
    assert default.catalog == await setup_store.load_catalog(pool, partner_id=partner_id)
    assert "tree-b" in default.catalog.folder_trees
    assert tenant.admin.id in default.catalog.users
    assert default.billing == await setup_store.load_billing(pool, partner_id=partner_id)

    other = await templates.create(
        pool,
        partner_id=partner_id,
        name="Other",
        description="",
        body=expected.body,
        make_default=False,
    )
    named = await setup_store.load_sources(pool, partner_id=partner_id, template_id=other.id)
    assert named.template == other

    unknown = await setup_store.load_sources(pool, partner_id=partner_id, template_id=uuid.uuid4())
    assert unknown.template is None
    assert unknown.catalog == default.catalog


async def test_catalog_remembers_every_setting_ever_declared_secret(
    pool: Pool, tenant: Tenant
) -> None:
    """Whoever writes `integrations` (here plain SQL through the store, no API), a setting
    declared secret once stays among the catalog's secret names after it is unmarked and after
    the app is deleted, and only for its own partner and code."""
    partner_id = tenant.partner.id

    def vault(*secret: str) -> dict[str, object]:
        return {
            "code": "vault",
            "name": "Vault",
            "kind": "redirection",
            "settings": [{"name": n, "secret": n in secret} for n in ("token", "pin", "label")],
        }

    assert await catalogs.create(
        pool, "integrations", partner_id=partner_id, code="vault", body=vault("token")
    )
    assert await catalogs.replace(
        pool, "integrations", partner_id=partner_id, code="vault", body=vault("pin")
    )
    assert await catalogs.replace(
        pool, "integrations", partner_id=partner_id, code="vault", body=vault()
    )
    catalog = await setup_store.load_catalog(pool, partner_id=partner_id)
    assert catalog.secret_names("vault") == {"token", "pin"}
    assert await catalogs.delete(pool, "integrations", partner_id=partner_id, code="vault")
    catalog = await setup_store.load_catalog(pool, partner_id=partner_id)
    assert catalog.secret_names("vault") == {"token", "pin"}
    assert catalog.secret_names("other") == set()
    assert await catalogs.ever_secret(pool, partner_id=partner_id, code="vault") == {"token", "pin"}
    elsewhere = await setup_store.load_catalog(pool, partner_id=uuid.uuid4())
    assert elsewhere.secret_names("vault") == set()
