"""What the kernel knows about a process: CPU seconds and memory, read from /proc.

Load generators are our children and report their own CPU through wait4(); the server and
PostgreSQL are measured by reading their counters before and after each run.
"""

from __future__ import annotations

import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
_PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str]:
    text = (_PROC / str(pid) / "stat").read_text()
    # The command name is in parentheses and may hold spaces: split after its closing one.
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int, *, reaped_children: bool = False) -> float:
    """utime + stime of one process (and of the children it waited for, if asked)."""
    fields = _stat_fields(pid)
    # Fields after the name, 0-based: 11 utime, 12 stime, 13 cutime, 14 cstime.
    ticks = int(fields[11]) + int(fields[12])
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _TICKS


def children(pid: int) -> list[int]:
    found = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if int(_stat_fields(int(entry.name))[1]) == pid:
                found.append(int(entry.name))
        except (OSError, ValueError):  # exited while we looked
            continue
    return found


def tree_cpu_seconds(parent: int) -> float:
    """CPU of a server that forks a process per session (PostgreSQL's postmaster).

    A backend that exits is reaped by the postmaster and its time moves into the postmaster's
    cutime/cstime, so (parent incl. reaped children) + (live children) never loses a session.
    """
    total = cpu_seconds(parent, reaped_children=True)
    for child in children(parent):
        try:
            total += cpu_seconds(child)
        except OSError:  # exited between listing and reading: counted in cutime next time
            continue
    return total


def status_kib(pid: int, field: str) -> int:
    """A `VmRSS` / `VmHWM` style line of /proc/<pid>/status, in KiB."""
    for line in (_PROC / str(pid) / "status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def open_fds(pid: int) -> int:
    """How many file descriptors the process holds open (sockets, files, pipes, epoll)."""
    return len(os.listdir(_PROC / str(pid) / "fd"))


def tcp_connections_to(pid: int, port: int) -> int:
    """The process's TCP sockets connected to `port` (a database pool's connections)."""
    fds = _PROC / str(pid) / "fd"
    inodes = set()
    for fd in os.listdir(fds):
        try:
            target = os.readlink(fds / fd)
        except OSError:  # closed while we looked
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found = 0
    # The namespace's sockets, whoever holds them: the inode says which are the process's.
    for table in ("tcp", "tcp6"):
        path = _PROC / str(pid) / "net" / table
        if not path.exists():  # no IPv6 in this kernel
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()  # sl local_address rem_address st ... uid timeout inode
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if remote_port == port and fields[9] in inodes:
                found += 1
    return found


def uses_library(pid: int, fragment: str) -> bool:
    """Whether the process mapped a shared object whose path contains `fragment`."""
    return fragment in (_PROC / str(pid) / "maps").read_text()


def machine_busy_seconds() -> float:
    """CPU seconds all CPUs spent busy since boot (everything but idle and iowait)."""
    fields = [int(v) for v in (_PROC / "stat").read_text().splitlines()[0].split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is already inside user).
    busy = fields[0] + fields[1] + fields[2] + fields[5] + fields[6] + fields[7]
    return busy / _TICKS


class StealMeter:
    """Share of CPU time the hypervisor gave to others: on a shared machine it explains noise."""

    def __init__(self) -> None:
        self._start = self._read()

    @staticmethod
    def _read() -> tuple[int, int]:
        fields = [int(v) for v in (_PROC / "stat").read_text().splitlines()[0].split()[1:]]
        # user nice system idle iowait irq softirq steal guest guest_nice; guests are in user.
        return fields[7], sum(fields[:8])

    def percent(self) -> float:
        steal, total = self._read()
        steal0, total0 = self._start
        return 100.0 * (steal - steal0) / max(total - total0, 1)
