"""`python -m bench --compare V1,V2,...`: candidate service changes, with and without, in one run.

Each variant (bench/variants.py: a patch name, a NAME=VALUE setting, or several joined by `+`)
and the unchanged service ("baseline") serve the same table in turn, for several rounds in a
rotating order, so that a noisy neighbour hurts every variant alike; the report gives each
variant's median over the rounds and its change against the baseline. Server CPU per request
is the steadiest figure on a shared machine: throughput also moves with what else runs.
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import dataset, profile, report
from bench.harness import MAIN_DATABASE, Load, Run, profile_window, serving, wrk_load
from bench.server import Server, start_ceiling, uses_uvloop

SCENARIOS = {
    "get": ("GET /users/{id}", "get", "/"),
    "post": ("POST /users", "post", "/"),
    "mix": ("90/10 GET/POST", "mix", "/"),
    "list": ("GET /users?limit=50", "path", "/users?limit=50"),
}


@dataclass(frozen=True, slots=True)
class Summary:
    variant: str
    scenario: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    server_us: float  # server CPU per request
    postgres_us: float  # PostgreSQL CPU per request
    other_cpu: float  # median CPU seconds of everything else on the machine
    rounds: int


def parse_variants(spec: str) -> list[tuple[str, tuple[str, ...]]]:
    """ "noreset,uvloop+orjson" -> baseline, noreset, uvloop+orjson (each with its parts)."""
    found: list[tuple[str, tuple[str, ...]]] = [("baseline", ())]
    for item in spec.split(","):
        if item and item != "baseline":
            found.append((item, tuple(p for p in item.split("+") if p)))
    return found


def measure_rounds(
    run: Run,
    variants: list[tuple[str, tuple[str, ...]]],
    scenarios: list[str],
    rounds: int,
    seeded: dataset.Seeded,
) -> tuple[list[report.Row], dict[str, list[float]]]:
    users = seeded.users
    conns = run.plan.connections[0]
    ready: dict[str, list[float]] = defaultdict(list)
    for number in range(rounds):
        # Rotate the order so that no variant always runs first (cold caches) or last.
        turn = number % len(variants)
        numbered = list(enumerate(variants))
        # POSTed usernames carry the variant's number (labels may hold "+", names may not).
        for index, (label, parts) in numbered[turn:] + numbered[:turn]:
            with serving(run, seeded, f"{label}-{number}", parts) as server:
                ready[label].append(server.ready_seconds)
                if number == 0 and label == "baseline":
                    _ceiling(run, conns, users, uses_uvloop(server))
                for key in scenarios:
                    name, load = scenario_load(
                        run, server, key, connections=conns, users=users,
                        label=f"v{number}x{index}{key}",
                    )  # fmt: skip
                    run.measure(
                        "compare", f"{label}|{name}", load,
                        connections=conns, database=MAIN_DATABASE, server=server,
                    )  # fmt: skip
                if number == 0 and run.profiling:
                    _profile(run, server, label, index, scenarios=scenarios, users=users)
    return run.rows, ready


def _profile(
    run: Run, server: Server, label: str, index: int, *, scenarios: list[str], users: int
) -> None:
    """py-spy windows of each scenario, first round only: priced later (`priced`) at the
    variant's median server CPU per request over every round."""
    conns = run.plan.connections[0]
    for key in scenarios:
        name, load = scenario_load(
            run, server, key, connections=conns, users=users, label=f"p{index}{key}"
        )
        found = profile_window(
            run, server, name, connections=conns, load=load, server_us=0.0, variant=label
        )
        run.profiles.append(found)


def scenario_load(
    run: Run, server: Server, key: str, *, connections: int, users: int, label: str
) -> tuple[str, Load]:
    """A scenario's name (SCENARIOS) and its wrk load."""
    name, mode, path = SCENARIOS[key]
    load = wrk_load(
        run, server, connections=connections, mode=mode, path=path, max_id=users, label=label
    )
    return name, load


def priced(profiles: list[profile.Profile], summaries: list[Summary]) -> list[profile.Profile]:
    """Each variant's profiles at its median server CPU per request."""
    medians = {(s.variant, s.scenario): s.server_us for s in summaries}
    return [
        dataclasses.replace(p, server_us=medians.get((p.variant, p.scenario), p.window_server_us))
        for p in profiles
    ]


