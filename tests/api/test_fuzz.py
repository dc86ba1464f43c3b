"""Schemathesis against the running API: every operation of the OpenAPI document, bounded.

The app runs as in the other API tests (real uvicorn, PostgreSQL, Temporal with a worker), and
the `schemathesis run` command fuzzes it over HTTP as an administrator of a tenant of its own.
The checks are the ones the OpenAPI document makes promises about: no 5xx, every status code and
content type documented, every body valid against its documented schema, and every request the
schema forbids refused (negative data: wrong types, missing fields, out-of-range values must get
a 4xx, not a 200). A failure prints schemathesis' own report, with a `curl` that reproduces it.

The run is bounded so that CI stays short: a fixed seed, a few examples per operation, no
shrinking. `make test PYTEST_ARGS="-m fuzz -s"` runs it alone and prints the figures.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.worker import Worker

from api.deps import Services
from api.main import create_app
from core.settings import Settings
from devstack.serving import serve_app
from store.pool import Pool
from tests.factories import Tenant

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(600)]

SEED = 20240610
CODEC_TOKEN = "fuzz-codec-token"
MAX_EXAMPLES = 12
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    # Generated in the negative mode below: a request the schema refuses must be refused.
    "negative_data_rejection",
)
# Valid and invalid data both ("all"): said here so a change of schemathesis' default cannot
# silently turn the negative cases off.
MODE = "all"
# Examples from the schema, then the coverage phase's boundary values and the negative cases
# built from the schema (wrong types, missing fields, out-of-range), then random data.
PHASES = "examples,coverage,fuzzing"
# Two schemathesis processes share the operations (one each side of this path pattern), one
# worker each: with its threaded workers, CPython 3.11.7 sometimes stops the run with
# "SystemError: AST constructor recursion depth mismatch" (ast compiled in two threads at once,
# cpython#106905), which is no finding about the API.
HALF = "^/v1/(clients|onboardings|invitations|webhooks|imports)"


@pytest.fixture
def fuzz_settings(settings: Settings) -> Settings:
    """The test settings, with rate limits out of the way (the fuzzer is one busy key) and the
    codec server on, so its routes are fuzzed past their 503 "off"."""
    return settings.model_copy(
        update={
            "codec_token": SecretStr(CODEC_TOKEN),
            "api_rate_limit_per_second": 1_000_000.0,
            "api_rate_limit_burst": 1_000_000,
            "api_rate_limit_import_reads_per_second": 1_000_000.0,
            "api_rate_limit_import_reads_burst": 1_000_000,
        }
    )


@pytest.fixture
async def fuzz_api(
    fuzz_settings: Settings, pool: Pool, client: Client, worker: Worker
) -> AsyncIterator[httpx.AsyncClient]:
    """The API with the fuzz settings, served by uvicorn, workers running for what it starts."""
    services = Services(settings=fuzz_settings, pool=pool, temporal=client)
    # No access log: thousands of lines would bury a failure's report.
    async with serve_app(create_app(fuzz_settings, services=services), access_log=False) as http:
        yield http


@dataclass(frozen=True)
class Figures:
    operations: int
    cases: int
    failures: int


def figures(report: dict[str, Any]) -> Figures:
    """Operations tested, cases generated and distinct failures, from schemathesis' JSON report."""
    return Figures(
        operations=int(report["operations"]["tested"]),
        cases=int(report["test_cases"]["generated"]),
        failures=int(report["test_cases"]["unique_failures"]) + len(report["errors"]),
    )


async def test_every_operation_keeps_the_openapi_promises(
    fuzz_api: httpx.AsyncClient, tenant: Tenant, tmp_path: Path
) -> None:
    """No server error, and every answer's status, content type and body are as documented."""
    base = str(fuzz_api.base_url).rstrip("/")
    # The API key for every operation but the codec server's, which takes the ops token.
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        f'headers = {{ Authorization = "Bearer {tenant.key}" }}\n\n'
        "[[operations]]\n"
        'include-path-regex = "^/codec/"\n'
        f'headers = {{ Authorization = "Bearer {CODEC_TOKEN}" }}\n'
    )
    halves = await asyncio.gather(
        *(
            _run(base, config, tmp_path / f"report-{side}.json", f"--{side}-path-regex")
            for side in ("include", "exclude")
        )
    )
    text = "\n".join(output for output, _ in halves).replace(tenant.key, "<key>")
    print(text)
    assert all(rc == 0 for _, rc in halves), text
    found = [
        figures(json.loads((tmp_path / f"report-{side}.json").read_text()))
        for side in ("include", "exclude")
    ]
    total = Figures(*(sum(column) for column in zip(*map(astuple, found), strict=True)))
    print(f"schemathesis: {total} (two processes: {found})")
    assert min(f.operations for f in found) >= 10, found  # both halves have work
    assert total.operations >= 40, total  # every operation of the API was tried
    assert total.cases > total.operations, total
    assert total.failures == 0, text


async def _run(base: str, config: Path, report: Path, half: str) -> tuple[str, int | None]:
    cwd = report.with_suffix("")  # each process its own cache directory, not the checkout
    cwd.mkdir()
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(config),
        "run",
        f"{base}/openapi.json",
        "--checks",
        ",".join(CHECKS),
        "--phases",
        PHASES,
        "--mode",
        MODE,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--no-shrink",
        "--workers",
        "1",
        half,
        HALF,
        "--request-timeout",
        "30",
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]
    process = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=cwd,
        env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": ""},
    )
    output, _ = await process.communicate()
    return output.decode(errors="replace"), process.returncode
