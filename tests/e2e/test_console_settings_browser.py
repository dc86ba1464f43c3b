"""The console's Settings in a real browser (Debian's Chromium driven by Playwright over the real
stack, as tests/e2e/test_console_browser.py does): an administrator writes a template with an
integration's secret and sees it masked, makes it the default, changes the billing defaults,
adds a user and changes their role, creates an API key (shown once) and revokes it. Every page
is checked with axe (no serious or critical violation) and screenshotted at 1280 and 390 pixels
wide to test-artifacts/screenshots/console-settings-*.png.
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from playwright.async_api import Page

from core.settings import Settings
from devstack.smtp_sink import SmtpSink
from tests.e2e.browser_helpers import (
    WIDTHS,
    _browser,
    site,
    site_port,
)
from tests.factories import Tenant

pytestmark = pytest.mark.e2e

__all__ = ["site", "site_port"]  # the served app's fixtures, shared with the console's test

SECRET = "tok-browser-secret-42"


@pytest.fixture
def settings(settings: Settings, site_port: int) -> Settings:
    """The test settings, with e-mails linking to the site served."""
    return settings.model_copy(update={"public_base_url": f"http://127.0.0.1:{site_port}"})


async def _fits_a_phone(page: Page) -> None:
    """At the narrowest width the page scrolls down only: wide tables scroll inside themselves."""
    await page.set_viewport_size({"width": WIDTHS[-1], "height": 900})
    width = await page.evaluate("document.documentElement.scrollWidth")
    await page.set_viewport_size({"width": WIDTHS[0], "height": 900})
    assert width <= WIDTHS[-1], width


async def test_administrator_sets_up_templates_billing_users_and_keys_in_chromium(
    site: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant, settings: Settings
) -> None:
    """From Paramètres: a template with a secret (masked when opened again) made the default,
    the billing defaults saved, a user added then made client manager, a key shown once then
    revoked."""
    plan = {"code": "essentials", "name": "Essentiel", "add_ons": [{"code": "ocr", "name": "OCR"}]}
    app = {
        "code": "bankfeed",
        "name": "Flux bancaire",
        "kind": "automation",
        "settings": [
            {"name": "account_id", "type": "string", "required": True},
            {"name": "api_token", "type": "string", "required": True, "secret": True},
        ],
    }
    assert (await site.post("/v1/plans", json=plan, headers=tenant.auth)).status_code == 201
    assert (await site.post("/v1/integrations", json=app, headers=tenant.auth)).status_code == 201
    base = settings.public_base_url
    async with _browser(smtp_sink, tenant, base, "/console/clients") as (page, checker):
        await page.get_by_role("link", name="Paramètres").click()
        await page.get_by_role("heading", name="Paramètres").wait_for()
        await checker.check("settings-index")

        await page.get_by_role("link", name="Modèles").click()
        await page.get_by_role("link", name="Nouveau modèle").click()
        await page.get_by_role("button", name="Enregistrer le modèle").click()
        await page.get_by_text("Saisissez le nom du modèle").first.wait_for()
        await checker.check("settings-template-errors")
        await page.get_by_label("Nom", exact=True).fill("Cabinet complet")
        await page.get_by_label("Formule").select_option("essentials")
        await page.get_by_label("OCR (Essentiel)").check()
        await page.get_by_label("Flux bancaire").check()
        await page.get_by_label("account_id").fill("FR-001")
        await page.get_by_label("api_token").fill(SECRET)
        await page.get_by_role("button", name="Enregistrer le modèle").click()
        await page.get_by_text("Le modèle est enregistré.").wait_for()
        await checker.check("settings-templates")
        await page.get_by_role("link", name="Cabinet complet").click()
        assert await page.get_by_label("api_token").input_value() == "********"
        assert SECRET not in await page.content()
        await checker.check("settings-template-edit")
        await page.get_by_role("button", name="Enregistrer le modèle").click()
        await page.get_by_text("Le modèle est enregistré.").wait_for()
        await page.get_by_role("button", name="Rendre par défaut : Cabinet complet").click()
        await page.get_by_text("Le modèle par défaut a changé.").wait_for()
        listing = (await site.get("/v1/templates", headers=tenant.auth)).json()["items"]
        assert listing[0]["name"] == "Cabinet complet" and listing[0]["is_default"]
        made = await site.get(f"/v1/templates/{listing[0]['id']}", headers=tenant.auth)
        assert made.json()["integrations"][0]["settings"]["api_token"] == "********"

        await page.get_by_role("link", name="Retour aux paramètres").click()
        await page.get_by_role("link", name="Facturation par défaut").click()
        await page.get_by_label("Le cabinet paie pour les nouveaux clients").check()
        await page.get_by_label("Période de facturation").select_option("annual")
        # The firm pays: saved only with the prices confirmed (issue 23).
        await page.get_by_label("Je confirme que le cabinet paie à ces prix").check()
        await page.get_by_role("button", name="Enregistrer la facturation par défaut").click()
        await page.get_by_text("La facturation par défaut est enregistrée.").wait_for()
        await checker.check("settings-billing")
        billing = (await site.get("/v1/billing-defaults", headers=tenant.auth)).json()
        assert billing["pay_for_new_clients"] is True and billing["billing_period"] == "annual"

        await page.get_by_role("link", name="Retour aux paramètres").click()
        await page.get_by_role("link", name="Utilisateurs et rôles").click()
        email = f"chloe-{uuid.uuid4().hex[:6]}@example.com"
        await page.get_by_label("Nom", exact=True).fill("Chloé Martin")
        await page.get_by_label("Adresse e-mail").fill("chloe@")
        await page.get_by_role("button", name="Ajouter un utilisateur").last.click()
        await page.get_by_text("Saisissez une adresse e-mail comme nom@exemple.fr").first.wait_for()
        await checker.check("settings-users-errors")
        await page.get_by_label("Adresse e-mail").fill(email)
        await page.get_by_role("button", name="Ajouter un utilisateur").last.click()
        await page.get_by_text("L'utilisateur est ajouté").wait_for()
        await page.get_by_label("Rôle de Chloé Martin").select_option("client_manager")
        await page.get_by_role("button", name="Changer le rôle : Chloé Martin").click()
        await page.get_by_text("Le rôle a changé.").wait_for()
        await checker.check("settings-users")
        await _fits_a_phone(page)

        await page.get_by_role("link", name="Retour aux paramètres").click()
        await page.get_by_role("link", name="Clés d'API").click()
        await page.get_by_label("À quoi sert la clé").fill("Import comptable")
        await page.get_by_role("button", name="Créer une clé").click()
        key = await page.get_by_label("Nouvelle clé d'API").input_value()
        assert (await site.get("/v1/me", headers={"Authorization": f"Bearer {key}"})).is_success
        await checker.check("settings-api-key-created")
        await _fits_a_phone(page)
        await page.get_by_role("button", name="Révoquer : Import comptable").click()
        await page.get_by_text("La clé est révoquée").wait_for()
        assert key not in await page.content()
        await checker.check("settings-api-keys")
        gone = await site.get("/v1/me", headers={"Authorization": f"Bearer {key}"})
        assert gone.status_code == 401
