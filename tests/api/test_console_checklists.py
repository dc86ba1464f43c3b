"""The console's Checklists pages over the real stack (uvicorn, PostgreSQL, SMTP sink): a
checklist made from the form is the one /v1/checklists answers, made once on a double submit;
bad rows come back with their errors; edit and delete do what PUT and DELETE do; forms without
their CSRF token or from another origin change nothing; another firm's checklist is 404;
accountants read, administrators and client managers change, as through the API."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import httpx

from api.console import CSRF_FIELD
from devstack.smtp_sink import SmtpSink
from domain.setup import Role
from store import checklists, partners
from store.pool import Pool
from tests.console_helpers import (
    EVIL,
    HOSTILE,
    as_user,
    assert_strict,
    csrf_of,
    fresh_ip_limit,
    sign_in_as,
)
from tests.factories import Tenant, make_tenant

__all__ = ["fresh_ip_limit"]  # the sign-in budget fixture, autouse here too

PAGE = "/console/settings/checklists"


def _nonce(page: httpx.Response) -> str:
    match = re.search(r'name="nonce" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


async def _catalogue(http: httpx.AsyncClient, tenant: Tenant) -> list[dict[str, Any]]:
    answer = await http.get("/v1/checklists", headers=tenant.auth)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def _form(page: httpx.Response, **rows: tuple[str, str, bool]) -> dict[str, str]:
    data = {CSRF_FIELD: csrf_of(page), "nonce": _nonce(page), "action": "save"}
    for i, (label, kind, required) in enumerate(rows.values()):
        data[f"item-{i}-label"] = label
        data[f"item-{i}-kind"] = kind
        if required:
            data[f"item-{i}-required"] = "1"
    return data


async def _user(pool: Pool, tenant: Tenant, role: Role) -> str:
    user = await partners.create_user(
        pool,
        partner_id=tenant.partner.id,
        email=f"{role.value}-{uuid.uuid4().hex[:6]}@example.com",
        name=role.value,
        role=role,
        language="en",
    )
    assert user is not None
    return user.email


async def test_checklist_made_from_the_form_once_is_the_apis(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """Name, language and rows (blank ones left out) make the checklist GET /v1/checklists
    answers, keys made from the labels; the form sent twice at once makes one."""
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    page = await api_server.get(f"{PAGE}/new", headers=as_user(cookie))
    assert page.status_code == 200
    assert_strict(page)
    data = {
        **_form(
            page,
            a=("Relevés bancaires de l'année", "document", True),
            b=("", "question", True),
            c=("Votre régime de TVA ?", "question", False),
        ),
        "name": f"Bilan {HOSTILE[0]}",
        "language": "fr",
    }
    first, second = await asyncio.gather(
        api_server.post(f"{PAGE}/new", data=data, headers=as_user(cookie)),
        api_server.post(f"{PAGE}/new", data=data, headers=as_user(cookie)),
    )
    assert [first.status_code, second.status_code] == [303, 303], first.text
    assert first.headers["location"] == f"{PAGE}?done=created"
    [made] = await _catalogue(api_server, tenant)
    assert made["name"] == f"Bilan {HOSTILE[0]}" and made["language"] == "fr"
    assert made["items"] == [
        {
            "key": "releves_bancaires_de_l_annee",
            "kind": "document",
            "label": "Relevés bancaires de l'année",
            "required": True,
        },
        {
            "key": "votre_regime_de_tva",
            "kind": "question",
            "label": "Votre régime de TVA ?",
            "required": False,
        },
    ]
    listed = await api_server.get(first.headers["location"], headers=as_user(cookie))
    assert HOSTILE[0] not in listed.text and "&lt;script&gt;" in listed.text
    assert "La liste est ajoutée." in listed.text


async def test_checklist_form_gives_back_its_errors_and_more_rows_without_saving(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """No name and a label over 300 characters: 422, each error by its field in French, what
    was typed kept; no row at all: the first row says so; "More rows" adds rows, saves
    nothing."""
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    page = await api_server.get(f"{PAGE}/new", headers=as_user(cookie))
    long_label = "L" * 301
    data = {
        **_form(page, a=("Statuts", "document", True), b=(long_label, "question", True)),
        "name": "",
        "language": "fr",
    }
    refused = await api_server.post(f"{PAGE}/new", data=data, headers=as_user(cookie))
    assert refused.status_code == 422
    assert 'href="#name"' in refused.text and "Saisissez un nom" in refused.text
    assert 'href="#item-1-label"' in refused.text and "300 caractères au plus" in refused.text
    assert 'value="Statuts"' in refused.text and long_label in refused.text
    empty = await api_server.post(
        f"{PAGE}/new", data={**_form(page), "name": "X", "language": "fr"}, headers=as_user(cookie)
    )
    assert empty.status_code == 422 and "au moins une question" in empty.text
    more = await api_server.post(
        f"{PAGE}/new",
        data={**_form(page, a=("Statuts", "document", True)), "action": "more", "name": "Y"},
        headers=as_user(cookie),
    )
    assert more.status_code == 200
    assert 'id="item-8-label"' in more.text and 'value="Statuts"' in more.text
    assert await _catalogue(api_server, tenant) == []


async def test_checklist_edited_then_deleted_as_put_and_delete_do(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """The edit form keeps each item's key; saved, the API answers the new rows; deleted, the
    catalogue is empty and a second delete is 404."""
    created = await api_server.post(
        "/v1/checklists",
        json={
            "name": "Création",
            "language": "fr",
            "items": [{"key": "kbis", "kind": "document", "label": "Kbis"}],
        },
        headers=tenant.auth,
    )
    assert created.status_code == 201, created.text
    checklist_id = created.json()["id"]
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    page = await api_server.get(f"{PAGE}/{checklist_id}", headers=as_user(cookie))
    assert page.status_code == 200 and 'value="kbis"' in page.text
    data = {
        **_form(page, a=("Extrait Kbis", "document", True), b=("Capital ?", "question", True)),
        "item-0-key": "kbis",
        "name": "Création de société",
        "language": "fr",
    }
    saved = await api_server.post(f"{PAGE}/{checklist_id}", data=data, headers=as_user(cookie))
    assert saved.status_code == 303, saved.text
    [after] = await _catalogue(api_server, tenant)
    assert after["name"] == "Création de société"
    assert [(i["key"], i["label"]) for i in after["items"]] == [
        ("kbis", "Extrait Kbis"),
        ("capital", "Capital ?"),
    ]
    token = csrf_of(page)
    gone = await api_server.post(
        f"{PAGE}/{checklist_id}/delete", data={CSRF_FIELD: token}, headers=as_user(cookie)
    )
    assert gone.headers["location"] == f"{PAGE}?done=deleted"
    again = await api_server.post(
        f"{PAGE}/{checklist_id}/delete", data={CSRF_FIELD: token}, headers=as_user(cookie)
    )
    assert again.status_code == 404
    assert await _catalogue(api_server, tenant) == []


async def test_checklist_forms_without_token_or_from_another_origin_change_nothing(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant, pool: Pool
) -> None:
    """Create, edit and delete: 403 without the token, with a wrong one or from another
    Origin, and the catalogue as it was."""
    row = await checklists.create(
        pool,
        partner_id=tenant.partner.id,
        checklist_id=uuid.uuid4(),
        name="Avant",
        language="fr",
        items=[{"key": "a", "kind": "question", "label": "A", "required": True}],
    )
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    page = await api_server.get(f"{PAGE}/new", headers=as_user(cookie))
    token = csrf_of(page)
    form = {**_form(page, a=("B", "question", True)), "name": "Après", "language": "fr"}
    del form[CSRF_FIELD]
    for action in (f"{PAGE}/new", f"{PAGE}/{row.id}", f"{PAGE}/{row.id}/delete"):
        answers = [
            await api_server.post(action, data=form, headers=as_user(cookie)),
            await api_server.post(
                action, data={**form, CSRF_FIELD: "x" * 43}, headers=as_user(cookie)
            ),
            await api_server.post(
                action,
                data={**form, CSRF_FIELD: token},
                headers={**as_user(cookie), "Origin": EVIL},
            ),
        ]
        assert [a.status_code for a in answers] == [403] * 3, action
    [still] = await _catalogue(api_server, tenant)
    assert still["name"] == "Avant" and still["id"] == str(row.id)


async def test_another_firms_checklist_is_not_found(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant, pool: Pool
) -> None:
    """Its page, its edit and its delete are 404, like an unknown id; it stays as it was."""
    other = await make_tenant(pool, "Another firm")
    theirs = await checklists.create(
        pool,
        partner_id=other.partner.id,
        checklist_id=uuid.uuid4(),
        name="Not yours",
        language="fr",
        items=[{"key": "a", "kind": "question", "label": "A", "required": True}],
    )
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    page = await api_server.get(f"{PAGE}/new", headers=as_user(cookie))
    form = {**_form(page, a=("B", "question", True)), "name": "Mine now", "language": "fr"}
    for target in (theirs.id, uuid.uuid4()):
        shown = await api_server.get(f"{PAGE}/{target}", headers=as_user(cookie))
        assert shown.status_code == 404 and "Not yours" not in shown.text
        edited = await api_server.post(f"{PAGE}/{target}", data=form, headers=as_user(cookie))
        deleted = await api_server.post(
            f"{PAGE}/{target}/delete", data={CSRF_FIELD: form[CSRF_FIELD]}, headers=as_user(cookie)
        )
        assert [edited.status_code, deleted.status_code] == [404, 404]
    kept = await checklists.get(pool, partner_id=other.partner.id, checklist_id=theirs.id)
    assert kept is not None and kept.name == "Not yours"


async def test_checklists_are_read_by_all_and_changed_by_configurers(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant, pool: Pool
) -> None:
    """An accountant sees the list and the items but no form, and a form from them is 403
    (as POST /v1/checklists); a client manager adds one."""
    row = await checklists.create(
        pool,
        partner_id=tenant.partner.id,
        checklist_id=uuid.uuid4(),
        name="Social",
        language="en",
        items=[{"key": "payroll", "kind": "document", "label": "Payroll", "required": True}],
    )
    cookie, _ = await sign_in_as(api_server, smtp_sink, await _user(pool, tenant, Role.accountant))
    listed = await api_server.get(PAGE, headers=as_user(cookie))
    assert listed.status_code == 200 and "Social" in listed.text
    assert "New checklist" not in listed.text
    shown = await api_server.get(f"{PAGE}/{row.id}", headers=as_user(cookie))
    assert "Payroll" in shown.text and "Save the checklist" not in shown.text
    assert (await api_server.get(f"{PAGE}/new", headers=as_user(cookie))).status_code == 403
    token = csrf_of(listed)
    form = {
        CSRF_FIELD: token,
        "nonce": "n" * 22,
        "name": "Mine",
        "language": "en",
        "item-0-label": "Q",
        "item-0-kind": "question",
    }
    answers = [
        await api_server.post(f"{PAGE}/new", data=form, headers=as_user(cookie)),
        await api_server.post(f"{PAGE}/{row.id}", data=form, headers=as_user(cookie)),
        await api_server.post(f"{PAGE}/{row.id}/delete", data=form, headers=as_user(cookie)),
    ]
    assert [a.status_code for a in answers] == [403] * 3
    assert [c["name"] for c in await _catalogue(api_server, tenant)] == ["Social"]

    cookie, _ = await sign_in_as(
        api_server, smtp_sink, await _user(pool, tenant, Role.client_manager)
    )
    page = await api_server.get(f"{PAGE}/new", headers=as_user(cookie))
    made = await api_server.post(
        f"{PAGE}/new",
        data={**form, CSRF_FIELD: csrf_of(page), "nonce": _nonce(page)},
        headers=as_user(cookie),
    )
    assert made.status_code == 303, made.text
    assert sorted(c["name"] for c in await _catalogue(api_server, tenant)) == ["Mine", "Social"]
