"""k8s/ is the chart for kustomize users, provably: `kubectl kustomize` of k8s/base gives exactly
the chart's objects rendered with the settings its kustomization.yaml header lists (plus the
Namespace), each overlay exactly the chart's objects with the base's settings plus its own, all
without Helm's own metadata; `kubectl kustomize k8s/` is the base.

scripts/verify-chart.sh checks that k8s/ is a fresh generation and validates these renders.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import REPO

from .render import Helm, Obj, Render, container_env

pytestmark = pytest.mark.chart

K8S = REPO / "k8s"
BASE = K8S / "base"
OVERLAYS = sorted(p.parent for p in (K8S / "overlays").glob("*/kustomization.yaml"))
Key = tuple[str, str, str, str]


def kustomize(kubectl: Path, directory: Path) -> list[Obj]:
    result = subprocess.run(
        [str(kubectl), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d is not None]


def settings(directory: Path) -> list[str]:
    """The helm flags a kustomization.yaml's generated header says it was rendered with."""
    text = (directory / "kustomization.yaml").read_text()
    flags = [shlex.split(m) for m in re.findall(r"^#\s+(--\S.*)$", text, flags=re.MULTILINE)]
    assert flags, f"{directory}/kustomization.yaml lists no settings"
    return [arg for flag in flags for arg in flag]


