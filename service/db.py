"""The connection pool: created with backoff, borrowed with a deadline, closed last."""

from __future__ import annotations

import asyncio
import logging
import math
import random
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg

from service.config import Settings
from service.errors import DatabaseUnavailable
from service.metrics import Metrics
from service.tls import client_ssl, describe_refused_certificate

logger = logging.getLogger(__name__)
T = TypeVar("T")

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Connection = PoolConnectionProxy[asyncpg.Record]

# Errors that mean "the database is away or too slow", as opposed to a bug in our SQL.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.QueryCanceledError,  # statement_timeout
    asyncpg.AdminShutdownError,
    asyncpg.InterfaceError,  # connection closed underneath us, pool closing
    # "cannot execute INSERT in a read-only transaction": in a failover the address reached a
    # standby not yet promoted (an endpoint or DNS answer ahead of the promotion), or a demoted
    # old primary. The service never asks for read-only transactions itself.
    asyncpg.ReadOnlySQLTransactionError,
)
# The connection is gone: a terminated backend (AdminShutdownError is also a clean shutdown), a
# crashed server, a reset socket, or asyncpg's protocol state errors that follow from those
# ("cannot switch to state 12; another operation (2) is in progress"). Or it leads to a server
# that is no primary (read-only): a new connection through the address may reach the one that is.
LOST_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InternalClientError,
    asyncpg.ReadOnlySQLTransactionError,
)
RELEASE_ERRORS: tuple[type[BaseException], ...] = (
    *TRANSIENT_ERRORS,
    asyncpg.InternalClientError,
    asyncpg.PostgresError,
)
# Opening a connection can also fail on the server's say-so while a role, database or password
# is still being provisioned (a Secret rotating, a Job creating the role): retry those as well.
CONNECT_ERRORS: tuple[type[BaseException], ...] = (*TRANSIENT_ERRORS, asyncpg.PostgresError)
# An OSError, yet not an outage: waiting does not change a certificate signed by another CA or
# issued for another host name. `serve` keeps retrying (the certificate may be fixed while it
# runs); `migrate` gives up at once.
CERTIFICATE_ERRORS: tuple[type[BaseException], ...] = (ssl.SSLCertVerificationError,)
_BACKOFF_FIRST, _BACKOFF_MAX = 0.25, 10.0
# After the drain, queries still running get this long before their connections are cut.
_POOL_CLOSE_SECONDS = 10.0


def is_transient(exc: BaseException) -> bool:
    # DataError is an InterfaceError too, but means we sent bad arguments: a bug, not an outage.
    return isinstance(exc, TRANSIENT_ERRORS) and not isinstance(exc, asyncpg.DataError)


def connect_kwargs(settings: Settings) -> dict[str, Any]:
    """Arguments shared by the pool and the one-off migration connection."""
    kwargs: dict[str, Any] = {
        # None makes asyncpg read the standard PG* variables itself.
        "dsn": settings.database_url,
        # Explicit, so it wins over the URL's sslmode and PGSSLMODE, which the settings resolved.
        "ssl": client_ssl(settings),
        "timeout": settings.connect_timeout,
        "server_settings": {"application_name": "user-service"},
    }
    if settings.transaction_pooling:
        # Behind a transaction-mode pooler consecutive transactions may run on different server
        # connections, so nothing may live in a session: no named prepared statements (with
        # the cache off asyncpg sends Parse with every Bind, in one round trip), and the
        # statement timeout is the client's, which cancels the query through the pooler.
        kwargs["statement_cache_size"] = 0
        kwargs["command_timeout"] = settings.statement_timeout
    else:
        kwargs["server_settings"]["statement_timeout"] = str(
            round(settings.statement_timeout * 1000)
        )
    return kwargs


