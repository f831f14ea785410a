"""The metrics part's alert rules and dashboard, as the chart renders them with Helm 3 and 4: off
by default, on with a value, settable where the Prometheus Operator and Grafana's sidecar look,
valid for the strict PrometheusRule schema in schemas/ (written from the Operator's API
reference), and the latency threshold held to the service's histogram buckets.
"""

from __future__ import annotations

import json
import re
import sys

import jsonschema
import pytest
import yaml

from service.metrics import LATENCY_BUCKETS
from tests.helpers import REPO

from .render import CHART, NAMESPACE, RELEASE, Helm, Obj

# scripts/ is no package (its scripts run standalone), so the validator is imported by path.
sys.path.insert(0, str(REPO / "scripts"))
import validate_manifests

pytestmark = pytest.mark.chart

SCHEMA = REPO / "schemas" / "prometheusrule.schema.json"
ON = {"metrics": {"prometheusRule": {"enabled": True}, "dashboard": {"enabled": True}}}
HOME: str = yaml.safe_load((CHART / "Chart.yaml").read_text())["home"]


def rules(helm: Helm, values: Obj | None = None) -> list[Obj]:
    """Every rule of the rendered PrometheusRule, recording and alerting."""
    rule = helm.render(values or ON).one("PrometheusRule")
    return [r for group in rule["spec"]["groups"] for r in group["rules"]]


def alerts(helm: Helm, values: Obj | None = None) -> dict[str, Obj]:
    return {r["alert"]: r for r in rules(helm, values) if "alert" in r}


def test_rules_and_dashboard_are_off_by_default(each_helm: Helm) -> None:
    render = each_helm.render()
    assert not render.has("PrometheusRule")
    assert not [c for c in render.all("ConfigMap") if c["metadata"]["name"].endswith("-dashboard")]


def test_the_rule_carries_the_labels_the_operators_rule_selector_wants(each_helm: Helm) -> None:
    values = {"metrics": {"prometheusRule": {"enabled": True, "labels": {"release": "kps"}}}}
    rule = each_helm.render(values).one("PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kps"
    assert rule["metadata"]["labels"]["app.kubernetes.io/component"] == "metrics"
    assert rule["metadata"]["namespace"] == NAMESPACE


def schema_errors(document: Obj) -> list[str]:
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def test_the_rule_is_valid_for_the_operators_prometheusrule_schema(each_helm: Helm) -> None:
    rule = each_helm.render(ON).one("PrometheusRule")
    assert schema_errors(rule) == []
    # The schema is strict: a misspelt field is refused, as the API server would.
    rule["spec"]["groups"][0]["rulez"] = []
    assert schema_errors(rule)
    # validate_manifests (scripts/verify-chart.sh, step 3) checks it against the same schema.
    key = ("monitoring.coreos.com/v1", "PrometheusRule")
    assert validate_manifests.CRD_SCHEMAS[key] == SCHEMA


def test_prometheusrule_schema_refuses_what_the_operator_refuses() -> None:
    group: Obj = {"name": "g", "rules": [{"alert": "A", "expr": "up == 0"}]}
    rule: Obj = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "r"},
        "spec": {"groups": [group]},
    }
    assert schema_errors(rule) == []
    for wrong in (
        {"alert": "A"},  # no expr
        {"alert": "A", "expr": "up", "for": "5 minutes"},  # not a duration
        {"alert": "A", "record": "r", "expr": "up"},  # both
        {"alert": "A", "expr": "up", "severity": "critical"},  # a label outside labels
    ):
        group["rules"] = [wrong]
        assert schema_errors(rule), wrong


def test_every_alert_has_summary_description_severity_and_a_runbook_section(helm: Helm) -> None:
    for name, alert in alerts(helm).items():
        assert alert["labels"]["severity"] in {"critical", "warning"}, name
        annotations = alert["annotations"]
        assert annotations["summary"] and annotations["description"], name
        assert "{{ $labels." in annotations["description"] or "absent(" in alert["expr"], name
        assert annotations["runbook_url"] == f"{HOME}/blob/main/docs/runbook.md#{name.lower()}"


def test_for_durations_slo_targets_and_alert_labels_are_values(helm: Helm) -> None:
    values = {
        "metrics": {
            "prometheusRule": {
                "enabled": True,
                "alertLabels": {"team": "users"},
                "runbookUrl": "https://wiki.example.com/runbook",
                "availability": {"objective": 99.5},
                "latency": {"objective": 95, "thresholdSeconds": 0.25},
                "for": {"databaseUnreachable": "7m", "availabilityBurnFast": "1m30s"},
            }
        }
    }
    found = alerts(helm, values)
    assert found["UserServiceDatabaseUnreachable"]["for"] == "7m"
    assert found["UserServiceAvailabilityBurnFast"]["for"] == "1m30s"
    assert found["UserServiceTargetDown"]["for"] == "5m"  # the default stays
    assert all(a["labels"]["team"] == "users" for a in found.values())
    assert found["UserServiceSchemaBehind"]["annotations"]["runbook_url"] == (
        "https://wiki.example.com/runbook#userserviceschemabehind"
    )
    recorded = {r["record"]: r["expr"] for r in rules(helm, values) if "record" in r}
    assert "(1 - 99.5 / 100)" in recorded["user_service:slo_availability_burn:rate1h"]
    latency = recorded["user_service:slo_latency_burn:rate1h"]
    assert "(1 - 95 / 100)" in latency
    assert 'le="0.25"' in latency


