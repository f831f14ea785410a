"""How the chart meets the platform around it: TLS to an external PostgreSQL (the CA bundle
mounted, PGSSLMODE/PGSSLROOTCERT set), NetworkPolicies that name where the ingress controller
and Prometheus run and never drop them in silence, and replicas owned by an external autoscaler.

The migration Job's CA mount is wired by templates/migration/job.yaml (helpers
user-service.db.tlsVolumes / tlsVolumeMounts).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from service.config import Settings

from .render import Helm, Obj, Render, container_env, selects
from .test_chart_topology import install_notes

pytestmark = pytest.mark.chart

CA_DIR = "/etc/user-service/database-ca"


def external(**tls: object) -> dict[str, Any]:
    return {
        "postgresql": {"enabled": False},
        "externalDatabase": {"host": "db.example.com", "existingSecret": "db-creds", "tls": tls},
    }


SECRETS = {("db-creds", "password"): "owner", ("db-creds", "app-password"): "app"}


# --- TLS to an external PostgreSQL -----------------------------------------------------------


def ca_file(render: Render, kind: str) -> tuple[Obj, Obj]:
    """The database-ca volume of a pod and the container's mount of it."""
    owner = render.one(kind)
    spec = owner["spec"]["template"]["spec"]
    volume = next(v for v in spec["volumes"] if v["name"] == "database-ca")
    mount = next(m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "database-ca")
    return volume, mount


@pytest.mark.parametrize(
    ("source", "volume"),
    [
        (
            {"caSecret": {"name": "rds-ca", "key": "global-bundle.pem"}},
            {"secret": {"secretName": "rds-ca", "defaultMode": 0o444}},
        ),
        (
            {"caConfigMap": {"name": "rds-ca", "key": "global-bundle.pem"}},
            {"configMap": {"name": "rds-ca", "defaultMode": 0o444}},
        ),
    ],
)
def test_ca_bundle_is_mounted_where_pgsslrootcert_points(
    each_helm: Helm, source: dict[str, Any], volume: dict[str, Any]
) -> None:
    render = each_helm.render(external(mode="verify-full", **source))
    env = container_env(render, render.container("Deployment"), SECRETS)
    assert env["PGSSLMODE"] == "verify-full"
    mounted, mount = ca_file(render, "Deployment")
    assert mount == {"name": "database-ca", "mountPath": CA_DIR, "readOnly": True}
    [(kind, expected)] = volume.items()
    assert {k: v for k, v in mounted[kind].items() if k != "items"} == expected
    [item] = mounted[kind]["items"]
    assert item["key"] == "global-bundle.pem"
    # The file PGSSLROOTCERT names is the bundle's key, under the mount.
    assert env["PGSSLROOTCERT"] == f"{mount['mountPath']}/{item['path']}"
    Settings.from_env(env)  # the app accepts the pair
    # The migration Job gets the same settings inline.
    job = container_env(render, render.container("Job"), SECRETS)
    assert (job["PGSSLMODE"], job["PGSSLROOTCERT"]) == (env["PGSSLMODE"], env["PGSSLROOTCERT"])


def test_migration_job_mounts_the_ca_bundle(helm: Helm) -> None:
    render = helm.render(external(mode="verify-ca", caSecret={"name": "ca", "key": "ca.crt"}))
    volume, mount = ca_file(render, "Job")
    assert volume["secret"]["secretName"] == "ca"
    assert mount["mountPath"] == CA_DIR


def test_ca_file_of_the_image_needs_no_volume(helm: Helm) -> None:
    render = helm.render(external(mode="verify-full", caFile="/etc/ssl/certs/ca-certificates.crt"))
    env = container_env(render, render.container("Deployment"), SECRETS)
    assert env["PGSSLROOTCERT"] == "/etc/ssl/certs/ca-certificates.crt"
    volumes = render.one("Deployment")["spec"]["template"]["spec"]["volumes"]
    assert [v["name"] for v in volumes] == ["tmp"]


@pytest.mark.parametrize("mode", ["disable", "require"])
def test_modes_without_a_ca(helm: Helm, mode: str) -> None:
    render = helm.render(external(mode=mode))
    data = render.one("ConfigMap", "user-service")["data"]
    assert data["PGSSLMODE"] == mode
    assert "PGSSLROOTCERT" not in data