class _PoolRetriesWithoutTraceback(logging.Filter):
    """asyncpg's pool logs every failed attempt to reopen its minimum connections at WARNING
    with a traceback (every 1, 2, 4 ... 60 s while the database is away): an outage, not a bug.
    The same line with the reason (`error`) instead, as the service's own outage lines have."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        message = record.msg if isinstance(record.msg, str) else ""
        if exc is not None and message.startswith("Failed to restore the pool connection"):
            record.error = describe(exc)
            record.exc_info, record.exc_text = None, None
        return True


def quiet_pool_retries() -> None:
    """Installs the filter above on asyncpg's pool logger, once."""
    pool_logger = logging.getLogger("asyncpg.pool")
    if not any(isinstance(f, _PoolRetriesWithoutTraceback) for f in pool_logger.filters):
        pool_logger.addFilter(_PoolRetriesWithoutTraceback())


class DatabaseUnreachable(Exception):
    """connect_with_retry gave up: its wait ran out while the database was still away."""


async def connect_with_retry(
    open_connection: Callable[[], Awaitable[T]],
    *,
    wait_timeout: float | None = None,
    on_failure: Callable[[str], None] | None = None,
) -> T:
    """Opens a connection or pool, retrying CONNECT_ERRORS with jittered exponential backoff:
    forever when wait_timeout is None (`serve`: no crash loop), else until it runs out
    (`migrate`). A refused certificate is raised at once when waiting is bounded: waiting does
    not change it; `serve` keeps retrying in case it is fixed while it runs."""
    loop = asyncio.get_running_loop()
    deadline = math.inf if wait_timeout is None else loop.time() + wait_timeout
    ceiling = _BACKOFF_FIRST
    while True:
        try:
            return await open_connection()
        except CONNECT_ERRORS as exc:
            if wait_timeout is not None and isinstance(exc, CERTIFICATE_ERRORS):
                raise
            reason = describe(exc)
            if on_failure is not None:
                on_failure(reason)
            remaining = deadline - loop.time()
            if remaining <= 0:
                # An outage, not a bug: the reason is enough, a traceback would be noise.
                logger.error("database not reachable, giving up", extra={"error": reason})  # noqa: TRY400
                raise DatabaseUnreachable(reason) from exc
            # Full jitter: replicas restarted together must not reconnect in lockstep.
            delay = min(random.uniform(ceiling / 2, ceiling), remaining)  # noqa: S311
            logger.warning(
                "database not reachable, retrying",
                extra={"error": reason, "retry_in_seconds": round(delay, 2)},
            )
            await asyncio.sleep(delay)
            ceiling = min(ceiling * 2, _BACKOFF_MAX)


