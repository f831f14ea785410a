"""service/users.py's SQL functions on a real PostgreSQL, where the API can't force the case."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import asyncpg
import pytest

from service.users import insert_user, update_user

if TYPE_CHECKING:
    from datetime import datetime

    from service.db import Connection


@pytest.fixture
async def conn(
    database_url: str, db: asyncpg.Connection[asyncpg.Record]
) -> AsyncIterator[Connection]:
    """A pooled connection, the kind the service passes to these functions (`db` empties users)."""
    async with (
        asyncpg.create_pool(database_url, min_size=1, max_size=1) as pool,
        pool.acquire() as pooled,
    ):
        yield pooled


async def test_updated_at_moves_forward_on_each_update_within_one_transaction(
    conn: Connection,
) -> None:
    # now() is frozen for a whole transaction: updates stamped with it would all tie.
    user = await insert_user(conn, "tick", "tick@example.com")
    async with conn.transaction():
        first = await update_user(conn, user.id, "tock", None)
        second = await update_user(conn, user.id, None, "tock@example.com")
    assert first is not None
    assert second is not None
    assert user.updated_at < first.updated_at < second.updated_at


async def test_updated_at_moves_forward_even_when_the_clock_is_behind_it(conn: Connection) -> None:
    # The tie forced: the stored updated_at is ahead of clock_timestamp(), as after a clock
    # step back, or as a second update within one tick of the clock sees it.
    user = await insert_user(conn, "ahead", "ahead@example.com")
    ahead: datetime = await conn.fetchval(
        "UPDATE users SET updated_at = clock_timestamp() + interval '1 hour' "
        "WHERE id = $1 RETURNING updated_at",
        user.id,
    )
    updated = await update_user(conn, user.id, "behind", None)
    assert updated is not None
    assert updated.updated_at > ahead
