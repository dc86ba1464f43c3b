"""GET /docs: Swagger UI over the OpenAPI document, every asset served by this API itself.

Swagger UI's files come from the `fastapi-offline` wheel (no CDN: the page works offline and
behind a firewall), the small script that starts it from api/docs_assets/, and the page sends a
Content-Security-Policy naming no origin but its own. ReDoc is not served: its styling injects
inline <style> elements, which a policy without 'unsafe-inline' refuses, and Swagger UI shows the
same document. `ONBOARDING_DOCS_ENABLED` turns the page off (the default in production); the
OpenAPI document itself stays at /openapi.json, as partners generate their clients from it.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Annotated

import fastapi_offline
from fastapi import APIRouter, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse

from domain.text import Text

PREFIX = "/docs"
ASSETS = PREFIX + "/assets"

_VENDOR = Path(fastapi_offline.__file__).parent / "static"
_OWN = Path(__file__).parent / "docs_assets"
# Served by name from this fixed list: nothing else of either directory is reachable.
_FILES = {
    "swagger-ui-bundle.js": (_VENDOR / "swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": (_VENDOR / "swagger-ui.css", "text/css"),
    "favicon.png": (_VENDOR / "favicon.png", "image/png"),
    "swagger-init.js": (_OWN / "swagger-init.js", "text/javascript"),
}

# Swagger UI's icons are data: URIs in its stylesheet; "Try it out" calls this API (connect-src).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{title}</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="icon" href="{assets}/favicon.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/swagger-init.js" data-openapi-url="{openapi}"></script>
</body>
</html>
"""

router = APIRouter(include_in_schema=False)


@router.get(PREFIX)
async def read_docs(request: Request) -> HTMLResponse:
    """Swagger UI's page."""
    root = request.scope.get("root_path", "")
    page = _PAGE.format(
        title=escape(f"{request.app.title} - Swagger UI"),
        assets=escape(root + ASSETS),
        openapi=escape(root + (request.app.openapi_url or "/openapi.json")),
    )
    return HTMLResponse(page, headers=_HEADERS)


@router.get(ASSETS + "/{name}")
async def read_docs_asset(
    name: Annotated[Text, PathParam(description="The file's name")],
) -> FileResponse:
    """One of the page's scripts, its stylesheet or its icon."""
    found = _FILES.get(name)
    if found is None:
        raise HTTPException(404, "No such file.")
    path, media_type = found
    return FileResponse(path, media_type=media_type, headers=_HEADERS)
