"""PostgreSQL stopped under a running service, and a service started before its database.

The database is a PostgreSQL of this module's own (the session's is shared by other tests):
EmbeddedPostgres.stop() keeps its data and start() brings it back on the same port.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from service.devdb import EmbeddedPostgres
from tests.conftest import FAST_SETTINGS, migrate
from tests.exposition import value
from tests.procs import Service, ServiceGroup, clean_environ

pytestmark = pytest.mark.slow

# Database checks are cached for READINESS_CACHE_SECONDS (1) and ping with a 1 s timeout.
READINESS_BOUND = 3.0


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(settings=FAST_SETTINGS)
    try:
        server.start()
        asyncio.run(migrate(server.dsn()))
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def postgres_up(own_postgres: EmbeddedPostgres) -> EmbeddedPostgres:
    """The module's server, running (a failed test may have left it stopped)."""
    if own_postgres.pid is None:
        own_postgres.start()
    return own_postgres


async def status_of(http: aiohttp.ClientSession, path: str) -> int:
    async with http.get(path) as response:
        await response.read()
        return response.status


async def wait_for_status(
    http: aiohttp.ClientSession, path: str, status: int, within: float
) -> float:
    """Polls until `path` answers `status`; returns how long that took."""
    started = time.monotonic()
    while (got := await status_of(http, path)) != status:
        assert time.monotonic() - started < within, f"{path} still {got} after {within} s"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def metric(http: aiohttp.ClientSession, name: str) -> float | None:
    async with http.get("/metrics") as response:
        return value(await response.text(), name)


async def timed(
    http: aiohttp.ClientSession, method: str, path: str, request_id: str, **kw: Any
) -> tuple[int, dict[str, str], Any, float]:
    started = time.monotonic()
    async with http.request(method, path, headers={"X-Request-ID": request_id}, **kw) as r:
        body = await r.json()
        return r.status, dict(r.headers), body, time.monotonic() - started


async def test_database_lost_mid_run_fails_fast_then_recovers_without_a_restart(
    services: ServiceGroup, postgres_up: EmbeddedPostgres
) -> None:
    pg = postgres_up
    service = services.start(clean_environ(DATABASE_URL=pg.dsn()))
    service.wait_ready()
    async with aiohttp.ClientSession(service.base_url) as http:
        before = await timed(
            http, "POST", "/users", "before", json={"username": "kept", "email": "k@x.org"}
        )
        assert before[0] == 201
        user = before[2]

        await asyncio.to_thread(pg.stop)
        # The combined /health reports the database; readiness keeps the pod in the Service, so
        # callers get this pod's 503 with Retry-After rather than a load balancer's error.
        noticed_after = await wait_for_status(http, "/health", 503, READINESS_BOUND)
        async with http.get("/readyz") as ready:
            assert ready.status == 200
            checks = (await ready.json())["checks"]
            assert checks["database"] != "ok"
            assert checks["schema"] == checks["draining"] == "ok"
        assert await status_of(http, "/healthz") == 200
        assert await metric(http, "user_service_db_up") == 0

        attempts = [
            ("GET", f"/users/{user['id']}", {}),
            ("GET", "/users", {}),
            ("POST", "/users", {"json": {"username": "lost", "email": "l@x.org"}}),
            ("DELETE", f"/users/{user['id']}", {}),
        ]
        for n, (method, path, kw) in enumerate(attempts * 2):
            status, headers, body, elapsed = await timed(http, method, path, f"out{n}", **kw)
            assert status == 503, (method, path, body)
            assert headers["Retry-After"] == "1"
            assert body == {"error": "the database is unavailable, retry later"}
            assert elapsed < 3, (method, path, elapsed)

        await asyncio.to_thread(pg.start)  # same port, same data
        back_after = await wait_for_status(http, "/health", 200, READINESS_BOUND)
        assert await metric(http, "user_service_db_up") == 1
        status, _, body, _ = await timed(http, "GET", f"/users/{user['id']}", "after")
        assert (status, body) == (200, user)  # data from before the outage, DELETE never ran
        again = await timed(
            http, "POST", "/users", "after2", json={"username": "new", "email": "n@x.org"}
        )
        assert again[0] == 201

    assert service.process.poll() is None  # the same process throughout
    assert len(service.messages("starting")) == 1
    unavailable = service.messages("database unavailable")
    # Each 503 was logged once, carrying the id of the request it answered.
    assert sorted(x["request_id"] for x in unavailable) == sorted(f"out{n}" for n in range(8))
    # An outage is no bug: no line of it carries a traceback, the pool's retries included.
    assert [x for x in service.log_lines() if "exc_info" in x] == []
    retries = [x for x in service.log_lines() if x["logger"] == "asyncpg.pool"]
    assert retries, "the pool never retried its connection floor"
    # ... each with its reason instead (the server shutting down, then refusing).
    assert all(x.get("error") for x in retries), retries
    print(
        f"\noutage: /health 503 after {noticed_after:.2f} s (readiness stayed 200), "
        f"200 again {back_after:.2f} s after PostgreSQL restarted"
    )


async def test_started_before_its_database_it_stays_live_retries_then_becomes_ready(
    services: ServiceGroup, postgres_up: EmbeddedPostgres
) -> None:
    pg = postgres_up
    await asyncio.to_thread(pg.stop)
    service = services.start(clean_environ(DATABASE_URL=pg.dsn()))

    # Four failed attempts in, the process is still up, live, and not ready.
    await service.log_event(lambda _: len(_retries(service)) >= 4, within=10)
    async with aiohttp.ClientSession(service.base_url) as http:
        assert await status_of(http, "/healthz") == 200
        assert await status_of(http, "/readyz") == 503
        status, headers, _, elapsed = await timed(http, "GET", "/users", "early")
        assert (status, headers["Retry-After"]) == (503, "1") and elapsed < 1
        down_for = time.monotonic()
        await asyncio.to_thread(pg.start)
        await wait_for_status(http, "/readyz", 200, within=15)
        down_for = time.monotonic() - down_for
        assert (await timed(http, "GET", "/users", "late"))[0] == 200

    delays = [x["retry_in_seconds"] for x in _retries(service)]
    assert all("ConnectionRefusedError" in x["error"] for x in _retries(service))
    # Backing off: the waits grow, so a long outage costs a handful of attempts, not a storm.
    assert max(delays) > 2 * delays[0]
    assert len(delays) <= 10
    assert service.process.poll() is None
    assert len(service.messages("database pool ready")) == 1
    print(f"\nlate database: {len(delays)} attempts, ready {down_for:.2f} s after it started")


def _retries(service: Service) -> list[dict[str, Any]]:
    return service.messages("database not reachable, retrying")
