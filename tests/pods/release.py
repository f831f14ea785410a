"""One installed release, run by the harness: the controllers' part, played by the tests.

The chart is rendered with real helm and fixed values suited to a run (the locally built
images, short probe periods and drain delays). The Deployment, StatefulSet and Job controllers
are not reproduced: the test starts the pods they would start, in the order Helm applies the
objects, and rolls them within the Deployment's rollingUpdate bounds.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import yaml

from tests.chart.render import CHART, NAMESPACE, Helm

from .kubelet import JobRun, Node, Pod, Termination
from .spec import Manifests, Obj, Unsupported, template_hash

# Figures of each scenario, printed in the terminal summary (conftest.py).
FIGURES: list[tuple[str, dict[str, Any]]] = []


def record(scenario: str, **figures: Any) -> None:
    FIGURES.append((scenario, figures))


def merge(base: Obj, overrides: Obj) -> Obj:
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def chart_defaults() -> Obj:
    """The chart's values.yaml, as a user installs it."""
    defaults: Obj = yaml.safe_load((CHART / "values.yaml").read_text())
    return defaults


def run_values(app_tag: str, postgres_image: str, secret: str) -> Obj:
    """Values for a run: the chart's defaults except what makes a two-core machine quick.

    Credentials are fixed (derived from `secret`) so that every render of the run, e.g. the
    config change's, has the same Secrets; those the chart does not have are left out."""
    postgres_repository, _, postgres_tag = postgres_image.rpartition(":")
    defaults = chart_defaults()
    auth: Obj = {"password": secret}
    if "appPassword" in defaults["postgresql"]["auth"]:  # a least-privileged app role
        auth["appPassword"] = f"{secret}-app"
    values: Obj = {
        "image": {"repository": "user-service", "tag": app_tag},
        # A fixed replica count: the HPA's control loop needs a cluster (docs/pods.md).
        "autoscaling": {"enabled": False},
        "replicaCount": 2,
        "postgresql": {
            "image": {"repository": postgres_repository, "tag": postgres_tag},
            "auth": auth,
            "persistence": {"size": "1Gi"},
        },
        "config": {"drainDelaySeconds": 2, "shutdownTimeoutSeconds": 5},
        "lifecycle": {"preStopSleepSeconds": 2, "terminationMarginSeconds": 2},
        "probes": {
            "startup": {"periodSeconds": 1, "failureThreshold": 60, "timeoutSeconds": 2},
            "liveness": {"periodSeconds": 2, "failureThreshold": 3, "timeoutSeconds": 2},
            "readiness": {"periodSeconds": 1, "failureThreshold": 2, "timeoutSeconds": 2},
        },
    }
    if "apiKey" in defaults.get("auth", {}):  # API keys: the scenarios send this write key
        values["auth"] = {"apiKey": f"{secret}-write-key"}
    return values


def json_logs(text: str) -> list[dict[str, Any]]:
    """The JSON log lines of a container's output (other lines skipped)."""
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return lines


@dataclass
class Release:
    node: Node
    helm: Helm
    values: Obj
    manifests: Manifests = field(init=False)
    db: Pod | None = None
    api: list[Pod] = field(default_factory=list)
    install: dict[str, Any] = field(default_factory=dict)
    # Sent with every API request of the scenarios: the one place for credentials, should the
    # chart configure any.
    headers: dict[str, str] = field(default_factory=dict)
    _serial: itertools.count[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        self.manifests = self.render()
        if api_key := self.values.get("auth", {}).get("apiKey"):
            self.headers["Authorization"] = f"Bearer {api_key}"

    def client(self) -> aiohttp.ClientSession:
        """The scenarios' HTTP client (inside a coroutine): keep-alive, 10 s per request."""
        return aiohttp.ClientSession(headers=self.headers, timeout=aiohttp.ClientTimeout(total=10))

    def render(self, overrides: Obj | None = None) -> Manifests:
        values = merge(self.values, overrides or {})
        return Manifests(self.helm.render(values).docs, NAMESPACE)

    @property
    def replicas(self) -> int:
        replicas: int = self.manifests.one("Deployment")["spec"]["replicas"]
        return replicas

    def start_api_pod(self, manifests: Manifests | None = None) -> Pod:
        manifests = manifests or self.manifests
        deployment = manifests.one("Deployment")
        revision = template_hash(deployment["spec"]["template"])
        name = f"{deployment['metadata']['name']}-{revision}-{next(self._serial)}"
        return self.node.start(self.node.plan(deployment, manifests, name))

    def start_db_pod(self) -> Pod:
        statefulset = self.manifests.one("StatefulSet")
        if statefulset["spec"].get("replicas", 1) != 1:
            raise Unsupported("StatefulSet.spec.replicas: the harness runs ordinal 0 only")
        name = f"{statefulset['metadata']['name']}-0"
        return self.node.start(self.node.plan(statefulset, self.manifests, name))

    def run_migration(self, suffix: str, manifests: Manifests | None = None) -> JobRun:
        manifests = manifests or self.manifests
        return self.node.run_job(manifests.one("Job"), manifests, suffix)

    def psql(self, sql: str, database: str | None = None) -> str:
        """A query in the database pod, over its unix socket (as `kubectl exec` would)."""
        auth = self.values["postgresql"]["auth"]
        user = auth.get("username", "user_service")
        database = database or auth.get("database", "user_service")
        assert self.db is not None
        proc = self.node.docker(
            "exec", self.db.container, "psql", "-qtA", "-v", "ON_ERROR_STOP=1",
            "-U", user, "-d", database, "-c", sql,
        )  # fmt: skip
        return proc.stdout.strip()

    def roll(
        self, manifests: Manifests, on_new: Any = None, ready_timeout: float = 60
    ) -> tuple[list[Pod], list[Termination]]:
        """A rolling update of the app pods to `manifests`' template, one pod at a time: a new
        pod first, and the old one is deleted once the new one is ready (maxUnavailable 0,
        within any maxSurge >= 1), while the next new pod already starts."""
        strategy = manifests.one("Deployment")["spec"].get("strategy", {})
        surge = strategy.get("rollingUpdate", {}).get("maxSurge", 1)
        if strategy.get("type", "RollingUpdate") != "RollingUpdate" or not (
            isinstance(surge, int) and surge >= 1
        ):
            raise Unsupported(f"Deployment.spec.strategy: {strategy} (rolls need maxSurge >= 1)")
        new: list[Pod] = []
        terminations: list[Termination] = []
        stoppers: list[threading.Thread] = []
        for old in list(self.api):
            pod = self.start_api_pod(manifests)
            if on_new is not None:
                on_new(pod)
            pod.wait_ready(ready_timeout)
            new.append(pod)
            self.api[self.api.index(old)] = pod
            stopper = threading.Thread(target=lambda p=old: terminations.append(p.stop()))
            stopper.start()
            stoppers.append(stopper)
        for stopper in stoppers:
            stopper.join()
        self.manifests = manifests
        return new, terminations
