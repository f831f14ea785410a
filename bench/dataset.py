"""The benchmark's databases: created, migrated and seeded inside one throwaway PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import asyncpg

from service import migrations
from service.migrations import apply_migrations, load_migrations
from service.pagination import encode_cursor
from service.users import PagePosition

# Seeded users are spread over the year before now, oldest first, so ids and created_at rise
# together as they would in a real table and the list index has a realistic shape.
_SEED = """
INSERT INTO users (username, email, created_at, updated_at)
SELECT 'user' || g, 'user' || g || '@example.com', t, t
FROM generate_series(1, $1::bigint) AS g,
     LATERAL (SELECT now() - (($1::bigint - g) * (interval '365 days' / $1::bigint)) AS t) AS s
"""


# The web process connects as a least-privileged role that migrate creates, as in production.
APP_ROLE = "user_service_app"


@dataclass(frozen=True, slots=True)
class Seeded:
    database: str
    users: int
    seconds: float
    deep_cursor: str  # a cursor that starts a page near the end of the list
    deep_position: int  # rows before that page
    app_password: str | None  # None: this service version has no app role; use the owner


def _app_role(password: str) -> tuple[Any, str | None]:
    """(the AppRole to create, its password), or (None, None) for a service without one.

    A role belongs to the whole server, not to one database: every database of a run must
    use the same password, or seeding the next one would lock the service out of the last.
    """
    role_class = getattr(migrations, "AppRole", None)
    if role_class is None:
        return None, None
    return role_class(APP_ROLE, password), password


async def _create(admin_dsn: str, database: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}"')
        await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()


async def _seed(dsn: str, users: int, role: Any) -> tuple[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        if role is None:
            await apply_migrations(conn, load_migrations())
        else:
            await apply_migrations(conn, load_migrations(), role)
        await conn.execute(_SEED, users)
        # Hint bits and statistics now, not during the first measured seconds.
        await conn.execute("VACUUM (ANALYZE) users")
        await conn.execute("CHECKPOINT")
        # The page that starts 1,000 rows before the oldest user (a tenth of the way from
        # the end in a small table): what a client walking the whole list reaches last.
        deep = users - min(1000, users // 10)
        row = await conn.fetchrow(
            "SELECT created_at, id FROM users ORDER BY created_at DESC, id DESC OFFSET $1 LIMIT 1",
            deep - 1,
        )
        if row is None:
            raise RuntimeError("the seeded table is empty")
        cursor = encode_cursor(PagePosition(created_at=row["created_at"], id=row["id"]))
        return cursor, deep
    finally:
        await conn.close()


def create_and_seed(
    admin_dsn: str, dsn: str, database: str, users: int, app_password: str
) -> Seeded:
    started = time.monotonic()
    asyncio.run(_create(admin_dsn, database))
    role, password = _app_role(app_password)
    cursor, deep = asyncio.run(_seed(dsn, users, role))
    return Seeded(database, users, time.monotonic() - started, cursor, deep, password)


async def _sessions(dsn: str, database: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        value = await conn.fetchval(
            "SELECT sessions FROM pg_stat_database WHERE datname = $1", database
        )
        return int(value or 0)
    finally:
        await conn.close()


def sessions_opened(admin_dsn: str, database: str) -> int:
    """Sessions ever opened on `database` (pg_stat_database.sessions).

    A backend publishes its stats at its first idle moment and then at most once a second, so
    readers wait a moment after a load test before taking the second reading (see run.py).
    We ask through the admin database, so our own session is never counted.
    """
    return asyncio.run(_sessions(admin_dsn, database))


async def _server_version(dsn: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


def server_version(dsn: str) -> str:
    return asyncio.run(_server_version(dsn))
