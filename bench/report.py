"""The Markdown report: machine, versions, command line, the results table, and the targets.

The targets (docs/benchmark.md) are ratios measured in one run, so that a shared, noisy machine
moves the service and its floors together; absolute figures are only comparable within one
report.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from bench import profile
from bench.loadgen import Load

# The original tutorial's Flask app under gunicorn served GET-by-id at about 1.1-1.3k req/s on
# this kind of machine. It cannot be re-run here, so the target uses the top of that range.
SEED_GET_RPS = 1_300
MB = 1_000_000
# The tracing rows (group "tracing"): GET by id with tracing off, and on at the sampling ratio
# the performance target names (at most 5% more server CPU per GET: docs/observability.md).
TRACING_OFF = "tracing off"
TRACING_RATIO = 0.01
TRACING_ON = f"tracing on, ratio {TRACING_RATIO}"
TRACING_BUDGET = 0.05
# The floor under GET by id (bench/bare.py), and the service's cost targets: server CPU
# microseconds per request at the top connection count, as production runs it.
BARE_HANDLER = "aiohttp + the service's query and pool, no middleware"
CPU_TARGETS_US = {"GET /users/{id}": 150, "POST /users": 220, "GET /users?limit=50": 350}


@dataclass(frozen=True, slots=True)
class Row:
    group: str  # floor, ceiling, service, list
    name: str
    connections: int
    load: Load
    cpu_server: float | None
    cpu_postgres: float
    cpu_other: float
    peak_rss_mib: float | None  # VmHWM of the server so far (a high-water mark since start)
    new_sessions: int
    log_bytes_per_request: float | None


@dataclass(frozen=True, slots=True)
class Results:
    command: str
    started: str
    elapsed_seconds: float
    smoke: bool
    users: int
    warmup: float
    seconds: float
    pool_max_size: int
    machine: dict[str, str]
    rows: list[Row]
    cold_start_seconds: float  # median over every start of the service in the run
    cold_start_max_seconds: float
    idle_rss_mib: float
    notes: list[str]
    profiles: list[profile.Profile] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    goal: str
    measured: str
    passed: bool | None  # None: a figure is missing


def _mb(mib: float) -> float:
    return mib * 1024 * 1024 / MB


def _find(results: Results, group: str, prefix: str, connections: int | None = None) -> Row | None:
    for row in results.rows:
        wanted = connections is None or row.connections == connections
        if row.group == group and row.name.startswith(prefix) and wanted:
            return row
    return None


def targets(results: Results) -> list[Target]:
    top = max((r.connections for r in results.rows if r.group == "service"), default=64)
    get = _find(results, "service", "GET /users/{id}", top)
    post = _find(results, "service", "POST /users", top)
    ceiling = _find(results, "ceiling", "", top)
    bare = _find(results, "floor", BARE_HANDLER, top)
    first = _find(results, "list", "first page")
    deep = _find(results, "list", "deep page")
    found: list[Target] = []

    def add(name: str, goal: str, value: float | None, ok: bool | None, shown: str) -> None:
        found.append(Target(name, goal, shown if value is not None else "missing", ok))

    for against, name, goal in (
        (bare, f"the bare handler @{top} (same query and pool)", 0.6),
        (ceiling, f"framework ceiling @{top}", 0.3),
    ):
        if get and against:
            ratio = get.load.rps / against.load.rps
            add(
                f"GET by id @{top} vs {name}",
                f">= {goal:.2f}",
                ratio,
                ratio >= goal,
                f"{get.load.rps:,.0f} / {against.load.rps:,.0f} = {ratio:.2f}",
            )
    for scenario, budget in CPU_TARGETS_US.items():
        row = _find(results, "service", scenario, top)
        if row is not None and row.name == scenario:
            cost = cpu_per_request(row)
            add(
                f"server CPU per request, {scenario} @{top}",
                f"<= {budget} us",
                cost,
                cost <= budget,
                f"{cost:,.0f} us",
            )
    if get:
        ratio = get.load.rps / SEED_GET_RPS
        add(
            f"GET by id @{top} vs the seed's gunicorn figure",
            f">= 6x {SEED_GET_RPS:,} req/s",
            ratio,
            ratio >= 6,
            f"{get.load.rps:,.0f} = {ratio:.1f}x (seed not re-measurable here)",
        )
        add(
            f"GET by id @{top} p99",
            "<= 25 ms",
            get.load.p99_ms,
            get.load.p99_ms <= 25,
            f"{get.load.p99_ms:.1f} ms",
        )
    if get and post:
        ratio = post.load.rps / get.load.rps
        add(
            f"POST @{top} vs GET by id @{top}",
            ">= 0.50",
            ratio,
            ratio >= 0.5,
            f"{post.load.rps:,.0f} / {get.load.rps:,.0f} = {ratio:.2f}",
        )
        errors = post.load.non_2xx + post.load.socket_errors
        add(
            f"POST @{top} errors",
            "0 non-2xx",
            errors,
            errors == 0,
            f"{post.load.non_2xx} non-2xx, {post.load.socket_errors} socket errors",
        )
    tested = [r for r in results.rows if r.group in ("service", "list")]
    if tested:
        worst = max(tested, key=lambda r: r.new_sessions)
        add(
            "new PostgreSQL sessions in any service load test",
            f"<= pool max ({results.pool_max_size})",
            worst.new_sessions,
            worst.new_sessions <= results.pool_max_size,
            f"at most {worst.new_sessions} ({worst.name} @{worst.connections})",
        )
    if first and deep:
        ratio = deep.load.p50_ms / first.load.p50_ms
        add(
            "list: deep page of the large table vs first page of the small one (p50, 1 connection)",
            "<= 1.3x",
            ratio,
            ratio <= 1.3,
            f"{deep.load.p50_ms:.2f} / {first.load.p50_ms:.2f} ms = {ratio:.2f}x",
        )
    add(
        "cold start to first 200 from /readyz",
        "<= 1.0 s",
        results.cold_start_seconds,
        results.cold_start_seconds <= 1.0,
        f"median {results.cold_start_seconds:.2f} s (max {results.cold_start_max_seconds:.2f} s)",
    )
    idle = _mb(results.idle_rss_mib)
    add("idle RSS", "<= 60 MB", idle, idle <= 60, f"{idle:.1f} MB")
    off, on = tracing_cpu(results.rows, TRACING_OFF), tracing_cpu(results.rows, TRACING_ON)
    if off and on:
        change = on / off - 1
        add(
            f"server CPU per GET, {TRACING_ON} vs {TRACING_OFF} (medians over rounds)",
            f"<= +{TRACING_BUDGET:.0%}",
            change,
            change <= TRACING_BUDGET,
            f"{on:.0f} / {off:.0f} us = {change:+.1%}",
        )
    return found


def cpu_per_request(row: Row) -> float:
    """Server CPU microseconds per request."""
    return 1e6 * (row.cpu_server or 0) / max(row.load.requests, 1)


def tracing_cpu(rows: list[Row], variant: str) -> float | None:
    """Median server CPU per GET of one tracing variant over its rounds."""
    found = [cpu_per_request(r) for r in rows if r.group == "tracing" and r.name.endswith(variant)]
    return statistics.median(found) if found else None


def _cell(value: float | None, digits: int = 1) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:,.{digits}f}"


def machine_section(machine: dict[str, str]) -> list[str]:
    """The "Machine and versions" section every report starts with."""
    return [
        "## Machine and versions",
        "",
        "| | |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in machine.items()],
    ]


def table(rows: list[Row]) -> list[str]:
    lines = [
        "| what | scenario | conns | req/s | p50 ms | p99 ms | non-2xx | socket errors "
        "| CPU s server | CPU s PostgreSQL | CPU s load gen | CPU s other | server CPU us/req "
        "| peak RSS MB | new PG sessions |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        rss = _mb(r.peak_rss_mib) if r.peak_rss_mib is not None else None
        per_request = None
        if r.cpu_server is not None:
            per_request = 1e6 * r.cpu_server / max(r.load.requests, 1)
        lines.append(
            f"| {r.group} | {r.name} | {r.connections} | {r.load.rps:,.0f} "
            f"| {_cell(r.load.p50_ms, 2)} | {_cell(r.load.p99_ms, 2)} | {r.load.non_2xx} "
            f"| {r.load.socket_errors} | {_cell(r.cpu_server)} | {_cell(r.cpu_postgres)} "
            f"| {_cell(r.load.cpu_seconds)} | {_cell(r.cpu_other)} | {_cell(per_request, 0)} "
            f"| {_cell(rss)} "
            f"| {r.new_sessions} |"
        )
    return lines


def _log_sizes(rows: list[Row]) -> list[str]:
    sizes = [
        f"{r.name} {r.log_bytes_per_request:.0f}"
        for r in rows
        if r.group == "service" and r.log_bytes_per_request is not None and r.connections == 16
    ]
    if not sizes:
        return []
    return [
        f"- service log written per request, in bytes (JSON lines to a file): {', '.join(sizes)}."
    ]


def render(results: Results, charts: dict[str, Path] | None = None) -> str:
    out = [f"# user-service benchmark, {results.started}", ""]
    if results.smoke:
        out += [
            "**Smoke run** (tiny tables, about a second per scenario): it proves the command "
            "works; its figures and PASS/MISS mean nothing.",
            "",
        ]
    out += [
        f"Command: `{results.command}` ({results.elapsed_seconds:.0f} s in all)",
        "",
        f"{results.users:,} users; each scenario: {results.warmup:g} s warm-up, then "
        f"{results.seconds:g} s measured. Connections are wrk's (2 threads) or pgbench's "
        "clients (2 jobs); everything on 127.0.0.1.",
        "",
        *machine_section(results.machine),
        "",
        "## Results",
        "",
        *table(results.rows),
        "",
        "- req/s and latency are the load generator's; CPU seconds are over the measured "
        "seconds only: the server process, PostgreSQL (postmaster and every backend), the "
        "load generator; other: the rest of the machine's busy time meanwhile (other tenants, "
        "interrupts), 2 CPUs x the seconds at most. Server CPU per request is the steadiest "
        "figure when other tenants share the machine.",
        "- non-2xx: responses with status >= 400 (wrk), failed transactions (pgbench).",
        "- peak RSS: the server's VmHWM, a high-water mark since its start.",
        "- new PG sessions: pg_stat_database.sessions of the test's database, from the start "
        "of the warm-up to the end (pgbench: the measured run, one session per client, plus "
        "its one setup connection).",
        *_log_sizes(results.rows),
        "",
        f"Cold start (spawn to first 200 from /readyz, database up): median "
        f"{results.cold_start_seconds:.2f} s, max {results.cold_start_max_seconds:.2f} s "
        f"over every start in this run. Idle RSS: {_mb(results.idle_rss_mib):.1f} MB.",
        "",
        "## Targets",
        "",
        "| target | goal | measured | result |",
        "|---|---|---|---|",
    ]
    for t in targets(results):
        verdict = "-" if t.passed is None else ("PASS" if t.passed else "MISS")
        out.append(f"| {t.name} | {t.goal} | {t.measured} | {verdict} |")
    out += profile_section(results.profiles)
    if charts:
        out += ["", "## Charts", ""]
        out += [f"![{kind}]({path.name})" for kind, path in charts.items()]
    out += ["", "## Notes", "", *[f"- {n}" for n in results.notes], ""]
    return "\n".join(out)


def profile_section(
    profiles: list[profile.Profile],
    *,
    window: str = "after its warm-up",
    priced_at: str = "the scenario's server CPU per request in the results table",
) -> list[str]:
    """The cost centres of each profiled scenario, or why there are none."""
    if not profiles:
        return []
    out = ["", "## Where the CPU goes (py-spy)", ""]
    rows = profile.table(profiles)
    if rows:
        out += [
            f"`py-spy record --rate {profile.RATE} --format raw` (blocking, idle samples left "
            "out) of the service while wrk drove each scenario for the measured seconds, "
            f"{window}; every sample is charged to one cost centre (bench/profile.py, RULES). "
            f"Microseconds per request = the centre's share of the samples x {priced_at}, "
            "measured without the profiler (which slows the process it samples: see the last "
            "row); the share of the samples is in brackets. With --keep-logs the raw stacks "
            "stay beside the servers' logs (profile-*.txt): `python -m bench.profile --other "
            "FILE` lists what no rule knows.",
            "",
            *rows,
        ]
    for p in profiles:
        if p.error is not None:
            out += ["", f"No profile of {p.label}: {p.error}"]
    return out


def progress_line(row: Row) -> str:
    return (
        f"bench: {row.group:8} {row.name[:44]:44} c={row.connections:<3} "
        f"{row.load.rps:9,.0f} req/s  p50 {row.load.p50_ms:6.2f} ms  "
        f"p99 {row.load.p99_ms:6.2f} ms  "
        f"err {row.load.non_2xx}/{row.load.socket_errors}  sessions {row.new_sessions}"
    )
