"""A minimal fake Kubernetes API server, so real helm can run `lookup` without a cluster.

`helm template --dry-run=server` resolves `lookup` against the cluster in its kubeconfig. This
server answers just what helm 3 and helm 4 ask for then: /version, legacy discovery for the
kinds the chart renders, an empty OpenAPI document, and GETs of the Secrets it was given
(404 for anything else). It listens on 127.0.0.1 only, on a free port, in a daemon thread.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# group/version -> (plural, Kind, namespaced) served by discovery.
RESOURCES: dict[str, list[tuple[str, str, bool]]] = {
    "v1": [
        ("secrets", "Secret", True),
        ("configmaps", "ConfigMap", True),
        ("services", "Service", True),
        ("serviceaccounts", "ServiceAccount", True),
        ("pods", "Pod", True),
        ("namespaces", "Namespace", False),
    ],
    "apps/v1": [("deployments", "Deployment", True), ("statefulsets", "StatefulSet", True)],
    "batch/v1": [("jobs", "Job", True)],
    "autoscaling/v2": [("horizontalpodautoscalers", "HorizontalPodAutoscaler", True)],
    "policy/v1": [("poddisruptionbudgets", "PodDisruptionBudget", True)],
    "networking.k8s.io/v1": [
        ("networkpolicies", "NetworkPolicy", True),
        ("ingresses", "Ingress", True),
    ],
    "monitoring.coreos.com/v1": [("servicemonitors", "ServiceMonitor", True)],
    "postgresql.cnpg.io/v1": [("clusters", "Cluster", True), ("poolers", "Pooler", True)],
}


def _resource_list(group_version: str) -> dict[str, Any]:
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": [
            {
                "name": plural,
                "singularName": kind.lower(),
                "namespaced": namespaced,
                "kind": kind,
                "verbs": ["get", "list", "create", "update", "patch", "delete"],
            }
            for plural, kind, namespaced in RESOURCES[group_version]
        ],
    }


def _group_list() -> dict[str, Any]:
    groups = []
    for group_version in RESOURCES:
        if "/" not in group_version:
            continue
        name, version = group_version.split("/")
        entry = {"groupVersion": group_version, "version": version}
        groups.append({"name": name, "versions": [entry], "preferredVersion": entry})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def _routes(secrets: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    routes: dict[str, Any] = {
        "/version": {
            "major": "1",
            "minor": "33",
            "gitVersion": "v1.33.0",
            "platform": "linux/amd64",
        },
        "/api": {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []},
        "/apis": _group_list(),
        "/api/v1": _resource_list("v1"),
        "/openapi/v2": {
            "swagger": "2.0",
            "info": {"title": "fake", "version": "v1.33.0"},
            "paths": {},
        },
        "/openapi/v3": {"paths": {}},
    }
    for group_version in RESOURCES:
        if "/" in group_version:
            routes[f"/apis/{group_version}"] = _resource_list(group_version)
    for (namespace, name), secret in secrets.items():
        routes[f"/api/v1/namespaces/{namespace}/secrets/{name}"] = secret
    return routes


class _Handler(BaseHTTPRequestHandler):
    routes: dict[str, Any] = {}  # noqa: RUF012 (replaced per server by a subclass)

    def do_GET(self) -> None:
        body = self.routes.get(self.path.split("?", 1)[0])
        status = 200
        if body is None:
            status = 404
            body = {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "reason": "NotFound",
                "code": 404,
            }
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging."""


@contextmanager
def fake_apiserver(
    tmp_path: Path, secrets: dict[tuple[str, str], dict[str, Any]]
) -> Iterator[Path]:
    """Serve the given Secrets ((namespace, name) -> object); yield a kubeconfig path."""
    handler = type("Handler", (_Handler,), {"routes": _routes(secrets)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "fake",
                        "cluster": {"server": f"http://127.0.0.1:{server.server_port}"},
                    }
                ],
                "contexts": [{"name": "fake", "context": {"cluster": "fake"}}],
                "current-context": "fake",
                "users": [{"name": "fake", "user": {}}],
            }
        )
    )
    try:
        yield kubeconfig
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
