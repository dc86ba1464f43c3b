"""The console's Checklists pages: the firm's catalogue of checklists (questions and documents a
client's director is asked for), listed for everyone of the firm, created, edited and deleted by
administrators and client managers, as /v1/checklists allows (app/checklists.py).

The form lists the items as rows (a label, question or document, required or not); blank rows
are left out, and "More rows" gives the form back with more of them, nothing saved. An item keeps
its key across edits (a hidden field); a new one gets a key made from its label. A new checklist's
id comes from the form's nonce, so sending the form twice makes one checklist.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
import uuid
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from api.console import (
    PREFIX,
    _checked_form,
    _Frame,
    _frame,
    _notice,
    _redirect,
    _render,
    _session,
    _to_sign_in,
    _url,
    _uuid,
    _when,
    _zone,
)
from api.console.texts import LANGUAGES, TEXTS
from api.deps import Services, ServicesDep
from app import checklists as app_checklists
from app import roles
from app.errors import Forbidden, Invalid, NotFound
from domain.checklists import ChecklistBody
from domain.text import Text
from store.console import SessionRow

router = APIRouter(include_in_schema=False)

NONCE_FIELD = "nonce"
LISTED = 100
BLANK_ROWS = 3
MIN_ROWS = 5
MAX_ROWS = 100
KINDS = ("question", "document")
_DONE = {"created", "saved", "deleted"}
_ITEM_ERROR = re.compile(r"^items\.(\d+)\.(\w+)")


def _may_change(session: SessionRow) -> bool:
    return session.member.user.role in roles.CONFIGURERS


def _key_of(label: str, taken: set[str]) -> str:
    """A stable key from a label: lower-case ASCII letters, digits and '_', unique here."""
    ascii_label = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "_", ascii_label.lower()).strip("_")[:50] or "item"
    key, n = base, 2
    while key in taken:
        key, n = f"{base}_{n}", n + 1
    taken.add(key)
    return key


def _rows_of(form: FormData) -> list[dict[str, Any]]:
    rows = []
    for i in range(MAX_ROWS):
        label = form.get(f"item-{i}-label")
        if label is None:
            break
        kind, key = form.get(f"item-{i}-kind"), form.get(f"item-{i}-key")
        rows.append(
            {
                "label": label.strip()[:400] if isinstance(label, str) else "",
                "kind": kind if kind in KINDS else "question",
                "required": form.get(f"item-{i}-required") == "1",
                "key": key.strip()[:63] if isinstance(key, str) else "",
            }
        )
    return rows


def _padded(rows: list[dict[str, Any]], extra: int = BLANK_ROWS) -> list[dict[str, Any]]:
    blank = {"label": "", "kind": "question", "required": True, "key": ""}
    wanted = min(MAX_ROWS, max(MIN_ROWS, len(rows) + extra))
    return rows + [dict(blank) for _ in range(wanted - len(rows))]


def _typed(form: FormData) -> dict[str, Any]:
    name, language = form.get("name"), form.get("language")
    return {
        "name": name.strip()[:200] if isinstance(name, str) else "",
        "language": language if isinstance(language, str) else "",
        "rows": _rows_of(form),
    }


def _body(typed: dict[str, Any]) -> tuple[ChecklistBody, list[int]]:
    """The checklist the form says, checked by the API's model; the row of each item kept so
    an item's error is shown on its row."""
    taken = {r["key"] for r in typed["rows"] if r["label"] and r["key"]}
    items, where = [], []
    for index, row in enumerate(typed["rows"]):
        if not row["label"]:
            continue
        key = row["key"] or _key_of(row["label"], taken)
        items.append(
            {"key": key, "kind": row["kind"], "label": row["label"], "required": row["required"]}
        )
        where.append(index)
    body = app_checklists.parse(
        {"name": typed["name"], "language": typed["language"], "items": items}
    )
    return body, where


