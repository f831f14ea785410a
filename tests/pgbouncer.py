"""PgBouncer for the tests: service/devpooler.py's, skipped where it is missing (not in CI)."""

from __future__ import annotations

from typing import Any

from service.devpooler import PgBouncer as _PgBouncer
from service.devpooler import find_pgbouncer
from tests.helpers import skip_or_fail


class PgBouncer(_PgBouncer):
    def __init__(self, server_port: int, **options: Any) -> None:
        if find_pgbouncer() is None:
            skip_or_fail("pgbouncer is not installed (apt-get install pgbouncer)")
        super().__init__(server_port, **options)
