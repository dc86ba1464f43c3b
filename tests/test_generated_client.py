"""A partner can generate a Python client from our /openapi.json with openapi-python-client, and it
talks to the API: the document is one a generator reads, not only one FastAPI serves."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.factories import Tenant

GENERATOR = Path(sys.executable).parent / "openapi-python-client"
PACKAGE = "onboarding_api_client"
# Schemas the generator cannot read today, so the generated client lacks them and the operations
# answering them: FastAPI's separate -Input/-Output schemas share a title (FolderNode, FolderTree),
# and models of two routers share a class name (InvitationPublic and FiscalYearPublic, in
# clients.py and invitations.py / fiscal_years.py). When one is fixed, take it off this list; a
# new one fails the test.
KNOWN_UNREADABLE = {
    "/components/schemas/FolderNode-Output",
    "/components/schemas/FolderTree-Output",
    "/components/schemas/PageOf_FolderTree_",
    "/components/schemas/api__routers__invitations__InvitationPublic",
    "/components/schemas/api__routers__fiscal_years__FiscalYearPublic",
}


@pytest.fixture
def generated_package(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """Where the package goes; it is imported from there and forgotten after the test."""
    sys.path.insert(0, str(tmp_path))
    try:
        yield tmp_path / PACKAGE, tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def generate(document: bytes, output: Path, workdir: Path) -> str:
    """Run the generator as a partner would; its output (warnings included)."""
    (workdir / "openapi.json").write_bytes(document)
    # No post hooks: they run ruff from PATH to tidy the code, which neither builds nor imports it.
    (workdir / "config.yaml").write_text(f"package_name_override: {PACKAGE}\npost_hooks: []\n")
    done = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(workdir / "openapi.json"),
            "--output-path",
            str(output),
            "--meta",
            "none",
            "--config",
            str(workdir / "config.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def module(name: str) -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.{name}")


async def test_generated_client_lists_templates_and_starts_an_onboarding(
    api_server: httpx.AsyncClient, tenant: Tenant, generated_package: tuple[Path, Path]
) -> None:
    """Generated from the served /openapi.json, the client reads the partner's templates into
    its models and starts an onboarding from its own request models (202 with the id)."""
    output, workdir = generated_package
    served = await api_server.get("/openapi.json")
    assert served.status_code == 200
    log = generate(served.content, output, workdir)
    unreadable = set(re.findall(r"Unable to (?:parse|process) schema ([^\s:]+)", log))
    assert unreadable <= KNOWN_UNREADABLE, f"the generator cannot read: {sorted(unreadable)}"
    assert unreadable == KNOWN_UNREADABLE, (
        f"fixed: {sorted(KNOWN_UNREADABLE - unreadable)}; take them off KNOWN_UNREADABLE"
    )

    client_module = module("client")
    partner = client_module.AuthenticatedClient(
        base_url=str(api_server.base_url), token=tenant.key, raise_on_unexpected_status=True
    )
    read_templates = module("api.templates.read_templates_v1_templates_get")
    page: Any = await read_templates.asyncio(client=partner)
    assert type(page).__name__ == "PageOfTemplatePublic"
    assert [t.name for t in page.items if t.is_default] == ["Standard"]

    models = module("models")
    body = models.OnboardingCreate(
        client=models.ClientIn(
            first_name="Anne",
            last_name="Dupont",
            email="anne@dupont.example",
            language=models.Language("fr"),
        ),
        invitation=models.InvitationIn(mode=models.InvitationMode("manual")),
    )
    create = module("api.onboardings.create_onboarding_v1_onboardings_post")
    key = f"generated-{uuid.uuid4()}"
    answer: Any = await create.asyncio_detailed(client=partner, body=body, idempotency_key=key)
    assert answer.status_code == 202, answer.content
    assert answer.parsed.status == "SETTING_UP"
    assert answer.parsed.status_url == f"/v1/onboardings/{answer.parsed.id}"
