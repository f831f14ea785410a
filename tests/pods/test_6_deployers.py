"""Scenario 6, every deployer: install, an upgrade that adds a migration, and a rollback, each
in the order that deployer applies the rendered chart and with the waits it makes
(tests/pods/deployers.py), played with real pods. Each must reach "every workload ready"
within the bound, and the API must answer all along an upgrade and a rollback.

Each deployer gets a release of its own: its own Docker network, database claim and pods.
The upgrade's image is this run's image plus one migration (a column added, as an expand step
would), so its pods need schema version 2, and the rollback's pods (version 1) run on it.
"""

from __future__ import annotations

import secrets
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.chart.render import Helm
from tests.container.dockerctl import Docker

from .cluster import Cluster
from .deployers import DEPLOYERS, Action, Deployer
from .kubelet import Node
from .release import record, run_values
from .spec import Obj

pytestmark = pytest.mark.pods

BOUND = 120.0  # seconds one wait may take; Helm's own default --timeout is 300
UPGRADE_MIGRATION = "ALTER TABLE users ADD COLUMN IF NOT EXISTS nickname text;\n"


@dataclass(frozen=True)
class Images:
    tag: str  # the run's app image
    next_tag: str  # the same plus one migration: what the next release would ship
    postgres: str


@pytest.fixture(scope="module")
def images(pods_docker: Docker, pods_images: tuple[str, str]) -> Iterator[Images]:
    tag, postgres = pods_images
    image = f"user-service:{tag}"
    package = pods_docker(
        "run", "--rm", "--entrypoint", "python", image, "-c",
        "import os, service; print(os.path.dirname(service.__file__))",
    ).stdout.strip()  # fmt: skip
    with tempfile.TemporaryDirectory() as context:
        Path(context, "0002_deployer_test.sql").write_text(UPGRADE_MIGRATION)
        Path(context, "Dockerfile").write_text(
            f"FROM {image}\nCOPY 0002_deployer_test.sql {package}/migrations/\n"
        )
        next_image = f"user-service:{tag}-next"
        pods_docker("build", "-q", "-t", next_image, context, timeout=300)
    yield Images(tag, f"{tag}-next", postgres)
    pods_docker("rmi", next_image, check=False)


class Traffic:
    """GET /users on every ready API pod, every 0.1 s, from a thread: what callers see."""

    def __init__(self, cluster: Cluster, headers: dict[str, str]) -> None:
        self.cluster, self.headers = cluster, headers
        self.ok = 0
        self.failed: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            for pod in [p for p in list(self.cluster.api) if p.ready]:
                url = f"{pod.url}/users?limit=1"
                request = urllib.request.Request(url, headers=self.headers)  # noqa: S310
                try:
                    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                        response.read()
                    self.ok += 1
                except (urllib.error.URLError, OSError) as exc:
                    if pod.ready:  # a pod stopped between the check and the request is not one
                        self.failed.append(f"{pod.plan.name}: {exc}")


def _schema_version(cluster: Cluster, values: Obj) -> int:
    assert cluster.db is not None
    auth = values["postgresql"]["auth"]
    proc = cluster.node.docker(
        "exec", cluster.db.container, "psql", "-qtA", "-U", auth.get("username", "user_service"),
        "-d", auth.get("database", "user_service"),
        "-c", "SELECT max(version) FROM schema_migrations",
    )  # fmt: skip
    return int(proc.stdout.strip())


def _images(cluster: Cluster) -> set[str]:
    return {pod.plan.image for pod in cluster.api}


@pytest.mark.parametrize("deployer", DEPLOYERS, ids=lambda d: d.name)
def test_deployer_reaches_ready_on_install_upgrade_and_rollback(
    deployer: Deployer,
    pods_docker: Docker,
    pods_helm: Helm,
    pods_run_id: str,
    images: Images,
) -> None:
    tag, next_tag = images.tag, images.next_tag
    first = run_values(tag, images.postgres, secrets.token_urlsafe(18))
    if deployer.name == "kubectl apply":  # as scripts/render-k8s.sh renders k8s/
        first["migration"] = {"ttlSecondsAfterFinished": 86400}
    second = {**first, "image": {**first["image"], "tag": next_tag}}
    headers = {"Authorization": f"Bearer {first['auth']['apiKey']}"}
    renders = {"first": pods_helm.render(first).docs, "second": pods_helm.render(second).docs}

    run_id = f"{pods_run_id}d{DEPLOYERS.index(deployer)}"
    node = Node(Docker(pods_docker.binary, f"user-service-pods-run={run_id}"), run_id)
    cluster = Cluster(node, BOUND)
    figures: dict[str, Any] = {}
    try:

        def step(action: Action, docs: list[Obj]) -> dict[str, float]:
            began = time.monotonic()
            timings = cluster.deploy(deployer, deployer.plan(docs, action))
            figures[f"{action}_ready_s"] = round(time.monotonic() - began, 2)
            return timings

        step("install", renders["first"])
        assert _schema_version(cluster, first) == 1
        assert _images(cluster) == {f"user-service:{tag}"}
        with Traffic(cluster, headers) as upgrade_traffic:
            step("upgrade", renders["second"])
        assert _schema_version(cluster, first) == 2
        assert _images(cluster) == {f"user-service:{next_tag}"}
        with Traffic(cluster, headers) as rollback_traffic:
            step("rollback", renders["first"])
        assert _schema_version(cluster, first) == 2  # a newer schema serves the older code
        assert _images(cluster) == {f"user-service:{tag}"}
        assert all(pod.restarts == 0 for pod in cluster.api)
        assert upgrade_traffic.failed == [] and upgrade_traffic.ok > 0
        assert rollback_traffic.failed == [] and rollback_traffic.ok > 0
        figures["jobs"] = {
            name: job.run.exit_codes if job.run else None for name, job in cluster.jobs.items()
        }
        figures["requests_during_upgrade_and_rollback"] = upgrade_traffic.ok + rollback_traffic.ok
    finally:
        cluster.close()
        node.cleanup()
    record(f"6 {deployer.name}", **figures)
