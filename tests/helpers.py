"""Small helpers shared by test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
# API keys of the test runs (never real): one that may write, one that may only read.
WRITE_KEY = "test-write-key-0123456789abcdef"
READ_KEY = "test-read-key-0123456789abcdef"
TEST_API_KEYS = f"test-writer:write:{WRITE_KEY},test-reader:read:{READ_KEY}"
WRITE_AUTH = {"Authorization": f"Bearer {WRITE_KEY}"}
READ_AUTH = {"Authorization": f"Bearer {READ_KEY}"}


def skip_or_fail(reason: str) -> None:
    """Where a tool is missing: skip on a laptop, but fail in CI, where it must be installed."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this must run in CI)")
    pytest.skip(reason)


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
