"""Starting and stopping the HTTP servers under test: the service and the framework ceiling."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import procs
from bench.snapshot import checkout
from service.processes import free_port, stop_process


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    ready_seconds: float  # from spawn to the first 200 from the ready path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 30.0) -> None:
        stop_process(self.process, timeout)


def _status(port: int, path: str) -> int | None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    except OSError:  # not listening yet
        return None
    finally:
        connection.close()


def _start(
    command: list[str],
    env: dict[str, str],
    port: int,
    ready_path: str,
    log: Path,
    *,
    cwd: Path | None = None,
) -> Server:
    with log.open("ab") as out:
        started = time.monotonic()
        # The directory `python -m` imports from: by default the current one (the repository,
        # or the --service-ref snapshot); an @REF variant's snapshot otherwise.
        process = subprocess.Popen(  # noqa: S603 - our own python and module
            command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd
        )
    deadline = started + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{command} exited {process.returncode}; see {log}")
        if _status(port, ready_path) == 200:
            return Server(process, port, log, time.monotonic() - started)
        # Fine-grained polling: the cold start is measured from this loop.
        time.sleep(0.005)
    Server(process, port, log, 0).stop()
    raise RuntimeError(f"{command} not ready after 30 s; see {log}")


def start_service(
    database_url: str, log: Path, api_key: str, variants: tuple[str, ...] = ()
) -> Server:
    """`python -m service serve` as production runs it: one process, INFO logs, metrics on.

    The settings are the chart's defaults (pool 2..10 and the rest), bound to loopback, with
    one write-scoped API key and /metrics on its own port as the chart sets them. Only
    DRAIN_DELAY_SECONDS is 0: it changes nothing while serving and makes each stop quick.
    Variants are NAME=VALUE settings for the environment, names of bench/variants.py that it
    chooses through the service's seams as it starts it, or @REF: the service/ of that git
    ref instead of the work tree's (to compare a change with the commit before it).
    """
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "METRICS_PORT": str(free_port()),
        "API_KEYS": f"bench:write:{api_key}",
        "LOG_LEVEL": "INFO",
        "DRAIN_DELAY_SECONDS": "0",
    }
    patches = []
    cwd = None
    for variant in variants:
        name, is_setting, value = variant.partition("=")
        if variant.startswith("@"):
            cwd = checkout(variant.removeprefix("@"))[1]
        elif is_setting:
            env[name] = value
        else:
            patches.append(name)
    command = [sys.executable, "-m", "service", "serve"]
    if patches:
        command = [sys.executable, "-m", "bench.variants", ",".join(patches)]
    return _start(command, env, port, "/readyz", log, cwd=cwd)


def start_bare(database_url: str, log: Path, *, uvloop: bool) -> Server:
    """bench/bare.py: GET /users/{id} with the service's query and pool, nothing else."""
    port = free_port()
    command = [sys.executable, "-m", "bench.bare", "--port", str(port)]
    if uvloop:
        command.append("--uvloop")
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"}
    return _start(command, env, port, "/users/1", log)


def start_ceiling(log: Path, *, uvloop: bool) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "bench.ceiling", "--port", str(port)]
    if uvloop:
        command.append("--uvloop")
    return _start(command, dict(os.environ), port, "/users/1", log)


def start_otlp_sink(log: Path) -> Server:
    """bench/otlpsink.py: where the service sends its spans when tracing is on."""
    port = free_port()
    command = [sys.executable, "-m", "bench.otlpsink", "--port", str(port)]
    return _start(command, dict(os.environ), port, "/stats", log)


def uses_uvloop(server: Server) -> bool:
    """The ceiling must run on the service's event loop: look for uvloop in its memory map."""
    return procs.uses_library(server.pid, "uvloop/loop.")
