"""docs/kubernetes.md's values snippets render as the text says, with Helm 3 and Helm 4, into
manifests that kubernetes-validate accepts for Kubernetes 1.29 and 1.37; its KEDA ScaledObject
is valid against schemas/keda-scaledobject.schema.json (written by this project from KEDA's
ScaledObject specification, unknown fields refused) and fits the chart's values.

A snippet is a ```yaml block whose first line is `# values: NAME`; every one of them must have
a check below, so a new snippet cannot go untested.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.helpers import REPO

from .render import CHART, Helm, Obj, Render, container_env, selects
from .test_chart_platform import admits
from .test_chart_topology import install_notes

pytestmark = pytest.mark.chart

DOCS = REPO / "docs" / "kubernetes.md"
VALIDATE = REPO / "scripts" / "validate_manifests.py"
KEDA_SCHEMA = REPO / "schemas" / "keda-scaledobject.schema.json"
BLOCK = re.compile(r"^```yaml\n(.*?)^```", flags=re.MULTILINE | re.DOTALL)


def yaml_blocks() -> list[str]:
    return BLOCK.findall(DOCS.read_text())


def snippets() -> dict[str, dict[str, Any]]:
    """The values snippets of the docs, by name."""
    found: dict[str, dict[str, Any]] = {}
    for block in yaml_blocks():
        match = re.match(r"# values: ([a-z0-9-]+)\n", block)
        if match:
            assert match.group(1) not in found, f"two snippets named {match.group(1)}"
            found[match.group(1)] = yaml.safe_load(block)
    return found


SNIPPETS = snippets()


def pod(render: Render, kind: str) -> Obj:
    owner = render.one(kind)
    template: Obj = owner if kind == "Pod" else owner["spec"]["template"]
    return template


# One check per snippet: what the docs say it does.


def check_managed_db_tls(render: Render) -> None:
    env = container_env(render, render.container("Deployment"), SECRETS_OF["managed-db-tls"])
    assert env["PGSSLMODE"] == "verify-full"
    spec = pod(render, "Deployment")["spec"]
    volume = next(v for v in spec["volumes"] if v["name"] == "database-ca")
    assert volume["configMap"]["name"] == "rds-ca"
    assert volume["configMap"]["items"] == [{"key": "global-bundle.pem", "path": "ca.crt"}]
    assert env["PGSSLROOTCERT"] == "/etc/user-service/database-ca/ca.crt"
    assert not render.has("StatefulSet")


def check_private_registry(render: Render) -> None:
    for kind in ("Deployment", "StatefulSet", "Pod"):
        spec = pod(render, kind)["spec"]
        assert spec["imagePullSecrets"] == [{"name": "regcred"}], kind
        for container in spec["containers"]:
            assert container["image"].startswith("registry.example.com/mirror/"), kind
    assert pod(render, "StatefulSet")["spec"]["containers"][0]["image"] == (
        "registry.example.com/mirror/postgres:17.6-bookworm"
    )


def check_mesh_istio(render: Render) -> None:
    api = pod(render, "Deployment")["metadata"]
    assert api["labels"]["sidecar.istio.io/inject"] == "true"
    config = yaml.safe_load(api["annotations"]["proxy.istio.io/config"])
    grace = pod(render, "Deployment")["spec"]["terminationGracePeriodSeconds"]
    assert config["terminationDrainDuration"] == f"{grace}s", "the proxy outlives the drain"
    metrics_port = api["annotations"]["prometheus.io/port"]
    assert api["annotations"]["traffic.sidecar.istio.io/excludeInboundPorts"] == metrics_port
    assert pod(render, "Pod")["metadata"]["labels"]["sidecar.istio.io/inject"] == "false"


def check_mesh_linkerd(render: Render) -> None:
    api = pod(render, "Deployment")["metadata"]["annotations"]
    assert api["linkerd.io/inject"] == "enabled"
    grace = pod(render, "Deployment")["spec"]["terminationGracePeriodSeconds"]
    assert int(api["config.alpha.linkerd.io/proxy-wait-before-exit-seconds"]) >= grace
    assert api["config.linkerd.io/skip-inbound-ports"] == api["prometheus.io/port"]
    test = pod(render, "Pod")["metadata"]["annotations"]
    assert test["config.alpha.linkerd.io/proxy-enable-native-sidecar"] == "true"


def check_keda(render: Render) -> None:
    assert not render.has("HorizontalPodAutoscaler")
    assert "replicas" not in render.one("Deployment")["spec"]


def check_ingress_controller(namespace: str, labels: dict[str, str]) -> Any:
    def check(render: Render) -> None:
        policy = render.one("NetworkPolicy", "user-service")
        assert admits(policy, "http", labels, namespace, release_ns=False)
        assert not admits(policy, "metrics", labels, namespace, release_ns=False)
        assert render.has("Ingress")

    return check


def check_kube_prometheus_stack(render: Render) -> None:
    policy = render.one("NetworkPolicy", "user-service")
    prometheus = {
        "app.kubernetes.io/name": "prometheus",
        "prometheus": "kube-prometheus-stack-prometheus",
    }
    assert admits(policy, "metrics", prometheus, "monitoring", release_ns=False)
    assert not admits(policy, "metrics", {"app": "grafana"}, "monitoring", release_ns=False)
    monitor = render.one("ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert "prometheus.io/scrape" not in pod(render, "Deployment")["metadata"]["annotations"]


def check_gitops(render: Render) -> None:
    """Nothing generated that a render without `lookup` would change at every sync, and a Job
    that stays until the next release replaces it."""
    assert {s["metadata"]["name"] for s in render.all("Secret")} == set()
    assert "ttlSecondsAfterFinished" not in render.one("Job")["spec"]
    again = {(d["kind"], d["metadata"]["name"]): d for d in render.docs}
    assert all(
        "helm.sh/hook" not in d["metadata"].get("annotations", {})
        for d in again.values()
        if d["kind"] != "Pod" and not d["metadata"]["name"].endswith("-tests")
    )


CHECKS = {
    "gitops": check_gitops,
    "managed-db-tls": check_managed_db_tls,
    "private-registry": check_private_registry,
    "mesh-istio": check_mesh_istio,
    "mesh-linkerd": check_mesh_linkerd,
    "keda": check_keda,
    "netpol-ingress-nginx": check_ingress_controller(
        "ingress-nginx",
        {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"},
    ),
    "netpol-traefik": check_ingress_controller("traefik", {"app.kubernetes.io/name": "traefik"}),
    "netpol-kube-prometheus-stack": check_kube_prometheus_stack,
}
# The Secrets a snippet names, as the user creates them (what the pods would read).
SECRETS_OF = {"managed-db-tls": {("users-db", "password"): "o", ("users-db", "app-password"): "a"}}


def test_every_snippet_has_a_check() -> None:
    assert set(SNIPPETS) == set(CHECKS), "add a check for each `# values:` snippet (or drop one)"
    # What the issue asks the docs to cover, each with a rendered snippet.
    for topic in ("gitops", "mesh-", "private-registry", "managed-db-tls", "keda", "netpol-"):
        assert any(name.startswith(topic) for name in SNIPPETS), topic


@pytest.mark.parametrize("name", sorted(SNIPPETS))
def test_snippet_renders_as_documented(each_helm: Helm, name: str) -> None:
    CHECKS[name](each_helm.render(SNIPPETS[name]))


@pytest.mark.parametrize("name", sorted(SNIPPETS))
def test_snippet_notes_carry_no_warning(name: str, tmp_path: Path) -> None:
    assert "WARNING" not in install_notes(SNIPPETS[name], tmp_path)


def test_snippets_pass_yamllint_and_kubernetes_validate(helm: Helm, tmp_path: Path) -> None:
    files = []
    for name, values in sorted(SNIPPETS.items()):
        values_file = tmp_path / f"{name}-values.yaml"
        values_file.write_text(yaml.safe_dump(values))
        command = [str(helm.binary), "template", "user-service", str(CHART), "-n", "user-service"]
        rendered = subprocess.run(
            [*command, "-f", str(values_file)],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        path = tmp_path / f"{name}.yaml"
        path.write_text(rendered.stdout)
        files.append(str(path))
    yamllint = Path(sys.executable).parent / "yamllint"
    linted = subprocess.run(
        [str(yamllint), "-s", "-c", str(CHART / ".yamllint"), *files],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr
    result = subprocess.run(
        [sys.executable, str(VALIDATE), "--versions", "1.29.0,1.37.0", *files],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- KEDA -----------------------------------------------------------------------------------


def scaled_object() -> Obj:
    [block] = [b for b in yaml_blocks() if re.search(r"^kind: ScaledObject$", b, re.MULTILINE)]
    document: Obj = yaml.safe_load(block)
    return document


def keda_schema() -> Obj:
    schema: Obj = json.loads(KEDA_SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return schema


def keda_errors(document: Obj) -> list[str]:
    validator = jsonschema.Draft7Validator(keda_schema())
    errors = sorted(validator.iter_errors(document), key=str)
    return [f"{list(e.absolute_path)}: {e.message}" for e in errors]


def test_keda_scaled_object_is_valid_for_the_schema() -> None:
    errors = keda_errors(scaled_object())
    assert not errors, "\n".join(errors)


# A misspelt field of the example (renamed in place, so only the spelling changes), and what
# the error must name: the schema refuses unknown fields where KEDA's docs list the fields.
TYPOS = {
    "spec.minReplicaCont": (("spec",), "minReplicaCount", "minReplicaCont"),
    "scaleTargetRef.nmae": (("spec", "scaleTargetRef"), "name", "nmae"),
    "pollingIntervall": (("spec",), "pollingInterval", "pollingIntervall"),
    "hpa behaviour": (
        ("spec", "advanced", "horizontalPodAutoscalerConfig"),
        "behavior",
        "behaviour",
    ),
    "trigger metricTyp": (("spec", "triggers", 1), "metricType", "metricTyp"),
}


@pytest.mark.parametrize("case", sorted(TYPOS))
def test_keda_schema_refuses_a_typo(case: str) -> None:
    path, field, typo = TYPOS[case]
    document = scaled_object()
    parent: Any = document
    for key in path:
        parent = parent[key]
    parent[typo] = parent.pop(field)
    errors = keda_errors(document)
    assert any(f"'{typo}'" in e and "unexpected" in e for e in errors), errors


def test_keda_schema_refuses_a_number_as_trigger_metadata() -> None:
    """Trigger metadata is a map of strings: `threshold: 50` unquoted is refused."""
    document = scaled_object()
    document["spec"]["triggers"][0]["metadata"]["threshold"] = 50
    errors = keda_errors(document)
    assert errors == [
        "['spec', 'triggers', 0, 'metadata', 'threshold']: 50 is not of type 'string'"
    ]


def test_keda_scaled_object_fits_the_chart(helm: Helm) -> None:
    values = SNIPPETS["keda"]
    render = helm.render(values)
    document = scaled_object()
    deployment = render.one("Deployment")
    target = document["spec"]["scaleTargetRef"]
    assert target["name"] == deployment["metadata"]["name"]
    assert target.get("kind", "Deployment") == deployment["kind"]
    assert target.get("apiVersion", "apps/v1") == deployment["apiVersion"]
    assert document["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    bounds = values["autoscaling"]
    assert bounds["minReplicas"] <= document["spec"]["minReplicaCount"]
    assert document["spec"]["maxReplicaCount"] <= bounds["maxReplicas"]
    # The request-rate query counts the app's own metric.
    [prometheus] = [t for t in document["spec"]["triggers"] if t["type"] == "prometheus"]
    assert "user_service_http_requests_total" in prometheus["metadata"]["query"]
    # The CPU trigger needs CPU requests, which the chart sets.
    assert render.container("Deployment")["resources"]["requests"]["cpu"]
    assert selects(
        deployment["spec"]["selector"], deployment["spec"]["template"]["metadata"]["labels"]
    )
