"""`python -m bench`: the service against its floors, in one run, on one machine.

1. a throwaway PostgreSQL (stock durability settings), migrated and seeded with N users;
2. the floors: pgbench select-by-id and insert, and the framework ceiling (bench/ceiling.py);
3. the service as production runs it, under wrk: GET by id, POST, a 90/10 mix, the first and a
   deep list page, at 16 and 64 connections, each after a warm-up; then py-spy's profile of
   GET, POST and the first list page at 64, in cost centres per request (bench/profile.py);
4. cold start and idle RSS; the list target on a small and a large table;
5. a Markdown report (and its numbers as JSON) that says PASS or MISS for each target.

`--soak` runs bench/soak.py instead of 2-4: 30 minutes of mixed load at a fixed rate, the
service's RSS and open file descriptors sampled as it goes.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import json
import os
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from bench import (
    charts,
    compare,
    dataset,
    machine,
    openloop,
    procs,
    report,
    snapshot,
    soak,
    soakreport,
)
from bench.harness import (
    MAIN_DATABASE,
    POOL_MAX_SIZE,
    POSTGRES_SETTINGS,
    SMOKE,
    Run,
    ensure_wrk,
    full_plan,
    pgbench_load,
    profile_window,
    seed,
    serving,
    wrk_load,
)
from bench.server import Server, start_bare, start_ceiling, start_otlp_sink, uses_uvloop
from bench.snapshot import REPO
from service.devdb import EmbeddedPostgres


def _floors(run: Run, seeded: dataset.Seeded) -> None:
    """PostgreSQL alone, on the service's own queries and connection path."""
    db = seeded.database
    for name, script in (("pgbench SELECT by id", "select.sql"), ("pgbench INSERT", "insert.sql")):
        load = pgbench_load(run, db, script, seeded.users)
        run.measure(
            "floor",
            name,
            load,
            connections=run.plan.pgbench_clients,
            database=db,
            server=None,
            sessions_from_warmup=False,
        )


def _cold_starts(run: Run, seeded: dataset.Seeded) -> None:
    """Start to first 200 from /readyz with the database up, then the RSS of an idle process."""
    for i in range(run.plan.cold_starts):
        with serving(run, seeded, f"cold{i}") as server:
            time.sleep(run.plan.idle_wait)  # the pool opens its minimum connections, then rests
            run.idle_rss_mib.append(procs.status_kib(server.pid, "VmRSS") / 1024)


def _service_scenarios(run: Run, seeded: dataset.Seeded) -> None:
    db, users = seeded.database, seeded.users
    scenarios = [
        ("GET /users/{id}", "get", "/"),
        ("POST /users", "post", "/"),
        ("90/10 GET/POST", "mix", "/"),
        ("GET /users?limit=50", "path", "/users?limit=50"),
        (
            f"GET /users?limit=50 deep (row {seeded.deep_position:,})",
            "path",
            f"/users?limit=50&cursor={seeded.deep_cursor}",
        ),
    ]
    with serving(run, seeded, "main") as service:
        # The ceiling runs next to the service, on the same event loop, just before it.
        uvloop = uses_uvloop(service)
        run.notes.append(f"event loop of the service and the ceiling: {_loop_name(uvloop)}")
        ceiling = start_ceiling(run.logs / "ceiling.log", uvloop=uvloop)
        try:
            for conns in run.plan.connections:
                load = wrk_load(
                    run, ceiling, connections=conns, mode="path", path="/users/1", max_id=users,
                    label="c",
                )  # fmt: skip
                run.measure(
                    "ceiling", "aiohttp constant JSON", load,
                    connections=conns, database=db, server=ceiling,
                )  # fmt: skip
        finally:
            ceiling.stop()
        # The floor under GET by id: the service's query and pool with nothing around them.
        bare = start_bare(run.app_dsn(seeded), run.logs / "bare.log", uvloop=uvloop)
        try:
            for conns in run.plan.connections:
                # Random ids, as the service's GET row asks for (its API key header is ignored).
                load = wrk_load(
                    run, bare, connections=conns, mode="get", path="/", max_id=users, label="b"
                )
                run.measure(
                    "floor", report.BARE_HANDLER, load,
                    connections=conns, database=db, server=bare,
                )  # fmt: skip
        finally:
            bare.stop()
        for index, (name, mode, path) in enumerate(scenarios):
            for conns in run.plan.connections:
                load = wrk_load(
                    run, service, connections=conns, mode=mode, path=path, max_id=users,
                    label=f"s{index}",
                )  # fmt: skip
                run.measure("service", name, load, connections=conns, database=db, server=service)
        if run.profiling:
            _profiles(run, seeded, service)


