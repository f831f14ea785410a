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
from service.user_resource import COLUMNS, WRITABLE, WRITABLE_NAMES

if TYPE_CHECKING:
    from service.db import Connection

# Unique constraints (service/migrations) and the field each one protects.
_UNIQUE_FIELDS = {f.unique_constraint: f.name for f in WRITABLE if f.unique_constraint}
_COLUMNS = ", ".join(COLUMNS)
# Where the writable fields end in a row: id, writable..., created_at, updated_at.
_CREATED_AT = 1 + len(WRITABLE_NAMES)
_UPDATED_AT = _CREATED_AT + 1
# SQL composed once from the definition's names (plain identifiers, checked there).
_INSERT_COLUMNS = ", ".join(WRITABLE_NAMES)
_INSERT_VALUES = ", ".join(f"${n}" for n in range(1, len(WRITABLE_NAMES) + 1))
# $1 is the id; None for a field keeps its current value.
_UPDATE_SET = ", ".join(
    f"{name} = coalesce(${n}, {name})" for n, name in enumerate(WRITABLE_NAMES, 2)
)
_ZERO = timedelta(0)


@dataclass(frozen=True, slots=True)
class User:
    id: int
    writable: tuple[str, ...]  # the values of user_resource.WRITABLE, in that order
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_record(cls, record: asyncpg.Record) -> User:
        # Positional, in _COLUMNS' order: no dict per row on the list's hot path.
        return cls(record[0], record[1:_CREATED_AT], record[_CREATED_AT], record[_UPDATED_AT])

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id}
        body.update(zip(WRITABLE_NAMES, self.writable, strict=True))
        body["created_at"] = iso8601(self.created_at)
        body["updated_at"] = iso8601(self.updated_at)
        return body


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


async def insert_user(conn: Connection, *values: str) -> User:
    """`values`: one per user_resource.WRITABLE field, in its order."""
    async with _unique_fields():
        record = await conn.fetchrow(
            f"""-- name: insert_user
            INSERT INTO users ({_INSERT_COLUMNS}) VALUES ({_INSERT_VALUES})
            RETURNING {_COLUMNS}""",  # noqa: S608 - constant columns
            *values,
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


async def update_user(conn: Connection, user_id: int, *values: str | None) -> User | None:
    """Sets the given fields (`values` in user_resource.WRITABLE's order; None keeps the
    current value); None if there is no such user."""
    async with _unique_fields():
        # updated_at must move on every update, even two within one clock tick.
        record = await conn.fetchrow(
            f"""-- name: update_user
            UPDATE users SET {_UPDATE_SET},
                updated_at = greatest(clock_timestamp(), updated_at + interval '1 microsecond')
            WHERE id = $1 RETURNING {_COLUMNS}""",  # noqa: S608 - constant columns
            user_id,
            *values,
        )
    return None if record is None else User.from_record(record)


async def delete_user(conn: Connection, user_id: int) -> bool:
    status = await conn.execute(
        """-- name: delete_user
        DELETE FROM users WHERE id = $1""",
        user_id,
    )
    return status == "DELETE 1"
