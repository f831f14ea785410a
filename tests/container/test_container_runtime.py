"""The image running as the chart runs it, against a real PostgreSQL on a private network."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from .conftest import run_once
from .dockerctl import READ_KEY, Api, Docker, Postgres

pytestmark = pytest.mark.container


def test_migrate_applies_then_is_a_no_op(
    docker: Docker, pg_container: Postgres, new_database: Callable[[], str]
) -> None:
    env = pg_container.migrate_env(new_database())

    def migrate(*args: str) -> int:
        proc = run_once(docker, env, pg_container.network, "migrate", *args)
        return proc.returncode

    assert migrate("--check") == 1  # pending on an empty database
    assert migrate("--wait-timeout", "30") == 0
    assert migrate("--check") == 0
    assert migrate("--wait-timeout", "30") == 0  # again: nothing to do, still success


@pytest.mark.asyncio
async def test_crud_round_trip_through_the_container(api: Api) -> None:
    name = f"u{secrets.token_hex(4)}"
    async with aiohttp.ClientSession(api.base_url, headers=api.auth) as http:

        async def call(method: str, path: str, want: int, body: Any = None) -> Any:
            async with http.request(method, path, json=body) as response:
                text = await response.text()
                assert response.status == want, f"{method} {path}: {response.status} {text}"
                return json.loads(text) if text else None

        created = await call("POST", "/users", 201, {"username": name, "email": f"{name}@ex.org"})
        path = f"/users/{created['id']}"
        assert (await call("GET", path, 200))["username"] == name
        await call("POST", "/users", 409, {"username": name, "email": f"{name}@ex.org"})
        patched = await call("PATCH", path, 200, {"email": f"{name}@example.org"})
        assert patched["email"] == f"{name}@example.org"
        listed = await call("GET", "/users?limit=100", 200)
        assert created["id"] in [user["id"] for user in listed["users"]]
        await call("DELETE", path, 204)
        await call("GET", path, 404)


@pytest.mark.asyncio
async def test_keys_and_scopes_through_the_container(api: Api) -> None:
    async with aiohttp.ClientSession(api.base_url) as http:

        async def status(method: str, key: str | None, body: Any = None) -> int:
            headers = {} if key is None else {"Authorization": f"Bearer {key}"}
            async with http.request(method, "/users", headers=headers, json=body) as response:
                if response.status == 401:
                    assert response.headers["WWW-Authenticate"].startswith("Bearer")
                return response.status

        assert await status("GET", None) == 401
        assert await status("GET", "not-a-configured-key-0123456789") == 401
        assert await status("GET", READ_KEY) == 200
        user = {"username": f"r{secrets.token_hex(4)}", "email": "r@example.org"}
        assert await status("POST", READ_KEY, user) == 403  # read scope on a write route
        # Probes stay open: the kubelet has no key.
        async with http.get("/readyz") as response:
            assert response.status == 200


def test_api_connects_as_the_app_role(docker: Docker, pg_container: Postgres, api: Api) -> None:
    """The API's connections belong to the least-privileged role, none to the owner."""
    sql = (
        "SELECT DISTINCT usename FROM pg_stat_activity "
        "WHERE datname = 'app' AND backend_type = 'client backend'"
    )
    assert pg_container.psql(docker, sql).split() == [pg_container.app_user]
    roles = pg_container.psql(
        docker, "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles"
    )
    assert f"{pg_container.app_user}|f|f|f" in roles.splitlines()


def test_healthcheck_turns_healthy(docker: Docker, api: Api) -> None:
    # The image's own HEALTHCHECK (interval 10s), not an override: up to ~3 intervals.
    deadline = time.monotonic() + 45
    while (health := docker.inspect(api.container)["State"]["Health"])["Status"] != "healthy":
        assert health["Status"] == "starting", health["Log"][-1:]
        assert time.monotonic() < deadline, health
        time.sleep(1)


def test_read_only_root_only_tmp_writable_python_is_pid_1(docker: Docker, api: Api) -> None:
    script = (
        "import os\n"
        "open('/tmp/probe', 'w').write('ok')\n"
        "try:\n"
        "    open('/opt/venv/probe', 'w')\n"
        "except OSError as exc:\n"
        "    print('code', exc.errno)\n"
        "print('pid1', open('/proc/1/cmdline').read().split('\\0')[:3])\n"
        "print('uid', os.getuid(), os.getgid())\n"
    )
    out = docker("exec", api.container, "python", "-c", script).stdout
    assert "code 30" in out  # EROFS: the whole root filesystem is read-only
    assert "pid1 ['python', '-m', 'service']" in out
    assert "uid 10001 10001" in out
