"""Small helpers shared by test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def skip_or_fail(reason: str) -> None:
    """Where a tool is missing: skip on a laptop, but fail in CI, where it must be installed."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this must run in CI)")
    pytest.skip(reason)


def base_environ(database_url: str, **overrides: str) -> dict[str, str]:
    """The environment of a test service: no drain delay unless a test asks for one."""
    return {"DATABASE_URL": database_url, "DRAIN_DELAY_SECONDS": "0", **overrides}
