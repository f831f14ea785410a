"""GET /metrics: exact values after known traffic, bounded labels, per-app registries, promtool."""

from __future__ import annotations

import asyncio
import platform
import shutil

from prometheus_client.parser import text_string_to_metric_families

from service import __version__
from service.config import Settings
from service.metrics import LATENCY_BUCKETS
from tests.exposition import Labels, samples, series, value
from tests.helpers import Client, Conn, MakeClient, scrape, skip_or_fail

USERS, USER = "/users", "/users/{user_id}"


def labels(**pairs: str) -> Labels:
    return frozenset(pairs.items())


async def known_traffic(client: Client) -> None:
    """3 creates, 1 conflict, 2 reads that find, 1 that doesn't, 1 unknown path, and probes."""
    ids = []
    for name in ("ann", "ben", "cid"):
        response = await client.post("/users", json={"username": name, "email": f"{name}@x.org"})
        assert response.status == 201
        ids.append((await response.json())["id"])
    assert (await client.post("/users", json={"username": "ann", "email": "a@y.org"})).status == 409
    assert (await client.get(f"/users/{ids[0]}")).status == 200
    assert (await client.get(f"/users/{ids[1]}")).status == 200
    assert (await client.get("/users/987654")).status == 404
    assert (await client.get("/no/such/path/42")).status == 404
    for probe in ("/healthz", "/readyz", "/health", "/metrics"):
        assert (await client.get(probe)).status == 200


async def test_request_counters_and_histograms_hold_exact_values(client: Client) -> None:
    await known_traffic(client)
    text = await scrape(client)

    expected = {
        labels(method="POST", route=USERS, status="201"): 3,
        labels(method="POST", route=USERS, status="409"): 1,
        labels(method="GET", route=USER, status="200"): 2,
        labels(method="GET", route=USER, status="404"): 1,
        labels(method="GET", route="<unmatched>", status="404"): 1,
    }
    # Exactly these series: probes and scrapes are not counted, raw paths never become labels.
    assert series(text, "user_service_http_requests_total") == expected
    assert series(text, "user_service_http_request_duration_seconds_count") == expected

    buckets = series(text, "user_service_http_request_duration_seconds_bucket")
    for key, count in expected.items():
        cumulative = [buckets[key | {("le", le)}] for le in [*map(repr, LATENCY_BUCKETS), "+Inf"]]
        assert cumulative == sorted(cumulative), key
        assert cumulative[-1] == count
        assert series(text, "user_service_http_request_duration_seconds_sum")[key] > 0
    assert value(text, "user_service_http_requests_in_flight") == 0


async def test_query_metrics_are_labelled_by_query_name(client: Client) -> None:
    await known_traffic(client)
    text = await scrape(client)
    queries = series(text, "user_service_db_query_duration_seconds_count")
    assert queries[labels(query="insert_user")] == 4
    assert queries[labels(query="select_user")] == 3
    errors = series(text, "user_service_db_query_errors_total")
    assert errors == {labels(query="insert_user"): 1}  # the duplicate name
    acquired = value(text, "user_service_db_pool_acquire_duration_seconds_count")
    assert acquired is not None and acquired >= 7  # each API request above borrowed once


async def test_pool_build_process_and_state_metrics_are_exposed(client: Client) -> None:
    text = await scrape(client)
    assert value(text, "user_service_db_pool_max_connections") == 10
    size = value(text, "user_service_db_pool_connections")
    assert size is not None and size >= 2  # DB_POOL_MIN_SIZE
    by_state = series(text, "user_service_db_pool_connections_by_state")
    assert by_state == {labels(state="in_use"): 0, labels(state="idle"): size}
    build = labels(version=__version__, python=platform.python_version())
    assert series(text, "user_service_build_info") == {build: 1}
    for name in (
        "process_resident_memory_bytes",
        "process_open_fds",
        "python_info",
        "user_service_ready",
        "user_service_draining",
        "user_service_db_pool_acquire_timeouts_total",
    ):
        assert name in {n for n, _ in samples(text)}, name
    names = {family.name for family in text_string_to_metric_families(text)}
    assert not any(name.endswith("_created") for name in names)


async def test_two_apps_in_one_process_count_independently(
    make_client: MakeClient, settings: Settings, db: Conn
) -> None:
    first: Client = await make_client(settings)
    second: Client = await make_client(settings)  # a shared registry would raise here
    for _ in range(3):
        assert (await first.get("/users")).status == 200
    assert (await second.get("/users")).status == 200

    key = labels(method="GET", route=USERS, status="200")
    assert series(await scrape(first), "user_service_http_requests_total") == {key: 3}
    assert series(await scrape(second), "user_service_http_requests_total") == {key: 1}


async def test_exposition_passes_promtool_check_metrics(client: Client) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        skip_or_fail("promtool not found (Debian: apt-get install prometheus)")
    await known_traffic(client)
    exposition = (await scrape(client)).encode()
    check = await asyncio.create_subprocess_exec(
        promtool,
        "check",
        "metrics",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(check.communicate(exposition), 30)
    assert check.returncode == 0, output.decode()
    assert output.decode().strip() == ""  # no lint warnings either
