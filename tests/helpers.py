"""Small helpers shared by test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeAlias
from urllib.parse import urlsplit

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from service.config import Settings

REPO = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() == "true"
# API keys of the test runs (never real): one that may write, one that may only read.
WRITE_KEY = "test-write-key-0123456789abcdef"
READ_KEY = "test-read-key-0123456789abcdef"
TEST_API_KEYS = f"test-writer:write:{WRITE_KEY},test-reader:read:{READ_KEY}"
WRITE_AUTH = {"Authorization": f"Bearer {WRITE_KEY}"}
READ_AUTH = {"Authorization": f"Bearer {READ_KEY}"}


# A direct connection to the test database (the `db` fixture, asyncpg.connect in tests).
Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record]"
# The real app under test (the aiohttp_client fixture), and the make_client fixture building one.
Client = TestClient[web.Request, web.Application]
MakeClient = Callable[[Settings], Any]


def skip_or_fail(reason: str) -> NoReturn:
    """Where a tool is missing: skip on a laptop, but fail in CI, where it must be installed."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this must run in CI, not skip)", pytrace=False)
    pytest.skip(reason)


async def scrape(client: Client) -> str:
    """GET /metrics: the Prometheus text exposition."""
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return await response.text()


async def execute_sql(url: str, *statements: str) -> None:
    """Runs each statement in turn on a connection of its own to `url` (set-up, not the test)."""
    conn = await asyncpg.connect(url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def as_role(url: str, role: str, password: str) -> str:
    """The same server and database as `url`, logging in as another role."""
    parts = urlsplit(url)
    return parts._replace(netloc=f"{role}:{password}@{parts.hostname}:{parts.port}").geturl()


def base_environ(database_url: str, **overrides: str) -> dict[str, str]:
    """The environment of a test service: the test keys, no drain delay unless asked."""
    return {
        "DATABASE_URL": database_url,
        "DRAIN_DELAY_SECONDS": "0",
        "API_KEYS": TEST_API_KEYS,
        **overrides,
    }


@dataclass(frozen=True)
class Role:
    name: str
    password: str
    host: str
    port: int
    database: str

    def url(self, password: str | None = None) -> str:
        secret = self.password if password is None else password
        return f"postgresql://{self.name}:{secret}@{self.host}:{self.port}/{self.database}"
