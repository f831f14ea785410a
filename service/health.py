"""Liveness, readiness and the combined /health; readiness also carries the drain state.

Liveness answers from the process alone: a slow database must never get pods restarted.
Readiness means "this pod can serve": it is not draining, and the database's schema is one this
build can use. A database that is slow, saturated or unreachable does not make a pod unready:
it would take every replica out of the Service at once, and callers would get the load
balancer's error instead of our 503 with Retry-After. The schema gate uses the last version
read, so a pod that never read it (started during an outage) stays unready.
Readiness asks the database at most once per READINESS_CACHE_SECONDS whatever the probe rate,
and concurrent probes share the one check in flight, so probe storms can't starve the pool.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiohttp import web

from service import __version__
from service.db import Database
from service.errors import DatabaseUnavailable
from service.metrics import Metrics
from service.state import READINESS, Handler

_LIVE_BODY = b'{"status": "ok"}'  # constant: liveness does no work and allocates next to nothing


_SCHEMA_NEVER_READ = "unknown: the database has not answered since this process started"


@dataclass(frozen=True, slots=True)
class DatabaseCheck:
    database: str  # "ok", or why the database could not be asked
    schema: str  # "ok", or why this build cannot use it (the last version read, if any)
    at: float = field(default_factory=time.monotonic)

    @property
    def database_ok(self) -> bool:
        return self.database == "ok"


class RequestsInProgress:
    """The tasks handling a request right now (drain_middleware), for the shutdown's wait."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._none = asyncio.Event()
        self._none.set()

    def add(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        self._none.clear()

    def discard(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not self._tasks:
            self._none.set()

    async def finish(self, within: float) -> int:
        """Waits up to `within` seconds for every request to end, then cancels those still
        running; returns how many it cancelled."""
        with suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self._none.wait()
        late = list(self._tasks)
        for task in late:
            task.cancel()
        return len(late)


class Readiness:
    def __init__(
        self,
        db: Database,
        metrics: Metrics,
        *,
        schema_version: int,
        timeout: float,
        cache_seconds: float,
    ) -> None:
        self._db = db
        self._metrics = metrics
        self._schema_version = schema_version
        self._timeout = timeout
        self._cache_seconds = cache_seconds
        self._last: DatabaseCheck | None = None
        self._schema = _SCHEMA_NEVER_READ
        self._in_flight: asyncio.Task[DatabaseCheck] | None = None
        self.draining = False
        # The tasks handling a request right now (drain_middleware): at shutdown, those still
        # running after SHUTDOWN_TIMEOUT_SECONDS are cancelled.
        self.requests_in_progress = RequestsInProgress()

    def start_draining(self) -> None:
        self.draining = True
        self._metrics.draining.set(1)
        self._metrics.ready.set(0)

    async def database(self) -> DatabaseCheck:
        last = self._last
        if last is not None and time.monotonic() - last.at < self._cache_seconds:
            return last
        if self._in_flight is None:
            self._in_flight = asyncio.create_task(self._check_database())
            self._in_flight.add_done_callback(self._clear_in_flight)
        # shield: a probe that disconnects must not cancel the check other probes wait on.
        result = await asyncio.shield(self._in_flight)
        # Until the pool first connects a check costs nothing (no I/O) and the answer is about
        # to change: caching "not ready" then would delay readiness by up to the cache time.
        self._last = result if self._db.pool is not None else None
        return result

    def _clear_in_flight(self, _: asyncio.Task[DatabaseCheck]) -> None:
        self._in_flight = None

    async def _check_database(self) -> DatabaseCheck:
        database = "ok"
        try:
            async with self._db.connection(budget=self._timeout) as conn:
                # One round trip is both the ping and the schema check.
                version = await conn.fetchval(
                    "-- name: schema_version\n"
                    "SELECT coalesce(max(version), 0) FROM schema_migrations"
                )
            self._schema = self._schema_state(int(version))
        except asyncpg.UndefinedTableError:
            self._schema = self._schema_state(0)
        except DatabaseUnavailable as exc:
            database = exc.reason
        self._metrics.database_up.set(1 if database == "ok" else 0)
        return DatabaseCheck(database, self._schema)

    def _schema_state(self, version: int) -> str:
        if version < self._schema_version:
            return (
                f"pending migrations: database at version {version}, this build needs "
                f"{self._schema_version}; run `migrate`"
            )
        # Newer is fine: migrations are backward compatible so old pods keep serving in a rollout.
        return "ok"

    async def report(self) -> tuple[bool, dict[str, str]]:
        check = await self.database()
        checks = {
            "draining": "shutting down" if self.draining else "ok",
            "database": check.database,
            "schema": check.schema,
        }
        ready = not self.draining and check.schema == "ok"
        self._metrics.ready.set(1 if ready else 0)
        return ready, checks


async def liveness(request: web.Request) -> web.Response:
    return web.Response(body=_LIVE_BODY, content_type="application/json")


async def readiness(request: web.Request) -> web.Response:
    ready, checks = await request.app[READINESS].report()
    status = "ready" if ready else "not ready"
    return web.json_response({"status": status, "checks": checks}, status=200 if ready else 503)


async def combined_health(request: web.Request) -> web.Response:
    """/health: status, database and version in one answer, for clients of the original API;
    it agrees with /readyz about the database."""
    check = await request.app[READINESS].database()
    healthy = check.database_ok
    return web.json_response(
        {
            "status": "healthy" if healthy else "unhealthy",
            "database": "connected" if healthy else "disconnected",
            "version": __version__,
        },
        status=200 if healthy else 503,
    )


@web.middleware
async def drain_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    readiness = request.app[READINESS]
    # Always a task inside aiohttp: the shutdown cancels those that outlive its wait.
    task = asyncio.current_task()
    running = readiness.requests_in_progress
    if task is not None:
        running.add(task)
    try:
        response = await handler(request)
    finally:
        if task is not None:
            running.discard(task)
    if readiness.draining:
        # Existing keep-alive connections never see an endpoint change: ask clients to
        # reconnect, so their next request goes through the Service to a replica that stays.
        response.force_close()
    return response
