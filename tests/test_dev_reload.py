"""docker/dev/reload.py, the `dev` image's entrypoint, on the host: signals are passed on and
awaited (no SIGKILL 5 s later, which the watchfiles CLI would send), a change restarts the
command only once the old process has exited, and the command's own exit ends it before any
reload. The end-to-end loop in a pod is tests/pods/test_7_dev_loop.py."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import REPO

RELOADER = REPO / "docker" / "dev" / "reload.py"
# Stands in for the service: notes its start and its SIGTERM in a file, takes `drain` seconds
# to stop, then exits 0.
CHILD = r"""
import os, signal, sys, time
notes, drain = sys.argv[1], float(sys.argv[2])
def note(what):
    with open(notes, "a") as f:
        f.write(f"{what} {os.getpid()}\n")
def on_term(signum, frame):
    note("sigterm")
    time.sleep(drain)
    note("exit")
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
note("start")
while True:
    time.sleep(1)
"""


def start(tmp_path: Path, *command: str) -> subprocess.Popen[str]:
    watched = tmp_path / "src"
    watched.mkdir(exist_ok=True)
    return subprocess.Popen(
        [sys.executable, str(RELOADER), "--watch", str(watched), "--", *command],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


def child(tmp_path: Path, drain: float) -> tuple[str, ...]:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    return (sys.executable, str(script), str(tmp_path / "notes"), str(drain))


def notes(tmp_path: Path) -> list[str]:
    path = tmp_path / "notes"
    return path.read_text().split("\n")[:-1] if path.exists() else []


def wait_for(condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("timed out")
        time.sleep(0.05)


@pytest.mark.slow
def test_sigterm_is_passed_on_and_awaited_however_long_the_drain(tmp_path: Path) -> None:
    with start(tmp_path, *child(tmp_path, drain=6)) as reloader:  # longer than watchfiles' 5 s
        wait_for(lambda: len(notes(tmp_path)) == 1)
        reloader.send_signal(signal.SIGTERM)
        assert reloader.wait(30) == 0
        assert reloader.stdout is not None
        last = json.loads(reloader.stdout.read().splitlines()[-1])
    pid = notes(tmp_path)[0].split()[1]
    assert notes(tmp_path) == [f"start {pid}", f"sigterm {pid}", f"exit {pid}"]
    assert last == {"logger": "dev-reload", "message": "exiting", "code": 0}


def test_a_change_restarts_the_command_after_the_old_one_exited(tmp_path: Path) -> None:
    with start(tmp_path, *child(tmp_path, drain=0.5)) as reloader:
        try:
            wait_for(lambda: len(notes(tmp_path)) == 1)
            for attempt in range(20):  # until the watcher, set up after the start, sees a change
                (tmp_path / "src" / "module.py").write_text(f"VALUE = {attempt}\n")
                time.sleep(0.5)
                if len(notes(tmp_path)) > 1:
                    break
            wait_for(lambda: len(notes(tmp_path)) >= 4)
            first, second = notes(tmp_path)[0].split()[1], notes(tmp_path)[3].split()[1]
            assert notes(tmp_path)[:4] == [
                f"start {first}", f"sigterm {first}", f"exit {first}", f"start {second}"
            ]  # fmt: skip
            (tmp_path / "src" / "notes.txt").write_text("not python\n")  # filtered out
            time.sleep(1)
            assert len(notes(tmp_path)) == 4
        finally:
            reloader.send_signal(signal.SIGTERM)
            reloader.wait(30)


def test_the_command_ending_before_any_change_ends_it_with_its_code(tmp_path: Path) -> None:
    with start(tmp_path, sys.executable, "-c", "import sys; sys.exit(3)") as reloader:
        assert reloader.wait(20) == 3