# Profiled at the top connection count: the scenarios of the CPU targets (compare.SCENARIOS).
PROFILED = ("GET /users/{id}", "POST /users", "GET /users?limit=50")


def _profiles(run: Run, seeded: dataset.Seeded, service: Server) -> None:
    """A window of its own per scenario, py-spy recording the service while wrk drives it as the
    measured runs did; the shares are priced at the measured run's server CPU per request."""
    conns = max(run.plan.connections)
    keys = {name: key for key, (name, _, _) in compare.SCENARIOS.items()}
    for index, name in enumerate(PROFILED):
        _, load = compare.scenario_load(
            run, service, keys[name], connections=conns, users=seeded.users, label=f"p{index}"
        )
        measured = next(
            r
            for r in run.rows
            if r.group == "service" and r.name == name and r.connections == conns
        )
        profiled = profile_window(
            run, service, name, connections=conns, load=load,
            server_us=report.cpu_per_request(measured),
        )  # fmt: skip
        run.profiles.append(profiled)


def _tracing(run: Run, seeded: dataset.Seeded) -> None:
    """GET by id with tracing off (the default) and on at the target's sampling ratio, sending
    to a live sink (bench/otlpsink.py), in turns over several rounds: medians compare."""
    sink = start_otlp_sink(run.logs / "otlp-sink.log")
    on = (
        f"OTEL_EXPORTER_OTLP_ENDPOINT={sink.url}",
        "OTEL_TRACES_SAMPLER=parentbased_traceidratio",
        f"OTEL_TRACES_SAMPLER_ARG={report.TRACING_RATIO}",
    )
    # Empty: off even if the bench's own environment has an endpoint.
    variants = [(report.TRACING_OFF, ("OTEL_EXPORTER_OTLP_ENDPOINT=",)), (report.TRACING_ON, on)]
    conns = max(run.plan.connections)
    try:
        for number in range(run.plan.tracing_rounds):
            turn = variants[number % 2 :] + variants[: number % 2]  # no variant always first
            for index, (name, settings) in enumerate(turn):
                with serving(run, seeded, f"tracing{number}x{index}", settings) as service:
                    if settings is on and '"tracing on"' not in service.log.read_text():
                        raise RuntimeError(f"tracing did not turn on; see {service.log}")
                    load = wrk_load(
                        run, service, connections=conns, mode="get", path="/",
                        max_id=seeded.users, label=f"t{number}x{index}",
                    )  # fmt: skip
                    run.measure(
                        "tracing", f"GET /users/{{id}}, {name}", load,
                        connections=conns, database=seeded.database, server=service,
                    )  # fmt: skip
        received = _sink_stats(sink.port)
        run.notes.append(
            f"tracing: the OTLP sink received {received['exports']:,} exports "
            f"({received['bytes'] / 1024:,.0f} KiB) from the {report.TRACING_ON} rounds"
        )
    finally:
        sink.stop()


def _sink_stats(port: int) -> dict[str, int]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/stats")
        stats: dict[str, int] = json.loads(connection.getresponse().read())
        return stats
    finally:
        connection.close()


def _loop_name(uvloop: bool) -> str:
    return "uvloop" if uvloop else "asyncio"


