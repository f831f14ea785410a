"""The README's timeout settings, each checked on a real `python -m service serve`.

- SHUTDOWN_TIMEOUT_SECONDS: after SIGTERM and the drain delay, a request still running after it
  is cut off and the process exits, instead of waiting for the request to end;
- KEEPALIVE_TIMEOUT_SECONDS: an idle keep-alive connection, and a request whose headers never
  finish, are closed after it;
- DB_STATEMENT_TIMEOUT_SECONDS: a query that runs past it is cancelled by PostgreSQL and the
  request answered 503 with Retry-After, long before DB_REQUEST_TIMEOUT_SECONDS.

A slow database is made for real: the test holds an ACCESS EXCLUSIVE lock on users in an open
transaction, so the service's queries on that table wait on the lock. Time bounds are generous
(a loaded CI machine is slow) yet far below what each broken setting would take.
"""

from __future__ import annotations

import asyncio
import http.client
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
import pytest

from tests.helpers import READ_AUTH, READ_KEY, Conn, base_environ
from tests.procs import Service, ServiceGroup, clean_environ
from tests.security.test_slow_clients import trickle

pytestmark = pytest.mark.slow

# Far beyond every bound below: a request waiting on the lock can only end early by a timeout.
NEVER = "60"
DRAIN_DELAY, SHUTDOWN_TIMEOUT = 0.5, 1.0
# After the drain delay and the shutdown timeout: the listener's close, the pool's close and
# the interpreter's exit, on a busy machine.
EXIT_MARGIN = 1.5
# Generous, yet well short of the lock, which is held until the process is gone (or this passes).
EXIT_BOUND = DRAIN_DELAY + SHUTDOWN_TIMEOUT + 5.0
# Long enough to tell SHUTDOWN_TIMEOUT_SECONDS from twice that, past any scheduling noise.
LONGER_SHUTDOWN_TIMEOUT = 3.0
KEEPALIVE_TIMEOUT = 2.0
# Long enough to tell a closing connection from one the server keeps (aiohttp's own default
# is an hour), short enough to keep the test quick.
KEEPALIVE_BOUND = 6.0
STATEMENT_TIMEOUT = 0.5
REQUEST_TIMEOUT = 10.0
UNAVAILABLE = {"error": "the database is unavailable, retry later"}


def start(services: ServiceGroup, database_url: str, **settings: str) -> Service:
    """A ready service on the session's database, requiring the test API keys."""
    env = base_environ(database_url, AUTH_DISABLED="false", **settings)
    service = services.start(clean_environ(**env))
    service.wait_ready()
    return service


@asynccontextmanager
async def users_locked(db: Conn) -> AsyncIterator[None]:
    """The users table locked against everyone else, reads included, until the block ends."""
    async with db.transaction():
        await db.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        yield


async def wait_for_lock_waiter(db: Conn, within: float = 10.0) -> None:
    """Until some session waits on the users lock: the service's request is in its query.
    pg_locks is live, unlike pg_stat_activity, whose view is frozen for a transaction."""
    deadline = time.monotonic() + within
    sql = "SELECT count(*) FROM pg_locks WHERE relation = 'users'::regclass AND NOT granted"
    while not await db.fetchval(sql):
        assert time.monotonic() < deadline, f"no request waited on the lock within {within} s"
        await asyncio.sleep(0.05)