def without_helm_metadata(node: Any) -> Any:
    """node without the helm.sh/* and `managed-by: Helm` labels and annotations of any metadata."""
    if isinstance(node, list):
        return [without_helm_metadata(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: without_helm_metadata(value) for key, value in node.items()}
    meta = out.get("metadata")
    if isinstance(meta, dict):
        for field in ("labels", "annotations"):
            kept = {
                k: v
                for k, v in meta.pop(field, {}).items()
                if not k.startswith("helm.sh/") and k != "app.kubernetes.io/managed-by"
            }
            if kept:
                meta[field] = kept
    return out


def by_key(docs: list[Obj]) -> dict[Key, Obj]:
    found: dict[Key, Obj] = {}
    for doc in docs:
        meta = doc["metadata"]
        key = (doc["apiVersion"], doc["kind"], meta.get("namespace", ""), meta["name"])
        assert key not in found, f"{key} twice"
        found[key] = doc
    return found


def first_difference(a: Any, b: Any, path: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                return first_difference(a.get(key), b.get(key), f"{path}/{key}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return first_difference(x, y, f"{path}/{i}")
    return f"{path}: kustomize {a!r:.200} != chart {b!r:.200}"


def assert_same_objects(kustomized: list[Obj], chart: list[Obj]) -> None:
    got, want = by_key(kustomized), by_key([without_helm_metadata(d) for d in chart])
    assert sorted(got.keys() - want.keys()) == [], "kustomize renders objects the chart does not"
    assert sorted(want.keys() - got.keys()) == [], "kustomize lacks objects the chart renders"
    for key, doc in got.items():
        assert doc == want[key], f"{key}: {first_difference(doc, want[key])}"


def split_namespace(docs: list[Obj], flags: list[str]) -> list[Obj]:
    """The objects but the Namespace k8s/ adds (the chart has none), checked against --namespace."""
    namespaces = [d["metadata"]["name"] for d in docs if d["kind"] == "Namespace"]
    assert namespaces == [flags[flags.index("--namespace") + 1]]
    return [d for d in docs if d["kind"] != "Namespace"]


def test_k8s_root_renders_the_base(kubectl: Path) -> None:
    assert kustomize(kubectl, K8S) == kustomize(kubectl, BASE)


def test_base_is_the_chart_render(helm: Helm, kubectl: Path) -> None:
    flags = settings(BASE)
    docs = split_namespace(kustomize(kubectl, BASE), flags)
    assert_same_objects(docs, helm.render(None, *flags).docs)


def test_k8s_has_an_overlay() -> None:
    assert [p.name for p in OVERLAYS] == ["external-database-tls"]


@pytest.mark.parametrize("overlay", OVERLAYS, ids=[p.name for p in OVERLAYS])
def test_overlay_is_the_chart_render(helm: Helm, kubectl: Path, overlay: Path) -> None:
    flags = settings(BASE) + settings(overlay)
    docs = split_namespace(kustomize(kubectl, overlay), flags)
    assert_same_objects(docs, helm.render(None, *flags).docs)


def test_no_helm_metadata_in_k8s() -> None:
    """Not in patches or new objects either (comments may name it: the headers do)."""
    for path in sorted(K8S.rglob("*.yaml")):
        text = re.sub(r"^\s*#.*$", "", path.read_text(), flags=re.MULTILINE)
        assert "helm.sh/" not in text, path
        assert not re.search(r"managed-by:\s*Helm", text), path


def test_external_database_tls_overlay(kubectl: Path) -> None:
    """What the example overlay is for: no bundled PostgreSQL, verified TLS with a mounted CA."""
    render = Render(kustomize(kubectl, K8S / "overlays" / "external-database-tls"))
    assert not render.has("StatefulSet")
    assert not [d for d in render.docs if "postgresql" in d["metadata"]["name"]]
    external = {
        ("user-service-database", "password"): "owner",
        ("user-service-database", "app-password"): "app",
        ("user-service-api", "api-keys"): "k:write:sha256:" + "0" * 64,
    }
    for kind in ("Deployment", "Job"):
        env = container_env(render, render.container(kind), external)
        assert env["PGHOST"] == "postgresql.example.com", kind
        assert env["PGSSLMODE"] == "verify-full", kind
        pod = render.one(kind)["spec"]["template"]["spec"]
        mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
        volume = mounts[str(Path(env["PGSSLROOTCERT"]).parent)]
        ca = next(v for v in pod["volumes"] if v["name"] == volume)
        assert ca["configMap"]["name"] == "user-service-database-ca", kind
        assert [i["path"] for i in ca["configMap"]["items"]] == [Path(env["PGSSLROOTCERT"]).name]


# The generator on a synthetic chart render, for the cases the real overlay does not reach.

SYNTHETIC_BASE = """\
---
# Source: chart/templates/configmap.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: rel
  namespace: ns
  labels:
    helm.sh/chart: chart-1.0.0
    app.kubernetes.io/managed-by: Helm
  annotations:
    helm.sh/resource-policy: keep
data:
  gone: "1"
  kept: "2"
  changed: "3"
---
# Source: chart/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: rel
  namespace: ns
spec:
  selector:
    matchLabels:
      app: a
  template:
    metadata:
      labels:
        app: a
        helm.sh/chart: chart-1.0.0
      annotations:
        a/b~c: "1"
    spec:
      containers:
        - name: one
          image: one:1
          env:
            - name: A
              value: "1"
        - name: two
          image: two:1
      volumes:
        - name: v
          emptyDir: {}
      tolerations:
        - key: k
          operator: Exists
---
# Source: chart/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: rel-gone
  namespace: ns
spec:
  ports:
    - port: 80
"""


def synthetic_overlay() -> str:
    docs = list(yaml.safe_load_all(SYNTHETIC_BASE))
    config, deployment, service = docs
    del config["data"]["gone"]
    config["data"].update({"changed": "4", "new/key~x": "5"})
    template = deployment["spec"]["template"]
    template["metadata"]["annotations"]["a/b~c"] = "2"
    template["spec"]["containers"][1]["image"] = "two:2"
    template["spec"]["containers"][0]["env"].append({"name": "B", "value": "2"})
    template["spec"]["volumes"].append(
        {"name": "w", "configMap": {"name": "c", "defaultMode": 0o440}}
    )
    template["spec"]["tolerations"] = [{"key": "other", "operator": "Exists"}]
    service["metadata"]["name"] = "rel-new"
    return "".join("---\n# Source: chart/templates/x.yaml\n" + yaml.safe_dump(d) for d in docs)


def generate(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    script = REPO / "scripts" / "kustomize_from_chart.py"
    return subprocess.run(
        [sys.executable, str(script), "--release", "rel", "--chart-dir", "charts/chart", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        timeout=60,
    )


def test_generator_round_trips_through_kustomize(kubectl: Path, tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text(SYNTHETIC_BASE)
    (tmp_path / "overlay.yaml").write_text(synthetic_overlay())
    out = tmp_path / "k8s"
    assert generate(tmp_path, "base", str(out), "base.yaml", "--", "--set", "a=b").returncode == 0
    result = generate(tmp_path, "overlay", str(out), "o", "base.yaml", "overlay.yaml", "--", "-x")
    assert result.returncode == 0, result.stderr

    for directory, render in (
        (out / "base", "base.yaml"),
        (out / "overlays" / "o", "overlay.yaml"),
    ):
        chart = [d for d in yaml.safe_load_all((tmp_path / render).read_text()) if d]
        assert_same_objects(kustomize(kubectl, directory), chart)
    assert settings(out / "base") == ["--set", "a=b"]
    patch = yaml.safe_load((out / "overlays" / "o" / "patch-deployment.yaml").read_text())
    assert {
        "op": "replace",
        "path": "/spec/template/spec/containers/1/image",
        "value": "two:2",
    } in (patch), "name-aligned list items are patched in place"
    assert "defaultMode: 0440" in (out / "overlays" / "o" / "patch-deployment.yaml").read_text()
    assert (
        "# From charts/chart/templates/configmap.yaml."
        in (out / "base" / "configmap.yaml").read_text()
    )


def test_generator_refuses_helm_hooks(tmp_path: Path) -> None:
    hook = SYNTHETIC_BASE.replace("helm.sh/resource-policy: keep", "helm.sh/hook: pre-install")
    (tmp_path / "base.yaml").write_text(hook)
    result = generate(tmp_path, "base", str(tmp_path / "k8s"), "base.yaml", "--")
    assert result.returncode != 0
    assert "ConfigMap rel is a Helm hook" in result.stderr
