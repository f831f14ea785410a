"""Candidate service changes, measured without editing the service: patched in at start.

    python -m bench.variants noreset,uvloop    # then runs `service serve` with those applied

Each variant is the smallest stand-in for a change the service could make; `python -m bench
--compare` runs the baseline and the variants in one run (bench/compare.py). uvloop and orjson
are not project dependencies: install them beside the project to try them, e.g.
`pip install --target /tmp/bench-extra uvloop orjson` and `PYTHONPATH=/tmp/bench-extra`.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

import asyncpg
from aiohttp import web

Patch = Callable[[], None]


def _no_reset() -> None:
    """Pool `reset=`: skip the per-release `SELECT pg_advisory_unlock_all(); CLOSE ALL;
    UNLISTEN *; RESET ALL` round trip. asyncpg still rolls back an open transaction."""
    original = asyncpg.create_pool

    async def keep_session(conn: asyncpg.Connection[Any]) -> None:
        return None

    def create_pool(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("reset", keep_session)  # a no-op where the service passes its own
        return original(*args, **kwargs)

    asyncpg.create_pool = create_pool


def _no_access_log() -> None:
    """No access-log line per request (what LOG_LEVEL=WARNING also does)."""
    from service.logs import AccessLogger  # noqa: PLC0415 - patched before the app is built

    AccessLogger.enabled = property(lambda self: False)  # type: ignore[assignment,method-assign]


def _no_metrics() -> None:
    """Neither the request metrics middleware nor the per-query logger."""
    import service.app  # noqa: PLC0415
    from service.db import Database  # noqa: PLC0415
    from service.state import Handler  # noqa: PLC0415

    @web.middleware
    async def passthrough(request: web.Request, handler: Handler) -> web.StreamResponse:
        return await handler(request)

    async def no_query_logger(self: Database, conn: asyncpg.Connection[Any]) -> None:
        return None

    service.app.metrics_middleware = passthrough  # type: ignore[attr-defined]
    Database._init_connection = no_query_logger  # type: ignore[method-assign]


def _no_query_logger() -> None:
    """Request metrics kept; no asyncpg query logger (db_query_duration_seconds)."""
    from service.db import Database  # noqa: PLC0415

    async def no_query_logger(self: Database, conn: asyncpg.Connection[Any]) -> None:
        return None

    Database._init_connection = no_query_logger  # type: ignore[method-assign]


def _uvloop() -> None:
    """uvloop's event loop for asyncio.run (Python 3.11 has no loop_factory)."""
    importlib.import_module("uvloop").install()


def _orjson() -> None:
    """orjson for response bodies and for the JSON log formatter."""
    orjson = importlib.import_module("orjson")
    from pythonjsonlogger.orjson import OrjsonFormatter  # noqa: PLC0415

    import service.logs  # noqa: PLC0415

    def json_response(data: Any, *, status: int = 200, **kwargs: Any) -> web.Response:
        return web.Response(
            body=orjson.dumps(data), status=status, content_type="application/json", **kwargs
        )

    class Formatter(OrjsonFormatter):
        formatTime = service.logs._Formatter.formatTime

    web.json_response = json_response  # type: ignore[assignment]
    service.logs._Formatter = Formatter  # type: ignore[misc,assignment]


def _fast_log() -> None:
    """A plain logging.Formatter that builds the same JSON object itself (json.dumps once),
    instead of python-json-logger's generic field merging."""
    import json  # noqa: PLC0415
    import logging  # noqa: PLC0415
    from datetime import UTC, datetime  # noqa: PLC0415

    import service.logs  # noqa: PLC0415

    reserved = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

    class Formatter(logging.Formatter):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__()

        def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
            moment = datetime.fromtimestamp(record.created, UTC)  # as service.logs does
            return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

        def format(self, record: logging.LogRecord) -> str:
            payload: dict[str, Any] = {
                "timestamp": self.formatTime(record),
                "level": record.levelname,
                "logger": record.name,
                "message": record.getMessage(),
            }
            for key, value in record.__dict__.items():
                if key not in reserved:
                    payload[key] = value
            if record.exc_info:
                payload["exc_info"] = self.formatException(record.exc_info)
            return json.dumps(payload, default=str)

    service.logs._Formatter = Formatter  # type: ignore[misc,assignment]


def _buffered_log() -> None:
    """Log lines are not flushed one by one: stdout's buffer is written when full, and at
    least every 0.2 s by a timer, so a line reaches the log at most that late."""
    import logging  # noqa: PLC0415
    import threading  # noqa: PLC0415

    def emit(self: logging.StreamHandler[Any], record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + self.terminator)
        except Exception:  # noqa: BLE001 - logging must never raise, as in the stdlib
            self.handleError(record)

    def flusher() -> None:
        while True:
            threading.Event().wait(0.2)
            for handler in logging.getLogger().handlers:
                handler.flush()

    logging.StreamHandler.emit = emit  # type: ignore[method-assign,assignment]
    threading.Thread(target=flusher, daemon=True).start()


