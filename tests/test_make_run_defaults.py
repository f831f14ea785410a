"""README: `make run` with no `DATABASE_URL` and no `API_KEYS` serves "without authentication,
on 127.0.0.1 only (a loud warning says so)", and "as a least-privileged role".

The service is started as the Makefile's run target starts it: `python -m service serve` with
nothing set but a free PORT (no HOST, AUTH_DISABLED, API_KEYS, DATABASE_URL or PG*), so none of
tests.procs' serve defaults hide a wrong default. Each promise is checked from outside the
service: the kernel's socket table, the log line, and PostgreSQL's own process titles.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.processes import free_port
from tests.helpers import REPO
from tests.procs import Service, clean_environ, http_get

pytestmark = pytest.mark.slow

LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp{,6}
APP_ROLE = "user_service_app"  # the role service/__main__.py's embedded run migrates for


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[Service]:
    """`python -m service serve` with the make run environment; stopped by its PID."""
    port = free_port()
    stdout, stderr = tmp_path / "serve.stdout", tmp_path / "serve.stderr"
    # The drain delay is not part of these promises: 0 keeps the stop short.
    env = clean_environ(PORT=str(port), DRAIN_DELAY_SECONDS="0")
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "service", "serve"],
            env=env, cwd=REPO, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
        )  # fmt: skip
    service = Service(process, port, stdout, stderr)
    try:
        service.wait_for_log(lambda line: line.get("message") == "listening", timeout=60)
        service.wait_ready()
        yield service
    finally:
        service.stop(timeout=20)


def listeners(port: int) -> list[str]:
    """The local addresses (hex, as the kernel writes them) of every TCP socket listening on
    `port`, IPv4 and IPv6."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if int(hex_port, 16) == port and fields[3] == LISTEN:
                found.append(address)
    return found


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # exited meanwhile
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        if int(text.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def postgres_client_users(service_pid: int) -> list[str]:
    """The role of every client session of the PostgreSQL the service started: a backend's
    process title is `postgres: <role> <database> <client address> <activity>`."""
    users = []
    for postmaster in children(service_pid):
        cmdline = Path(f"/proc/{postmaster}/cmdline").read_bytes()
        if b"postgres" not in cmdline.split(b"\0")[0]:
            continue
        for backend in children(postmaster):
            try:
                title = Path(f"/proc/{backend}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            words = title.decode(errors="replace").split()
            # Client backends name their client's address; auxiliary processes do not.
            if len(words) >= 4 and words[0] == "postgres:" and "127.0.0.1(" in words[3]:
                users.append(words[1])
    return users


def test_make_run_binds_loopback_only(make_run: Service) -> None:
    addresses = listeners(make_run.port)
    assert addresses, f"nothing listens on {make_run.port}"
    # 127.0.0.1 as /proc/net/tcp writes it (little-endian): nothing on 0.0.0.0 or ::.
    assert set(addresses) == {"0100007F"}, addresses


def test_make_run_warns_loudly_that_authentication_is_off(make_run: Service) -> None:
    lines = make_run.log_lines()
    warnings = [
        line
        for line in lines
        if line["level"] in ("WARNING", "ERROR", "CRITICAL")
        and "AUTHENTICATION IS DISABLED" in line["message"]
    ]
    assert len(warnings) == 1, lines
    [starting] = make_run.messages("starting")
    assert lines.index(warnings[0]) < lines.index(starting)
    # And it is so: /users answers without a key.
    status, _, _ = http_get(make_run.port, "/users")
    assert status == 200


def test_make_run_serves_as_the_least_privileged_role(make_run: Service) -> None:
    status, _, _ = http_get(make_run.port, "/users")  # a query, on a pooled session
    assert status == 200
    users = postgres_client_users(make_run.pid)
    assert users, "no client session of the embedded PostgreSQL found"
    assert set(users) == {APP_ROLE}, users
