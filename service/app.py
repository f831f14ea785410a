"""The app factory: settings in, a wired aiohttp application out. No network I/O here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from aiohttp import web

from service import health, memory
from service.auth import Authenticator, auth_middleware
from service.config import Settings
from service.db import Database
from service.errors import error_middleware
from service.logs import request_id_middleware
from service.metrics import Metrics, metrics_middleware
from service.migrations import latest_version, load_migrations
from service.openapi import served_document
from service.routes import METRICS_ROUTES, api_routes
from service.state import AUTH, DATABASE, METRICS, OPENAPI, READINESS, SETTINGS, TRACING

if TYPE_CHECKING:
    from service.tracing import Tracing


def create_app(
    settings: Settings,
    metrics: Metrics | None = None,
    *,
    request_metrics: bool = True,
    query_metrics: bool = True,
) -> web.Application:
    """The API app. With METRICS_PORT set, /metrics lives on create_metrics_app instead.

    request_metrics and query_metrics are always on in the service; the benchmark turns them
    off to measure what they cost (bench/variants.py).
    """
    problem = settings.auth_problem()
    if problem is not None:
        raise problem
    tracing = _tracing(settings)
    app = web.Application(
        # Outermost first: the request's trace span (tracing on) around all the rest, ids for
        # every log line, then metrics and drain on the final response, then the one place
        # errors become JSON, then authentication.
        middlewares=[
            *([] if tracing is None else [tracing.middleware]),
            request_id_middleware,
            *([metrics_middleware] if request_metrics else []),
            health.drain_middleware,
            error_middleware,
            auth_middleware,
        ],
        client_max_size=settings.max_body_bytes,
    )
    metrics = metrics or Metrics()
    database = Database(
        settings,
        metrics,
        None if tracing is None else tracing.connection_class,
        observe_queries=query_metrics,
    )
    app[SETTINGS] = settings
    app[METRICS] = metrics
    app[DATABASE] = database
    app[AUTH] = None if settings.auth_disabled else Authenticator(settings.api_keys)
    app[READINESS] = health.Readiness(
        database,
        metrics,
        schema_version=latest_version(load_migrations()),
        timeout=settings.readiness_timeout,
        cache_seconds=settings.readiness_cache_seconds,
    )
    app[OPENAPI] = served_document()
    if tracing is not None:
        app[TRACING] = tracing
        app.cleanup_ctx.append(tracing.run)  # first up, last down: spans of the drain are sent
    app.cleanup_ctx.append(_database_pool)
    app.cleanup_ctx.append(memory.release_free_memory)

    app.add_routes(api_routes(settings))
    return app


def create_metrics_app(metrics: Metrics) -> web.Application:
    """/metrics alone, for its own port (METRICS_PORT): no API, no auth, nothing else."""
    app = web.Application()
    app[METRICS] = metrics
    app.add_routes(METRICS_ROUTES)
    return app


def _tracing(settings: Settings) -> Tracing | None:
    if settings.tracing is None:
        return None
    # Imported only now: with tracing off, OpenTelemetry is never loaded and nothing is paid.
    from service.tracing import Tracing  # noqa: PLC0415

    return Tracing(settings.tracing)


async def _database_pool(app: web.Application) -> AsyncIterator[None]:
    """Connects in the background: the process is live at once and ready once connected."""
    database = app[DATABASE]
    connecting = asyncio.create_task(database.connect())
    yield
    connecting.cancel()
    await asyncio.gather(connecting, return_exceptions=True)
    await database.close()
