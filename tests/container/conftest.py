"""Fixtures for the container tests: a Docker engine, the images, PostgreSQL, app containers.

Every test here needs Docker. Without it they skip with the reason, except under CI=true,
where a missing engine is a failure: CI must prove the image works, not skip the proof.
Names are unique per run; everything created is labelled and removed at the end, even after a
failure or an interrupted fixture.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator

import pytest

from tests.helpers import REPO, skip_or_fail

from .dockerctl import (
    API_KEYS,
    APP_IMAGE,
    HARDENED,
    POSTGRES_IMAGE,
    Api,
    Docker,
    Postgres,
    docker_binary,
    env_args,
    wait_for,
)

pytestmark = pytest.mark.container


@pytest.fixture(scope="session")
def run_id() -> str:
    return secrets.token_hex(4)


@pytest.fixture(scope="session")
def docker(run_id: str) -> Iterator[Docker]:
    binary = docker_binary()
    if binary is None:
        skip_or_fail("no docker CLI (scripts/docker-up.sh installs and starts Docker)")
    try:
        subprocess.run([binary, "info"], capture_output=True, timeout=20, check=True)
    except (subprocess.SubprocessError, OSError):
        skip_or_fail("Docker engine not reachable (scripts/docker-up.sh starts dockerd)")
    client = Docker(binary, label=f"user-service-test-run={run_id}")
    try:
        yield client
    finally:
        client.sweep()


def run_script(docker: Docker, *command: str) -> str:
    """Run one of the repo's build scripts; their last line reports time and size."""
    proc = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=1200, check=False,
        env={**os.environ, "DOCKER": docker.binary, "IMAGE": APP_IMAGE},
    )  # fmt: skip
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(command)} failed:\n{proc.stdout}\n{proc.stderr}", pytrace=False)
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def images(docker: Docker) -> str:
    """Build (or reuse from the layer cache) the app image and the postgres stand-in."""
    print(run_script(docker, "docker/postgres-standin/build.sh"))
    print(run_script(docker, "scripts/build-image.sh"))
    return APP_IMAGE


@pytest.fixture(scope="session")
def pg_container(docker: Docker, images: str, run_id: str) -> Iterator[Postgres]:
    """The postgres stand-in on a private network: how the app reaches its database in a pod.

    Not named `postgres`: that is the embedded server fixture of tests/conftest.py.
    """
    network = f"us-test-{run_id}"
    docker("network", "create", "--label", docker.label, network)
    pg = Postgres(
        container=f"us-test-{run_id}-db", network=network, host="db",
        user="user_service", password=secrets.token_urlsafe(16),
        app_user="user_service_app", app_password=secrets.token_urlsafe(16),
    )  # fmt: skip
    docker(
        "run", "-d", "--name", pg.container, "--label", docker.label,
        "--network", network, "--network-alias", pg.host,
        "-e", f"POSTGRES_USER={pg.user}", "-e", f"POSTGRES_PASSWORD={pg.password}",
        POSTGRES_IMAGE,
    )  # fmt: skip
    # Over TCP: during first-start init the server listens on its socket only.
    deadline = time.monotonic() + 60
    ready = ("exec", pg.container, "pg_isready", "-h", "127.0.0.1", "-q")
    while docker(*ready, check=False).returncode != 0:
        if time.monotonic() > deadline:
            pytest.fail(f"postgres not ready in 60s:\n{docker.logs(pg.container)}")
        time.sleep(0.3)
    yield pg
    docker("rm", "-fv", pg.container, check=False)
    docker("network", "rm", network, check=False)


def create_database(docker: Docker, pg: Postgres, name: str) -> str:
    command = ("psql", "-q", "-U", pg.user, "-d", "postgres", "-c", f'CREATE DATABASE "{name}"')
    docker("exec", pg.container, *command)
    return name


@pytest.fixture
def new_database(docker: Docker, pg_container: Postgres) -> Callable[[], str]:
    """Create an empty database with a unique name: tests that migrate start from nothing."""

    def create() -> str:
        return create_database(docker, pg_container, f"t_{secrets.token_hex(4)}")

    return create


def run_once(
    docker: Docker, env: dict[str, str], network: str, *command: str
) -> subprocess.CompletedProcess[str]:
    """A one-off app command (as a Kubernetes Job would run it), hardened like the chart."""
    return docker(
        "run", "--rm", "--label", docker.label, "--network", network, *HARDENED,
        *env_args(env), APP_IMAGE, *command,
        check=False, timeout=120,
    )  # fmt: skip


@pytest.fixture(scope="session")
def migrate_output(docker: Docker, pg_container: Postgres) -> str:
    """Migrate a database shared by the tests that only need a working app, as the chart's Job
    does: as the owner, creating the app role. Returns what `migrate` printed."""
    create_database(docker, pg_container, "app")
    proc = run_once(docker, pg_container.migrate_env("app"), pg_container.network, "migrate")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout + proc.stderr


@pytest.fixture(scope="session")
def app_database(migrate_output: str) -> str:
    """The migrated database of the app containers."""
    return "app"


ApiFactory = Callable[..., Api]


@pytest.fixture(scope="session")
def start_api(
    docker: Docker, pg_container: Postgres, app_database: str, run_id: str
) -> Iterator[ApiFactory]:
    """Start app containers as the chart runs them (the app role, the session's API keys);
    each is removed at the end of the session."""
    started: list[str] = []

    def start(**env: str) -> Api:
        name = f"us-test-{run_id}-api{len(started)}"
        started.append(name)
        docker(
            "run", "-d", "--name", name, "--label", docker.label, "--network", pg_container.network,
            *HARDENED, "-p", "127.0.0.1::8080",
            *env_args({**pg_container.app_env(app_database), "API_KEYS": API_KEYS, **env}),
            APP_IMAGE,
        )  # fmt: skip
        host_port = docker("port", name, "8080/tcp").stdout.split()[0]
        api = Api(container=name, base_url=f"http://{host_port}")

        def alive() -> None:
            if not docker.inspect(name)["State"]["Running"]:
                pytest.fail(f"{name} exited:\n{docker.logs(name)}", pytrace=False)

        try:
            wait_for(f"{api.base_url}/readyz", 200, timeout=30, alive=alive)
        except TimeoutError as exc:
            pytest.fail(f"{exc}\n{docker.logs(name)}", pytrace=False)
        return api

    yield start
    if started:
        docker("rm", "-fv", *started, check=False)


@pytest.fixture(scope="session")
def api(start_api: ApiFactory) -> Api:
    """One app container shared by the tests that do not stop it."""
    return start_api()
