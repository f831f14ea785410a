"""Liveness, readiness and the combined /health, through the real app and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import pytest

from service import __version__
from service.app import create_app
from service.config import Settings
from service.migrations import latest_version, load_migrations
from service.processes import free_port
from service.state import READINESS
from tests.conftest import migrate
from tests.exposition import series, value
from tests.helpers import Client, Conn, MakeClient, base_environ, scrape

ALL_OK = {"draining": "ok", "database": "ok", "schema": "ok"}


def total(text: str, name: str) -> float:
    return sum(series(text, name).values())


async def test_unreachable_database_is_live_but_not_ready(aiohttp_client: Any) -> None:
    url = f"postgresql://nobody:secret@127.0.0.1:{free_port()}/nothing"
    client: Client = await aiohttp_client(create_app(Settings.from_env(base_environ(url))))

    live = await client.get("/healthz")
    assert live.status == 200
    assert await live.json() == {"status": "ok"}

    deadline = time.monotonic() + 5
    while True:  # the first connection attempt is under way in the background
        ready = await client.get("/readyz")
        body = await ready.json()
        if "ConnectionRefusedError" in body["checks"]["database"] or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert ready.status == 503
    assert body["status"] == "not ready"
    assert body["checks"]["draining"] == "ok"
    assert body["checks"]["schema"].startswith("unknown: the database has not answered")
    assert "ConnectionRefusedError" in body["checks"]["database"]

    combined = await client.get("/health")
    assert combined.status == 503
    assert await combined.json() == {
        "status": "unhealthy",
        "database": "disconnected",
        "version": __version__,
    }
    assert value(await scrape(client), "user_service_ready") == 0


async def test_migrated_database_is_ready_and_healthy(client: Client) -> None:
    ready = await client.get("/readyz")
    assert ready.status == 200
    assert await ready.json() == {"status": "ready", "checks": ALL_OK}
    combined = await client.get("/health")
    assert combined.status == 200
    assert await combined.json() == {
        "status": "healthy",
        "database": "connected",
        "version": __version__,
    }
    assert value(await scrape(client), "user_service_ready") == 1


async def test_liveness_never_touches_the_database(client: Client) -> None:
    before = await scrape(client)
    for _ in range(50):
        assert (await client.get("/healthz")).status == 200
    after = await scrape(client)
    for name in (
        "user_service_db_query_duration_seconds_count",
        "user_service_db_pool_acquire_duration_seconds_count",
    ):
        assert total(after, name) == total(before, name), name


@pytest.mark.parametrize("history", ["none", "empty"])
async def test_pending_migrations_make_readiness_fail_until_migrated(
    make_client: MakeClient, scratch_url: str, history: str
) -> None:
    if history == "empty":  # the bookkeeping table exists, no migration is recorded yet
        conn = await asyncpg.connect(scratch_url)
        await conn.execute("CREATE TABLE schema_migrations (version integer PRIMARY KEY)")
        await conn.close()
    client: Client = await make_client(
        Settings.from_env(base_environ(scratch_url, READINESS_CACHE_SECONDS="0"))
    )

    response = await client.get("/readyz")
    assert response.status == 503
    checks = (await response.json())["checks"]
    assert checks["database"] == "ok"
    assert checks["schema"].startswith("pending migrations"), checks
    assert "migrate" in checks["schema"]
    # /health is about the database only, and the database is up.
    assert (await client.get("/health")).status == 200

    if history == "empty":
        conn = await asyncpg.connect(scratch_url)
        await conn.execute("DROP TABLE schema_migrations")
        await conn.close()
    await migrate(scratch_url)
    response = await client.get("/readyz")
    assert response.status == 200, await response.text()


async def record_a_newer_migration(url: str) -> None:
    """What a newer build's `migrate` leaves: a version above this build's latest."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "INSERT INTO schema_migrations (version, name, checksum) "
            "VALUES ($1, 'from_a_newer_build', 'newer')",
            latest_version(load_migrations()) + 1,
        )
    finally:
        await conn.close()


