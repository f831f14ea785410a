"""A real service per test module, on a database of its own, with secrets nobody else uses.

Each module gets a fresh database migrated by `python -m service migrate`, which also creates a
least-privileged app role; the service connects as that role with a distinctive password and
authenticates with a distinctive API key, so a test can search every output for both.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import database_in
from tests.helpers import TEST_API_KEYS, as_role, execute_sql
from tests.procs import Service, ServiceGroup, clean_environ, run_cli
from tests.security.helpers import CAMPAIGN_KEY, DB_PASSWORD, SecureDatabase, schema_of

_SUMMARIES: list[list[str]] = []


def record_summary(lines: list[str]) -> None:
    """Lines shown at the end of the pytest run, whatever its verbosity (the campaign figures)."""
    _SUMMARIES.append(lines)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _SUMMARIES:
        terminalreporter.section("security: campaign figures and slow clients")
    for lines in _SUMMARIES:
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(scope="module")
def secure_database(admin_url: str) -> Iterator[SecureDatabase]:
    """A migrated database of the module's own and an app role using DB_PASSWORD."""
    suffix = uuid.uuid4().hex[:10]
    name, role = f"security_{suffix}", f"sec_app_{suffix}"
    asyncio.run(execute_sql(admin_url, f'CREATE DATABASE "{name}"'))
    owner_url = database_in(admin_url, name)
    try:
        result = run_cli(
            ["migrate"],
            clean_environ(DATABASE_URL=owner_url, APP_DB_USER=role, APP_DB_PASSWORD=DB_PASSWORD),
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert DB_PASSWORD not in result.stdout + result.stderr
        yield SecureDatabase(
            owner_url=owner_url,
            app_url=as_role(owner_url, role, DB_PASSWORD),
            schema=asyncio.run(schema_of(owner_url)),
        )
    finally:
        asyncio.run(execute_sql(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        asyncio.run(execute_sql(admin_url, f'DROP ROLE IF EXISTS "{role}"'))


@pytest.fixture(scope="module")
def secure_service(
    secure_database: SecureDatabase, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """`python -m service serve` as the app role, requiring API keys (the campaign key too)."""
    group = ServiceGroup(tmp_path_factory.mktemp("security"))
    try:
        service = group.start(
            clean_environ(
                DATABASE_URL=secure_database.app_url,
                API_KEYS=f"campaign:write:{CAMPAIGN_KEY},{TEST_API_KEYS}",
                AUTH_DISABLED="false",
                LOG_LEVEL="DEBUG",
                DB_POOL_MIN_SIZE="1",
                DB_POOL_MAX_SIZE="4",
            )
        )
        service.wait_ready()
        yield service
    finally:
        group.stop_all()