async def everything_answered_to_get_users(port: int) -> bytes:
    """Sends GET /users on a connection of its own and reads until the server closes it. Raw,
    because aiohttp's client would quietly send a GET again on a new connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = f"GET /users HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {READ_KEY}\r\n\r\n"
    writer.write(head.encode())
    try:
        return await reader.read()
    finally:
        writer.close()


async def get_users(base_url: str) -> tuple[int, dict[str, str], object]:
    """GET /users with a read key: (status, headers, JSON body)."""
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT + 5)
    async with (
        aiohttp.ClientSession(base_url, headers=READ_AUTH, timeout=timeout) as http,
        http.get("/users") as response,
    ):
        return response.status, dict(response.headers), await response.json()


@dataclass
class CutOff:
    """A SIGTERM while a request waited on the lock: what the process and the client saw."""

    service: Service
    exit_code: int
    exited_after: float  # seconds from SIGTERM to the process gone
    answer: bytes  # everything the client received before its connection closed


async def sigterm_during_a_request_on_the_locked_table(
    services: ServiceGroup, database_url: str, db: Conn, shutdown_timeout: float, within: float
) -> CutOff:
    """Starts a service, sends it GET /users while the table is locked, and once that request
    waits on the lock, SIGTERM; the lock is held until the process is gone (or `within`)."""
    service = start(
        services,
        database_url,
        DRAIN_DELAY_SECONDS=str(DRAIN_DELAY),
        SHUTDOWN_TIMEOUT_SECONDS=str(shutdown_timeout),
        DB_REQUEST_TIMEOUT_SECONDS=NEVER,
        DB_STATEMENT_TIMEOUT_SECONDS=NEVER,
    )
    async with users_locked(db):
        request = asyncio.create_task(everything_answered_to_get_users(service.port))
        try:
            await wait_for_lock_waiter(db)
            signalled = time.monotonic()
            service.send_signal(signal.SIGTERM)
            code = await service.exited(within)
            exited_after = time.monotonic() - signalled
            # Still under the lock: only the shutdown can have ended the request.
            answer = await asyncio.wait_for(request, 1.0)
        finally:
            request.cancel()
    print(f"\nexited {exited_after:.2f} s after SIGTERM (shutdown timeout {shutdown_timeout} s)")
    return CutOff(service, code, exited_after, answer)


async def test_shutdown_cuts_off_a_request_still_running_after_shutdown_timeout(
    services: ServiceGroup, database_url: str, db: Conn
) -> None:
    cut = await sigterm_during_a_request_on_the_locked_table(
        services, database_url, db, SHUTDOWN_TIMEOUT, within=EXIT_BOUND
    )

    assert cut.exit_code == 0
    assert cut.answer == b"", f"the cut-off request was answered: {cut.answer[:200]!r}"
    # The request had the drain delay and its shutdown timeout first: not dropped at once.
    assert DRAIN_DELAY + SHUTDOWN_TIMEOUT <= cut.exited_after < EXIT_BOUND
    closing = cut.service.messages("closing listener, finishing in-flight requests")
    assert [line["shutdown_timeout_seconds"] for line in closing] == [SHUTDOWN_TIMEOUT]
    assert closing[0]["elapsed_seconds"] >= DRAIN_DELAY
    [stopped] = cut.service.messages("stopped")
    assert DRAIN_DELAY + SHUTDOWN_TIMEOUT <= stopped["elapsed_seconds"] < EXIT_BOUND
    # The cut-off request leaves a trace: one warning with the count.
    [cancelled] = cut.service.messages("shutdown timeout: cancelled requests still in progress")
    assert cancelled["requests"] == 1


async def test_the_process_exits_within_shutdown_timeout_not_twice_that(
    services: ServiceGroup, database_url: str, db: Conn
) -> None:
    cut = await sigterm_during_a_request_on_the_locked_table(
        services, database_url, db, LONGER_SHUTDOWN_TIMEOUT, within=2 * EXIT_BOUND
    )

    assert cut.exited_after < DRAIN_DELAY + LONGER_SHUTDOWN_TIMEOUT + EXIT_MARGIN


def test_an_idle_keepalive_connection_is_closed_after_keepalive_timeout(
    services: ServiceGroup, database_url: str
) -> None:
    service = start(services, database_url, KEEPALIVE_TIMEOUT_SECONDS=str(KEEPALIVE_TIMEOUT))
    conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=KEEPALIVE_BOUND)
    try:
        conn.request("GET", "/healthz")
        response = conn.getresponse()
        response.read()
        answered = time.monotonic()
        assert response.status == 200
        assert not response.will_close  # a keep-alive connection, left idle from here on
        assert conn.sock is not None
        try:
            closed = conn.sock.recv(1) == b""
        except TimeoutError:
            closed = False
        idle = time.monotonic() - answered
    finally:
        conn.close()
    print(f"\nidle for {idle:.2f} s, closed: {closed} (keepalive timeout {KEEPALIVE_TIMEOUT} s)")

    assert closed, f"the server kept an idle connection open for {idle:.1f} s"
    # The timer starts when the response is written, a moment before the client has read it.
    assert KEEPALIVE_TIMEOUT - 0.5 <= idle < KEEPALIVE_BOUND


async def test_a_request_whose_headers_never_finish_is_closed_after_keepalive_timeout(
    services: ServiceGroup, database_url: str
) -> None:
    service = start(services, database_url, KEEPALIVE_TIMEOUT_SECONDS=str(KEEPALIVE_TIMEOUT))
    # A byte every 0.1 s: the bytes keep coming, the blank line that ends the headers never does.
    closed_after = await trickle(service.port, KEEPALIVE_BOUND)
    print(f"\ntrickling request closed after {closed_after} s")

    assert closed_after is not None, f"still open after {KEEPALIVE_BOUND} s of trickling"
    # aiohttp counts from the connection's opening; incoming bytes do not push it back.
    assert KEEPALIVE_TIMEOUT - 0.5 <= closed_after < KEEPALIVE_BOUND


async def test_a_query_past_statement_timeout_is_answered_503_long_before_the_request_deadline(
    services: ServiceGroup, database_url: str, db: Conn
) -> None:
    service = start(
        services,
        database_url,
        DB_STATEMENT_TIMEOUT_SECONDS=str(STATEMENT_TIMEOUT),
        DB_REQUEST_TIMEOUT_SECONDS=str(REQUEST_TIMEOUT),
    )
    async with users_locked(db):
        sent = time.monotonic()
        status, headers, body = await get_users(service.base_url)
        took = time.monotonic() - sent
    print(f"\n{status} after {took:.2f} s (statement timeout {STATEMENT_TIMEOUT} s)")

    assert (status, headers.get("Retry-After"), body) == (503, "1", UNAVAILABLE)
    assert headers["Content-Type"].startswith("application/json")
    # It waited on the lock until PostgreSQL cancelled the query, not until the request deadline.
    assert STATEMENT_TIMEOUT <= took < REQUEST_TIMEOUT / 2
    # PostgreSQL's cancel, not the request's deadline ("no answer within 10 s").
    [unavailable] = service.messages("database unavailable")
    assert unavailable["reason"].startswith("QueryCanceledError:"), unavailable