async def test_a_schema_newer_than_the_build_keeps_the_pod_ready(
    make_client: MakeClient, scratch_url: str
) -> None:
    # A rollout: the new build's migrate runs while old pods still serve; they must stay in.
    await migrate(scratch_url)
    client: Client = await make_client(
        Settings.from_env(base_environ(scratch_url, READINESS_CACHE_SECONDS="0"))
    )
    assert (await client.get("/readyz")).status == 200

    await record_a_newer_migration(scratch_url)

    response = await client.get("/readyz")
    assert response.status == 200, await response.text()
    assert await response.json() == {"status": "ready", "checks": ALL_OK}


async def test_draining_fails_readiness_keeps_liveness_and_closes_connections(
    client: Client,
) -> None:
    before = await client.get("/healthz")
    assert "Connection" not in before.headers  # keep-alive until the drain starts
    assert (await client.get("/readyz")).status == 200

    client.app[READINESS].start_draining()

    ready = await client.get("/readyz")
    assert ready.status == 503
    body = await ready.json()
    assert body["checks"] == {**ALL_OK, "draining": "shutting down"}
    assert ready.headers["Connection"] == "close"
    live = await client.get("/healthz")
    assert live.status == 200
    assert live.headers["Connection"] == "close"
    api = await client.get("/users")
    assert api.status == 200  # still serving: the listener stays open during the drain delay
    assert api.headers["Connection"] == "close"
    text = await scrape(client)
    assert value(text, "user_service_draining") == 1
    assert value(text, "user_service_ready") == 0


async def test_a_storm_of_200_readiness_probes_costs_one_or_two_queries(client: Client) -> None:
    def schema_checks(text: str) -> float:
        found = value(text, "user_service_db_query_duration_seconds_count", query="schema_version")
        return found or 0.0

    before = schema_checks(await scrape(client))
    responses = await asyncio.gather(*[client.get("/readyz") for _ in range(200)])
    assert [r.status for r in responses] == [200] * 200
    queries = schema_checks(await scrape(client)) - before
    assert 1 <= queries <= 2


async def test_exhausted_pool_answers_503_with_retry_after_once_the_acquire_timeout_passes(
    make_client: MakeClient, database_url: str, db: Conn
) -> None:
    client: Client = await make_client(
        Settings.from_env(
            base_environ(
                database_url,
                DB_POOL_MIN_SIZE="1",
                DB_POOL_MAX_SIZE="1",
                DB_ACQUIRE_TIMEOUT_SECONDS="0.2",
            )
        )
    )
    created = await client.post("/users", json={"username": "holder", "email": "h@example.com"})
    user_id = (await created.json())["id"]
    timeouts_before = value(await scrape(client), "user_service_db_pool_acquire_timeouts_total")

    async with db.transaction():
        await db.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        # This request takes the pool's only connection and waits on our lock.
        blocked = asyncio.create_task(client.get(f"/users/{user_id}"))
        deadline = time.monotonic() + 5
        while (
            value(await scrape(client), "user_service_db_pool_connections_by_state", state="in_use")
            != 1
        ):
            assert time.monotonic() < deadline, "the blocked request never took the connection"
            await asyncio.sleep(0.01)

        started = time.monotonic()
        starved = await client.get("/users")
        waited = time.monotonic() - started
        assert starved.status == 503
        assert starved.headers["Retry-After"] == "1"
        assert "error" in await starved.json()
        assert 0.15 <= waited < 1.0, waited
        assert not blocked.done()

    held = await blocked
    assert held.status == 200  # the lock went away and the waiting request finished normally
    timeouts_after = value(await scrape(client), "user_service_db_pool_acquire_timeouts_total")
    assert timeouts_before == 0
    assert timeouts_after == 1
