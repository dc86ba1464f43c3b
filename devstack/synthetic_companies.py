"""Synthetic legal units for the registry stand-in: as many distinct, valid companies as a
benchmark or a load test needs, shaped exactly like registry_fixture.json's `unites_legales`.

    units = synthetic_units(500)                       # 500 open companies, one head office each
    RegistryStandin(extra_units=units)                 # the stand-in serves them with the fixture
    sirets = [head_office_siret(u) for u in units]     # what goes into the import file

Pure and deterministic: the same arguments give the same companies (so a benchmark's file and
its stand-in agree without sharing state). Every SIREN and SIRET passes its Luhn checksum, so the
API's local checks let them through. The SIRENs all start with 99, a range the fixture's real and
invented companies stay out of, and none is La Poste's 356000000 (whose SIRETs follow another
checksum rule).
"""

from __future__ import annotations

from typing import Any, Final

Json = dict[str, Any]

SIREN_PREFIX: Final = "99"
# Six digits after the prefix, then the check digit: nine in all.
MAX_UNITS: Final = 10**6

_STREETS: Final = (
    ("RUE", "DE LA REPUBLIQUE"),
    ("AV", "JEAN JAURES"),
    ("BD", "VICTOR HUGO"),
    ("PL", "DU MARCHE"),
    ("CHE", "DES VIGNES"),
    ("QUAI", "DES ARTISANS"),
)
# (code postal, code commune INSEE, libellé, département, région, latitude, longitude)
_TOWNS: Final = (
    ("69001", "69381", "LYON", "69", "84", "45.767", "4.834"),
    ("33000", "33063", "BORDEAUX", "33", "75", "44.837", "-0.579"),
    ("59000", "59350", "LILLE", "59", "32", "50.629", "3.057"),
    ("35000", "35238", "RENNES", "35", "53", "48.111", "-1.680"),
    ("31000", "31555", "TOULOUSE", "31", "76", "43.604", "1.444"),
    ("67000", "67482", "STRASBOURG", "67", "44", "48.573", "7.752"),
    ("13001", "13201", "MARSEILLE", "13", "93", "43.299", "5.383"),
)
# (activité principale NAF, section, nature juridique)
_ACTIVITIES: Final = (
    ("69.20Z", "M", "5710"),  # expertise comptable, SAS
    ("62.01Z", "J", "5499"),  # programmation informatique, SARL
    ("47.24Z", "G", "5710"),  # boulangerie-pâtisserie en magasin, SAS
    ("43.22A", "F", "5499"),  # plomberie, SARL
    ("56.10A", "I", "5720"),  # restauration traditionnelle, SASU
)
_NAMES: Final = (
    "ATELIER",
    "BOULANGERIE",
    "CABINET",
    "COMPTOIR",
    "MAISON",
    "SOCIETE",
)


def luhn_check_digit(digits: str) -> str:
    """The digit that, appended to `digits`, makes the whole number pass the Luhn checksum."""
    total = 0
    # Walking from the right of the number-to-be: the check digit is position 0 (not doubled),
    # so the last digit given here is doubled.
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def synthetic_siren(index: int) -> str:
    """The `index`-th synthetic SIREN (0-based): 99, six digits, a Luhn check digit."""
    if not 0 <= index < MAX_UNITS:
        raise ValueError(f"index must be in [0, {MAX_UNITS})")
    body = f"{SIREN_PREFIX}{index:06d}"
    return body + luhn_check_digit(body)


def synthetic_siret(siren: str, establishment: int) -> str:
    """The SIRET of a SIREN's `establishment`-th establishment (1 = head office): NIC 000NN + a
    check digit making the 14 digits pass Luhn, as INSEE numbers them."""
    if not 1 <= establishment <= 999:
        raise ValueError("establishment must be in [1, 999]")
    body = f"{siren}{establishment:04d}"
    return body + luhn_check_digit(body)


def head_office_siret(unit: Json) -> str:
    siret: str = unit["siege"]["siret"]
    return siret


def _establishment(
    siret: str, *, index: int, number: int, head_office: bool, activity: str, created: str
) -> Json:
    street_type, street = _STREETS[(index + number) % len(_STREETS)]
    postal, commune, town, department, region, lat, lon = _TOWNS[(index + number) % len(_TOWNS)]
    street_number = str(1 + (index * 7 + number) % 120)
    return {
        "siret": siret,
        "adresse": f"{street_number} {street_type} {street} {postal} {town}",
        "numero_voie": street_number,
        "type_voie": street_type,
        "libelle_voie": street,
        "complement_adresse": None,
        "code_postal": postal,
        "commune": commune,
        "libelle_commune": town,
        "departement": department,
        "region": region,
        "activite_principale": activity,
        "est_siege": head_office,
        "etat_administratif": "A",
        "date_creation": created,
        "date_debut_activite": created,
        "date_fermeture": None,
        "latitude": lat,
        "longitude": lon,
        "liste_enseignes": None,
        "statut_diffusion_etablissement": "O",
        "tranche_effectif_salarie": "03",
        "annee_tranche_effectif_salarie": "2022",
        "caractere_employeur": "O",
    }


def synthetic_unit(index: int, *, secondary_establishments: int = 0) -> Json:
    """One open company (etat_administratif A, fully public), its head office and
    `secondary_establishments` open secondary establishments."""
    if not 0 <= secondary_establishments <= 998:
        raise ValueError("secondary_establishments must be in [0, 998]")
    siren = synthetic_siren(index)
    activity, section, legal_form = _ACTIVITIES[index % len(_ACTIVITIES)]
    name = f"{_NAMES[index % len(_NAMES)]} SYNTHETIQUE {index:07d}"
    created = f"{2000 + index % 24}-{1 + index % 12:02d}-{1 + index % 28:02d}"
    establishments = [
        _establishment(
            synthetic_siret(siren, number),
            index=index,
            number=number,
            head_office=number == 1,
            activity=activity,
            created=created,
        )
        for number in range(1, secondary_establishments + 2)
    ]
    return {
        "siren": siren,
        "nom_complet": name,
        "nom_raison_sociale": name,
        "sigle": None,
        "nombre_etablissements": len(establishments),
        "nombre_etablissements_ouverts": len(establishments),
        "activite_principale": activity,
        "section_activite_principale": section,
        "categorie_entreprise": "PME",
        "annee_categorie_entreprise": "2022",
        "date_creation": created,
        "date_fermeture": None,
        "etat_administratif": "A",
        "nature_juridique": legal_form,
        "tranche_effectif_salarie": "03",
        "annee_tranche_effectif_salarie": "2022",
        "statut_diffusion": "O",
        "dirigeants": [
            {
                "nom": f"DIRIGEANT{index:07d}",
                "prenoms": "CAMILLE",
                "annee_de_naissance": str(1950 + index % 50),
                "qualite": "Président de SAS",
                "type_dirigeant": "personne physique",
            }
        ],
        "siege": establishments[0],
        "autres_etablissements": establishments[1:],
    }


def synthetic_units(count: int, *, start: int = 0, secondary_establishments: int = 0) -> list[Json]:
    """`count` distinct companies: the `start`-th to the `start + count - 1`-th."""
    if count < 0 or start < 0 or start + count > MAX_UNITS:
        raise ValueError(f"count and start must stay within [0, {MAX_UNITS}]")
    return [
        synthetic_unit(index, secondary_establishments=secondary_establishments)
        for index in range(start, start + count)
    ]
