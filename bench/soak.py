"""`python -m bench --soak`: a long run at a fixed rate, watching the service for leaks.

The target (the soak issue): RSS growth under 1 MB over the last 20 minutes of 30 minutes of
mixed load at a fixed rate, open file descriptors flat. The service runs as everywhere else in
the benchmark (bench/harness.py `serving`); bench/openloop.py sends the mix. Every sample
interval the service's RSS (VmRSS, with RssAnon, its heap, beside it) and open descriptors are
read from /proc, with what the load generator saw since the last sample. The verdict is a
least-squares slope over the last window only: the first minutes (the pool growing, caches and
the allocator's arenas filling) are warm-up, not a leak.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass

from bench import dataset, openloop, procs
from bench.harness import Run, serving
from bench.loadgen import percentile
from bench.report import MB
from bench.server import Server

TARGET_MINUTES = 20.0  # the "over the last 20 minutes"
TARGET_RSS_GROWTH_MB = 1.0
# Flat: the fitted line grows by less than one descriptor over the target's minutes. Judged on
# descriptors other than the pool's PostgreSQL connections, which come and go between the pool's
# minimum and maximum (asyncpg closes one after 5 idle minutes); the client's are fixed.
TARGET_FD_GROWTH = 1.0
# At least a third of the run is warm-up, whatever window is asked for.
WINDOW_SHARE_OF_RUN = 2 / 3
# The load's last requests may take up to their timeout; anything longer is a hang.
_GRACE_SECONDS = 60


@dataclass(frozen=True, slots=True)
class Options:
    minutes: float
    rate: float  # requests per second, all kinds together
    window_minutes: float  # as asked; see window()
    sample_seconds: float

    def window(self) -> float:
        return min(self.window_minutes, self.minutes * WINDOW_SHARE_OF_RUN)

    def sample_count(self) -> int:
        """Samples at 0, 1, 2... intervals after the load starts, up to its end."""
        return int(self.minutes * 60 / self.sample_seconds + 1e-9) + 1


@dataclass(frozen=True, slots=True)
class Sample:
    seconds: float  # since the load started
    rss_mb: float  # VmRSS
    rss_anon_mb: float  # RssAnon: the heap and other private memory, without mapped files
    fds: int
    postgres_connections: int  # the pool's, among those fds
    cpu_seconds: float  # the service's, since it started
    # What the load generator saw since the previous sample (answers as they arrived).
    sent: int
    ok: int
    errors: int  # status >= 400, connection errors and timeouts
    p50_ms: float | None  # from when each request was due; None when nothing was answered
    p99_ms: float | None


@dataclass(frozen=True, slots=True)
class Trend:
    """One figure over the run, and the least-squares line through the window's samples."""

    start: float  # the first sample of the run
    end: float  # the last
    window_start: float  # the first sample of the window
    window_min: float
    window_max: float
    slope_per_minute: float
    growth_over_target: float  # slope x TARGET_MINUTES: what the target is about


@dataclass(frozen=True, slots=True)
class Measured:
    samples: list[Sample]
    total: openloop.Tally
    sent_by_kind: dict[str, int]
    errors_by_kind: dict[str, int]


def measure(run: Run, seeded: dataset.Seeded, options: Options) -> Measured:
    """The service as production runs it, under the fixed-rate mix, sampled as it goes."""
    with serving(run, seeded, "soak") as service:
        target = openloop.Target(
            url=service.url,
            api_key=run.api_key,
            users=seeded.users,
            deep_cursor=seeded.deep_cursor,
            tag=run.tag("soak"),
        )
        load = openloop.OpenLoop(target, options.rate)
        samples = asyncio.run(_soak(service, run.postgres.port, load, options))
    return Measured(samples, load.total, dict(load.sent_by_kind), dict(load.errors_by_kind))


async def _soak(
    service: Server, postgres_port: int, load: openloop.OpenLoop, options: Options
) -> list[Sample]:
    seconds = options.minutes * 60
    async with load.connected():
        start = asyncio.get_running_loop().time()
        async with asyncio.timeout(seconds + _GRACE_SECONDS), asyncio.TaskGroup() as group:
            sampling = group.create_task(
                _sample_every(service, postgres_port, load, start, options)
            )
            group.create_task(load.run(start, seconds))
    return sampling.result()


async def _sample_every(
    service: Server, postgres_port: int, load: openloop.OpenLoop, start: float, options: Options
) -> list[Sample]:
    loop = asyncio.get_running_loop()
    samples: list[Sample] = []
    for number in range(options.sample_count()):
        await asyncio.sleep(max(0.0, start + number * options.sample_seconds - loop.time()))
        sample = _sample(service, postgres_port, loop.time() - start, load.take_interval())
        samples.append(sample)
        print(_progress_line(sample), file=sys.stderr, flush=True)
    return samples


def _sample(
    service: Server, postgres_port: int, seconds: float, interval: openloop.Tally
) -> Sample:
    if service.process.poll() is not None:
        raise RuntimeError(f"the service exited {service.process.returncode}; see {service.log}")
    latencies = list(interval.latencies_ms)
    return Sample(
        seconds=seconds,
        rss_mb=procs.status_kib(service.pid, "VmRSS") * 1024 / MB,
        rss_anon_mb=procs.status_kib(service.pid, "RssAnon") * 1024 / MB,
        fds=procs.open_fds(service.pid),
        postgres_connections=procs.tcp_connections_to(service.pid, postgres_port),
        cpu_seconds=procs.cpu_seconds(service.pid),
        sent=interval.sent,
        ok=interval.ok,
        errors=interval.errors,
        p50_ms=percentile(latencies, 50) if latencies else None,
        p99_ms=percentile(latencies, 99) if latencies else None,
    )


def _progress_line(s: Sample) -> str:
    p99 = f"{s.p99_ms:7.1f} ms" if s.p99_ms is not None else "      - ms"
    return (
        f"soak: {s.seconds:7.1f} s  RSS {s.rss_mb:6.1f} MB  anon {s.rss_anon_mb:6.1f} MB  "
        f"fds {s.fds:4} (PostgreSQL {s.postgres_connections:2})  sent {s.sent:6}  ok {s.ok:6}  "
        f"errors {s.errors:4}  p99 {p99}"
    )


def window_samples(samples: list[Sample], options: Options) -> list[Sample]:
    """The samples of the last window (by count, so a late sample never drops one)."""
    count = int(options.window() * 60 / options.sample_seconds + 1e-9) + 1
    return samples[-count:]


def trend(samples: list[Sample], window: list[Sample], value: Callable[[Sample], float]) -> Trend:
    minutes = [s.seconds / 60 for s in window]
    values = [value(s) for s in window]
    slope = statistics.linear_regression(minutes, values).slope
    return Trend(
        start=value(samples[0]),
        end=value(samples[-1]),
        window_start=values[0],
        window_min=min(values),
        window_max=max(values),
        slope_per_minute=slope,
        growth_over_target=slope * TARGET_MINUTES,
    )
