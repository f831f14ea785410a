"""The real service process behind PgBouncer in transaction mode: DB_TRANSACTION_POOLING.

What transaction pooling breaks unless the service is configured for it: session settings sent
at start (PgBouncer refuses statement_timeout), and prepared statements kept on a server
connection that the next transaction no longer holds ("prepared statement ... does not exist").
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
import uuid
from collections import Counter
from typing import Any

import aiohttp
import pytest

from tests.helpers import WRITE_AUTH, Conn, base_environ
from tests.procs import ServiceGroup, clean_environ, run_cli
from tests.test_timeouts import UNAVAILABLE, start, users_locked

pytestmark = pytest.mark.slow

# CI runs the minute; LOAD_SECONDS=10 for a quicker try.
LOAD_SECONDS = float(os.environ.get("LOAD_SECONDS", "60"))
CLIENTS = 16
STATEMENT_TIMEOUT = 0.5


async def _one_client(
    base_url: str, statuses: Counter[str], stop_at: float, rng: random.Random
) -> None:
    """Creates, reads, lists, updates, patches and deletes its own users, and races others."""
    timeout = aiohttp.ClientTimeout(total=15)
    async with aiohttp.ClientSession(base_url, headers=WRITE_AUTH, timeout=timeout) as http:
        mine: list[int] = []
        while time.monotonic() < stop_at:
            name = f"p{uuid.uuid4().hex[:12]}"
            choice = rng.random()
            body: dict[str, Any] | None = None
            if not mine or choice < 0.3:
                method, path = "POST", "/users"
                # One in ten takes a name every client fights over: 409s, never 500s.
                taken = f"shared{rng.randrange(20)}" if rng.random() < 0.1 else name
                body = {"username": taken, "email": f"{taken}@example.com"}
            elif choice < 0.55:
                method, path = "GET", f"/users/{rng.choice(mine)}"
            elif choice < 0.7:
                method, path = "GET", "/users?limit=20"
            elif choice < 0.8:
                method, path = "PUT", f"/users/{rng.choice(mine)}"
                body = {"username": name, "email": f"{name}@example.com"}
            elif choice < 0.9:
                method, path = "PATCH", f"/users/{rng.choice(mine)}"
                body = {"email": f"{name}@example.org"}
            else:
                method, path = "DELETE", f"/users/{mine.pop(rng.randrange(len(mine)))}"
            async with http.request(method, path, json=body) as response:
                statuses[f"{method} {response.status}"] += 1
                payload = await response.read()
                if response.status == 201:
                    mine.append(int(json.loads(payload)["id"]))


async def test_a_minute_of_mixed_load_through_pgbouncer_has_no_5xx(
    services: ServiceGroup, pooled_url: str, db: Conn
) -> None:
    service = start(services, pooled_url, DB_TRANSACTION_POOLING="true")
    statuses: Counter[str] = Counter()
    stop_at = time.monotonic() + LOAD_SECONDS
    await asyncio.gather(
        *(
            _one_client(service.base_url, statuses, stop_at, random.Random(seed))
            for seed in range(CLIENTS)
        )
    )
    print(f"\n{sum(statuses.values())} requests in {LOAD_SECONDS:g} s: {dict(statuses)}")

    unexpected = {k: n for k, n in statuses.items() if int(k.split()[1]) >= 500}
    assert not unexpected, unexpected
    assert statuses["POST 201"] > 100 and statuses["GET 200"] > 100, statuses
    assert statuses["POST 409"] > 0, "the shared names never raced"
    logged = service.output()
    assert "prepared statement" not in logged
    assert not service.messages("database unavailable"), service.messages("database unavailable")
    # Every 201 is a row (the pool's writes really reached the server).
    kept = await db.fetchval("SELECT count(*) FROM users")
    assert kept == statuses["POST 201"] - statuses["DELETE 204"]


async def test_statement_timeout_holds_without_a_session_setting(
    services: ServiceGroup, pooled_url: str, db: Conn
) -> None:
    """PgBouncer cannot carry statement_timeout: the client cancels the query through it."""
    service = start(
        services,
        pooled_url,
        DB_TRANSACTION_POOLING="true",
        DB_STATEMENT_TIMEOUT_SECONDS=str(STATEMENT_TIMEOUT),
        DB_REQUEST_TIMEOUT_SECONDS="10",
    )
    timeout = aiohttp.ClientTimeout(total=15)
    async with aiohttp.ClientSession(service.base_url, headers=WRITE_AUTH, timeout=timeout) as http:
        async with users_locked(db):
            sent = time.monotonic()
            async with http.get("/users") as response:
                took = time.monotonic() - sent
                status, retry_after = response.status, response.headers.get("Retry-After")
                assert await response.json() == UNAVAILABLE
        print(f"\n{status} after {took:.2f} s (statement timeout {STATEMENT_TIMEOUT} s)")
        assert (status, retry_after) == (503, "1")
        assert STATEMENT_TIMEOUT <= took < 5
        # The cancelled query left neither the server connection nor the client's broken.
        async with http.get("/users") as response:
            assert response.status == 200
    # It was cancelled on the server, not merely abandoned by the client.
    waiting = await db.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%FROM users%' "
        "AND state = 'active' AND pid <> pg_backend_pid()"
    )
    assert waiting == 0


def test_without_the_setting_the_service_names_it(services: ServiceGroup, pooled_url: str) -> None:
    """The usual mistake, pointing the service at the pooler and no more, is a readable log."""
    env = base_environ(pooled_url, DB_TRANSACTION_POOLING="false", AUTH_DISABLED="true")
    service = services.start(clean_environ(**env))
    line = service.wait_for_log(
        lambda line: line.get("message") == "database not reachable, retrying", timeout=10
    )
    assert "unsupported startup parameter: statement_timeout" in line["error"], line
    assert "set DB_TRANSACTION_POOLING=true" in line["error"], line


def test_migrate_refuses_a_transaction_pooler(pooled_url: str) -> None:
    result = run_cli(
        ["migrate"], clean_environ(DATABASE_URL=pooled_url, DB_TRANSACTION_POOLING="true")
    )
    assert result.returncode == 2, result
    assert "migrate needs a direct connection to PostgreSQL" in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
