"""deploy/prometheus: the alert rules pass `promtool check rules` and their own unit tests
(`promtool test rules`), the scrape config passes `promtool check config`, and the rules query
metrics this code base exports."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
PROMTOOL = shutil.which("promtool")

# In CI the rules must be checked (.ci/run installs promtool): only a local run may skip them.
pytestmark = pytest.mark.skipif(
    PROMTOOL is None and not os.environ.get("CI"),
    reason="promtool not installed (Debian package `prometheus`; .ci/run installs it)",
)


def promtool(*args: str, cwd: Path = PROMETHEUS) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def test_alert_rules_pass_promtool_check() -> None:
    """`promtool check rules`: the file parses and every expression is valid PromQL."""
    result = promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    # Counted from the file, so a rule added beside another one needs no edit here.
    rules = (PROMETHEUS / "alerts.yml").read_text().count("- alert: ")
    assert rules >= 8
    assert f"SUCCESS: {rules} rules found" in result.stdout


def test_alert_rules_fire_when_and_only_when_their_tests_say() -> None:
    """`promtool test rules`: each alert fires on the series its test feeds, at the time it says,
    and stays quiet on the ones it must ignore."""
    result = promtool("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_unit_tests_catch_a_changed_threshold(tmp_path: Path) -> None:
    """The unit tests bite: the activity alert with a 50 % threshold fails them."""
    shutil.copy(PROMETHEUS / "alerts_test.yml", tmp_path)
    rules = (PROMETHEUS / "alerts.yml").read_text()
    assert rules.count(") > 0.2\n") == 1
    (tmp_path / "alerts.yml").write_text(rules.replace(") > 0.2\n", ") > 0.5\n"))
    result = promtool("test", "rules", "alerts_test.yml", cwd=tmp_path)
    assert result.returncode != 0
    assert "ActivityFailureRateHigh" in result.stdout + result.stderr


def test_a_broken_expression_is_refused(tmp_path: Path) -> None:
    """`promtool check rules` fails on invalid PromQL, so CI would stop on one."""
    rules = (PROMETHEUS / "alerts.yml").read_text()
    broken = tmp_path / "alerts.yml"
    broken.write_text(rules.replace("max by (status) (", "max by (status (", 1))
    result = promtool("check", "rules", str(broken))
    assert result.returncode != 0


def test_scrape_config_passes_promtool_check() -> None:
    """`promtool check config`: the scrape config is valid and finds its rule file."""
    result = promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout


def test_rules_query_metrics_the_code_exports() -> None:
    """Every `onboarding_*` metric an alert queries is defined in core/metrics.py or
    api/metrics.py, and every job an alert names is scraped: a rename cannot silence an alert."""
    rules = (PROMETHEUS / "alerts.yml").read_text()
    defined = (ROOT / "core" / "metrics.py").read_text() + (ROOT / "api" / "metrics.py").read_text()
    queried = set(re.findall(r"\b(onboarding_[a-z_]+?)(?:_total|_count|_bucket|_sum)?\b", rules))
    assert queried >= {
        "onboarding_stuck",
        "onboarding_registry_requests",
        "onboarding_auth_failures",
    }
    for name in queried:
        assert f'"{name}"' in defined, name
    scraped = set(re.findall(r"job_name: ([a-z-]+)", (PROMETHEUS / "prometheus.yml").read_text()))
    named = set(re.findall(r'job=~?"([a-z|-]+)"', rules))
    jobs = {job for alternatives in named for job in alternatives.split("|")}
    assert jobs and jobs <= scraped, jobs - scraped
