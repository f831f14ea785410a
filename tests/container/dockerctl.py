"""A small typed wrapper over the docker CLI: subprocess only, no Docker SDK dependency."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

APP_IMAGE = os.environ.get("USER_SERVICE_IMAGE", "user-service:dev")
POSTGRES_IMAGE = "user-service/postgres-standin:15"
# How the chart's securityContext runs the pod: read-only root, only /tmp writable, the image's
# fixed UID, no capabilities, no privilege escalation.
HARDENED = (
    "--read-only",
    "--tmpfs", "/tmp",  # noqa: S108 (a path inside the container, not a temp file here)
    "--user", "10001:10001",
    "--cap-drop", "ALL",
    "--security-opt", "no-new-privileges",
)  # fmt: skip


def docker_binary() -> str | None:
    """Debian's client first: the newer one that may come first on PATH has no BuildKit."""
    for candidate in (os.environ.get("DOCKER"), "/usr/bin/docker", shutil.which("docker")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


class DockerError(RuntimeError):
    """A docker CLI call failed; the message carries its stderr."""


@dataclass(frozen=True)
class Docker:
    binary: str
    # key=value put on every container and network the tests create, for the final sweep.
    label: str

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [self.binary, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and proc.returncode != 0:
            msg = f"docker {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}"
            raise DockerError(msg)
        return proc

    def inspect(self, name: str) -> dict[str, Any]:
        result: list[dict[str, Any]] = json.loads(self("inspect", name).stdout)
        return result[0]

    def logs(self, name: str) -> str:
        proc = self("logs", "--tail", "40", name, check=False)
        return proc.stdout + proc.stderr

    def sweep(self) -> None:
        """Remove every container (with its anonymous volumes) and network of this run."""
        ids = self("ps", "-aq", "--filter", f"label={self.label}", check=False).stdout.split()
        if ids:
            self("rm", "-fv", *ids, check=False)
        nets = self("network", "ls", "-q", "--filter", f"label={self.label}", check=False)
        if nets.stdout.split():
            self("network", "rm", *nets.stdout.split(), check=False)


@dataclass(frozen=True)
class Postgres:
    """The postgres stand-in container, reachable from other containers as `host`.

    Two roles, as the chart and the compose file set them up: `user` owns the databases (the
    server's superuser; only `migrate` connects as it) and `app_user`, which `migrate` creates,
    may read and write rows but run no DDL (the API connects as it)."""

    container: str
    network: str
    host: str
    user: str
    password: str
    app_user: str
    app_password: str

    def _libpq(self, database: str, user: str, password: str) -> dict[str, str]:
        return {
            "PGHOST": self.host,
            "PGPORT": "5432",
            "PGUSER": user,
            "PGPASSWORD": password,
            "PGDATABASE": database,
        }

    def migrate_env(self, database: str) -> dict[str, str]:
        """What the chart's migration Job gets: the owner, and the app role to create."""
        return {
            **self._libpq(database, self.user, self.password),
            "APP_DB_USER": self.app_user,
            "APP_DB_PASSWORD": self.app_password,
        }

    def app_env(self, database: str) -> dict[str, str]:
        """The libpq variables the chart gives the API pods: the app role (passwords come from
        Secrets there)."""
        return self._libpq(database, self.app_user, self.app_password)

    def psql(self, docker: Docker, sql: str, database: str = "postgres") -> str:
        """One query as the owner, over the container's unix socket; unaligned output."""
        command = ("psql", "-qtA", "-v", "ON_ERROR_STOP=1", "-U", self.user, "-d", database)
        return docker("exec", self.container, *command, "-c", sql).stdout.strip()


# API keys of this test session (random, so a leak can't be mistaken for a constant): the write
# key as the chart configures it (its SHA-256 only), a read key as a raw entry.
API_KEY = secrets.token_urlsafe(32)
READ_KEY = secrets.token_urlsafe(32)
API_KEYS = (
    f"tests:write:sha256:{hashlib.sha256(API_KEY.encode()).hexdigest()},reader:read:{READ_KEY}"
)


@dataclass(frozen=True)
class Api:
    """A running app container, published on loopback."""

    container: str
    base_url: str

    @property
    def auth(self) -> dict[str, str]:
        """Headers that authenticate as the session's write key."""
        return {"Authorization": f"Bearer {API_KEY}"}


def env_args(env: dict[str, str]) -> list[str]:
    return [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]


def http_status(url: str, timeout: float = 2, key: str | None = None) -> int | None:
    """The status of GET url (with `key` as its bearer API key), or None when nothing answers."""
    request = urllib.request.Request(url)  # noqa: S310 (http on loopback)
    if key is not None:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def wait_for(url: str, want: int, timeout: float, alive: Callable[[], None] | None = None) -> None:
    """Poll url until it answers `want`; `alive()` may raise to stop early (container died)."""
    deadline = time.monotonic() + timeout
    last: int | None = None
    while time.monotonic() < deadline:
        last = http_status(url)
        if last == want:
            return
        if alive is not None:
            alive()
        time.sleep(0.2)
    msg = f"{url} answered {last}, not {want}, within {timeout}s"
    raise TimeoutError(msg)