def _list_target(run: Run, main: dataset.Seeded) -> None:
    """First page of a small table against a deep page of a large one, each its own database."""
    small = seed(run, "list_small", run.plan.list_small)
    if main.users == run.plan.list_large:
        large = main
    else:
        large = seed(run, "list_large", run.plan.list_large)
    cases = [
        (small, f"first page, {small.users:,} users", "/users?limit=50"),
        (
            large,
            f"deep page (row {large.deep_position:,}), {large.users:,} users",
            f"/users?limit=50&cursor={large.deep_cursor}",
        ),
    ]
    conns = run.plan.list_connections
    for number, (seeded, name, path) in enumerate(cases):
        with serving(run, seeded, f"list{number}") as service:
            load = wrk_load(
                run, service, connections=conns, mode="path", path=path, max_id=1,
                label=f"l{number}",
            )  # fmt: skip
            run.measure(
                "list", name, load, connections=conns, database=seeded.database, server=service
            )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--users", type=int, default=100_000, help="users seeded (default 100000)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per scenario")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per scenario")
    parser.add_argument("--smoke", action="store_true", help="tiny tables, ~1 s per scenario (CI)")
    parser.add_argument("--output", type=Path, help="report path (default bench-results/<time>.md)")
    parser.add_argument("--keep-logs", action="store_true", help="keep servers' logs by the report")
    parser.add_argument("--no-install", action="store_true", help="never apt-get install wrk")
    parser.add_argument(
        "--no-profile",
        action="store_true",
        help="no py-spy windows (GET, POST and list at the top connection count; with "
        "--compare, each scenario of each variant in the first round)",
    )
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run everything at this nice value; negative (root) keeps other tenants of a "
        "shared machine from disturbing the figures as much (they still show as CPU s other)",
    )
    parser.add_argument(
        "--service-ref",
        metavar="REF",
        help="measure service/ as committed at this git ref (e.g. HEAD), not the work tree",
    )
    compare = parser.add_argument_group("comparing candidate changes (bench/compare.py)")
    compare.add_argument(
        "--compare",
        metavar="V1,V2",
        help="variants against the baseline, e.g. nometrics,uvloop,DB_POOL_MAX_SIZE=20; "
        "pgbouncer: through a PgBouncer in transaction mode",
    )
    compare.add_argument("--rounds", type=int, default=3, help="rounds per variant (default 3)")
    compare.add_argument("--scenarios", default="get,post", help="of: get,post,mix,list")
    compare.add_argument("--connections", type=int, default=64, help="wrk connections")
    soaking = parser.add_argument_group("soak: watching for leaks (bench/soak.py)")
    soaking.add_argument(
        "--soak",
        action="store_true",
        help="instead of the benchmark: mixed load at a fixed rate, RSS and open fds sampled",
    )
    soaking.add_argument(
        "--soak-minutes", type=float, default=30.0, help="minutes of load (default 30)"
    )
    soaking.add_argument(
        "--soak-rate", type=float, default=300.0, help="requests/s, all kinds (default 300)"
    )
    soaking.add_argument(
        "--soak-window-minutes",
        type=float,
        default=20.0,
        help="slopes over the last N minutes (default 20; at most the last 2/3 of the run)",
    )
    soaking.add_argument(
        "--sample-seconds", type=float, default=10.0, help="seconds between samples (default 10)"
    )
    return parser


def _soak_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> soak.Options:
    if args.compare or args.smoke:
        parser.error("--soak runs on its own: not with --compare or --smoke")
    options = soak.Options(
        minutes=args.soak_minutes,
        rate=args.soak_rate,
        window_minutes=args.soak_window_minutes,
        sample_seconds=args.sample_seconds,
    )
    if min(options.minutes, options.rate, options.window_minutes, options.sample_seconds) <= 0:
        parser.error("--soak-minutes, --soak-rate, --soak-window-minutes, --sample-seconds > 0")
    # A slope needs a line through at least three points.
    if options.window() * 60 < 2 * options.sample_seconds:
        parser.error("the soak's window must hold at least three samples: sample more often")
    return options


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    soak_options = _soak_options(parser, args) if args.soak else None
    plan = SMOKE if args.smoke else full_plan(args.users, args.warmup, args.seconds)
    if args.compare:
        plan = dataclasses.replace(plan, connections=(args.connections,))
    started = datetime.now(UTC)
    output = _output_path(args, started)
    if soak_options is None:  # the soak sends its load from Python (bench/openloop.py)
        ensure_wrk(install=not args.no_install)
    _renice(args.nice)
    command = shlex.join(["python", "-m", "bench", *(sys.argv[1:] if argv is None else argv)])
    logs = Path(tempfile.mkdtemp(prefix="bench-logs-"))
    steal = procs.StealMeter()
    postgres = EmbeddedPostgres(settings=POSTGRES_SETTINGS)
    run = Run(plan, postgres, logs, profiling=not args.no_profile)
    try:
        postgres.start()
        about = machine.describe(dataset.server_version(postgres.dsn()), postgres.binary("pgbench"))
        main_db = seed(run, MAIN_DATABASE, plan.users)
        if soak_options:
            soaked = soak.measure(run, main_db, soak_options)
        elif args.compare:
            variants = compare.parse_variants(args.compare)
            scenarios = [s for s in args.scenarios.split(",") if s]
            rows, ready = compare.measure_rounds(run, variants, scenarios, args.rounds, main_db)
        else:
            _floors(run, main_db)
            _cold_starts(run, main_db)
            _service_scenarios(run, main_db)
            _tracing(run, main_db)
            _list_target(run, main_db)
    except BaseException:
        # Errors name a server's log in this directory: leave it where they say.
        print(f"bench: failed; the servers' logs are left in {logs}", file=sys.stderr)
        raise
    else:
        _keep_or_delete(logs, output, keep=args.keep_logs)
    finally:
        postgres.cleanup()
    about["CPU steal during the run"] = f"{steal.percent():.1f}%"
    about["scheduling priority of every benchmark process"] = f"nice {os.nice(0)}"
    if soak_options:
        _soak_report(
            soaked, soak_options, command=command, started=started, about=about, run=run,
            output=output,
        )  # fmt: skip
        return 0
    if args.compare:
        _compare_report(run, rows, ready, command=command, about=about, output=output)
        return 0
    results = report.Results(
        command=command,
        started=started.isoformat(timespec="seconds"),
        elapsed_seconds=(datetime.now(UTC) - started).total_seconds(),
        smoke=args.smoke,
        users=plan.users,
        warmup=plan.warmup,
        seconds=plan.seconds,
        pool_max_size=POOL_MAX_SIZE,
        machine=about,
        rows=run.rows,
        cold_start_seconds=statistics.median(run.cold_starts),
        cold_start_max_seconds=max(run.cold_starts),
        idle_rss_mib=statistics.median(run.idle_rss_mib),
        notes=run.notes,
        profiles=run.profiles,
    )
    _write_with_charts(results, output)
    return 0