def test_no_tls_settings_by_default(default_render: Render) -> None:
    data = default_render.one("ConfigMap", "user-service")["data"]
    assert not {"PGSSLMODE", "PGSSLROOTCERT"} & set(data), "the client's default (prefer)"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (external(mode="verify-full"), "externalDatabase.tls.mode=verify-full needs a CA bundle"),
        (external(mode="verify-ca"), "externalDatabase.tls.mode=verify-ca needs a CA bundle"),
        (
            external(mode="", caSecret={"name": "ca", "key": "ca.crt"}),
            "a CA bundle needs mode require, verify-ca or verify-full",
        ),
        (
            external(mode="disable", caFile="/etc/ssl/certs/ca-certificates.crt"),
            "a CA bundle needs mode require, verify-ca or verify-full",
        ),
        (
            external(
                mode="verify-full",
                caSecret={"name": "ca", "key": "ca.crt"},
                caConfigMap={"name": "ca", "key": "ca.crt"},
            ),
            "set one of caSecret.name, caConfigMap.name and caFile, not several",
        ),
        (
            {"externalDatabase": {"tls": {"mode": "require"}}},
            "externalDatabase.tls is for an external database (postgresql.enabled=false)",
        ),
        (external(mode="verify_full"), "mode"),
    ],
)
def test_inconsistent_tls_values_fail(helm: Helm, values: dict[str, Any], message: str) -> None:
    assert message in helm.render_error(values)


# --- NetworkPolicy: the ingress controller and Prometheus ------------------------------------


def admits(policy: Obj, port: str, pod: dict[str, str], namespace: str, release_ns: bool) -> bool:
    """Whether a NetworkPolicy lets a pod (its labels, its namespace's name) reach a named
    port: namespace-aware, as the NetworkPolicy API defines its peers."""
    namespace_labels = {"kubernetes.io/metadata.name": namespace}
    for rule in policy["spec"]["ingress"]:
        if not any(p["port"] == port for p in rule.get("ports", [{"port": port}])):
            continue
        peers = rule.get("from")
        if not peers:
            return True
        for peer in peers:
            if "ipBlock" in peer:
                continue
            if "namespaceSelector" in peer:
                in_namespace = selects(peer["namespaceSelector"], namespace_labels)
            else:
                in_namespace = release_ns
            if in_namespace and selects(peer.get("podSelector", {}), pod):
                return True
    return False


NGINX_POD = {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"}
PROMETHEUS_POD = {"app.kubernetes.io/name": "prometheus", "prometheus": "kps-prometheus"}
NGINX_AT = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}},
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}},
}
PROMETHEUS_AT = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "observability"}},
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
}


def api_policy(render: Render) -> Obj:
    return render.one("NetworkPolicy", "user-service")


def test_named_ingress_controller_and_prometheus_are_admitted(each_helm: Helm) -> None:
    render = each_helm.render(
        {"networkPolicy": {"ingressController": NGINX_AT, "prometheus": PROMETHEUS_AT}}
    )
    policy = api_policy(render)
    assert admits(policy, "http", NGINX_POD, "ingress-nginx", release_ns=False)
    assert admits(policy, "metrics", PROMETHEUS_POD, "observability", release_ns=False)
    # Each only where it belongs, and nobody else from their namespaces.
    assert not admits(policy, "metrics", NGINX_POD, "ingress-nginx", release_ns=False)
    assert not admits(policy, "http", PROMETHEUS_POD, "observability", release_ns=False)
    assert not admits(policy, "http", {"app": "other"}, "ingress-nginx", release_ns=False)
    assert not admits(policy, "metrics", {"app": "grafana"}, "observability", release_ns=False)


def test_by_default_neither_is_admitted_from_elsewhere(default_render: Render) -> None:
    policy = api_policy(default_render)
    assert not admits(policy, "http", NGINX_POD, "ingress-nginx", release_ns=False)
    assert admits(policy, "metrics", PROMETHEUS_POD, "monitoring", release_ns=False)
    assert not admits(policy, "metrics", PROMETHEUS_POD, "observability", release_ns=False)


