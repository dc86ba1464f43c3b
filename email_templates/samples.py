"""Realistic sample contexts, one per kind: for `onboarding preview-email` and the tests.

Names carry accents and an ampersand, and the accept link a query string, so a preview shows at a
glance whether anything is mangled or double-escaped.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from domain.email import Branding

SAMPLE_BRANDING = Branding(
    display_name="Fiduciaire Müller & Associés",
    sender="bonjour@fiduciaire-muller.example",
    reply_to="accueil@fiduciaire-muller.example",
    logo_url="https://static.fiduciaire-muller.example/logo.png",
    colour="#0B6E4F",
)

_CLIENT_NAME = "Boulangerie Lefèvre & Fils"
_CLIENT_URL = "https://app.fiduciaire-muller.example/clients/4f1c2b9e"
_ACCEPT_URL = "https://app.fiduciaire-muller.example/invitations/accept?token=3Fz9k2QwX7&lang=fr"

SAMPLE_CONTEXT: dict[str, dict[str, Any]] = {
    "invitation": {
        "branding": SAMPLE_BRANDING,
        "director_name": "Élodie Lefèvre",
        "client_name": _CLIENT_NAME,
        "themes": ["Comptabilité", "Social & paie", "Fiscalité"],
        "accept_url": _ACCEPT_URL,
        "expires_on": date(2026, 12, 15),
    },
    "reminder": {
        "branding": SAMPLE_BRANDING,
        "director_name": "Élodie Lefèvre",
        "client_name": _CLIENT_NAME,
        "accept_url": _ACCEPT_URL,
        "expires_on": date(2026, 12, 15),
    },
    "client_ready": {
        "branding": SAMPLE_BRANDING,
        "client_name": _CLIENT_NAME,
        "folder_count": 1248,
        "integrations_connected": ["Relevés bancaires", "Facturation électronique"],
        "integrations_failed": ["Notes de frais"],
        "client_url": _CLIENT_URL,
    },
    "expired": {
        "branding": SAMPLE_BRANDING,
        "client_name": _CLIENT_NAME,
        "director_name": "Élodie Lefèvre",
        "director_email": "elodie.lefevre@boulangerie-lefevre.example",
        "expires_on": date(2026, 12, 15),
        "client_url": _CLIENT_URL,
    },
    "escalation": {
        "branding": SAMPLE_BRANDING,
        "kind": "integration_reminder",
        "reference": "4f1c2b9e",
        "siret": "73282932000074",
        "deadline": date(2026, 12, 15),
        "integrations": ["Relevés bancaires", "Notes de frais"],
        "client_url": _CLIENT_URL,
    },
    "sign_in": {
        "branding": SAMPLE_BRANDING,
        "user_name": "Élise Müller",
        "sign_in_url": "https://onboarding.fiduciaire-muller.example/console/sign-in/Zk3x9Qw&x=1",
        "minutes": 15,
    },
    "checklist_assigned": {
        "branding": SAMPLE_BRANDING,
        "director_name": "Élodie Lefèvre",
        "client_name": _CLIENT_NAME,
        "checklist_name": "Bilan 2026",
        "checklist_items": ["Relevés bancaires de décembre", "Inventaire du stock"],
        "checklist_url": _ACCEPT_URL.replace("accept?", "checklist?"),
    },
}
