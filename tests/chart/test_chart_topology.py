"""How the objects fit together: HPA and replicas, PDB, Service and NetworkPolicy selectors,
ServiceMonitor, Ingress, the migration Job (no hook, named after its spec) and the helm test."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from .conftest import find_helm
from .render import CHART, Helm, Obj, Render, selects

pytestmark = pytest.mark.chart


def pod_labels(render: Render, component: str) -> dict[str, str]:
    for _, template in render.pod_templates():
        labels: dict[str, str] = template["metadata"]["labels"]
        if labels["app.kubernetes.io/component"] == component:
            return labels
    raise AssertionError(f"no pod with component {component}")


# --- autoscaling and disruption -------------------------------------------------------------


def test_hpa_on_means_no_replicas_field(default_render: Render) -> None:
    deployment = default_render.one("Deployment")
    assert "replicas" not in deployment["spec"]
    hpa = default_render.one("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
    assert default_render.container("Deployment")["resources"]["requests"]["cpu"], "HPA % needs it"


def test_hpa_off_renders_replicas_and_no_hpa(helm: Helm) -> None:
    render = helm.render({"autoscaling": {"enabled": False}, "replicaCount": 3})
    assert render.one("Deployment")["spec"]["replicas"] == 3
    assert not render.has("HorizontalPodAutoscaler")


def test_requests_per_second_metric_is_optional(helm: Helm) -> None:
    render = helm.render({"autoscaling": {"requestsPerSecond": {"enabled": True}}})
    metrics = render.one("HorizontalPodAutoscaler")["spec"]["metrics"]
    pods = next(m for m in metrics if m["type"] == "Pods")["pods"]
    assert pods["metric"]["name"] == "http_requests_per_second"
    assert pods["target"] == {"type": "AverageValue", "averageValue": "50"}


def test_pdb_only_when_more_than_one_replica(helm: Helm, default_render: Render) -> None:
    pdb = default_render.one("PodDisruptionBudget")
    assert pdb["apiVersion"] == "policy/v1"
    assert selects(pdb["spec"]["selector"], pod_labels(default_render, "api"))
    assert not selects(pdb["spec"]["selector"], pod_labels(default_render, "postgresql"))
    single = helm.render({"autoscaling": {"enabled": False}, "replicaCount": 1})
    assert not single.has("PodDisruptionBudget")


# --- selectors -------------------------------------------------------------------------------


def test_service_selects_only_the_api_pods(default_render: Render) -> None:
    service = default_render.one("Service", "user-service")
    selector = {"matchLabels": service["spec"]["selector"]}
    assert selects(selector, pod_labels(default_render, "api"))
    for other in ("migration", "tests", "postgresql"):
        assert not selects(selector, pod_labels(default_render, other)), other
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_postgresql_service_selects_only_postgresql(default_render: Render) -> None:
    service = default_render.one("Service", "user-service-postgresql")
    assert service["spec"]["clusterIP"] == "None"
    assert default_render.one("StatefulSet")["spec"]["serviceName"] == "user-service-postgresql"
    selector = {"matchLabels": service["spec"]["selector"]}
    assert selects(selector, pod_labels(default_render, "postgresql"))
    assert not selects(selector, pod_labels(default_render, "api"))
    host = default_render.one("ConfigMap", "user-service")["data"]["PGHOST"]
    assert host == service["metadata"]["name"]


def ingress_peers(policy: Obj, port: str) -> list[Obj]:
    """Every `from` peer of the rules that open this named port."""
    peers: list[Obj] = []
    for rule in policy["spec"]["ingress"]:
        if any(p["port"] == port for p in rule["ports"]):
            peers += rule.get("from", [{}])
    return peers


def admitted(peers: list[Obj], labels: dict[str, str]) -> bool:
    """Whether a same-namespace pod with these labels matches one of the peers."""
    for peer in peers:
        if "namespaceSelector" in peer or "ipBlock" in peer:
            continue
        if selects(peer.get("podSelector", {}), labels):
            return True
    return False


def test_database_policy_admits_only_api_and_migration(default_render: Render) -> None:
    policy = default_render.one("NetworkPolicy", "user-service-postgresql")
    assert selects(policy["spec"]["podSelector"], pod_labels(default_render, "postgresql"))
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    port_names = {p["name"] for p in default_render.container("StatefulSet")["ports"]}
    assert {p["port"] for r in policy["spec"]["ingress"] for p in r["ports"]} <= port_names
    peers = ingress_peers(policy, "postgresql")
    assert admitted(peers, pod_labels(default_render, "api"))
    assert admitted(peers, pod_labels(default_render, "migration"))
    assert not admitted(peers, pod_labels(default_render, "tests"))
    assert not admitted(peers, {"app.kubernetes.io/name": "other"})


def test_api_policy_admits_configured_sources_and_the_test_pod(helm: Helm) -> None:
    render = helm.render(
        {"networkPolicy": {"ingressFrom": [{"podSelector": {"matchLabels": {"role": "frontend"}}}]}}
    )
    policy = render.one("NetworkPolicy", "user-service")
    assert selects(policy["spec"]["podSelector"], pod_labels(render, "api"))
    assert not selects(policy["spec"]["podSelector"], pod_labels(render, "postgresql"))
    peers = ingress_peers(policy, "http")
    assert admitted(peers, {"role": "frontend"})
    assert admitted(peers, pod_labels(render, "tests"))
    assert not admitted(peers, {"role": "backend"})
    # Neither the frontend nor the test pod reaches the metrics port.
    assert not admitted(ingress_peers(policy, "metrics"), {"role": "frontend"})
    assert not admitted(ingress_peers(policy, "metrics"), pod_labels(render, "tests"))


def test_metrics_port_admits_only_the_monitoring_namespace(default_render: Render) -> None:
    policy = default_render.one("NetworkPolicy", "user-service")
    port_names = {p["name"] for p in default_render.container("Deployment")["ports"]}
    assert {p["port"] for r in policy["spec"]["ingress"] for p in r["ports"]} == port_names
    assert ingress_peers(policy, "metrics") == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    # No rule opens both ports: the API's sources never reach /metrics, nor the reverse.
    for rule in policy["spec"]["ingress"]:
        assert len({p["port"] for p in rule["ports"]}) == 1
    assert not admitted(ingress_peers(policy, "metrics"), pod_labels(default_render, "api"))


def test_metrics_sources_are_configurable_and_can_close_the_port(helm: Helm) -> None:
    prometheus = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "observability"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
    }
    render = helm.render({"networkPolicy": {"metricsFrom": [prometheus]}})
    policy = render.one("NetworkPolicy", "user-service")
    assert ingress_peers(policy, "metrics") == [prometheus]
    closed = helm.render({"networkPolicy": {"metricsFrom": []}})
    policy = closed.one("NetworkPolicy", "user-service")
    assert ingress_peers(policy, "metrics") == [], "an empty metricsFrom closes the port"


def test_default_deny_covers_pods_that_serve_nothing(default_render: Render) -> None:
    policy = default_render.one("NetworkPolicy", "user-service-default-deny")
    assert "ingress" not in policy["spec"]
    for component in ("migration", "tests", "api", "postgresql"):
        assert selects(policy["spec"]["podSelector"], pod_labels(default_render, component))


def test_service_monitor_scrapes_the_metrics_port(helm: Helm, default_render: Render) -> None:
    assert not default_render.has("ServiceMonitor")
    render = helm.render(
        {"metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "kps"}}}}
    )
    monitor = render.one("ServiceMonitor")
    metrics_service = render.one("Service", "user-service-metrics")
    assert selects(monitor["spec"]["selector"], metrics_service["metadata"]["labels"])
    assert not selects(
        monitor["spec"]["selector"], render.one("Service", "user-service")["metadata"]["labels"]
    ), "the API's Service has no metrics port"
    assert monitor["metadata"]["labels"]["release"] == "kps"
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    [port] = metrics_service["spec"]["ports"]
    assert endpoint["port"] == port["name"] == port["targetPort"] == "metrics"
    container_ports = {p["name"] for p in render.container("Deployment")["ports"]}
    assert "metrics" in container_ports
    # Always ClusterIP: a NodePort would open /metrics on every node.
    assert metrics_service["spec"]["type"] == "ClusterIP"
    assert selects({"matchLabels": metrics_service["spec"]["selector"]}, pod_labels(render, "api"))


def test_ingress_routes_to_the_service(helm: Helm) -> None:
    render = helm.render({"ingress": {"enabled": True, "className": "nginx"}})
    ingress = render.one("Ingress")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    service = render.one("Service", "user-service")
    assert backend["name"] == service["metadata"]["name"]
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}


# --- hooks -----------------------------------------------------------------------------------


def hook(doc: Obj) -> str | None:
    annotations: dict[str, str] = doc["metadata"].get("annotations", {})
    return annotations.get("helm.sh/hook")


def test_nothing_but_the_helm_test_is_a_hook(default_render: Render) -> None:
    """The migration Job is an ordinary release object: a hook would run after `--wait`'s wait
    (post-install), before the release's objects exist (pre-install, Argo CD's PreSync), or not
    at all on a rollback; docs/kubernetes.md, "Migrations under every deployer"."""
    hooks = {
        (doc["kind"], doc["metadata"]["name"]): hook(doc)
        for doc in default_render.docs
        if hook(doc) is not None
    }
    assert hooks == {
        ("Pod", "user-service-tests"): "test",
        ("ConfigMap", "user-service-tests"): "test",
    }


def job_name(render: Render) -> str:
    name: str = render.one("Job")["metadata"]["name"]
    return name


def test_migration_job_is_named_after_its_spec(helm: Helm, default_render: Render) -> None:
    """A Job's pod template is immutable: any change must be a new Job (which runs once), never
    an update of the old one (which the API server would refuse)."""
    name = job_name(default_render)
    assert re.fullmatch(r"user-service-migration-[0-9a-f]{8}", name)
    assert job_name(helm.render()) == name, "the same values, the same Job: no rerun"
    changed: list[Obj] = [
        {"image": {"tag": "0.1.1"}},  # a new build, with its migrations
        {"config": {"logLevel": "DEBUG"}},  # settings it reads
        {"migration": {"resources": {"limits": {"memory": "256Mi"}}}},
    ]
    names = {job_name(helm.render(values)) for values in changed}
    assert len(names) == len(changed) and name not in names
    # Not what the Job never sees: the API's replica count.
    assert job_name(helm.render({"replicaCount": 5, "autoscaling": {"enabled": False}})) == name
    long = helm.render({"fullnameOverride": "x" * 63})
    assert len(job_name(long)) <= 63


def test_migration_job_ttl_is_optional(helm: Helm, default_render: Render) -> None:
    assert "ttlSecondsAfterFinished" not in default_render.one("Job")["spec"]
    render = helm.render({"migration": {"ttlSecondsAfterFinished": 0}})
    assert render.one("Job")["spec"]["ttlSecondsAfterFinished"] == 0


def test_migration_job_waits_for_the_database_within_its_deadline(default_render: Render) -> None:
    job = default_render.one("Job")
    container = default_render.container("Job")
    args = container["args"]
    assert args[0] == "migrate"
    wait = int(args[args.index("--wait-timeout") + 1])
    assert wait < job["spec"]["activeDeadlineSeconds"]
    assert job["spec"]["backoffLimit"] >= 1
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    # Inline env, not the ConfigMap: so the settings are part of the spec its name hashes.
    assert "envFrom" not in container
    assert container["image"] == default_render.container("Deployment")["image"]


def test_migration_job_can_be_disabled(helm: Helm) -> None:
    render = helm.render({"migration": {"enabled": False}})
    assert not render.has("Job")
    # The API pods still read the release's Secret.
    assert {s["metadata"]["name"] for s in render.all("Secret")} == {
        "user-service-postgresql",
        "user-service-api",
    }


def test_helm_test_pod_checks_the_service(default_render: Render) -> None:
    pod = default_render.one("Pod")
    script = default_render.one("ConfigMap", "user-service-tests")
    assert hook(pod) == hook(script) == "test"
    weight = int(pod["metadata"]["annotations"]["helm.sh/hook-weight"])
    assert int(script["metadata"]["annotations"]["helm.sh/hook-weight"]) < weight
    container = pod["spec"]["containers"][0]
    assert container["image"] == default_render.container("Deployment")["image"]
    assert container["command"][:2] == ["python", "/scripts/smoke_test.py"]
    assert container["command"][2] == "http://user-service:80"
    assert "def round_trip" in script["data"]["smoke_test.py"]
    # The release's write key, as a file from its Secret (no env variable, no value in the spec).
    assert container["command"][4] == "/run/secrets/api/api-key"
    assert "env" not in container
    mount = next(m for m in container["volumeMounts"] if m["name"] == "api-key")
    assert mount["mountPath"] == "/run/secrets/api"
    volume = next(v for v in pod["spec"]["volumes"] if v["name"] == "api-key")["secret"]
    assert volume["secretName"] == "user-service-api"
    assert volume["items"] == [{"key": "api-key", "path": "api-key"}]
    assert "optional" not in volume


def test_helm_test_pod_with_existing_or_disabled_auth(helm: Helm) -> None:
    existing = helm.render(
        {"auth": {"existingSecret": "my-keys", "existingSecretTestKey": "smoke"}}
    ).one("Pod")
    volume = next(v for v in existing["spec"]["volumes"] if v["name"] == "api-key")["secret"]
    # The user's Secret may hold only digests: then the test checks the 401 alone.
    assert volume == {
        "secretName": "my-keys",
        "defaultMode": 0o440,
        "optional": True,
        "items": [{"key": "smoke", "path": "api-key"}],
    }
    disabled = helm.render({"auth": {"disabled": True}}).one("Pod")
    assert len(disabled["spec"]["containers"][0]["command"]) == 4, "no key file argument"
    assert "api-key" not in {v["name"] for v in disabled["spec"]["volumes"]}


# --- NOTES.txt -------------------------------------------------------------------------------


def install_notes(values: dict[str, object], tmp_path: Path) -> str:
    """NOTES.txt as `helm install` prints it. helm 4's client-side install dry run renders it
    without any cluster; helm 3's still asks the API server for its version."""
    helm4 = find_helm("helm4")
    values_file = tmp_path / "values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    command = [str(helm4.binary), "install", "user-service", str(CHART), "-n", "user-service"]
    result = subprocess.run(
        [*command, "--dry-run", "-f", str(values_file)],
        env={**os.environ, "KUBECONFIG": os.devnull},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout.split("NOTES:", 1)[1]


READ_KEY = (
    "API_KEY=$(kubectl -n user-service get secret user-service-api "
    "-o jsonpath='{.data.api-key}' | base64 -d)"
)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, "kubectl -n user-service port-forward service/user-service 8080:80"),
        ({}, READ_KEY),
        ({}, 'curl -H "Authorization: Bearer $API_KEY" http://127.0.0.1:8080/users'),
        ({"service": {"type": "NodePort", "nodePort": 30080}}, "NODE_PORT=$(kubectl"),
        (
            {"service": {"type": "NodePort", "nodePort": 30080}},
            'curl -H "Authorization: Bearer $API_KEY" http://<node-address>:$NODE_PORT/users',
        ),
        ({"migration": {"enabled": False}}, "python -m service migrate"),
        ({"migration": {"enabled": False}}, "APP_DB_USER=user_service_app"),
        ({"auth": {"existingSecret": "keys"}}, "API_KEYS from the Secret keys (key api-keys)"),
    ],
)
def test_notes_tell_how_to_reach_and_test_the_service(
    values: dict[str, object], expected: str, tmp_path: Path
) -> None:
    notes = install_notes(values, tmp_path)
    assert expected in notes
    assert "helm test user-service -n user-service" in notes
    assert "AUTHENTICATION IS DISABLED" not in notes


def test_notes_warn_loudly_when_auth_is_disabled(tmp_path: Path) -> None:
    notes = install_notes({"auth": {"disabled": True}}, tmp_path)
    assert "WARNING: AUTHENTICATION IS DISABLED" in notes
    assert "can read, change and delete every user" in notes
    assert "Authorization: Bearer" not in notes
