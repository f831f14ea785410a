"""compose.yaml: parses with every Compose available, and the stack comes up in order: migrate
(as the owner, creating the app role) exits 0 before the api starts, which serves /users only
with a key (the file's dev-only default) and connects as the app role.

No registry here: the official postgres image is replaced by the local stand-in through the
file's POSTGRES_IMAGE variable; everything else is the file as users run it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from service.processes import free_port
from tests.helpers import REPO, skip_or_fail

from .dockerctl import POSTGRES_IMAGE, Docker, http_status, wait_for

pytestmark = pytest.mark.container
COMPOSE = REPO / "compose.yaml"


def compose_cli(major: str, docker: Docker | None = None) -> list[str] | None:
    """The Compose CLI of one major version, or None.

    v1 is Debian's docker-compose (Python); v2 is the `docker compose` plugin (which
    scripts/docker-up.sh installs) or a standalone v2 `docker-compose` binary.
    """
    clients = [c for c in (docker.binary if docker else None, shutil.which("docker")) if c]
    standalone = [shutil.which("docker-compose", path=d) for d in ("/usr/bin", None)]
    candidates = [[c] for c in standalone if c]
    if major == "v2":
        candidates = [[client, "compose"] for client in clients] + candidates
    for argv in candidates:
        probe = subprocess.run(
            [*argv, "version"], capture_output=True, text=True, timeout=20, check=False
        )
        version = re.search(r"version v?(\d+)\.", probe.stdout)
        if probe.returncode == 0 and version and f"v{version[1]}" == major:
            return argv
    return None


def require_compose(major: str, docker: Docker | None = None) -> list[str]:
    argv = compose_cli(major, docker)
    if argv is None:
        skip_or_fail(f"Compose {major} not installed (scripts/docker-up.sh installs it)")
    return argv


@pytest.mark.parametrize("major", ["v1", "v2"])
def test_compose_file_parses(major: str) -> None:
    proc = subprocess.run(
        [*require_compose(major), "-f", "compose.yaml", "config", "-q"],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def moment(timestamp: str) -> float:
    """Docker's RFC 3339 timestamps (UTC, up to 9 fraction digits) as seconds."""
    whole, _, fraction = timestamp.rstrip("Z").partition(".")
    return datetime.fromisoformat(whole).replace(tzinfo=UTC).timestamp() + float(f"0.{fraction}0")


@dataclass(frozen=True)
class Project:
    name: str
    base_url: str


def dev_api_key() -> str:
    """The compose file's dev-only default key, from its API_KEYS default (name:write:key)."""
    match = re.search(r"API_KEYS: \$\{API_KEYS:-\w+:write:([^}]+)\}", COMPOSE.read_text())
    assert match, "compose.yaml has no dev-only API_KEYS default"
    return match[1]


@pytest.fixture
def project(docker: Docker, images: str, run_id: str, major: str) -> Iterator[Project]:
    """`compose up -d api` on a free loopback port; always `down --volumes` afterwards."""
    name = f"ustest{run_id}{major}"
    compose = [*require_compose(major, docker), "-f", "compose.yaml", "-p", name]
    port = free_port()
    env = {**os.environ, "POSTGRES_IMAGE": POSTGRES_IMAGE, "PORT": str(port), "IMAGE": images}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*compose, *args], cwd=REPO, env=env, capture_output=True, text=True,
            timeout=180, check=False,
        )  # fmt: skip

    try:
        up = run("up", "-d", "api")
        assert up.returncode == 0, up.stderr
        wait_for(f"http://127.0.0.1:{port}/readyz", 200, timeout=60)
        yield Project(name, f"http://127.0.0.1:{port}")
    finally:
        run("down", "--volumes", "--remove-orphans", "--timeout", "20")


@pytest.mark.parametrize("major", ["v1", "v2"])
def test_stack_migrates_then_serves_with_keys_as_the_app_role(
    docker: Docker, project: Project
) -> None:
    def container(service: str) -> str:
        ids = docker(
            "ps", "-aq", "--filter", f"label=com.docker.compose.project={project.name}",
            "--filter", f"label=com.docker.compose.service={service}",
        ).stdout.split()  # fmt: skip
        assert len(ids) == 1, (service, ids)
        return ids[0]

    def state(service: str) -> dict[str, Any]:
        result: dict[str, Any] = docker.inspect(container(service))["State"]
        return result

    migrate, api = state("migrate"), state("api")
    assert (migrate["Status"], migrate["ExitCode"]) == ("exited", 0)
    assert api["Running"]
    assert moment(migrate["FinishedAt"]) <= moment(api["StartedAt"])
    # /users needs the key; the dev default in compose.yaml opens it.
    assert http_status(f"{project.base_url}/users", 5) == 401
    assert http_status(f"{project.base_url}/users", 5, key=dev_api_key()) == 200
    # The api's connections are the app role's (migrate created it), none the owner's.
    sql = (
        "SELECT DISTINCT usename FROM pg_stat_activity "
        "WHERE datname = 'user_service' AND backend_type = 'client backend'"
    )
    psql = ("psql", "-qtA", "-U", "user_service", "-d", "postgres", "-c", sql)
    assert docker("exec", container("db"), *psql).stdout.split() == ["user_service_app"]
