"""Pooled connections: one round trip per request, and no session state left behind.

The pool skips asyncpg's RESET on release (service/db.py, _keep_session); that is only safe
while no request changes session state, which these tests check.
"""

from __future__ import annotations

from service.state import DATABASE
from tests.exposition import series
from tests.helpers import Client


async def queries_by_name(client: Client) -> dict[str, float]:
    text = await (await client.get("/metrics")).text()
    return {
        dict(labels)["query"]: count
        for labels, count in series(text, "user_service_db_query_duration_seconds_count").items()
    }


async def test_a_request_costs_one_query_and_no_reset(client: Client) -> None:
    created = await client.post("/users", json={"username": "pooled", "email": "p@example.com"})
    url = created.headers["Location"]
    before = await queries_by_name(client)
    for _ in range(20):
        assert (await client.get(url)).status == 200
    after = await queries_by_name(client)
    assert after["select_user"] - before.get("select_user", 0) == 20
    # Nothing else ran: no RESET ALL / UNLISTEN / advisory unlock on release.
    assert {k: v for k, v in after.items() if k != "select_user"} == {
        k: v for k, v in before.items() if k != "select_user"
    }


async def test_pooled_connections_keep_their_session_settings(client: Client) -> None:
    for i in range(30):
        await client.post("/users", json={"username": f"pool{i}", "email": f"p{i}@example.com"})
        await client.get("/users", params={"limit": "5"})
        await client.patch(f"/users/{i + 1}", json={"username": "x"})  # some 400, some 409
    pool = client.app[DATABASE].pool
    assert pool is not None
    held = [await pool.acquire() for _ in range(pool.get_size())]
    try:
        for conn in held:
            assert await conn.fetchval("SHOW statement_timeout") == "5s"
            assert await conn.fetchval("SHOW application_name") == "user-service"
            assert not conn.is_in_transaction()
            locks = await conn.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                "AND pid = pg_backend_pid()"
            )
            assert locks == 0
    finally:
        for conn in held:
            await pool.release(conn)
