"""Failover, measured (tests/failover.py): the primary SIGKILLed under write load, the standby
promoted, PgBouncer moved to it. Every answer is a success or a 503 with Retry-After within the
service's bound, the service recovers without a restart, and with synchronous replication no
write that got a 201 is lost (with asynchronous replication the loss is measured and printed).

`make failover` runs longer rounds of the same harness and prints their spread.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from service.devpooler import find_pgbouncer
from tests.failover import Config, Mode, cluster, problems, run_round
from tests.helpers import skip_or_fail

pytestmark = pytest.mark.slow


def require_pgbouncer() -> None:
    """Before any server starts: skip without PgBouncer (fail under CI=true)."""
    if find_pgbouncer() is None:
        skip_or_fail("pgbouncer is not installed (apt-get install pgbouncer)")


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_failover_under_write_load(mode: Mode, tmp_path: Path) -> None:
    require_pgbouncer()
    config = Config(mode)
    result = run_round(config, tmp_path)
    print(f"\n{result.summary()}\n  {result.timeline()}")

    # Every answer is a success, a conflict or a 503 with Retry-After: never a 500, never none.
    assert result.unexpected() == []
    assert result.statuses()[503] > 0, "the switch was hit, not dodged"
    assert result.without_retry_after() == []
    assert result.max_latency() <= config.latency_bound, result.max_latency()
    # The service told the database was away (/health 503; /readyz reports it in its body but
    # stays 200 by design: README, "Why readiness ignores the database's health"), then was
    # back, in the same process.
    assert result.down_intervals("/health"), "/health never went 503"
    assert result.database_down_intervals(), "/readyz never reported the database away"
    assert result.down_intervals("/readyz") == []
    last = {p.path: p for p in result.probes}
    assert last["/health"].status == 200
    assert last["/readyz"].status == 200
    assert last["/readyz"].database == "ok"
    assert result.service_pid_after == result.service_pid_before
    assert result.service_starts == 1
    assert result.writes_after_switch() > 0
    assert result.first_write_after_kill() is not None
    if mode == "sync":
        # The promise of synchronous replication: an acknowledged write is on the standby.
        assert result.lost == [], f"{len(result.lost)} acknowledged writes lost"
    assert problems(result) == []


async def _post(http: aiohttp.ClientSession, name: str) -> tuple[int, str | None]:
    body = {"username": name, "email": f"{name}@example.com"}
    async with http.post("/users", json=body) as response:
        await response.read()
        return response.status, response.headers.get("Retry-After")


def test_writes_reaching_a_standby_answer_503_until_it_is_promoted(tmp_path: Path) -> None:
    """The address may reach the standby before its promotion ends (an endpoint or a DNS answer
    ahead of it): PostgreSQL refuses writes there with ReadOnlySQLTransactionError (25006), which
    must be a 503 with Retry-After, not a 500, and the same process writes once it is promoted.
    """
    require_pgbouncer()
    config = Config("async", stall=0)
    with cluster(config, tmp_path, address_at_standby=True) as c:

        async def exercise() -> None:
            async with aiohttp.ClientSession(c.service.base_url) as http:
                for n in range(3):
                    assert await _post(http, f"early{n}") == (503, "1")
                async with http.get("/users") as listed:
                    assert listed.status == 200  # reads work on the standby
            await asyncio.to_thread(c.standby.promote)
            async with aiohttp.ClientSession(c.service.base_url) as http:
                assert (await _post(http, "promoted"))[0] == 201

        asyncio.run(exercise())
        assert c.service.process.poll() is None
        assert [x for x in c.service.log_lines() if x.get("message") == "unhandled error"] == []
        reasons = [
            str(x.get("reason"))
            for x in c.service.log_lines()
            if x.get("message") == "database unavailable"
        ]
        assert len(reasons) == 3
        assert all(r.startswith("ReadOnlySQLTransactionError") for r in reasons), reasons
