"""`python -m service ...` as a real subprocess: free ports, captured JSON logs, stop by PID.

A started service writes its stdout (JSON lines) and stderr to files under the test's tmp_path;
tests read them back while it runs. Nothing of the developer's or CI's environment leaks into
the child (no DATABASE_URL, PG*, LOG_LEVEL): each test states the variables it means.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from service.processes import free_port, stop_process
from tests.helpers import REPO

LogLine = dict[str, Any]
# What the operating system and Python need; everything else is the test's to give.
_INHERITED = ("PATH", "LANG", "LC_ALL", "TMPDIR", "HOME")


# Unless a test says otherwise: loopback, no drain delay, and no authentication (the tests of
# authentication set API_KEYS themselves; tests/test_auth.py).
_SERVE_DEFAULTS = {"HOST": "127.0.0.1", "DRAIN_DELAY_SECONDS": "0", "AUTH_DISABLED": "true"}


def clean_environ(**variables: str) -> dict[str, str]:
    inherited = {name: os.environ[name] for name in _INHERITED if name in os.environ}
    return {**inherited, "PYTHONDONTWRITEBYTECODE": "1", **variables}


def run_cli(
    args: Sequence[str], env: Mapping[str, str], timeout: float = 20.0
) -> subprocess.CompletedProcess[str]:
    """Runs `python -m service <args>` to completion (one-off commands: migrate, bad config)."""
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        env=dict(env),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def parse_timestamp(line: LogLine) -> float:
    """A log line's timestamp as a Unix time (the service logs UTC ISO 8601 ending in Z)."""
    return datetime.fromisoformat(str(line["timestamp"]).replace("Z", "+00:00")).timestamp()


def parse_log(text: str) -> list[LogLine]:
    """Each line of a service's stdout as a dict; a line that isn't a JSON object fails."""
    lines = []
    for raw in text.splitlines():
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError:
            raise AssertionError(f"stdout line is not JSON: {raw!r}") from None
        assert isinstance(parsed, dict), f"stdout line is not a JSON object: {raw!r}"
        lines.append(parsed)
    return lines


def http_get(
    port: int, path: str, headers: Mapping[str, str] | None = None, timeout: float = 5.0
) -> tuple[int, dict[str, str], bytes]:
    """One GET on a fresh connection: (status, headers, body). For polling from sync code."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=dict(headers or {}))
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


@dataclass
class Service:
    """One running `python -m service serve`."""

    process: subprocess.Popen[bytes]
    port: int
    stdout_path: Path
    stderr_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def output(self) -> str:
        """Everything the process printed so far, stdout and stderr."""
        return self.stdout() + self.stderr()

    def log_lines(self) -> list[LogLine]:
        """Every complete stdout line so far, parsed (see parse_log)."""
        text = self.stdout()
        return parse_log(text[: text.rfind("\n") + 1])

    def messages(self, message: str) -> list[LogLine]:
        return [line for line in self.log_lines() if line.get("message") == message]

    def _found(self, predicate: Callable[[LogLine], bool]) -> LogLine | None:
        found = next((line for line in self.log_lines() if predicate(line)), None)
        if found is None and self.process.poll() is not None:
            raise AssertionError(
                f"service exited ({self.process.returncode}) before the expected log line:\n"
                + self.output()[-4000:]
            )
        return found

    def wait_for_log(self, predicate: Callable[[LogLine], bool], timeout: float) -> LogLine:
        deadline = time.monotonic() + timeout
        while (found := self._found(predicate)) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"no such log line within {timeout} s:\n{self.stdout()}")
            time.sleep(0.02)
        return found

    async def log_event(self, predicate: Callable[[LogLine], bool], within: float) -> LogLine:
        """wait_for_log for async tests: polls without blocking the event loop."""
        deadline = time.monotonic() + within
        while (found := self._found(predicate)) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"no such log line within {within} s:\n{self.stdout()}")
            await asyncio.sleep(0.02)
        return found

    def wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while http_get(self.port, "/readyz")[0] != 200:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"service not ready within {timeout} s:\n{self.output()}")
            time.sleep(0.05)

    def send_signal(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout)

    async def exited(self, within: float) -> int:
        """The exit code, awaited without blocking the event loop."""
        deadline = time.monotonic() + within
        while (code := self.process.poll()) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"service still running after {within} s")
            await asyncio.sleep(0.01)
        return code

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM by PID, then SIGKILL if it won't go; idempotent."""
        stop_process(self.process, timeout)


@dataclass
class ServiceGroup:
    """Starts services for one test and stops every one of them, whatever the test did."""

    directory: Path
    started: list[Service] = field(default_factory=list)

    def start(
        self,
        env: Mapping[str, str],
        *,
        timeout: float = 20.0,
        module: Sequence[str] = ("service", "serve"),
    ) -> Service:
        """Starts `python -m service serve` (or another `module` and its arguments) with `env`
        and waits until it listens. Unless `env` says otherwise it binds 127.0.0.1 on a free
        port, with no drain delay (as tests.helpers.base_environ)."""
        port = int(env["PORT"]) if "PORT" in env else free_port()
        n = len(self.started)
        stdout_path = self.directory / f"service{n}.stdout"
        stderr_path = self.directory / f"service{n}.stderr"
        with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", *module],
                env={**_SERVE_DEFAULTS, **env, "PORT": str(port)},
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )
        service = Service(process, port, stdout_path, stderr_path)
        self.started.append(service)
        service.wait_for_log(lambda line: line.get("message") == "listening", timeout)
        return service

    def stop_all(self) -> None:
        for service in self.started:
            service.stop()
