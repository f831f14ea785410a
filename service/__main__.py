"""Command line: `serve` (the web process) and `migrate` (a one-off admin process)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import sys
from collections.abc import Sequence
from dataclasses import replace

import asyncpg

from service import __version__
from service.api_keys import digest, new_key
from service.config import ConfigError, Settings
from service.db import (
    CERTIFICATE_ERRORS,
    CONNECT_ERRORS,
    backoff_delays,
    connect_kwargs,
    describe,
)
from service.devdb import EmbeddedPostgres, EmbeddedPostgresError
from service.logs import configure_logging
from service.migrations import (
    AppRole,
    MigrationError,
    apply_migrations,
    load_migrations,
    pending_migrations,
)
from service.server import ForcedExit, serve
from service.tls import root_cert_problem

logger = logging.getLogger("service")

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="user-service", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve the HTTP API (embedded PostgreSQL if none is set)")
    new_key = commands.add_parser("new-key", help="print a new random API key for API_KEYS")
    new_key.add_argument("--name", default="admin", help="the key's name (default admin)")
    new_key.add_argument("--scope", choices=["read", "write"], default="write")
    migrate = commands.add_parser("migrate", help="apply pending SQL migrations, then exit")
    migrate.add_argument(
        "--check", action="store_true", help="apply nothing; exit 1 if migrations are pending"
    )
    migrate.add_argument(
        "--wait-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="keep retrying to reach the database this long (default 60)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "new-key":
        return _new_key(args.name, args.scope)
    settings = _settings()
    if isinstance(settings, ConfigError):
        print(f"user-service: configuration error: {settings}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(settings.log_level)
    if args.command == "serve":
        return _serve(settings)
    return _migrate_command(settings, check=args.check, wait_timeout=args.wait_timeout)


def _settings() -> Settings | ConfigError:
    """The settings from the environment, then the files they name (the CA file)."""
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as exc:
        return exc
    return root_cert_problem(settings) or settings


def _migrate_command(settings: Settings, *, check: bool, wait_timeout: float) -> int:
    if not settings.database_configured:
        print(
            "user-service: configuration error: DATABASE_URL: not set (nor PGHOST); "
            "migrate needs a database",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    try:
        return asyncio.run(_migrate(settings, check=check, wait_timeout=wait_timeout))
    except CERTIFICATE_ERRORS as exc:
        # Like a configuration error: exit 2 with one line; no retry could have helped.
        print(f"user-service: cannot connect to the database: {describe(exc)}", file=sys.stderr)
        return EXIT_CONFIG


def _new_key(name: str, scope: str) -> int:
    key = new_key()
    print(f"key (give it to clients as 'Authorization: Bearer <key>'):\n  {key}")
    print("API_KEYS entry, with the key itself:")
    print(f"  {name}:{scope}:{key}")
    print("or with its digest only (the service then never holds the key):")
    print(f"  {name}:{scope}:sha256:{digest(key).hex()}")
    return EXIT_OK


def _serve(settings: Settings) -> int:
    embedded: EmbeddedPostgres | None = None
    try:
        if not settings.database_configured:
            try:
                embedded = EmbeddedPostgres()
                embedded.start()
            except EmbeddedPostgresError as exc:
                print(
                    f"user-service: configuration error: DATABASE_URL: not set, and {exc}",
                    file=sys.stderr,
                )
                return EXIT_CONFIG
            served = _embedded_settings(settings, embedded)
            if served is None:
                return EXIT_FAILURE
            settings = served
        problem = settings.auth_problem()
        if problem is not None:
            print(f"user-service: configuration error: {problem}", file=sys.stderr)
            return EXIT_CONFIG
        if settings.auth_disabled:
            logger.warning(
                "AUTHENTICATION IS DISABLED: anyone who reaches the port can read "
                "and delete every user",
                extra={"host": settings.host},
            )
        logger.info("starting", extra={"version": __version__, "settings": settings.redacted()})
        asyncio.run(serve(settings))
    except ForcedExit:
        return EXIT_FAILURE
    finally:
        if embedded is not None:
            embedded.cleanup()
            logger.info("embedded PostgreSQL stopped and its data deleted")
    return EXIT_OK


def _embedded_settings(settings: Settings, embedded: EmbeddedPostgres) -> Settings | None:
    """Migrates the embedded server as its owner, then serves as a least-privileged role; with
    no API keys, runs open but only on loopback unless HOST says otherwise."""
    logger.warning(
        "NO DATABASE CONFIGURED: using an embedded, throwaway development PostgreSQL. "
        "Its data is deleted at exit. Set DATABASE_URL for anything else.",
        extra={"data_dir": str(embedded.data_dir), "postgres_pid": embedded.pid},
    )
    role = AppRole("user_service_app", secrets.token_urlsafe(24))
    # Loopback, our own server, built without TLS: the PGSSL* settings are for real databases.
    owner = replace(
        settings,
        database_url=embedded.dsn(),
        use_libpq_env=False,
        ssl_mode="disable",
        ssl_root_cert=None,
    )
    if asyncio.run(_migrate(owner, check=False, wait_timeout=10, app_role=role)) != EXIT_OK:
        return None
    served = replace(owner, database_url=embedded.dsn(user=role.name, password=role.password))
    if not settings.api_keys:
        host = os.environ.get("HOST", "").strip() or "127.0.0.1"
        served = replace(served, auth_disabled=True, host=host)
    return served


async def _migrate(
    settings: Settings, *, check: bool, wait_timeout: float, app_role: AppRole | None = None
) -> int:
    migrations = load_migrations()
    conn = await _connect_with_retry(settings, wait_timeout)
    if conn is None:
        return EXIT_FAILURE
    try:
        if check:
            pending = await pending_migrations(conn, migrations)
            for m in pending:
                logger.warning(
                    "migration pending", extra={"version": m.version, "migration": m.name}
                )
            logger.info("migration check", extra={"pending": len(pending)})
            return EXIT_FAILURE if pending else EXIT_OK
        if app_role is None and settings.app_db_user and settings.app_db_password:
            app_role = AppRole(settings.app_db_user, settings.app_db_password)
        applied = await apply_migrations(conn, migrations, app_role)
        logger.info(
            "migrations up to date",
            extra={"applied": len(applied), "version": migrations[-1].version},
        )
    except MigrationError as exc:
        logger.error("migrations refused", extra={"reason": str(exc)})  # noqa: TRY400 - no trace
        return EXIT_FAILURE
    finally:
        await conn.close()
    return EXIT_OK


async def _connect_with_retry(
    settings: Settings, wait_timeout: float
) -> asyncpg.Connection[asyncpg.Record] | None:
    kwargs = connect_kwargs(settings)
    # Migrations may run long and wait for each other's advisory lock: no statement timeout.
    kwargs["server_settings"]["statement_timeout"] = "0"
    kwargs["server_settings"]["application_name"] = "user-service-migrate"
    deadline = asyncio.get_running_loop().time() + wait_timeout
    async for delay in backoff_delays():
        try:
            conn: asyncpg.Connection[asyncpg.Record] = await asyncpg.connect(**kwargs)
        except CERTIFICATE_ERRORS:
            raise  # waiting would not change the certificate: _migrate_command reports it
        except CONNECT_ERRORS as exc:
            remaining = deadline - asyncio.get_running_loop().time()
            extra = {"error": describe(exc), "retry_in_seconds": round(delay, 2)}
            if remaining <= 0:
                # An outage, not a bug: the reason is enough, a traceback would be noise.
                logger.error("database not reachable, giving up", extra=extra)  # noqa: TRY400
                return None
            logger.warning("database not reachable yet, retrying", extra=extra)
            await asyncio.sleep(min(delay, remaining))
        else:
            return conn
    return None  # unreachable: backoff_delays never ends


if __name__ == "__main__":
    sys.exit(main())
