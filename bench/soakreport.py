"""The soak's report: what was sent, how the service's memory and descriptors moved, the verdict.

Markdown for people and the same figures as JSON, like the benchmark's own report.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench import openloop
from bench.loadgen import percentile
from bench.report import Target, machine_section
from bench.soak import (
    TARGET_FD_GROWTH,
    TARGET_MINUTES,
    TARGET_RSS_GROWTH_MB,
    WINDOW_SHARE_OF_RUN,
    Measured,
    Options,
    Sample,
    Trend,
    trend,
    window_samples,
)


@dataclass(frozen=True, slots=True)
class KindCount:
    kind: str  # as the report names it
    share_asked: int  # percent
    sent: int
    errors: int


@dataclass(frozen=True, slots=True)
class SoakResults:
    command: str
    started: str
    elapsed_seconds: float
    machine: dict[str, str]
    users: int
    minutes: float
    rate: float  # asked for, requests per second
    sample_seconds: float
    window_minutes_asked: float
    window_minutes: float  # used: never more than the last 2/3 of the run
    window_samples: int
    sent: int
    achieved_rate: float  # sent per second of load
    ok: int
    http_errors: int  # status >= 400
    socket_errors: int  # connection errors and timeouts
    p50_ms: float | None  # from when each request was due
    p99_ms: float | None
    mix: list[KindCount]
    rss: Trend
    rss_anon: Trend
    fds: Trend
    postgres_connections: Trend
    fds_but_postgres: Trend  # what the descriptor target is judged on
    samples: list[Sample]
    notes: list[str]


def results(
    measured: Measured,
    options: Options,
    *,
    command: str,
    started: str,
    elapsed_seconds: float,
    machine: dict[str, str],
    users: int,
    notes: list[str],
) -> SoakResults:
    samples = measured.samples
    window = window_samples(samples, options)
    total = measured.total
    latencies = list(total.latencies_ms)
    return SoakResults(
        command=command,
        started=started,
        elapsed_seconds=elapsed_seconds,
        machine=machine,
        users=users,
        minutes=options.minutes,
        rate=options.rate,
        sample_seconds=options.sample_seconds,
        window_minutes_asked=options.window_minutes,
        window_minutes=options.window(),
        window_samples=len(window),
        sent=total.sent,
        achieved_rate=total.sent / (options.minutes * 60),
        ok=total.ok,
        http_errors=total.http_errors,
        socket_errors=total.socket_errors,
        p50_ms=percentile(latencies, 50) if latencies else None,
        p99_ms=percentile(latencies, 99) if latencies else None,
        mix=_mix(measured),
        rss=trend(samples, window, lambda s: s.rss_mb),
        rss_anon=trend(samples, window, lambda s: s.rss_anon_mb),
        fds=trend(samples, window, lambda s: s.fds),
        postgres_connections=trend(samples, window, lambda s: s.postgres_connections),
        fds_but_postgres=trend(samples, window, lambda s: s.fds - s.postgres_connections),
        samples=samples,
        notes=notes,
    )


def _mix(measured: Measured) -> list[KindCount]:
    sent, errors = measured.sent_by_kind, measured.errors_by_kind
    return [
        KindCount(label, share, sent.get(kind, 0), errors.get(kind, 0))
        for kind, label, share in openloop.MIX
    ]


def targets(r: SoakResults) -> list[Target]:
    minutes = f"{TARGET_MINUTES:g}"
    errors = r.http_errors + r.socket_errors
    rss, fds = r.rss, r.fds_but_postgres
    return [
        Target(
            f"RSS growth over the last {minutes} minutes",
            f"< {TARGET_RSS_GROWTH_MB:g} MB",
            f"{rss.growth_over_target:+.2f} MB ({rss.slope_per_minute:+.4f} MB/min x {minutes})",
            rss.growth_over_target < TARGET_RSS_GROWTH_MB,
        ),
        Target(
            f"open file descriptors but PostgreSQL connections, over the last {minutes} minutes",
            f"flat (< {TARGET_FD_GROWTH:g} fd of growth)",
            f"{fds.growth_over_target:+.2f} fds ({fds.slope_per_minute:+.4f}/min x {minutes})",
            fds.growth_over_target < TARGET_FD_GROWTH,
        ),
        Target(
            "errors during the soak",
            "0",
            f"{r.http_errors} status >= 400, {r.socket_errors} connection errors and timeouts",
            errors == 0,
        ),
    ]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _minutes(value: float) -> str:
    return f"{value:.3g}"


def _scope(r: SoakResults) -> list[str]:
    window = _minutes(r.window_minutes)
    lines = [
        f"{_minutes(r.minutes)} minutes of mixed load at a fixed {r.rate:g} req/s (open loop: "
        "each request is sent when it is due, whatever became of the ones before it, and its "
        "latency counts from then) against the service as production runs it, on "
        f"{r.users:,} seeded users, everything on 127.0.0.1. The service's RSS and open file "
        f"descriptors were read every {r.sample_seconds:g} s. Slopes are least-squares lines "
        f"through the {r.window_samples} samples of the last {window} minutes; the minutes "
        "before are warm-up (the pool growing, caches filling) and left out.",
    ]
    if r.window_minutes < r.window_minutes_asked:
        lines += [
            "",
            f"The run is too short for a {_minutes(r.window_minutes_asked)}-minute window after "
            f"a warm-up of a third of the run, so the window is its last "
            f"{WINDOW_SHARE_OF_RUN:.0%} ({window} minutes).",
        ]
    if r.window_minutes < TARGET_MINUTES:
        lines += [
            "",
            f"**Short window**: growth over {TARGET_MINUTES:g} minutes extrapolates a "
            f"{window}-minute slope; the run proves the command works, its PASS/MISS mean "
            "little.",
        ]
    return lines


def _load(r: SoakResults) -> list[str]:
    lines = [
        "| | |",
        "|---|---|",
        f"| requests sent | {r.sent:,} ({r.achieved_rate:,.1f} req/s; asked {r.rate:g}) |",
        f"| answered with status < 400 | {r.ok:,} |",
        f"| answered with status >= 400 | {r.http_errors:,} |",
        f"| connection errors and timeouts ({openloop.REQUEST_TIMEOUT_SECONDS:g} s) "
        f"| {r.socket_errors:,} |",
        f"| latency from when each request was due, p50 / p99 | {_ms(r.p50_ms)} / "
        f"{_ms(r.p99_ms)} ms |",
        "",
        "| request | share asked | sent | share sent | errors |",
        "|---|--:|--:|--:|--:|",
    ]
    for k in r.mix:
        share = 100 * k.sent / max(r.sent, 1)
        lines.append(f"| {k.kind} | {k.share_asked}% | {k.sent:,} | {share:.1f}% | {k.errors} |")
    return lines


def _trends(r: SoakResults) -> list[str]:
    lines = [
        f"| figure | run start | run end | window start | window min..max "
        f"| slope per minute | growth over {TARGET_MINUTES:g} min (slope x {TARGET_MINUTES:g}) |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for name, t, digits in (
        ("RSS (VmRSS), MB", r.rss, 1),
        ("RssAnon (heap), MB", r.rss_anon, 1),
        ("open file descriptors", r.fds, 0),
        ("of which PostgreSQL connections (the pool's)", r.postgres_connections, 0),
        ("open file descriptors but PostgreSQL connections", r.fds_but_postgres, 0),
    ):
        lines.append(
            f"| {name} | {t.start:.{digits}f} | {t.end:.{digits}f} | {t.window_start:.{digits}f} "
            f"| {t.window_min:.{digits}f}..{t.window_max:.{digits}f} | {t.slope_per_minute:+.4f} "
            f"| {t.growth_over_target:+.2f} |"
        )
    return lines


def _samples(r: SoakResults) -> list[str]:
    lines = [
        "| s | RSS MB | RssAnon MB | fds | PostgreSQL connections | service CPU s | sent | ok "
        "| errors | p50 ms | p99 ms |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for s in r.samples:
        lines.append(
            f"| {s.seconds:.0f} | {s.rss_mb:.2f} | {s.rss_anon_mb:.2f} | {s.fds} "
            f"| {s.postgres_connections} | {s.cpu_seconds:.1f} | {s.sent} | {s.ok} | {s.errors} "
            f"| {_ms(s.p50_ms)} | {_ms(s.p99_ms)} |"
        )
    return lines


def render(r: SoakResults) -> str:
    out = [
        f"# user-service soak, {r.started}",
        "",
        f"Command: `{r.command}` ({r.elapsed_seconds:.0f} s in all)",
        "",
        *_scope(r),
        "",
        *machine_section(r.machine),
        "",
        "## Load",
        "",
        *_load(r),
        "",
        "## Memory and file descriptors",
        "",
        *_trends(r),
        "",
        "## Targets",
        "",
        "| target | goal | measured | result |",
        "|---|---|---|---|",
    ]
    for t in targets(r):
        out.append(f"| {t.name} | {t.goal} | {t.measured} | {'PASS' if t.passed else 'MISS'} |")
    out += [
        "",
        f"## Samples (every {r.sample_seconds:g} s; requests counted as they were answered)",
        "",
        *_samples(r),
        "",
        "## Notes",
        "",
        *[f"- {n}" for n in r.notes],
        "",
    ]
    return "\n".join(out)
