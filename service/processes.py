"""Local child processes and ports, for the development database, the benchmark and the tests.

The web service itself uses neither; they live in this package because it is the one that
service/devdb.py, bench/ and tests/ can all import (bench/ does not import tests/).
"""

from __future__ import annotations

import signal
import socket
import subprocess


def free_port() -> int:
    """A loopback port nobody listens on (nor will, unless the caller starts something on it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def stop_process(
    process: subprocess.Popen[bytes], timeout: float, signum: int = signal.SIGTERM
) -> None:
    """Stop a child by its PID: `signum`, then SIGKILL if it won't go within `timeout` seconds.
    Does nothing if it has already exited."""
    if process.poll() is not None:
        return
    process.send_signal(signum)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
