"""compose.yaml: parses with every Compose available, and the stack comes up in order.

No registry here: the official postgres image is replaced by the local stand-in through the
file's POSTGRES_IMAGE variable; everything else is the file as users run it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from .conftest import skip_or_fail
from .dockerctl import POSTGRES_IMAGE, REPO, Docker, wait_for

pytestmark = pytest.mark.container


def compose_commands(docker: Docker | None = None) -> list[list[str]]:
    """Debian's docker-compose v1 (required) and `docker compose` v2 when a client has it."""
    v1 = shutil.which("docker-compose")
    if v1 is None:
        skip_or_fail("docker-compose v1 not installed (scripts/docker-up.sh installs it)")
    commands = [[v1]]
    clients = [docker.binary] if docker else []
    clients += [c for c in [shutil.which("docker")] if c and c not in clients]
    for client in clients:
        probe = subprocess.run(
            [client, "compose", "version"], capture_output=True, timeout=20, check=False
        )
        if probe.returncode == 0:
            commands.append([client, "compose"])
            break
    return commands


def test_compose_file_parses_with_v1_and_v2() -> None:
    for compose in compose_commands():
        proc = subprocess.run(
            [*compose, "-f", "compose.yaml", "config", "-q"],
            cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, f"{compose}: {proc.stderr}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def moment(timestamp: str) -> float:
    """Docker's RFC 3339 timestamps (UTC, up to 9 fraction digits) as seconds."""
    whole, _, fraction = timestamp.rstrip("Z").partition(".")
    return datetime.fromisoformat(whole).replace(tzinfo=UTC).timestamp() + float(f"0.{fraction}0")


@pytest.fixture
def project(docker: Docker, images: str, run_id: str) -> Iterator[str]:
    """`compose up -d api` on a free loopback port; always `down --volumes` afterwards."""
    name = f"ustest{run_id}"
    compose = [*compose_commands(docker)[0], "-f", "compose.yaml", "-p", name]
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
        yield name
    finally:
        run("down", "--volumes", "--remove-orphans", "--timeout", "20")


def test_stack_migrates_before_the_api_starts(docker: Docker, project: str) -> None:
    def state(service: str) -> dict[str, Any]:
        ids = docker(
            "ps", "-aq", "--filter", f"label=com.docker.compose.project={project}",
            "--filter", f"label=com.docker.compose.service={service}",
        ).stdout.split()  # fmt: skip
        assert len(ids) == 1, (service, ids)
        result: dict[str, Any] = docker.inspect(ids[0])["State"]
        return result

    migrate, api = state("migrate"), state("api")
    assert (migrate["Status"], migrate["ExitCode"]) == ("exited", 0)
    assert api["Running"]
    assert moment(migrate["FinishedAt"]) <= moment(api["StartedAt"])
