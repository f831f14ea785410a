"""Every test of tests/test_users_api.py (CRUD, pagination, 50 racing creates giving one 201
and 49 409s, concurrent updates, the walk under concurrent inserts), with the app behind
PgBouncer in transaction mode (this folder's conftest.py)."""

from __future__ import annotations

from tests.test_users_api import *  # noqa: F403 - the same tests, collected again here
