"""Running the load generators (wrk, pgbench) and reading what they report.

Both run as our children for a fixed time; their CPU comes from wait4(), so it is theirs alone.
"""

from __future__ import annotations

import json
import os
import re
import resource
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
WRK_SCRIPT = HERE / "wrk.lua"
SQL = HERE / "sql"
# A hung generator must not hang the benchmark: it gets its duration plus this much.
_GRACE_SECONDS = 60


@dataclass(frozen=True, slots=True)
class Load:
    """What a load generator saw."""

    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int  # HTTP status >= 400 (wrk), failed transactions (pgbench)
    socket_errors: int  # connect + read + write + timeout (wrk); 0 for pgbench
    cpu_seconds: float  # the generator's own user + system time


def _run_child(command: list[str], seconds: float, env: dict[str, str] | None) -> tuple[str, float]:
    """Runs to completion; returns its output and the CPU seconds it used (via wait4)."""
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(  # noqa: S603 - fixed tools, arguments we built
            command, stdout=out, stderr=subprocess.STDOUT, env=env
        )
        try:
            status, usage = _wait4(process.pid, seconds + _GRACE_SECONDS)
        except TimeoutError:
            process.kill()
            process.wait()
            raise
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"{command[0]} exited {process.returncode}: {text[-2000:]}")
    return text, usage.ru_utime + usage.ru_stime


def _wait4(pid: int, timeout: float) -> tuple[int, resource.struct_rusage]:
    deadline = time.monotonic() + timeout
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done == pid:
            return status, usage
        if time.monotonic() > deadline:
            raise TimeoutError(f"pid {pid} still running after {timeout:.0f} s")
        time.sleep(0.05)


def wrk(
    url: str,
    *,
    connections: int,
    seconds: float,
    mode: str,
    path: str = "/",
    max_id: int = 1,
    tag: str = "bench",
    api_key: str = "",
    threads: int = 2,
) -> Load:
    command = [
        "wrk",
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "5s",
        "--latency",
        "-s",
        str(WRK_SCRIPT),
        url,
        "--",
        mode,
        str(max_id),
        tag,
        path,
        api_key,
    ]
    text, cpu = _run_child(command, seconds, None)
    match = re.search(r"^BENCH_JSON (\{.*\})$", text, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk printed no summary: {text[-2000:]}")
    s = json.loads(match[1])
    return Load(
        requests=s["requests"],
        rps=s["requests"] / (s["duration_us"] / 1e6),
        p50_ms=s["p50"] / 1000,
        p99_ms=s["p99"] / 1000,
        non_2xx=s["status"],
        socket_errors=s["connect"] + s["read"] + s["write"] + s["timeout"],
        cpu_seconds=cpu,
    )


def pgbench(
    binary: Path,
    *,
    host: str,
    port: int,
    user: str,
    password: str,
    database: str,
    script: str,
    clients: int,
    seconds: float,
    variables: dict[str, str],
    threads: int = 2,
) -> Load:
    """pgbench with a custom script, prepared protocol, over TCP like the service."""
    with tempfile.TemporaryDirectory(prefix="bench-pgbench-") as logs:
        command = [
            str(binary),
            "--no-vacuum",
            "--protocol=prepared",
            f"--client={clients}",
            f"--jobs={min(threads, clients)}",
            f"--time={max(1, round(seconds))}",
            f"--file={SQL / script}",
            # A sample of per-transaction latencies gives p50/p99 (pgbench prints only the mean).
            "--log",
            "--sampling-rate=0.1",
            f"--log-prefix={logs}/tx",
            f"--host={host}",
            f"--port={port}",
            f"--username={user}",
        ]
        for name, value in variables.items():
            command.append(f"--define={name}={value}")
        command.append(database)
        env = {**os.environ, "PGPASSWORD": password}
        text, cpu = _run_child(command, seconds, env)
        latencies = _logged_latencies_ms(Path(logs))
    tps = re.search(r"^tps = ([\d.]+) \(without initial connection time\)", text, re.MULTILINE)
    processed = re.search(r"^number of transactions actually processed: (\d+)", text, re.MULTILINE)
    failed = re.search(r"^number of failed transactions: (\d+)", text, re.MULTILINE)
    if tps is None or processed is None:
        raise RuntimeError(f"pgbench printed no summary: {text[-2000:]}")
    return Load(
        requests=int(processed[1]),
        rps=float(tps[1]),
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        non_2xx=int(failed[1]) if failed else 0,
        socket_errors=0,
        cpu_seconds=cpu,
    )


def _logged_latencies_ms(directory: Path) -> list[float]:
    # Each line: client_id transaction_no latency_us script_no epoch_s epoch_us
    latencies = []
    for log in directory.iterdir():
        for line in log.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[2].isdigit():
                latencies.append(int(fields[2]) / 1000)
    return latencies


def percentile(values: list[float], pct: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]
