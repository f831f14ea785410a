"""Command line: `serve` (the web process) and `migrate` (a one-off admin process)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from contextlib import ExitStack

from service import __version__
from service.admin import migrate
from service.api_keys import digest, new_key
from service.config import ConfigError, Settings
from service.db import CERTIFICATE_ERRORS, describe
from service.devdb import EmbeddedPostgresError
from service.embedded import EmbeddedSetupFailed, embedded_database
from service.logs import configure_logging
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
    if settings.transaction_pooling:
        # Its advisory lock lives in a session and its DDL spans statements: a transaction
        # pooler would hand them to different server connections.
        print(
            "user-service: configuration error: DB_TRANSACTION_POOLING: true, but migrate "
            "needs a direct connection to PostgreSQL, not a transaction-mode pooler: point "
            "DATABASE_URL at the server (CloudNativePG: the -rw service) and unset it",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    try:
        done = asyncio.run(migrate(settings, check=check, wait_timeout=wait_timeout))
    except CERTIFICATE_ERRORS as exc:
        # Like a configuration error: exit 2 with one line; no retry could have helped.
        print(f"user-service: cannot connect to the database: {describe(exc)}", file=sys.stderr)
        return EXIT_CONFIG
    return EXIT_OK if done else EXIT_FAILURE


def _new_key(name: str, scope: str) -> int:
    key = new_key()
    print(f"key (give it to clients as 'Authorization: Bearer <key>'):\n  {key}")
    print("API_KEYS entry, with the key itself:")
    print(f"  {name}:{scope}:{key}")
    print("or with its digest only (the service then never holds the key):")
    print(f"  {name}:{scope}:sha256:{digest(key).hex()}")
    return EXIT_OK


def _serve(settings: Settings) -> int:
    with ExitStack() as stack:
        if not settings.database_configured:
            try:
                settings = stack.enter_context(embedded_database(settings))
            except EmbeddedPostgresError as exc:
                print(
                    f"user-service: configuration error: DATABASE_URL: not set, and {exc}",
                    file=sys.stderr,
                )
                return EXIT_CONFIG
            except EmbeddedSetupFailed:
                return EXIT_FAILURE
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
        try:
            asyncio.run(serve(settings))
        except ForcedExit:
            return EXIT_FAILURE
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
