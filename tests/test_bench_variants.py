"""The benchmark's variants (bench/variants.py) change what they say through the service's seams,
and nothing else: the service still answers, logs and drains."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bench.dataset import Seeded
from bench.harness import PGBOUNCER_VARIANT, SMOKE, Run, serving
from service.devdb import EmbeddedPostgres
from service.devpooler import find_pgbouncer
from tests.helpers import WRITE_AUTH, base_environ, skip_or_fail
from tests.procs import Service, ServiceGroup, http_get

USERS_REQUESTS = 'user_service_http_requests_total{method="GET",route="/users"'
QUERY_DURATIONS = "user_service_db_query_duration_seconds_count"


def start_variants(services: ServiceGroup, database_url: str, names: str) -> Service:
    service = services.start(base_environ(database_url), module=("bench.variants", names))
    service.wait_ready()
    return service


def get_users_then_scrape(service: Service) -> str:
    status, _, _ = http_get(service.port, "/users", headers=WRITE_AUTH)
    assert status == 200
    status, _, body = http_get(service.port, "/metrics")
    assert status == 200
    return body.decode()


def access_lines(service: Service, within: float) -> list[dict[str, object]]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = [x for x in service.log_lines() if x.get("logger") == "service.access"]
        if found:
            return found
        time.sleep(0.05)
    return []


def test_no_variant_keeps_every_metric(services: ServiceGroup, database_url: str) -> None:
    exposition = get_users_then_scrape(start_variants(services, database_url, ""))
    assert USERS_REQUESTS in exposition
    assert QUERY_DURATIONS in exposition


def test_nometrics_drops_request_and_query_metrics(
    services: ServiceGroup, database_url: str
) -> None:
    exposition = get_users_then_scrape(start_variants(services, database_url, "nometrics"))
    assert USERS_REQUESTS not in exposition
    assert QUERY_DURATIONS not in exposition


def test_noquerylog_keeps_request_metrics_only(services: ServiceGroup, database_url: str) -> None:
    exposition = get_users_then_scrape(start_variants(services, database_url, "noquerylog"))
    assert USERS_REQUESTS in exposition
    assert QUERY_DURATIONS not in exposition


def test_log_variants_still_write_the_access_log_and_drain(
    services: ServiceGroup, database_url: str
) -> None:
    service = start_variants(services, database_url, "bufferedlog")
    status, _, _ = http_get(service.port, "/users", headers=WRITE_AUTH)
    assert status == 200
    # bufferedlog flushes at least every 0.2 s, with the service's own JSON lines.
    [line] = [x for x in access_lines(service, within=5) if x.get("path") == "/users"]
    assert {"timestamp", "level", "logger", "message", "status"} <= set(line)
    assert line["status"] == 200
    assert json.loads(json.dumps(line)) == line
    service.send_signal(signal.SIGTERM)
    assert service.wait(timeout=15) == 0


def test_the_pgbouncer_variant_serves_through_pgbouncer_in_transaction_mode(
    postgres: EmbeddedPostgres | None, database_url: str, tmp_path: Path
) -> None:
    """`--compare pgbouncer`: the service's queries go through a real PgBouncer, with
    DB_TRANSACTION_POOLING=true; the PgBouncer is stopped with the service."""
    if postgres is None:
        pytest.skip("the benchmark's harness drives the embedded server (TEST_DATABASE_URL set)")
    if find_pgbouncer() is None:
        skip_or_fail("pgbouncer is not installed (apt-get install pgbouncer)")
    run = Run(plan=SMOKE, postgres=postgres, logs=tmp_path)
    database = urlsplit(database_url).path.lstrip("/")
    seeded = Seeded(database, 0, 0.0, "", 0, app_password=None)
    with serving(run, seeded, "pgbouncer", (PGBOUNCER_VARIANT,)) as server:
        assert run.pooler is not None
        key = {"Authorization": f"Bearer {run.api_key}"}
        status, _, _ = http_get(server.port, "/users", headers=key)
        assert status == 200
        assert f"login attempt: db={database} user={postgres.user}" in run.pooler.log_tail()
        assert "pool_mode = transaction" in (run.pooler.root / "pgbouncer.ini").read_text()
        settings = [x for x in server.log.read_text().splitlines() if "transaction_pooling" in x]
        assert settings and '"transaction_pooling": true' in settings[0], settings
    assert run.pooler is None
