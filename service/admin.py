"""The work of the one-off admin process `migrate` (factor 12): one connection as the schema
owner, opened with retry, then the migrations checked or applied."""

from __future__ import annotations

import logging

import asyncpg

from service.config import Settings
from service.db import DatabaseUnreachable, connect_kwargs, connect_with_retry
from service.migrations import (
    AppRole,
    MigrationError,
    MigrationFailed,
    apply_migrations,
    load_migrations,
    pending_migrations,
)

logger = logging.getLogger("service")


async def migrate(
    settings: Settings, *, check: bool, wait_timeout: float, app_role: AppRole | None = None
) -> bool:
    """True when the database ends up at this build's schema (with check: already was).

    Waits up to wait_timeout for the database to answer; a refused certificate is raised at
    once (service.db.CERTIFICATE_ERRORS). app_role, or APP_DB_USER/APP_DB_PASSWORD, is the
    least-privileged role created or updated for the web process.
    """
    migrations = load_migrations()
    try:
        conn = await connect_with_retry(lambda: _connect(settings), wait_timeout=wait_timeout)
    except DatabaseUnreachable:
        return False
    try:
        if check:
            pending = await pending_migrations(conn, migrations)
            for m in pending:
                logger.warning(
                    "migration pending", extra={"version": m.version, "migration": m.name}
                )
            logger.info("migration check", extra={"pending": len(pending)})
            return not pending
        if app_role is None and settings.app_db_user and settings.app_db_password:
            app_role = AppRole(settings.app_db_user, settings.app_db_password)
        applied = await apply_migrations(conn, migrations, app_role)
        logger.info(
            "migrations up to date",
            extra={"applied": len(applied), "version": migrations[-1].version},
        )
    except MigrationFailed as exc:
        # The reason names the migration and PostgreSQL's message; a traceback would add nothing.
        logger.error("migration failed", extra={"reason": str(exc)})  # noqa: TRY400
        return False
    except MigrationError as exc:
        logger.error("migrations refused", extra={"reason": str(exc)})  # noqa: TRY400 - no trace
        return False
    finally:
        await conn.close()
    return True


async def _connect(settings: Settings) -> asyncpg.Connection[asyncpg.Record]:
    kwargs = connect_kwargs(settings)
    # Migrations may run long and wait for each other's advisory lock: no statement timeout.
    kwargs["server_settings"]["statement_timeout"] = "0"
    kwargs["server_settings"]["application_name"] = "user-service-migrate"
    conn: asyncpg.Connection[asyncpg.Record] = await asyncpg.connect(**kwargs)
    return conn
