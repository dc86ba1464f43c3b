"""The console's clients list opens on "My clients" (the clients the signed-in user
collaborates on, as GET /v1/clients?collaborator=me), with a visible "My clients / All clients"
choice kept in the URL (links and the filter form, no JavaScript), and its CSV export follows
the same choice."""

from __future__ import annotations

import csv
import io
import re

import httpx

from devstack.smtp_sink import SmtpSink
from store.pool import Pool
from tests.api_helpers import make_team
from tests.console_helpers import as_user, assert_strict, fresh_ip_limit, sign_in_as
from tests.factories import Tenant, make_client

__all__ = ["fresh_ip_limit"]  # the sign-in budget fixture, autouse here too

NAMES = ("Abeille Conseil", "Boulangerie Partagée", "Cordonnerie Seule")


def shown(page: httpx.Response) -> list[str]:
    """The clients listed on a page, in order."""
    assert page.status_code == 200, page.text
    assert_strict(page)
    found: list[str] = re.findall(r'<a href="/console/clients/[^"]+">([^<]+)</a>', page.text)
    return found


def current(page: httpx.Response) -> str:
    """The choice the page marks as current (its link's text)."""
    match = re.search(r'<a [^>]*aria-current="page"[^>]*>([^<]+)</a>', page.text)
    assert match, page.text
    return match.group(1).strip()


def export_of(page: httpx.Response) -> str:
    match = re.search(r'href="([^"]+)" id="export-clients"', page.text)
    assert match, page.text
    return match.group(1).replace("&amp;", "&")


def csv_names(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    return sorted(row[0] for row in list(csv.reader(io.StringIO(answer.text)))[1:])


async def test_clients_list_opens_on_my_clients_and_all_is_one_link_away(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant, pool: Pool
) -> None:
    """A user who collaborates on clients lands on those only, "My clients" marked current;
    "All clients" (a link, ?show=all) lists every client; the filter form keeps the choice; the
    CSV export of each holds what it lists."""
    await make_team(pool, tenant)
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    headers = as_user(cookie)
    page = await api_server.get("/console/clients", headers=headers)
    assert sorted(shown(page)) == list(NAMES[:2])
    assert current(page) == "Mes clients"
    assert '<input type="hidden" name="show" value="mine">' in page.text
    assert "?show=mine" in export_of(page)
    assert csv_names(await api_server.get(export_of(page), headers=headers)) == list(NAMES[:2])

    every = await api_server.get("/console/clients?show=all", headers=headers)
    assert sorted(shown(every)) == list(NAMES)
    assert current(every) == "Tous les clients"
    assert '<input type="hidden" name="show" value="all">' in every.text
    assert csv_names(await api_server.get(export_of(every), headers=headers)) == list(NAMES)

    searched = await api_server.get(
        "/console/clients", params={"show": "mine", "q": "boulangerie"}, headers=headers
    )
    assert shown(searched) == [NAMES[1]]
    # The choice's links keep the other filters, and drop the page number.
    assert 'href="/console/clients?q=boulangerie&amp;show=all"' in searched.text


async def test_clients_list_of_a_user_with_no_client_opens_on_all_clients(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant, pool: Pool
) -> None:
    """A user who collaborates on no client lands on every client ("All clients" current)
    rather than on an empty page; choosing "My clients" says there are none and links back."""
    await make_client(pool, tenant, name="Dentelles Libres")
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    page = await api_server.get("/console/clients", headers=as_user(cookie))
    assert shown(page) == ["Dentelles Libres"]
    assert current(page) == "Tous les clients"
    mine = await api_server.get("/console/clients?show=mine", headers=as_user(cookie))
    assert shown(mine) == []
    assert current(mine) == "Mes clients"
    assert "Vous ne collaborez sur aucun client" in mine.text
