"""The users table: a dataclass and plain SQL functions, each taking its connection explicitly.

Every query starts with `-- name: <function>`: the metrics label its duration by that name, and
the same comment shows up in pg_stat_statements and PostgreSQL's logs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg

from service.errors import Conflict

if TYPE_CHECKING:
    from service.db import Connection

# Unique constraints (service/migrations) and the field each one protects.
_UNIQUE_FIELDS = {"users_username_key": "username", "users_email_lower_key": "email"}
_COLUMNS = "id, username, email, created_at, updated_at"
_ZERO = timedelta(0)


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    email: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_record(cls, record: asyncpg.Record) -> User:
        # Positional, in _COLUMNS' order: building a dict per row cost a list page 10%.
        return cls(record[0], record[1], record[2], record[3], record[4])

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "email": self.email,
            "created_at": iso8601(self.created_at),
            "updated_at": iso8601(self.updated_at),
        }


@dataclass(frozen=True, slots=True)
class PagePosition:
    """Where the previous page ended, in the list's (created_at, id) descending order."""

    created_at: datetime
    id: int


def iso8601(moment: datetime) -> str:
    # asyncpg returns timestamptz values in UTC already; converting is for other callers.
    if moment.utcoffset() != _ZERO:
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


@asynccontextmanager
async def _unique_fields() -> AsyncIterator[None]:
    """The database decides duplicates (no check-then-insert race); we name the field."""
    try:
        yield
    except asyncpg.UniqueViolationError as exc:
        field = _UNIQUE_FIELDS.get(exc.constraint_name or "")
        if field is None:
            raise
        raise Conflict(f"a user with this {field} already exists", field=field) from None


async def insert_user(conn: Connection, username: str, email: str) -> User:
    async with _unique_fields():
        record = await conn.fetchrow(
            f"""-- name: insert_user
            INSERT INTO users (username, email) VALUES ($1, $2) RETURNING {_COLUMNS}""",  # noqa: S608 - constant columns
            username,
            email,
        )
    if record is None:  # pragma: no cover - INSERT ... RETURNING always yields the row
        raise RuntimeError("INSERT returned no row")
    return User.from_record(record)


async def select_user(conn: Connection, user_id: int) -> User | None:
    record = await conn.fetchrow(
        f"""-- name: select_user
        SELECT {_COLUMNS} FROM users WHERE id = $1""",  # noqa: S608 - constant columns
        user_id,
    )
    return None if record is None else User.from_record(record)


async def select_users_page(conn: Connection, limit: int, after: PagePosition | None) -> list[User]:
    """Newest first; keyset pagination, so page 1,000 costs what page 1 costs."""
    if after is None:
        records = await conn.fetch(
            f"""-- name: select_users_first_page
            SELECT {_COLUMNS} FROM users ORDER BY created_at DESC, id DESC LIMIT $1""",  # noqa: S608
            limit,
        )
    else:
        records = await conn.fetch(
            f"""-- name: select_users_page
            SELECT {_COLUMNS} FROM users WHERE (created_at, id) < ($1, $2)
            ORDER BY created_at DESC, id DESC LIMIT $3""",  # noqa: S608 - constant columns
            after.created_at,
            after.id,
            limit,
        )
    return [User.from_record(r) for r in records]


async def update_user(
    conn: Connection, user_id: int, username: str | None, email: str | None
) -> User | None:
    """Sets the given fields (None keeps the current value); None if there is no such user."""
    async with _unique_fields():
        # updated_at must move on every update, even two within one clock tick.
        record = await conn.fetchrow(
            f"""-- name: update_user
            UPDATE users SET username = coalesce($2, username), email = coalesce($3, email),
                updated_at = greatest(clock_timestamp(), updated_at + interval '1 microsecond')
            WHERE id = $1 RETURNING {_COLUMNS}""",  # noqa: S608 - constant columns
            user_id,
            username,
            email,
        )
    return None if record is None else User.from_record(record)


async def delete_user(conn: Connection, user_id: int) -> bool:
    status = await conn.execute(
        """-- name: delete_user
        DELETE FROM users WHERE id = $1""",
        user_id,
    )
    return status == "DELETE 1"