def _ceiling(run: Run, conns: int, users: int, uvloop: bool) -> None:
    ceiling = start_ceiling(run.logs / "ceiling.log", uvloop=uvloop)
    try:
        load = wrk_load(
            run, ceiling, connections=conns, mode="path", path="/users/1", max_id=users, label="c"
        )
        run.measure(
            "ceiling", "aiohttp constant JSON", load,
            connections=conns, database=MAIN_DATABASE, server=ceiling,
        )  # fmt: skip
    finally:
        ceiling.stop()


def summarise(rows: list[report.Row]) -> list[Summary]:
    groups: dict[tuple[str, str], list[report.Row]] = defaultdict(list)
    for row in rows:
        if row.group == "compare":
            variant, _, scenario = row.name.partition("|")
            groups[variant, scenario].append(row)
    found = []
    for (variant, scenario), runs in groups.items():

        def median(value: Callable[[report.Row], float], of: list[report.Row] = runs) -> float:
            return statistics.median(value(r) for r in of)

        found.append(
            Summary(
                variant=variant,
                scenario=scenario,
                rps=median(lambda r: r.load.rps),
                p50_ms=median(lambda r: r.load.p50_ms),
                p99_ms=median(lambda r: r.load.p99_ms),
                errors=sum(r.load.non_2xx + r.load.socket_errors for r in runs),
                server_us=median(lambda r: 1e6 * (r.cpu_server or 0) / max(r.load.requests, 1)),
                postgres_us=median(lambda r: 1e6 * r.cpu_postgres / max(r.load.requests, 1)),
                other_cpu=median(lambda r: r.cpu_other),
                rounds=len(runs),
            )
        )
    return found


def _change(value: float, base: float) -> str:
    return f"{100 * (value - base) / base:+.0f}%" if base else "-"


def render(
    summaries: list[Summary],
    *,
    rows: list[report.Row],
    ready: dict[str, list[float]],
    command: str,
    about: dict[str, str],
    connections: int,
    profiles: list[profile.Profile] | None = None,
    charts: dict[str, Path] | None = None,
) -> str:
    base = {s.scenario: s for s in summaries if s.variant == "baseline"}
    out = [
        "# user-service: candidate changes, with and without (one run)",
        "",
        f"Command: `{command}`; medians over {max(s.rounds for s in summaries)} rounds, "
        f"{connections} connections.",
        "",
        "| variant | scenario | req/s | vs baseline | p50 ms | p99 ms | errors "
        "| server CPU us/req | vs baseline | PostgreSQL CPU us/req | other CPU s | ready s |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for s in summaries:
        b = base.get(s.scenario, s)
        out.append(
            f"| {s.variant} | {s.scenario} | {s.rps:,.0f} | {_change(s.rps, b.rps)} "
            f"| {s.p50_ms:.2f} | {s.p99_ms:.2f} | {s.errors} | {s.server_us:.0f} "
            f"| {_change(s.server_us, b.server_us)} | {s.postgres_us:.0f} | {s.other_cpu:.1f} "
            f"| {statistics.median(ready[s.variant]):.2f} |"
        )
    ceiling = [r for r in rows if r.group == "ceiling"]
    if ceiling:
        c = ceiling[0]
        out += [
            "",
            f"Framework ceiling (first round): {c.load.rps:,.0f} req/s, "
            f"{1e6 * (c.cpu_server or 0) / max(c.load.requests, 1):.0f} us CPU per request.",
        ]
    if profiles:
        out += report.profile_section(
            profiles,
            window="in the first round, after its warm-up",
            priced_at="the variant's median server CPU per request over the rounds (above)",
        )
    if charts:
        out += ["", *[f"![{kind}]({path.name})" for kind, path in charts.items()]]
    out += ["", "| | |", "|---|---|", *[f"| {k} | {v} |" for k, v in about.items()], ""]
    return "\n".join(out)


def write(text: str, output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    print(text)
    print(f"bench: comparison written to {output}", file=sys.stderr)
