"""The README's first command: `python -m service serve` with no database configured at all."""

from __future__ import annotations

import signal
from pathlib import Path

import aiohttp
import pytest

from tests.procs import ServiceGroup, clean_environ

pytestmark = pytest.mark.slow


def running_postgres(pid: int, data_dir: str) -> bool:
    """Whether `pid` is still that PostgreSQL (a recycled pid belongs to something else)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    return data_dir.encode() in cmdline


def existing(*paths: Path) -> list[Path]:
    return [p for p in paths if p.exists()]


async def test_serve_without_a_database_uses_an_embedded_one_and_removes_it_at_exit(
    services: ServiceGroup,
) -> None:
    service = services.start(clean_environ(), timeout=60)  # no DATABASE_URL, no PG*
    service.wait_ready()
    [notice] = [x for x in service.log_lines() if "NO DATABASE CONFIGURED" in x["message"]]
    assert notice["level"] == "WARNING"
    assert "deleted at exit" in notice["message"]
    data_dir, pid = notice["data_dir"], notice["postgres_pid"]
    version_file = Path(data_dir, "PG_VERSION")
    assert existing(version_file) == [version_file]
    assert running_postgres(pid, data_dir)
    [starting] = service.messages("starting")
    assert ":***@127.0.0.1:" in starting["settings"]["database_url"]

    async with aiohttp.ClientSession(service.base_url) as http:
        async with http.post("/users", json={"username": "first", "email": "f@x.org"}) as made:
            assert made.status == 201
            user = await made.json()
        url = f"/users/{user['id']}"
        async with http.get(url) as got:
            assert (got.status, await got.json()) == (200, user)
        async with http.patch(url, json={"email": "first@x.org"}) as patched:
            assert patched.status == 200
            assert (await patched.json())["email"] == "first@x.org"
        async with http.get("/users") as listed:
            assert (await listed.json())["count"] == 1
        async with http.delete(url) as deleted:
            assert deleted.status == 204
        async with http.get(url) as gone:
            assert gone.status == 404

    service.send_signal(signal.SIGTERM)
    assert service.wait(20) == 0
    assert service.messages("embedded PostgreSQL stopped and its data deleted")
    assert not running_postgres(pid, data_dir)
    assert existing(Path(data_dir), Path(data_dir).parent) == []  # the whole throwaway directory
    assert service.stderr() == ""
