"""Keeps tests/unit fast: a test here that asks for a fixture of tests/conftest.py that starts
PostgreSQL (or a service process) fails collection instead of silently starting a server.

A collection check rather than an autouse fixture: session-scoped fixtures such as `postgres`
would be set up before any function-scoped guard could refuse them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

UNIT_TESTS = Path(__file__).resolve().parent
# tests/conftest.py's fixtures that need a database server or start processes (directly or
# through another fixture), and pytest-aiohttp's server fixtures.
SERVER_FIXTURES = frozenset(
    {
        "postgres",
        "admin_url",
        "database_url",
        "scratch_url",
        "db",
        "settings",
        "make_client",
        "client",
        "role",
        "services",
        "aiohttp_client",
        "aiohttp_server",
        "aiohttp_raw_server",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if not item.path.resolve().is_relative_to(UNIT_TESTS):
            continue
        used = SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if used:
            raise pytest.UsageError(
                f"{item.nodeid} uses {', '.join(sorted(used))}: unit tests must not start "
                "PostgreSQL or a service (put the test beside the integration tests instead)"
            )
