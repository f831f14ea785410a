"""`serve` with no database configured: an embedded throwaway PostgreSQL (service/devdb.py),
migrated as its owner, then served as a least-privileged role, open only on loopback when no
API keys are given. Development only; its data is deleted at exit."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from service.admin import migrate
from service.config import Settings
from service.devdb import EmbeddedPostgres
from service.migrations import AppRole

logger = logging.getLogger("service")

APP_ROLE_NAME = "user_service_app"
# Without keys the embedded run is open to anyone who reaches it: loopback unless HOST says.
OPEN_HOST = "127.0.0.1"


class EmbeddedSetupFailed(Exception):
    """The embedded PostgreSQL started but could not be migrated (the log says why)."""


@contextmanager
def embedded_database(settings: Settings) -> Iterator[Settings]:
    """Starts the embedded PostgreSQL and yields settings that serve it; stops it and deletes
    its data on the way out. Raises devdb.EmbeddedPostgresError if it cannot start."""
    embedded = EmbeddedPostgres()
    try:
        embedded.start()
        yield _prepare(settings, embedded)
    finally:
        embedded.cleanup()
        logger.info("embedded PostgreSQL stopped and its data deleted")


def _prepare(settings: Settings, embedded: EmbeddedPostgres) -> Settings:
    logger.warning(
        "NO DATABASE CONFIGURED: using an embedded, throwaway development PostgreSQL. "
        "Its data is deleted at exit. Set DATABASE_URL for anything else.",
        extra={"data_dir": str(embedded.data_dir), "postgres_pid": embedded.pid},
    )
    role = AppRole(APP_ROLE_NAME, secrets.token_urlsafe(24))
    # Loopback, our own server, built without TLS: the PGSSL* settings are for real databases.
    owner = replace(
        settings,
        database_url=embedded.dsn(),
        use_libpq_env=False,
        ssl_mode="disable",
        ssl_root_cert=None,
    )
    if not asyncio.run(migrate(owner, check=False, wait_timeout=10, app_role=role)):
        raise EmbeddedSetupFailed
    served = replace(owner, database_url=embedded.dsn(user=role.name, password=role.password))
    if not settings.api_keys:
        served = replace(
            served, auth_disabled=True, host=settings.host if settings.host_set else OPEN_HOST
        )
    return served