def _compare_report(
    run: Run,
    rows: list[report.Row],
    ready: dict[str, list[float]],
    *,
    command: str,
    about: dict[str, str],
    output: Path,
) -> None:
    """The comparison's table, and its variants' cost centres with their chart if profiled."""
    connections = run.plan.connections[0]
    summaries = compare.summarise(rows)
    profiles = compare.priced(run.profiles, summaries)
    profiled = [p for p in profiles if p.error is None and p.total]
    drawn = {}
    if profiled:
        drawn["costs"] = output.with_suffix(".costs.png")
        title = f"Server CPU per request by cost centre, {connections} connections"
        charts.costs(profiled, drawn["costs"], title=title)
    text = compare.render(
        summaries, rows=rows, ready=ready, command=command, about=about,
        connections=connections, profiles=profiles, charts=drawn,
    )  # fmt: skip
    compare.write(text, output)


def _write_with_charts(results: report.Results, output: Path) -> None:
    drawn = charts.draw(results, output)
    _write(report.render(results, drawn), asdict(results), output)


def _write(text: str, figures: dict[str, object], output: Path) -> None:
    """The Markdown report, its figures as JSON beside it, and the report on stdout."""
    output.write_text(text)
    output.with_suffix(".json").write_text(json.dumps(figures, indent=2) + "\n")
    print(text)
    print(f"bench: report written to {output}", file=sys.stderr)


def _output_path(args: argparse.Namespace, started: datetime) -> Path:
    prefix = "compare-" if args.compare else "soak-" if args.soak else ""
    default = REPO / "bench-results" / f"{prefix}{started:%Y%m%dT%H%M%SZ}.md"
    output: Path = snapshot.user_path(args.output) if args.output else default
    output.parent.mkdir(parents=True, exist_ok=True)
    return output


def _renice(value: int) -> None:
    # Inherited by every process started from here on: PostgreSQL, servers, wrk, pgbench.
    if not value:
        return
    try:
        os.nice(value)
    except PermissionError:
        raise SystemExit("bench: --nice below 0 needs root") from None


def _soak_report(
    soaked: soak.Measured,
    options: soak.Options,
    *,
    command: str,
    started: datetime,
    about: dict[str, str],
    run: Run,
    output: Path,
) -> None:
    # The soak's tools: its own load generator, neither wrk nor pgbench.
    del about["wrk"], about["pgbench"]
    about["load generator"] = (
        f"bench/openloop.py in the bench process (aiohttp {about['aiohttp']} client), "
        f"{openloop.CONNECTIONS} keep-alive connections opened before the clock starts"
    )
    results = soakreport.results(
        soaked,
        options,
        command=command,
        started=started.isoformat(timespec="seconds"),
        elapsed_seconds=(datetime.now(UTC) - started).total_seconds(),
        machine=about,
        users=run.plan.users,
        notes=run.notes,
    )
    _write(soakreport.render(results), asdict(results), output)


def _keep_or_delete(logs: Path, output: Path, *, keep: bool) -> None:
    if not keep:
        shutil.rmtree(logs, ignore_errors=True)
        return
    kept = output.with_name(output.stem + "-logs")
    shutil.rmtree(kept, ignore_errors=True)
    shutil.move(logs, kept)