class Database:
    """Owns the pool. Until the first connection succeeds `pool` is None and requests get 503."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        connection_class: type[asyncpg.Connection[asyncpg.Record]] | None = None,
        *,
        observe_queries: bool = True,
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._observe_queries = observe_queries
        # The pool's connections: asyncpg's own, or one that traces queries (service/tracing.py).
        self._connection_class = connection_class or asyncpg.Connection
        self.pool: asyncpg.Pool[asyncpg.Record] | None = None
        self.last_error: str | None = "not connected yet"
        self.connected = asyncio.Event()
        metrics.watch_pool(self._pool_sizes, settings.pool_max_size)
        quiet_pool_retries()

    def _pool_sizes(self) -> tuple[int, int]:
        if self.pool is None:
            return 0, 0
        return self.pool.get_size(), self.pool.get_idle_size()

    async def connect(self) -> None:
        """Creates the pool, retrying with backoff for as long as it takes (no crash loop)."""
        s = self._settings
        self.pool = await connect_with_retry(
            lambda: asyncpg.create_pool(
                **connect_kwargs(s),
                min_size=s.pool_min_size,
                max_size=s.pool_max_size,
                init=self._init_connection,
                reset=_keep_session,
                connection_class=self._connection_class,
            ),
            on_failure=self._remember_failure,
        )
        self.last_error = None
        self.connected.set()
        logger.info(
            "database pool ready", extra={"min_size": s.pool_min_size, "max_size": s.pool_max_size}
        )

    def _remember_failure(self, reason: str) -> None:
        self.last_error = reason

    async def _init_connection(self, conn: asyncpg.Connection[asyncpg.Record]) -> None:
        if self._observe_queries:
            conn.add_query_logger(self._metrics.observe_query)

    async def close(self) -> None:
        if self.pool is None:
            return
        try:
            await asyncio.wait_for(self.pool.close(), _POOL_CLOSE_SECONDS)
        except TimeoutError:
            logger.warning("pool did not close in time, terminating connections")
            self.pool.terminate()

    @asynccontextmanager
    async def connection(self, budget: float | None = None) -> AsyncIterator[Connection]:
        """Borrows a connection for one request's database work, all of it under one deadline
        (`budget`, default DB_REQUEST_TIMEOUT_SECONDS): the wait for a connection (at most
        DB_ACQUIRE_TIMEOUT_SECONDS of it) and every query. Any sign of an outage, or the deadline
        passing, becomes DatabaseUnavailable (503); a connection that broke is discarded."""
        pool = self.pool
        if pool is None:
            raise DatabaseUnavailable(self.last_error or "pool not ready")
        budget = budget or self._settings.request_timeout
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + budget
        try:
            conn = await pool.acquire(timeout=min(self._settings.acquire_timeout, budget))
        except TimeoutError:
            self._metrics.acquire_timeouts.inc()
            raise DatabaseUnavailable("timed out waiting for a pooled connection") from None
        except CONNECT_ERRORS as exc:  # acquire reopens connections the server closed
            raise DatabaseUnavailable(describe(exc)) from exc
        self._metrics.acquire_duration.observe(loop.time() - started)
        try:
            async with asyncio.timeout_at(deadline):
                yield conn
        except BaseException as exc:
            if isinstance(exc, TimeoutError):
                # The deadline: asyncpg cancels the query on the server, and the release waits
                # for that. Terminating the connection instead would leave its backend waiting
                # (on a lock, say) while the pool opens another.
                raise DatabaseUnavailable(f"no answer within {budget:g} s") from exc
            if _is_broken(conn, exc):
                _discard(conn)
                raise DatabaseUnavailable(describe(exc)) from exc
            if is_transient(exc):
                raise DatabaseUnavailable(describe(exc)) from exc
            raise
        finally:
            await self._release(pool, conn)

    async def _release(self, pool: asyncpg.Pool[asyncpg.Record], conn: Connection) -> None:
        # asyncpg terminates a connection it cannot reset and re-raises: the request's answer,
        # success or 503, stands either way.
        try:
            await pool.release(conn)
        except RELEASE_ERRORS as exc:
            logger.warning(
                "discarded a connection that failed to reset", extra={"error": describe(exc)}
            )


def _is_broken(conn: Connection, exc: BaseException) -> bool:
    """The connection cannot serve another query: the server or the socket ended it, or asyncpg's
    protocol fell out of step with the socket because of that (InternalClientError)."""
    if isinstance(exc, LOST_CONNECTION_ERRORS):
        return True
    try:
        return conn.is_closed()
    except asyncpg.InterfaceError:  # closed, and the pool already took it back
        return True


def _discard(conn: Connection) -> None:
    """Never hand this connection out again: the pool opens a fresh one in its place."""
    with suppress(asyncpg.InterfaceError):  # the pool already took it back
        conn.terminate()


async def _keep_session(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    """Replaces asyncpg's reset on release (`RESET ALL; UNLISTEN *; CLOSE ALL; ...`): a second
    round trip per request, the largest avoidable cost of a GET (docs/benchmark.md). The
    service never changes session state on a pooled connection (no SET, LISTEN, advisory lock
    or cursor), and asyncpg still rolls back an open transaction before this runs.
    tests/test_pool.py keeps that promise checked."""


def describe(exc: BaseException) -> str:
    """A short, secret-free description of a connection failure, for logs and probes."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return describe_refused_certificate(exc)
    text = str(exc).splitlines()[0] if str(exc) else ""
    if "unsupported startup parameter: statement_timeout" in text:
        # PgBouncer's answer to a session setting: the address is a pooler, not PostgreSQL.
        text += " (a transaction-mode pooler? set DB_TRANSACTION_POOLING=true)"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