def test_a_pod_selector_alone_means_the_release_namespace(helm: Helm) -> None:
    at = {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "edge"}}}
    policy = api_policy(helm.render({"networkPolicy": {"ingressController": at}}))
    assert admits(policy, "http", {"app": "edge"}, "user-service", release_ns=True)
    assert not admits(policy, "http", {"app": "edge"}, "elsewhere", release_ns=False)


def test_service_monitor_with_a_closed_metrics_port_fails(helm: Helm) -> None:
    values: dict[str, Any] = {
        "metrics": {"serviceMonitor": {"enabled": True}},
        "networkPolicy": {"metricsFrom": []},
    }
    error = helm.render_error(values)
    assert "metrics.serviceMonitor.enabled=true, but the NetworkPolicy closes the metrics port" in (
        error
    )
    values["networkPolicy"]["prometheus"] = PROMETHEUS_AT
    policy = api_policy(helm.render(values))
    assert admits(policy, "metrics", PROMETHEUS_POD, "observability", release_ns=False)
    helm.render({**values, "networkPolicy": {"enabled": False, "metricsFrom": []}})


INGRESS_WARNING = "WARNING: the NetworkPolicy may drop your ingress controller's requests"
PROMETHEUS_WARNING = "WARNING: the NetworkPolicy admits Prometheus to the metrics port only if"
INGRESS_ON = {"ingress": {"enabled": True}}
MONITOR_ON = {"metrics": {"serviceMonitor": {"enabled": True}}}


@pytest.mark.parametrize(
    ("values", "warnings"),
    [
        ({}, set()),
        ({**INGRESS_ON, **MONITOR_ON}, {INGRESS_WARNING, PROMETHEUS_WARNING}),
        (
            {**INGRESS_ON, "networkPolicy": {"ingressController": NGINX_AT}},
            set(),
        ),
        ({**INGRESS_ON, "networkPolicy": {"ingressFrom": []}}, set()),
        ({**MONITOR_ON, "networkPolicy": {"prometheus": PROMETHEUS_AT}}, set()),
        ({**INGRESS_ON, **MONITOR_ON, "networkPolicy": {"enabled": False}}, set()),
    ],
    ids=[
        "defaults",
        "neither-named",
        "controller-named",
        "api-port-open",
        "prometheus-named",
        "no-policy",
    ],
)
def test_notes_warn_when_the_policy_may_drop_them(
    values: dict[str, Any], warnings: set[str], tmp_path: Path
) -> None:
    notes = install_notes(values, tmp_path)
    found = {w for w in (INGRESS_WARNING, PROMETHEUS_WARNING) if w in notes}
    assert found == warnings, notes
    if INGRESS_WARNING in warnings:
        assert "networkPolicy.ingressController.namespaceSelector / podSelector" in notes
        assert '[{"podSelector":{}}]' in notes, "it shows what is admitted"
    if PROMETHEUS_WARNING in warnings:
        assert "networkPolicy.prometheus.namespaceSelector / podSelector" in notes


# --- replicas owned by an external autoscaler -------------------------------------------------


def test_external_autoscaler_renders_no_hpa_and_no_replicas(each_helm: Helm) -> None:
    render = each_helm.render({"autoscaling": {"external": True, "minReplicas": 3}})
    assert not render.has("HorizontalPodAutoscaler")
    assert "replicas" not in render.one("Deployment")["spec"]
    # The bounds still drive the PDB (and the connection budget).
    assert render.one("PodDisruptionBudget")["spec"]["minAvailable"] == 1
    error = each_helm.render_error({"autoscaling": {"external": True, "maxReplicas": 9}})
    assert "connection budget exceeded" in error


def test_external_autoscaler_needs_autoscaling_enabled(helm: Helm) -> None:
    error = helm.render_error({"autoscaling": {"enabled": False, "external": True}})
    assert "autoscaling.external=true needs autoscaling.enabled=true" in error


def test_notes_name_the_external_autoscaler(tmp_path: Path) -> None:
    notes = install_notes({"autoscaling": {"external": True}}, tmp_path)
    assert "replicas are managed by an external autoscaler" in notes
    assert "get hpa" not in notes
