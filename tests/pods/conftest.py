"""Fixtures for the pods scenarios: Docker, the images, real helm, and one installed release.

Without Docker or helm the scenarios skip with the reason, except under CI=true, where that is
a failure (tests/helpers.py). Everything a run creates carries its label and is removed at the
end, after a failure too: containers, the network, the claim volumes, the image tags.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from tests.chart.render import Helm
from tests.container.dockerctl import APP_IMAGE, POSTGRES_IMAGE, Docker, docker_binary
from tests.helpers import REPO, skip_or_fail

from .kubelet import Node
from .release import FIGURES, Release, run_values


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("pods scenarios: figures")
        for scenario, figures in FIGURES:
            terminalreporter.write_line(f"{scenario}: {json.dumps(figures, default=str)}")


@pytest.fixture(scope="session")
def pods_run_id() -> str:
    return secrets.token_hex(4)


@pytest.fixture(scope="session")
def pods_helm() -> Helm:
    binary = REPO / ".tools" / "bin" / "helm"
    if not os.access(binary, os.X_OK):
        skip_or_fail(f"{binary} not found: run scripts/install-tools.sh")
    return Helm(binary)


@pytest.fixture(scope="session")
def pods_docker(pods_run_id: str) -> Docker:
    binary = docker_binary() or ""
    if not binary:
        skip_or_fail("no docker CLI (scripts/docker-up.sh installs and starts Docker)")
    try:
        subprocess.run([binary, "info"], capture_output=True, timeout=20, check=True)
    except (subprocess.SubprocessError, OSError):
        skip_or_fail("Docker engine not reachable (scripts/docker-up.sh starts dockerd)")
    return Docker(binary, label=f"user-service-pods-run={pods_run_id}")


def _build(docker: Docker, script: str) -> None:
    """The same build scripts, with the same environment, as tests/container's images fixture."""
    proc = subprocess.run(
        [script], cwd=REPO, capture_output=True, text=True, timeout=1200, check=False,
        env={**os.environ, "DOCKER": docker.binary, "IMAGE": APP_IMAGE},
    )  # fmt: skip
    if proc.returncode != 0:
        pytest.fail(f"{script} failed:\n{proc.stdout}\n{proc.stderr}", pytrace=False)
    print(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def pods_images(pods_docker: Docker, pods_run_id: str) -> Iterator[tuple[str, str]]:
    """(app tag, postgres tag): this run's own tags of the freshly built images, so a parallel
    rebuild of user-service:dev cannot swap an image under a running scenario."""
    _build(pods_docker, "docker/postgres-standin/build.sh")
    _build(pods_docker, "scripts/build-image.sh")
    tag = f"pods-{pods_run_id}"
    repo, _, _ = POSTGRES_IMAGE.rpartition(":")
    pods_docker("tag", APP_IMAGE, f"user-service:{tag}")
    pods_docker("tag", POSTGRES_IMAGE, f"{repo}:{tag}")
    yield tag, f"{repo}:{tag}"
    pods_docker("rmi", f"user-service:{tag}", f"{repo}:{tag}", check=False)


@pytest.fixture(scope="session")
def node(pods_docker: Docker, pods_run_id: str) -> Iterator[Node]:
    node = Node(pods_docker, pods_run_id)
    try:
        yield node
    finally:
        node.cleanup()


def readyz(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=3) as response:  # noqa: S310
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture(scope="session")
def release(node: Node, pods_helm: Helm, pods_images: tuple[str, str]) -> Release:
    """`helm install`, as Helm orders it: every regular object at once (the database pod and
    two app pods start together), then the post-install hook, the migration Job.

    The Job is started once the database is ready and the app pods have started, so the test
    sees what the chart's hook ordering claims: started app pods stay unready (pending
    migrations) until the Job has run, then turn ready by their readiness probes.
    """
    tag, postgres = pods_images
    values = run_values(tag, postgres, secrets.token_urlsafe(18))
    release = Release(node, pods_helm, values)
    began = time.monotonic()

    def since() -> float:
        return round(time.monotonic() - began, 2)

    release.db = release.start_db_pod()
    release.api = [release.start_api_pod() for _ in range(release.replicas)]
    figures = release.install
    release.db.wait_ready(120)
    figures["db_ready_s"] = since()
    for pod in release.api:
        pod.wait_started(60)
    figures["api_started_s"] = since()
    figures["readyz_before_job"] = [readyz(pod.url) for pod in release.api]
    figures["ready_before_job"] = [pod.ready for pod in release.api]
    figures["job"] = release.run_migration("install")
    figures["job_done_s"] = since()
    for pod in release.api:
        pod.wait_ready(60)
    figures["api_ready_s"] = since()
    return release
