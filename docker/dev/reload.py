"""Runs a command and restarts it when a .py file under --watch changes: the entrypoint of the
`dev` image target (`skaffold dev` only; the production image has neither this nor watchfiles).

    python reload.py --watch /app/service -- python -m service serve

Not the `watchfiles` CLI: on SIGTERM it raises KeyboardInterrupt in itself, then stops the
command with SIGINT and SIGKILLs it 5 s later whatever --sigint-timeout says, which would cut
the service's drain (preStop, DRAIN_DELAY_SECONDS, SHUTDOWN_TIMEOUT_SECONDS). Here:

- SIGTERM and SIGINT are passed on to the command unchanged, and this process waits for it,
  however long it drains (the kubelet's grace period bounds that), then exits with its code.
- A change stops the command the way the kubelet does (SIGTERM: the service drains and closes
  its listener), waits for it to exit so that the port is free, then starts it again.
- The command exiting by itself before any reload ends this process with its code, so a Job
  (`migrate`) completes and a broken image crash-loops as the production one would. After a
  reload it waits for the next change instead: the synced files live in this container only,
  and a restarted container would come back with the image's code.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from watchfiles import PythonFilter, watch

# A reload waits this long for the old process to drain and exit, then kills it: a hung edit
# must not block the next one. The kubelet's SIGTERM gets no such limit (its grace period is).
RELOAD_STOP_SECONDS = 30.0
# How often the watch loop wakes with no change, to notice the command exiting by itself.
IDLE_WAKE_MS = 250


def log(message: str, **fields: object) -> None:
    """One JSON line on stdout, among the service's own, in one write so that lines of the two
    processes never interleave."""
    sys.stdout.write(json.dumps({"logger": "dev-reload", "message": message, **fields}) + "\n")
    sys.stdout.flush()


def exit_status(returncode: int) -> int:
    """A shell's view of a child's end: its code, or 128 + the signal that killed it."""
    return 128 - returncode if returncode < 0 else returncode


class Supervisor:
    def __init__(self, command: Sequence[str]) -> None:
        self.command = list(command)
        self.stopping = threading.Event()  # set by SIGTERM/SIGINT; also ends the watch
        self.stop_signal = signal.SIGTERM
        self.child: subprocess.Popen[bytes] | None = None
        self.signalled_pid = 0  # the last child a signal of ours was passed on to
        self.exit_logged = False
        self.reloads = 0

    def start(self) -> subprocess.Popen[bytes]:
        # A process group of its own: a terminal's Ctrl-C reaches only this process, which
        # passes it on once (a second SIGINT would make the service skip its drain).
        child = subprocess.Popen(self.command, process_group=0)  # noqa: S603 (our own argv)
        self.child, self.exit_logged = child, False
        log("started", pid=child.pid, command=self.command, reloads=self.reloads)
        return child

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stop_signal = signal.Signals(signum)
        self.stopping.set()
        self.pass_on(self.stop_signal)

    def pass_on(self, signum: signal.Signals) -> None:
        if self.child is not None and self.child.poll() is None:
            self.child.send_signal(signum)
            self.signalled_pid = self.child.pid

    def reload(self, child: subprocess.Popen[bytes], changed: list[str]) -> subprocess.Popen[bytes]:
        """Stops `child`, then returns a new one (or `child` itself when stopping)."""
        log("change detected: restarting", changed=changed)
        began = time.monotonic()
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(RELOAD_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                log("still running: killing it", seconds=RELOAD_STOP_SECONDS)
                child.kill()
                child.wait()
        log("stopped", code=child.returncode, seconds=round(time.monotonic() - began, 3))
        if self.stopping.is_set():  # no new process once the kubelet stops the pod
            return child
        self.reloads += 1
        return self.start()

    def run(self, root: Path) -> int:
        child = self.start()
        for changes in watch(
            root,
            watch_filter=PythonFilter(),
            stop_event=self.stopping,
            rust_timeout=IDLE_WAKE_MS,
            yield_on_timeout=True,
            raise_interrupt=False,
        ):
            if changes:
                child = self.reload(child, sorted(path for _, path in changes))
            elif child.poll() is not None and self.reloads == 0:
                break  # ended by itself before any edit: the container ends with it
            elif child.poll() is not None and not self.exit_logged:
                self.exit_logged = True
                log("exited: waiting for the next change", code=child.returncode)
        if child.poll() is None and self.signalled_pid != child.pid:
            self.pass_on(self.stop_signal)  # started just as the signal came
        code = child.wait()  # after SIGTERM: as long as the drain takes
        log("exiting", code=code)
        return exit_status(code)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--watch", type=Path, required=True, help="directory to watch")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to run")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command to run")
    supervisor = Supervisor(command)
    for signum in (signal.SIGTERM, signal.SIGINT):  # before the first start: none is missed
        signal.signal(signum, supervisor.on_signal)
    return supervisor.run(args.watch)


if __name__ == "__main__":
    sys.exit(main())
