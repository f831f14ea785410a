"""Prometheus metrics on a per-app registry (two apps in one process never collide)."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Iterable

from aiohttp import web
from asyncpg.connection import LoggedQuery
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from service import __version__
from service.logs import QUIET_PATHS, route_template
from service.state import METRICS, Handler

NAMESPACE = "user_service"
# The service answers in about a millisecond: resolve that range finely, keep a tail to 5 s.
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.002,
    0.004,
    0.006,
    0.008,
    0.01,
    0.015,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)
DB_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0)
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Queries name themselves with a leading `-- name: x` comment (see service/users.py); that
# name, never the SQL text, becomes the label, so the label set stays small and fixed.
_QUERY_NAME_PREFIX = "-- name: "

PoolStats = Callable[[], tuple[int, int]]  # (open connections, idle connections)


class Metrics:
    def __init__(self) -> None:
        # `_created` series double the series count and no dashboard reads them. The switch is
        # process-wide in prometheus-client; setting it again is harmless.
        disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped upstream
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        Info("build", "Build information.", namespace=NAMESPACE, registry=r).info(
            {"version": __version__, "python": platform.python_version()}
        )
        self.requests = Counter(
            "http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            namespace=NAMESPACE,
            registry=r,
        )
        self.request_duration = Histogram(
            "http_request_duration_seconds",
            "Time to produce a response, by method, route template and status.",
            ["method", "route", "status"],
            namespace=NAMESPACE,
            registry=r,
            buckets=LATENCY_BUCKETS,
        )
        self.in_flight = Gauge(
            "http_requests_in_flight",
            "HTTP requests being handled now.",
            namespace=NAMESPACE,
            registry=r,
        )
        self.acquire_duration = Histogram(
            "db_pool_acquire_duration_seconds",
            "Time spent waiting for a pooled connection.",
            namespace=NAMESPACE,
            registry=r,
            buckets=DB_BUCKETS,
        )
        self.acquire_timeouts = Counter(
            "db_pool_acquire_timeouts",
            "Requests that gave up waiting for a pooled connection.",
            namespace=NAMESPACE,
            registry=r,
        )
        self.query_duration = Histogram(
            "db_query_duration_seconds",
            "Database query time as seen by the client, by query.",
            ["query"],
            namespace=NAMESPACE,
            registry=r,
            buckets=DB_BUCKETS,
        )
        self.query_errors = Counter(
            "db_query_errors",
            "Database queries that raised, by query.",
            ["query"],
            namespace=NAMESPACE,
            registry=r,
        )
        self.auth_failures = Counter(
            "auth_failures",
            "Requests refused by authentication (401) or authorisation (403), by reason: "
            "missing, malformed, unknown_key, insufficient_scope.",
            ["reason"],
            namespace=NAMESPACE,
            registry=r,
        )
        self.ready = Gauge(
            "ready",
            "1 when the last readiness check passed, else 0.",
            namespace=NAMESPACE,
            registry=r,
        )
        self.database_up = Gauge(
            "db_up",
            "1 when the last database check (readiness, /health) got an answer in time, else 0.",
            namespace=NAMESPACE,
            registry=r,
        )
        self.draining = Gauge(
            "draining",
            "1 once shutdown began (readiness fails from then on).",
            namespace=NAMESPACE,
            registry=r,
        )
        # The labelled series each request and query updates, looked up once: `labels()` takes a
        # lock and converts every value on each call. Keys are label values, as few as the series.
        self._request_series: dict[tuple[str, str, int], tuple[Histogram, Counter]] = {}
        self._query_durations: dict[str, Histogram] = {}

    def watch_pool(self, stats: PoolStats, max_size: int) -> None:
        """Reads the pool's size at scrape time rather than tracking every acquire."""
        self.registry.register(_PoolCollector(stats, max_size))

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """One answered request in http_request_duration_seconds and http_requests_total."""
        series = self._request_series.get((method, route, status))
        if series is None:
            labels = (method, route, str(status))
            series = self.request_duration.labels(*labels), self.requests.labels(*labels)
            self._request_series[method, route, status] = series
        duration, count = series
        duration.observe(seconds)
        count.inc()

    def observe_query(self, query: LoggedQuery) -> None:
        """asyncpg query logger: called once per query on every pooled connection."""
        name = query_name(query.query)
        duration = self._query_durations.get(name)
        if duration is None:
            duration = self._query_durations[name] = self.query_duration.labels(name)
        duration.observe(query.elapsed)
        if query.exception is not None:
            self.query_errors.labels(name).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def query_name(sql: str) -> str:
    """The name a query gives itself in its leading `-- name: x` comment, else "other"."""
    if sql.startswith(_QUERY_NAME_PREFIX):
        return sql[len(_QUERY_NAME_PREFIX) : sql.find("\n")].strip() or "other"
    return "other"


class _PoolCollector(Collector):
    def __init__(self, stats: PoolStats, max_size: int) -> None:
        self._stats = stats
        self._max_size = max_size

    def collect(self) -> Iterable[Metric]:
        size, idle = self._stats()
        yield GaugeMetricFamily(
            f"{NAMESPACE}_db_pool_max_connections",
            "Most connections the pool may open.",
            value=self._max_size,
        )
        yield GaugeMetricFamily(
            f"{NAMESPACE}_db_pool_connections", "Open pooled connections.", value=size
        )
        state = GaugeMetricFamily(
            f"{NAMESPACE}_db_pool_connections_by_state",
            "Open pooled connections by state.",
            labels=["state"],
        )
        state.add_metric(["in_use"], size - idle)
        state.add_metric(["idle"], idle)
        yield state


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    # Probes and scrapes are excluded: they would drown the API's own rate and latency.
    if request.path in QUIET_PATHS:
        return await handler(request)
    metrics = request.app[METRICS]
    method = request.method if request.method in _KNOWN_METHODS else "OTHER"
    started = time.perf_counter()
    metrics.in_flight.inc()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    finally:
        metrics.in_flight.dec()
        seconds = time.perf_counter() - started
        metrics.observe_request(method, route_template(request), status, seconds)


async def metrics_handler(request: web.Request) -> web.Response:
    body = request.app[METRICS].exposition()
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response