def _errors(frame: _Frame, exc: Invalid, where: list[int]) -> dict[str, str]:
    texts = TEXTS[frame.lang]
    found: dict[str, str] = {}
    for issue in exc.errors:
        item = _ITEM_ERROR.match(issue.field)
        if item:
            position = int(item.group(1))
            row = where[position] if position < len(where) else 0
            found.setdefault(f"item-{row}-label", texts[f"cl_error_item_{issue.code}"])
        elif issue.field.startswith("items"):
            found.setdefault("item-0-label", texts["cl_error_items"])
        elif issue.field in ("name", "language"):
            found.setdefault(issue.field, texts[f"cl_error_{issue.field}"])
    return found


def _form_page(
    frame: _Frame,
    *,
    action: str,
    values: dict[str, Any],
    nonce: str | None = None,
    status: int = 200,
    errors: dict[str, str] | None = None,
    editing: bool,
    may_change: bool = True,
    extra_rows: int = BLANK_ROWS,
) -> Response:
    return _render(
        frame,
        "checklist_form.html",
        status=status,
        action=action,
        values={**values, "rows": _padded(values["rows"], extra_rows)},
        languages=LANGUAGES,
        kinds=KINDS,
        nonce_field=NONCE_FIELD,
        nonce=nonce or secrets.token_urlsafe(16),
        errors=errors or {},
        editing=editing,
        may_change=may_change,
    )


@router.get(PREFIX + "/settings/checklists")
async def read_console_checklists(request: Request, services: ServicesDep) -> Response:
    """The firm's checklists (everyone of the firm may read them)."""
    session = await _session(request, services)
    if session is None:
        return _to_sign_in(request)
    frame = _frame(request, services, session)
    rows, total = await app_checklists.list_checklists(
        services.pool,
        partner_id=session.member.partner.id,
        role=session.member.user.role,
        limit=LISTED,
        offset=0,
    )
    zone = _zone(session)
    done = request.query_params.get("done")
    return _render(
        frame,
        "checklists.html",
        checklists=[
            {
                "id": r.id,
                "name": r.name,
                "language": r.language,
                "questions": sum(1 for i in r.items if i.get("kind") == "question"),
                "documents": sum(1 for i in r.items if i.get("kind") == "document"),
                "updated": _when(r.updated_at, zone, frame.lang),
            }
            for r in rows
        ],
        more=max(0, total - len(rows)),
        may_change=_may_change(session),
        done=done if done in _DONE else None,
    )


@router.get(PREFIX + "/settings/checklists/new")
async def read_console_checklist_new(request: Request, services: ServicesDep) -> Response:
    """An empty checklist form (administrators and client managers)."""
    session = await _session(request, services)
    if session is None:
        return _to_sign_in(request)
    frame = _frame(request, services, session)
    if not _may_change(session):
        return _notice(frame, "forbidden", 403)
    return _form_page(
        frame,
        action=_url(frame, "/settings/checklists/new"),
        values={"name": "", "language": frame.lang, "rows": []},
        editing=False,
    )


async def _save(
    request: Request,
    services: Services,
    *,
    checklist_id: uuid.UUID | None,
) -> Response:
    """Create (checklist_id None) or replace a checklist from the POSTed form."""
    session = await _session(request, services)
    if session is None:
        return _to_sign_in(request)
    frame = _frame(request, services, session)
    form = await _checked_form(request, services, session)
    if form is None:
        return _notice(frame, "refused", 403)
    path = f"/settings/checklists/{checklist_id}" if checklist_id else "/settings/checklists/new"
    typed = _typed(form)
    nonce = form.get(NONCE_FIELD)
    if not isinstance(nonce, str) or not 16 <= len(nonce) <= 64:
        nonce = secrets.token_urlsafe(16)
    if form.get("action") == "more":
        return _form_page(
            frame,
            action=_url(frame, path),
            values=typed,
            nonce=nonce,
            editing=checklist_id is not None,
            extra_rows=BLANK_ROWS + 5,
        )
    where: list[int] = []
    try:
        body, where = _body(typed)
        if checklist_id is None:
            await app_checklists.create(
                services.pool,
                partner_id=session.member.partner.id,
                role=session.member.user.role,
                body=body,
                # The same form (same nonce) names the same checklist: made once.
                checklist_id=uuid.uuid5(session.member.partner.id, f"console-checklist:{nonce}"),
            )
        else:
            await app_checklists.replace(
                services.pool,
                partner_id=session.member.partner.id,
                role=session.member.user.role,
                checklist_id=checklist_id,
                body=body,
            )
    except Forbidden:
        return _notice(frame, "forbidden", 403)
    except NotFound:
        return _notice(frame, "not_found", 404)
    except Invalid as exc:
        if not where:
            where = [i for i, r in enumerate(typed["rows"]) if r["label"]]
        return _form_page(
            frame,
            action=_url(frame, path),
            values=typed,
            nonce=nonce,
            status=422,
            errors=_errors(frame, exc, where),
            editing=checklist_id is not None,
            extra_rows=0,
        )
    done = "saved" if checklist_id else "created"
    return _redirect(_url(frame, f"/settings/checklists?done={done}"))


