"""The KBO/BCE record of a Belgian enterprise, in the client's language."""

from __future__ import annotations

from datetime import date

from domain.kbo import address_line, company_from_kbo, pick_denomination

KBC = [("2", "001", "KBC Groep"), ("1", "001", "KBC Groupe"), ("0", "002", "KBC")]
BRUSSELS = {
    "zipcode": "1030",
    "street_nl": "Koning Albert II-laan",
    "street_fr": "Boulevard du Roi Albert II",
    "municipality_nl": "Schaarbeek",
    "municipality_fr": "Schaerbeek",
    "house_number": "27",
    "box": "",
}


def test_pick_denomination_in_the_clients_language_else_the_first_name() -> None:
    """Dutch and French clients get their language's name; English (none given) gets the
    first name of the file; an abbreviation is never preferred to a name."""
    assert pick_denomination(KBC, "nl") == "KBC Groep"
    assert pick_denomination(KBC, "fr") == "KBC Groupe"
    assert pick_denomination(KBC, "en") == "KBC Groep"
    assert pick_denomination([("0", "003", "Shop")], "fr") == "Shop"
    assert pick_denomination([], "fr") is None


def test_address_line_in_the_clients_language_with_a_box() -> None:
    """Brussels has both spellings; a Flemish address only the Dutch one serves everyone."""
    assert address_line(BRUSSELS, "fr") == "Boulevard du Roi Albert II 27, 1030 Schaerbeek"
    assert address_line(BRUSSELS, "nl") == "Koning Albert II-laan 27, 1030 Schaarbeek"
    flemish = {
        "zipcode": "1500",
        "street_nl": "Edingensesteenweg",
        "house_number": "196",
        "municipality_nl": "Halle",
        "box": "3",
    }
    assert address_line(flemish, "fr") == "Edingensesteenweg 196 bte 3, 1500 Halle"
    assert address_line(flemish, "nl") == "Edingensesteenweg 196 bus 3, 1500 Halle"


def test_company_from_kbo_stopped_enterprise_is_not_active() -> None:
    """Status ST (stopped) makes an inactive record; AC an active one; the source is named."""
    made = {
        "enterprise_number": "0403227515",
        "juridical_form": "014",
        "denominations": KBC,
        "address": BRUSSELS,
        "language": "nl",
        "extract": date(2026, 11, 27),
    }
    active = company_from_kbo(status="AC", **made)  # type: ignore[arg-type]
    stopped = company_from_kbo(status="ST", **made)  # type: ignore[arg-type]
    assert active.active and not stopped.active
    assert (active.name, active.postal_code, active.city) == ("KBC Groep", "1030", "Schaarbeek")
    assert (active.source, active.extract_date, active.siret) == (
        "kbo-open-data",
        date(2026, 11, 27),
        None,
    )
