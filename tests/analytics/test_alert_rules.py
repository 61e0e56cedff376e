"""The shipped Prometheus rules and Grafana dashboard: valid, unit-tested with promtool, and
reading only metrics that /metrics really exposes (a renamed metric would silently never fire)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from analytics.prometheus import exposition, observe_tick

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "alerts.yml"
RULE_TESTS = DEPLOY / "prometheus" / "alerts_test.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboard.json"
NAME = re.compile(r"\bbackoffice_[a-z_]+")


def promtool(*args: str) -> subprocess.CompletedProcess:
    # `make test` installs it (Debian's prometheus package) when missing.
    path = shutil.which("promtool")
    assert path, "promtool is missing: apt-get install --no-install-recommends prometheus"
    return subprocess.run([path, *args], capture_output=True, text=True, timeout=60, check=False)


def test_promtool_accepts_the_rules():
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "12 rules found" in result.stdout


def test_the_rules_fire_and_stay_quiet_as_their_unit_tests_say():
    result = promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def exported_names() -> set[str]:
    """Every sample name the scrape can carry, counters' `_total` and histograms' series included."""
    observe_tick("ticked", 0.01)
    text = exposition().decode()
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")[:4]
            names.add(name)
            if kind == "counter":
                names.add(f"{name}_total")
            if kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


@pytest.mark.django_db
def test_rules_and_dashboard_read_only_exported_metrics():
    exported = exported_names()
    used = set(NAME.findall(RULES.read_text())) | set(NAME.findall(json.dumps(json.loads(DASHBOARD.read_text()))))
    assert len(used) >= 12
    assert used - exported == set()
