"""The measuring harness shared by the benchmark (run.py) and the comparisons (compare.py)."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench import dataset, loadgen, procs, profile, report
from bench.server import Server, start_service
from service.devdb import EmbeddedPostgres
from service.devpooler import PgBouncer

# The chart's PostgreSQL runs the official image's stock configuration with this one change;
# durability stays on (fsync, synchronous_commit, full_page_writes), so an INSERT pays for its
# WAL flush here as it would in production.
POSTGRES_SETTINGS = {"max_connections": "100"}
POOL_MAX_SIZE = 10  # the service's and the chart's default DB_POOL_MAX_SIZE
MAIN_DATABASE = "bench"
# The variant that puts PgBouncer (transaction mode, as CloudNativePG's Pooler runs it) between
# the service and PostgreSQL, with DB_TRANSACTION_POOLING=true (docs/scaling.md).
PGBOUNCER_VARIANT = "pgbouncer"

Load = Callable[[float, str], loadgen.Load]  # (seconds, phase "w" or "m") -> what it measured


@dataclass(frozen=True, slots=True)
class Plan:
    users: int
    warmup: float
    seconds: float
    connections: tuple[int, ...]
    pgbench_clients: int
    list_small: int  # users in the table whose first page is the list target's baseline
    list_large: int  # users in the table whose deep page must cost about the same
    # One request at a time: the list target compares what a page costs, and with more
    # connections p50 is mostly time queued behind other requests in the busy process.
    list_connections: int
    cold_starts: int
    idle_wait: float  # seconds after ready before the idle RSS is read
    settle: float  # pause before reading pg_stat_database (backends publish within ~1 s)
    tracing_rounds: int = 4  # GET by id with tracing off and on, in turns (run.py, _tracing)


def full_plan(users: int, warmup: float, seconds: float) -> Plan:
    return Plan(users, warmup, seconds, (16, 64), 16, 10_000, 1_000_000, 1, 3, 2.0, 1.0)


SMOKE = Plan(1_000, 0.5, 1.0, (16, 64), 16, 1_000, 10_000, 1, 1, 0.5, 0.3, tracing_rounds=1)


@dataclass
class Run:
    """Everything one benchmark run keeps around while it measures."""

    plan: Plan
    postgres: EmbeddedPostgres
    logs: Path
    rows: list[report.Row] = field(default_factory=list)
    cold_starts: list[float] = field(default_factory=list)
    idle_rss_mib: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    profiling: bool = True  # py-spy windows (bench/profile.py)
    profiles: list[profile.Profile] = field(default_factory=list)
    # The PgBouncer of the pgbouncer variant while it serves: its CPU counts with PostgreSQL's.
    pooler: PgBouncer | None = None
    run_id: str = field(default_factory=lambda: secrets.token_hex(3))

    api_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    app_password: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    def dsn(self, database: str) -> str:
        return self.postgres.dsn(database)

    def app_dsn(self, seeded: dataset.Seeded) -> str:
        """What the service connects with: the app role where migrate made one."""
        if seeded.app_password is None:
            return self.dsn(seeded.database)
        p = self.postgres
        return (
            f"postgresql://{dataset.APP_ROLE}:{seeded.app_password}@127.0.0.1:{p.port}/"
            f"{seeded.database}"
        )

    def sessions(self, database: str) -> int:
        return dataset.sessions_opened(self.postgres.dsn("postgres"), database)

    def postgres_cpu(self) -> float:
        pid = self.postgres.pid
        if pid is None:
            raise RuntimeError("PostgreSQL is not running")
        pooler = self.pooler.pid if self.pooler is not None else None
        return procs.tree_cpu_seconds(pid) + (procs.cpu_seconds(pooler) if pooler else 0.0)

    def tag(self, label: str) -> str:
        """A prefix that keeps the usernames of every POST run unique."""
        return f"b{self.run_id}{label}"

    def measure(
        self,
        group: str,
        name: str,
        load: Load,
        *,
        connections: int,
        database: str,
        server: Server | None,
        sessions_from_warmup: bool = True,
    ) -> report.Row:
        """Warm-up, then the measured run; CPU is counted over the measured run only.

        New sessions count from the start of the warm-up for the servers we test (a pool that
        grows under load shows up), but from the measured run for pgbench, whose clients each
        open one session by design.
        """
        before_sessions = self.sessions(database)
        load(self.plan.warmup, "w")
        if not sessions_from_warmup:
            time.sleep(self.plan.settle)
            before_sessions = self.sessions(database)
        server_cpu = procs.cpu_seconds(server.pid) if server else 0.0
        postgres_cpu = self.postgres_cpu()
        busy = procs.machine_busy_seconds()
        log_bytes = server.log.stat().st_size if server else 0
        result = load(self.plan.seconds, "m")
        busy = procs.machine_busy_seconds() - busy
        server_cpu = procs.cpu_seconds(server.pid) - server_cpu if server else 0.0
        postgres_cpu = self.postgres_cpu() - postgres_cpu
        log_bytes = server.log.stat().st_size - log_bytes if server else 0
        time.sleep(self.plan.settle)
        row = report.Row(
            group=group,
            name=name,
            connections=connections,
            load=result,
            cpu_server=server_cpu if server else None,
            cpu_postgres=postgres_cpu,
            # Whatever else kept the CPUs busy meanwhile (other tenants' work, the kernel's
            # interrupt time): a large figure means the row was measured on a crowded machine.
            cpu_other=max(0.0, busy - server_cpu - postgres_cpu - result.cpu_seconds),
            peak_rss_mib=procs.status_kib(server.pid, "VmHWM") / 1024 if server else None,
            new_sessions=self.sessions(database) - before_sessions,
            log_bytes_per_request=log_bytes / max(result.requests, 1) if server else None,
        )
        self.rows.append(row)
        print(report.progress_line(row), file=sys.stderr, flush=True)
        return row


def profile_window(
    run: Run,
    server: Server,
    scenario: str,
    *,
    connections: int,
    load: Load,
    server_us: float,
    variant: str = "",
) -> profile.Profile:
    """A warm-up, then py-spy records `server` for the measured seconds of `load`
    (bench/profile.py); `server_us` is the scenario's server CPU per request, measured without
    the profiler."""
    load(run.plan.warmup, "w")
    slug = re.sub(r"[^A-Za-z0-9]+", "-", f"{variant} {scenario} {connections}").strip("-")
    output = run.logs / f"profile-{slug}.txt"
    window: dict[str, float] = {}

    def measured() -> None:
        cpu = procs.cpu_seconds(server.pid)
        result = load(run.plan.seconds, "m")
        cpu = procs.cpu_seconds(server.pid) - cpu
        window["rps"] = result.rps
        window["us"] = 1e6 * cpu / max(result.requests, 1)

    samples, error = profile.record_window(server.pid, output, measured)
    found = profile.Profile(
        scenario=scenario,
        connections=connections,
        samples=dict(samples),
        server_us=server_us,
        window_rps=window.get("rps", 0.0),
        window_server_us=window.get("us", 0.0),
        error=error,
        variant=variant,
    )
    if error is not None:
        run.notes.append(f"profile of {found.label}: none, {error}")
    print(
        f"bench: profile  {found.label[:48]:48} "
        + (f"{found.total:,} samples" if error is None else f"FAILED: {error}"),
        file=sys.stderr,
        flush=True,
    )
    return found


def ensure_wrk(install: bool) -> None:
    if shutil.which("wrk"):
        return
    if not install or os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise SystemExit(
            "bench: wrk is not installed. On Debian/Ubuntu: apt-get install -y wrk "
            "(this command does it itself when run as root without --no-install)."
        )
    print("bench: installing wrk from Debian (apt-get install -y wrk)", file=sys.stderr)
    command = ["apt-get", "install", "-y", "-qq", "wrk"]
    if subprocess.run(command, check=False).returncode != 0:  # noqa: S603 - fixed command
        subprocess.run(["apt-get", "update", "-qq"], check=True)  # noqa: S607 - PATH apt-get
        subprocess.run(command, check=True)  # noqa: S603 - fixed command


def pgbench_load(run: Run, database: str, script: str, max_id: int) -> Load:
    postgres = run.postgres

    def load(seconds: float, phase: str) -> loadgen.Load:
        return loadgen.pgbench(
            postgres.binary("pgbench"),
            host="127.0.0.1",
            port=postgres.port,
            user=postgres.user,
            password=postgres.password,
            database=database,
            script=script,
            clients=run.plan.pgbench_clients,
            seconds=seconds,
            variables={"max_id": str(max_id), "n": "0", "tag": run.tag(f"pgb{phase}")},
        )

    return load


def wrk_load(
    run: Run, server: Server, *, connections: int, mode: str, path: str, max_id: int, label: str
) -> Load:
    def load(seconds: float, phase: str) -> loadgen.Load:
        return loadgen.wrk(
            server.url,
            connections=connections,
            seconds=seconds,
            mode=mode,
            path=path,
            max_id=max_id,
            tag=run.tag(f"{label}{connections}{phase}"),
            api_key=run.api_key,
        )

    return load


@contextmanager
def serving(
    run: Run, seeded: dataset.Seeded, label: str, variants: tuple[str, ...] = ()
) -> Iterator[Server]:
    """The service on a seeded database; every start also counts as a cold-start sample."""
    # A label may hold a setting's value, a URL say: keep its file name one path component.
    log = run.logs / f"service-{re.sub(r'[^A-Za-z0-9_.+=-]', '_', label)}.log"
    with _database_path(run, seeded, variants) as (database_url, settings):
        server = start_service(database_url, log, run.api_key, settings)
        run.cold_starts.append(server.ready_seconds)
        try:
            yield server
        finally:
            server.stop()


@contextmanager
def _database_path(
    run: Run, seeded: dataset.Seeded, variants: tuple[str, ...]
) -> Iterator[tuple[str, tuple[str, ...]]]:
    """The URL the service connects to, and the variants left for start_service: PostgreSQL
    itself, or with the pgbouncer variant a PgBouncer in front of it."""
    if PGBOUNCER_VARIANT not in variants:
        yield run.app_dsn(seeded), variants
        return
    note = "pgbouncer variant: its PostgreSQL CPU per request includes PgBouncer's own"
    if note not in run.notes:
        run.notes.append(note)
    p = run.postgres
    pooler = PgBouncer(p.port, auth_user=p.user, auth_password=p.password)
    pooler.start()
    run.pooler = pooler
    user, password = (
        (dataset.APP_ROLE, seeded.app_password) if seeded.app_password else (p.user, p.password)
    )
    rest = tuple(v for v in variants if v != PGBOUNCER_VARIANT)
    try:
        yield (
            pooler.dsn(user, password, seeded.database),
            (*rest, "DB_TRANSACTION_POOLING=true"),
        )
    finally:
        run.pooler = None
        pooler.cleanup()


def seed(run: Run, database: str, users: int) -> dataset.Seeded:
    seeded = dataset.create_and_seed(
        run.dsn("postgres"), run.dsn(database), database, users, run.app_password
    )
    print(
        f"bench: seeded {users:,} users into {database} in {seeded.seconds:.1f} s", file=sys.stderr
    )
    run.notes.append(f"seeded {users:,} users into `{database}` in {seeded.seconds:.1f} s")
    return seeded
