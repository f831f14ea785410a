"""The alert rules and the dashboard as files: fresh generations of their one source each,
`promtool check rules` and `promtool test rules` (every alert fires when it should and stays
silent when it should not, no traffic fires nothing and records no NaN), every runbook_url an
existing section of docs/runbook.md, and a dashboard that Grafana's schema (grafana-foundation-
sdk) reads back unchanged, whose every query uses the variables rather than names.

tests/test_monitoring_live.py runs the same rules and every panel's queries in a real
Prometheus scraping a real service.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from typing import Any

import yaml
from grafana_foundation_sdk.models.dashboard import Dashboard

from tests.helpers import REPO, skip_or_fail

MONITORING = REPO / "monitoring"
RULES = MONITORING / "user-service-rules.yaml"
UNIT_TESTS = sorted((MONITORING / "tests").glob("*.yaml"))
DASHBOARD = MONITORING / "grafana-dashboard.json"
RUNBOOK = REPO / "docs" / "runbook.md"
HELM = REPO / ".tools" / "bin" / "helm"
VARIABLES = ("$namespace", "$job")


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        skip_or_fail("promtool not found (Debian: apt-get install prometheus)")
    assert found is not None
    return found


def rule_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load(RULES.read_text())["groups"]
    return groups


def alert_rules() -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for g in rule_groups() for r in g["rules"] if "alert" in r}


def recorded_names() -> set[str]:
    return {r["record"] for g in rule_groups() for r in g["rules"] if "record" in r}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_generated_files_are_fresh() -> None:
    """monitoring/ and the chart's dashboard file equal a fresh `make monitoring`."""
    if not HELM.exists():
        skip_or_fail(f"{HELM} not found: run scripts/install-tools.sh")
    check = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "render_monitoring.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "HELM": str(HELM)},
    )
    assert check.returncode == 0, f"run `make monitoring`:\n{check.stdout}{check.stderr}"


def test_rules_pass_promtool_check_rules() -> None:
    result = subprocess.run(
        [promtool(), "check", "rules", str(RULES)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules()) + len(recorded_names())} rules found" in result.stdout


def test_rules_pass_their_promtool_unit_tests() -> None:
    result = subprocess.run(
        [promtool(), "test", "rules", *map(str, UNIT_TESTS)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_silent_unit_test_and_no_traffic_is_covered() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    no_traffic: dict[str, Any] = {}
    for path in UNIT_TESTS:
        for group in yaml.safe_load(path.read_text())["tests"]:
            if group.get("name") == "no traffic at all":
                no_traffic = group
            for case in group.get("alert_rule_test", []):
                (firing if case.get("exp_alerts") else silent).add(case["alertname"])
    alerts = set(alert_rules())
    assert alerts - firing == set(), "alerts never seen firing"
    assert alerts - silent == set(), "alerts never seen silent"
    assert no_traffic, "a test group named 'no traffic at all'"
    assert {c["alertname"] for c in no_traffic["alert_rule_test"]} == alerts
    assert not any(c.get("exp_alerts") for c in no_traffic["alert_rule_test"])
    # Every recorded SLO series records nothing at all (not NaN) without traffic.
    empty = {c["expr"] for c in no_traffic["promql_expr_test"] if c["exp_samples"] == []}
    assert empty == recorded_names()


def test_every_alert_is_described_and_points_at_its_runbook_section() -> None:
    anchors = {
        github_anchor(line.lstrip("#"))
        for line in RUNBOOK.read_text().splitlines()
        if line.startswith("## ")
    }
    for name, rule in alert_rules().items():
        annotations = rule["annotations"]
        assert set(annotations) == {"summary", "description", "runbook_url"}, name
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        url = annotations["runbook_url"]
        assert url.split("#")[0].endswith("/docs/runbook.md"), name
        assert url.split("#")[1] in anchors, f"{name}: no section {url} in docs/runbook.md"
    # ... and the runbook has no section for an alert that does not exist.
    assert anchors == {name.lower() for name in alert_rules()}


def test_fast_burn_pages_and_slow_burn_tickets() -> None:
    alerts = alert_rules()
    for slo in ("Availability", "Latency"):
        fast, slow = alerts[f"UserService{slo}BurnFast"], alerts[f"UserService{slo}BurnSlow"]
        assert fast["labels"]["severity"] == "critical"
        assert slow["labels"]["severity"] == "warning"
        # The SRE workbook's pairs: (long window, short window, burn rate).
        pair = r"rate{}\{{[^}}]*\}} > {}\s+and\s+\S+rate{}\{{"
        for long, short, burn in (("1h", "5m", "14.4"), ("6h", "30m", "6")):
            assert re.search(pair.format(long, re.escape(burn), short), fast["expr"]), long
        for long, short, burn in (("1d", "2h", "3"), ("3d", "6h", "1")):
            assert re.search(pair.format(long, re.escape(burn), short), slow["expr"]), long


def test_chart_dashboard_is_the_importable_one() -> None:
    chart_copy = REPO / "helm" / "user-service" / "files" / "grafana-dashboard.json"
    assert chart_copy.read_bytes() == DASHBOARD.read_bytes()


def test_dashboard_reads_back_unchanged_through_grafanas_schema() -> None:
    """grafana-foundation-sdk's Dashboard model (Grafana's schema) parses the file and writes
    back the same JSON: no field it does not know, none of the wrong shape."""
    original = dashboard()
    parsed = Dashboard.from_json(original)
    assert json.loads(json.dumps(parsed.to_json(), default=_encode)) == original


def _encode(value: Any) -> Any:
    to_json = getattr(value, "to_json", None)
    if to_json is None:
        raise TypeError(f"not JSON: {value!r}")
    return to_json()


def test_dashboard_uses_variables_for_the_data_source_and_the_series() -> None:
    board = dashboard()
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("namespace", "job", "instance"):
        assert variables[name]["type"] == "query", name
        assert variables[name]["datasource"]["uid"] == "${datasource}", name
    assert len(panels()) >= 15
    for panel in panels():
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
            assert "$namespace" in target["expr"], (panel["title"], target["expr"])
            # Series of the service are told apart by job; kube-state-metrics' by their object.
            assert "$job" in target["expr"] or "$deployment" in target["expr"], panel["title"]
    titles = {p["title"] for p in panels()}
    for wanted in (
        "Request rate by route",
        "5xx ratio by route",
        "Request duration by route (p50, p99)",
        "Availability SLO burn rate",
        "Latency SLO burn rate",
        "In-flight requests",
        "Pool connections",
        "Pool acquire wait (p99)",
        "Pool acquire timeouts",
        "Query duration by query (p99)",
        "Readiness, database and drain",
        "Auth failures by reason",
        "Process CPU",
        "Process memory (RSS)",
        "Build info",
    ):
        assert wanted in titles, wanted