def _fast_request_id() -> None:
    """Request ids from random.getrandbits (no os.urandom syscall per request)."""
    import random  # noqa: PLC0415

    import service.logs  # noqa: PLC0415

    original = service.logs.incoming_request_id

    def incoming_request_id(request: web.Request) -> str:
        candidate = request.headers.get(service.logs.REQUEST_ID_HEADER)
        if candidate is not None:
            return original(request)
        return f"{random.getrandbits(128):032x}"  # an id, not a secret

    service.logs.incoming_request_id = incoming_request_id


def _fair_pool() -> None:
    """A FIFO gate (asyncio.Semaphore, fair since Python 3.11) of the pool's size in front of
    pool.acquire(). asyncpg's pool queue is an asyncio.LifoQueue: a waiter woken by a release
    can lose the connection to a request that just arrived and go back to the end of the line,
    so under a steady overload a few requests wait until DB_ACQUIRE_TIMEOUT_SECONDS (503)."""
    import asyncio  # noqa: PLC0415
    from collections.abc import AsyncIterator  # noqa: PLC0415
    from contextlib import asynccontextmanager  # noqa: PLC0415

    from service.db import Database  # noqa: PLC0415
    from service.errors import DatabaseUnavailable  # noqa: PLC0415

    original = Database.connection
    gates: dict[int, asyncio.Semaphore] = {}

    @asynccontextmanager
    async def connection(self: Database, budget: float | None = None) -> AsyncIterator[Any]:
        settings = self._settings
        gate = gates.setdefault(id(self), asyncio.Semaphore(settings.pool_max_size))
        try:
            async with asyncio.timeout(
                min(budget or settings.request_timeout, settings.acquire_timeout)
            ):
                await gate.acquire()
        except TimeoutError:
            raise DatabaseUnavailable("timed out waiting for a pooled connection") from None
        try:
            async with original(self, budget) as conn:
                yield conn
        finally:
            gate.release()

    Database.connection = connection  # type: ignore[method-assign]


_PAGE_JSON = """-- name: select_users_page_json
WITH page AS (
    SELECT p.*, row_number() OVER (ORDER BY created_at DESC, id DESC) AS n
    FROM (SELECT id, username, email, created_at, updated_at FROM users {where}
          ORDER BY created_at DESC, id DESC LIMIT $1) AS p
)
SELECT coalesce(json_agg(json_build_object(
           'id', id, 'username', username, 'email', email,
           'created_at', to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           'updated_at', to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
         ORDER BY n) FILTER (WHERE n < $1), '[]')::text AS users,
       count(*) AS rows,
       max(created_at) FILTER (WHERE n = $1 - 1) AS last_created_at,
       max(id) FILTER (WHERE n = $1 - 1) AS last_id
FROM page"""


def _page_json_from_postgres() -> None:
    """GET /users with the page's JSON built by PostgreSQL (json_agg): no rows, dataclasses or
    dicts in Python; the handler only splices the text into the response."""
    import json  # noqa: PLC0415

    from service import handlers  # noqa: PLC0415
    from service.state import DATABASE  # noqa: PLC0415
    from service.pagination import decode_cursor, encode_cursor, parse_limit  # noqa: PLC0415
    from service.users import PagePosition  # noqa: PLC0415
    from service.validation import reject_unknown_query  # noqa: PLC0415

    first = _PAGE_JSON.format(where="")
    after_sql = _PAGE_JSON.format(where="WHERE (created_at, id) < ($2, $3)")

    async def list_users(request: web.Request) -> web.Response:
        reject_unknown_query(request, frozenset({"limit", "cursor"}))
        limit = parse_limit(request.query.get("limit"))
        cursor = request.query.get("cursor")
        after = decode_cursor(cursor) if cursor is not None else None
        async with request.app[DATABASE].connection() as conn:
            if after is None:
                row = await conn.fetchrow(first, limit + 1)
            else:
                row = await conn.fetchrow(after_sql, limit + 1, after.created_at, after.id)
        if row is None:  # an aggregate always returns one row
            raise RuntimeError("no row")
        more = row["rows"] > limit
        next_cursor = None
        if more:
            position = PagePosition(created_at=row["last_created_at"], id=row["last_id"])
            next_cursor = encode_cursor(position)
        body = (
            f'{{"users": {row["users"]}, "count": {min(row["rows"], limit)}, '
            f'"next_cursor": {json.dumps(next_cursor)}}}'
        )
        return web.Response(text=body, content_type="application/json")

    handlers.list_users = list_users


VARIANTS: dict[str, Patch] = {
    "noreset": _no_reset,
    "noaccesslog": _no_access_log,
    "nometrics": _no_metrics,
    "noquerylog": _no_query_logger,
    "uvloop": _uvloop,
    "orjson": _orjson,
    "fastlog": _fast_log,
    "bufferedlog": _buffered_log,
    "fastid": _fast_request_id,
    "fairpool": _fair_pool,
    "pgjson": _page_json_from_postgres,
}


def apply(names: list[str]) -> None:
    for name in names:
        VARIANTS[name]()


def main() -> int:
    names = [n for n in sys.argv[1].split(",") if n] if len(sys.argv) > 1 else []
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        print(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}", file=sys.stderr)
        return 2
    apply(names)
    from service.__main__ import main as service_main  # noqa: PLC0415 - after the patches

    return service_main(["serve"])


if __name__ == "__main__":
    sys.exit(main())
