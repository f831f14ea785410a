"""The API's tests again, through a real PgBouncer in transaction mode (tests/pgbouncer.py).

The `settings` fixture is overridden here: the app under test reaches PostgreSQL only through
the pooler, with DB_TRANSACTION_POOLING=true, as the chart's CloudNativePG Pooler wires it. The
`db` fixture (assertions, truncation) still connects directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from service.config import Settings
from tests.helpers import base_environ
from tests.pgbouncer import PgBouncer


@pytest.fixture(scope="session")
def pgbouncer(database_url: str) -> Iterator[PgBouncer]:
    """One pooler for the session, in front of the session's server, as its superuser."""
    parts = urlsplit(database_url)
    assert parts.port and parts.username and parts.password
    bouncer = PgBouncer(
        parts.port,
        auth_user=parts.username,
        auth_password=parts.password,
        # Fewer server connections than the app's pool: clients really share them.
        default_pool_size=3,
    )
    bouncer.start()
    yield bouncer
    bouncer.cleanup()


@pytest.fixture(scope="session")
def pooled_url(pgbouncer: PgBouncer, database_url: str) -> str:
    parts = urlsplit(database_url)
    assert parts.username and parts.password
    return pgbouncer.dsn(parts.username, parts.password, parts.path.lstrip("/"))


@pytest.fixture
def settings(pooled_url: str) -> Settings:
    return Settings.from_env(base_environ(pooled_url, DB_TRANSACTION_POOLING="true"))