def test_series_are_those_the_service_monitor_labels(helm: Helm) -> None:
    """Default selector: the job Prometheus gives the ServiceMonitor's targets (the metrics
    Service's name) and the release's namespace."""
    render = helm.render(
        {"metrics": {"prometheusRule": {"enabled": True}, "serviceMonitor": {"enabled": True}}}
    )
    metrics_service = render.one("ServiceMonitor")["spec"]["selector"]["matchLabels"]
    [service] = [
        s
        for s in render.all("Service")
        if all(s["metadata"]["labels"].get(k) == v for k, v in metrics_service.items())
    ]
    job = service["metadata"]["name"]
    down = alerts(helm)["UserServiceTargetDown"]["expr"]
    assert down == f'up{{job="{job}", namespace="{NAMESPACE}"}} == 0'
    custom = {"metrics": {"prometheusRule": {"enabled": True, "seriesSelector": 'job="users"'}}}
    assert alerts(helm, custom)["UserServiceTargetDown"]["expr"] == 'up{job="users"} == 0'
    # Recorded SLO series are this release's only, so two releases never read each other's.
    burn = alerts(helm)["UserServiceAvailabilityBurnFast"]["expr"]
    assert f'{{slo_release="{NAMESPACE}/{RELEASE}"}}' in burn


def test_latency_threshold_buckets_are_the_services(helm: Helm) -> None:
    """The chart's list of bucket boundaries (_metrics.tpl) is service/metrics.py's, spelt as
    prometheus-client spells the `le` label; a threshold elsewhere fails the render."""
    error = helm.render_error(
        {"metrics": {"prometheusRule": {"enabled": True, "latency": {"thresholdSeconds": 0.3}}}}
    )
    listed = re.search(
        r"thresholdSeconds \(0\.3\) is not a bucket boundary.*use one of (.+)", error
    )
    assert listed, error
    assert listed.group(1).strip().split(", ") == [repr(b) for b in LATENCY_BUCKETS]


@pytest.mark.parametrize(("threshold", "le"), [(1, "1.0"), ("1.0", "1.0"), (0.0005, "0.0005")])
def test_latency_threshold_matches_the_bucket_as_a_number(
    helm: Helm, threshold: float | str, le: str
) -> None:
    latency: Obj = {"thresholdSeconds": threshold}
    values = {"metrics": {"prometheusRule": {"enabled": True, "latency": latency}}}
    if isinstance(threshold, str):  # the schema wants a number
        assert "thresholdSeconds" in helm.render_error(values)
        return
    recorded = {r["record"]: r["expr"] for r in rules(helm, values) if "record" in r}
    assert f'le="{le}"' in recorded["user_service:slo_latency_burn:rate5m"]


def test_dashboard_configmap_is_the_generated_dashboard_for_the_sidecar(each_helm: Helm) -> None:
    values = {
        "metrics": {
            "dashboard": {
                "enabled": True,
                "labelKey": "example.com/dashboard",
                "labelValue": "yes",
                "annotations": {"grafana_folder": "Services"},
                "namespace": "monitoring",
            }
        }
    }
    [config] = [
        c
        for c in each_helm.render(values).all("ConfigMap")
        if c["metadata"]["name"] == f"{RELEASE}-dashboard"
    ]
    metadata = config["metadata"]
    assert metadata["labels"]["example.com/dashboard"] == "yes"
    assert metadata["annotations"] == {"grafana_folder": "Services"}
    assert metadata["namespace"] == "monitoring"
    generated = (CHART / "files" / "grafana-dashboard.json").read_text()
    assert config["data"]["user-service.json"] == generated.rstrip("\n")
    assert json.loads(config["data"]["user-service.json"])["uid"] == "user-service"


def test_dashboard_label_key_must_not_be_the_charts_own(helm: Helm) -> None:
    values = {"metrics": {"dashboard": {"labelKey": "app.kubernetes.io/name"}}}
    assert "metrics.dashboard.labelKey" in helm.render_error(values)


def test_strict_schema_refuses_a_typo_in_the_rule_values(helm: Helm) -> None:
    values = {"metrics": {"prometheusRule": {"for": {"databaseUnreachabel": "1m"}}}}
    assert "databaseUnreachabel" in helm.render_error(values)
    values = {"metrics": {"prometheusRule": {"for": {"targetDown": "5 minutes"}}}}
    assert "targetDown" in helm.render_error(values)


def test_the_kube_prometheus_stack_values_of_the_docs_render_what_they_promise(
    each_helm: Helm,
) -> None:
    """docs/observability.md's values for kube-prometheus-stack: rules its Prometheus selects,
    a dashboard its Grafana sidecar loads, a ServiceMonitor, and the metrics port open to it."""
    text = (REPO / "docs" / "observability.md").read_text()
    block = re.search(
        r"```yaml\n# values: observability-kube-prometheus-stack\n(.*?)```", text, flags=re.S
    )
    assert block, "docs/observability.md lost its kube-prometheus-stack values"
    render = each_helm.render(yaml.safe_load(block.group(1)))
    assert render.one("PrometheusRule")["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert render.one("ServiceMonitor")["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    [dashboard] = [
        c for c in render.all("ConfigMap") if c["metadata"]["name"].endswith("-dashboard")
    ]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert all(
        a["labels"]["team"] == "users"
        for g in render.one("PrometheusRule")["spec"]["groups"]
        for a in g["rules"]
        if "alert" in a
    )