@router.post(PREFIX + "/settings/checklists/new")
async def create_console_checklist(request: Request, services: ServicesDep) -> Response:
    """Add the checklist the form says (or give it back with more rows, or its errors)."""
    return await _save(request, services, checklist_id=None)


@router.get(PREFIX + "/settings/checklists/{checklist_id}")
async def read_console_checklist(
    checklist_id: Text, request: Request, services: ServicesDep
) -> Response:
    """One checklist: its form for those who may change it, its items for the others."""
    session = await _session(request, services)
    if session is None:
        return _to_sign_in(request)
    frame = _frame(request, services, session)
    parsed = _uuid(checklist_id)
    if parsed is None:
        return _notice(frame, "not_found", 404)
    try:
        row = await app_checklists.read(
            services.pool,
            partner_id=session.member.partner.id,
            role=session.member.user.role,
            checklist_id=parsed,
        )
    except NotFound:
        return _notice(frame, "not_found", 404)
    rows = [
        {
            "label": str(i.get("label", "")),
            "kind": i.get("kind") if i.get("kind") in KINDS else "question",
            "required": bool(i.get("required", True)),
            "key": str(i.get("key", "")),
        }
        for i in row.items
    ]
    may_change = _may_change(session)
    return _form_page(
        frame,
        action=_url(frame, f"/settings/checklists/{parsed}"),
        values={"name": row.name, "language": row.language, "rows": rows, "id": row.id},
        editing=True,
        may_change=may_change,
        extra_rows=BLANK_ROWS if may_change else 0,
    )


@router.post(PREFIX + "/settings/checklists/{checklist_id}")
async def update_console_checklist(
    checklist_id: Text, request: Request, services: ServicesDep
) -> Response:
    """Replace the checklist with the form's (clients that have it keep their copy)."""
    parsed = _uuid(checklist_id)
    if parsed is None:
        session = await _session(request, services)
        return _notice(_frame(request, services, session), "not_found", 404)
    return await _save(request, services, checklist_id=parsed)


@router.post(PREFIX + "/settings/checklists/{checklist_id}/delete")
async def delete_console_checklist(
    checklist_id: Text, request: Request, services: ServicesDep
) -> Response:
    """Remove the checklist from the catalogue; back to the list."""
    session = await _session(request, services)
    if session is None:
        return _to_sign_in(request)
    frame = _frame(request, services, session)
    parsed = _uuid(checklist_id)
    if parsed is None:
        return _notice(frame, "not_found", 404)
    if await _checked_form(request, services, session) is None:
        return _notice(frame, "refused", 403)
    try:
        await app_checklists.delete(
            services.pool,
            partner_id=session.member.partner.id,
            role=session.member.user.role,
            checklist_id=parsed,
        )
    except Forbidden:
        return _notice(frame, "forbidden", 403)
    except NotFound:
        return _notice(frame, "not_found", 404)
    return _redirect(_url(frame, "/settings/checklists?done=deleted"))
