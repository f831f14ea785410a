"""PostgreSQL ends the pool's sessions under load: every request still gets a clean answer.

A terminated backend, a crashed server or a reset socket can surface in asyncpg as several
exception types, some of them protocol-state errors that merely follow from the lost socket
(`InternalClientError: cannot switch to state ...`). Each must be a 503 with Retry-After, one log
line without a traceback, a counted query error, and a discarded connection: never a 500.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter

import aiohttp
import pytest

from tests.exposition import series
from tests.helpers import Conn
from tests.procs import Service, ServiceGroup, clean_environ

pytestmark = pytest.mark.slow

CLIENTS = 32
ROUNDS = 8
ROUND_INTERVAL = 0.4


async def _client(base_url: str, statuses: Counter[str], stop: asyncio.Event) -> None:
    async with aiohttp.ClientSession(base_url) as http:
        created: list[int] = []
        while not stop.is_set():
            if created and random.random() < 0.6:
                method, path, body = "GET", f"/users/{random.choice(created)}", None
            else:
                name = f"t{uuid.uuid4().hex[:12]}"
                method, path = "POST", "/users"
                body = {"username": name, "email": f"{name}@example.com"}
            async with http.request(method, path, json=body) as response:
                payload = await response.json()
                key = str(response.status)
                if response.status == 503:
                    key += f" Retry-After={response.headers.get('Retry-After')}"
                statuses[key] += 1
                if response.status == 201:
                    created.append(payload["id"])


async def _terminate_backends(db: Conn) -> int:
    """Ends every session the service holds, as an operator or a failover would."""
    ended: list[bool] = await db.fetchval(
        "SELECT array_agg(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE application_name = 'user-service' AND pid <> pg_backend_pid()"
    )
    return len(ended or [])


async def test_terminated_backends_under_load_answer_503_never_500(
    services: ServiceGroup, database_url: str, db: Conn
) -> None:
    service = services.start(clean_environ(DATABASE_URL=database_url, DB_POOL_MAX_SIZE="10"))
    service.wait_ready()
    statuses: Counter[str] = Counter()
    stop = asyncio.Event()
    clients = [
        asyncio.create_task(_client(service.base_url, statuses, stop)) for _ in range(CLIENTS)
    ]
    terminated = 0
    try:
        await asyncio.sleep(0.5)
        for _ in range(ROUNDS):
            terminated += await _terminate_backends(db)
            await asyncio.sleep(ROUND_INTERVAL)
        await asyncio.sleep(1.0)  # and the service recovers without a restart
        recovered_at = sum(statuses.values())
        await asyncio.sleep(0.5)
    finally:
        stop.set()
        await asyncio.gather(*clients)
    print(f"\nlost sessions: {terminated} backends terminated; answers {dict(statuses)}")

    assert terminated >= ROUNDS
    assert set(statuses) <= {"200", "201", "503 Retry-After=1"}, statuses
    assert statuses["503 Retry-After=1"] > 0  # the fault was hit, not dodged
    assert sum(statuses.values()) > recovered_at  # still serving at the end
    _assert_clean_log(service)
    errors = await _query_errors(service)
    assert sum(errors.values()) > 0, errors


def _assert_clean_log(service: Service) -> None:
    lines = service.log_lines()
    assert [x for x in lines if x.get("level") in ("ERROR", "CRITICAL")] == []
    assert [x for x in lines if "exc_info" in x] == []
    unavailable = [x for x in lines if x.get("message") == "database unavailable"]
    assert unavailable, "each 503 is logged once"
    assert all("request_id" in x and x.get("reason") for x in unavailable)
    assert service.stderr() == ""


async def _query_errors(service: Service) -> dict[str, float]:
    async with (
        aiohttp.ClientSession(service.base_url) as http,
        http.get("/metrics") as response,
    ):
        text = await response.text()
    return {
        dict(labels)["query"]: value
        for labels, value in series(text, "user_service_db_query_errors_total").items()
    }
