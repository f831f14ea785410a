"""OpenTelemetry tracing, from a real `python -m service serve` to a real OTLP/HTTP receiver
(tests/otlp.py): span names, kinds, attributes, parent/child links, the caller's trace id, no
secret or user data; the same ids in the JSON logs; a dead collector; nothing loaded when off."""

from __future__ import annotations

import asyncio
import json
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping

import aiohttp
import pytest

from service.config import ConfigError, Settings, TracingSettings
from service.processes import free_port
from service.tracing import FLUSH_SECONDS
from tests.helpers import REPO, TEST_API_KEYS, WRITE_AUTH, WRITE_KEY, Role
from tests.otlp import (
    CLIENT,
    MODULES_AFTER_START,
    SERVER,
    STATUS_ERROR,
    STATUS_UNSET,
    OtlpReceiver,
    ReceivedSpan,
)
from tests.procs import LogLine, Service, ServiceGroup, clean_environ

# Callers' trace contexts (W3C traceparent: version-trace id-parent span id-flags).
TRACE_POST, PARENT_POST = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
TRACE_GET, PARENT_GET = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
TRACE_CONFLICT, PARENT_CONFLICT = "5c1c63257de34c67b2d4b2c2a7d1e3f4", "53995c3f42cd8ad8"
TRACE_UNSAMPLED = "6e0c63257de34c67b2d4b2c2a7d1e3f5"
USERNAME, EMAIL = "tracy_8d1", "tracy.8d1@example.org"
# Every attribute a span may carry: anything else could be a value from the request.
SERVER_ATTRIBUTES = {
    "http.request.method",
    "http.route",
    "http.response.status_code",
    "url.scheme",
    "network.protocol.version",
    "error.type",
}
CLIENT_ATTRIBUTES = {"db.system.name", "db.query.summary", "error.type"}


def traceparent(trace_id: str, parent: str, *, sampled: bool = True) -> dict[str, str]:
    return {"traceparent": f"00-{trace_id}-{parent}-{'01' if sampled else '00'}"}


def tracing_env(database_url: str, endpoint: str, **extra: str) -> dict[str, str]:
    return clean_environ(
        DATABASE_URL=database_url,
        API_KEYS=TEST_API_KEYS,
        AUTH_DISABLED="false",
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_SERVICE_NAME="users-under-test",
        OTEL_RESOURCE_ATTRIBUTES="deployment.environment.name=test,team=a%2Cb",
        # The SDK's own batch delay (default 5 s), so that spans arrive while the test waits.
        OTEL_BSP_SCHEDULE_DELAY="100",
        **extra,
    )


@pytest.fixture
async def receiver() -> AsyncIterator[OtlpReceiver]:
    started = OtlpReceiver()
    await started.start()
    yield started
    await started.stop()


async def ready(service: Service) -> None:
    # Polled from a thread: the receiver shares this event loop and must keep answering.
    await asyncio.to_thread(service.wait_ready)


def access_line(service: Service, request_id: str) -> LogLine:
    [line] = [
        x
        for x in service.log_lines()
        if x["logger"] == "service.access" and x.get("request_id") == request_id
    ]
    return line


def children(spans: list[ReceivedSpan], parent: ReceivedSpan) -> list[ReceivedSpan]:
    return [s for s in spans if s.parent_span_id == parent.span_id]


async def test_spans_have_route_and_query_names_the_callers_trace_and_no_request_data(
    services: ServiceGroup, role: Role, receiver: OtlpReceiver
) -> None:
    service = services.start(tracing_env(role.url(), receiver.endpoint))
    await ready(service)
    statuses = []
    async with aiohttp.ClientSession(service.base_url, headers=WRITE_AUTH) as http:
        user = {"username": USERNAME, "email": EMAIL}
        calls: list[tuple[str, str, dict[str, str], dict[str, str] | None]] = [
            ("POST", "/users", traceparent(TRACE_POST, PARENT_POST), user),
            ("GET", "/users/1", traceparent(TRACE_GET, PARENT_GET), None),
            ("POST", "/users", traceparent(TRACE_CONFLICT, PARENT_CONFLICT), user),
            ("GET", "/users?limit=1", {}, None),  # no traceparent: a root span
            ("GET", "/users/1", traceparent(TRACE_UNSAMPLED, PARENT_GET, sampled=False), None),
            ("GET", "/no/such/route", {}, None),
            ("GET", "/healthz", {}, None),  # probes and scrapes are not traced
            ("GET", "/readyz", {}, None),
            ("GET", "/metrics", {}, None),
        ]  # fmt: skip
        for number, (method, path, headers, body) in enumerate(calls):
            async with http.request(
                method, path, json=body, headers={**headers, "X-Request-ID": f"call-{number}"}
            ) as response:
                statuses.append(response.status)
        assert statuses == [201, 200, 409, 200, 200, 404, 200, 200, 200]
        spans = await receiver.wait_for(lambda s: len(s) >= 9, within=10)
        await asyncio.sleep(0.5)  # a stray span would arrive by now

    servers = {s.name: s for s in spans if s.kind == SERVER and s.name != "POST /users"}
    posts = sorted((s for s in spans if s.name == "POST /users"), key=lambda s: s.start_ns)
    assert [s.name for s in spans if s.kind == SERVER].count("POST /users") == 2
    assert sorted(servers) == ["GET", "GET /users", "GET /users/{user_id}"]
    assert len(spans) == 9, [s.name for s in spans]  # 5 server spans and 4 queries
    created, conflict = posts

    # The caller's trace and parent span are kept; each query is a child of its request.
    for span, trace_id, parent in (
        (created, TRACE_POST, PARENT_POST),
        (servers["GET /users/{user_id}"], TRACE_GET, PARENT_GET),
        (conflict, TRACE_CONFLICT, PARENT_CONFLICT),
    ):
        assert (span.trace_id, span.parent_span_id) == (trace_id, parent)
    root = servers["GET /users"]
    assert root.parent_span_id == ""
    assert root.trace_id not in (TRACE_POST, TRACE_GET, TRACE_CONFLICT, TRACE_UNSAMPLED)
    for server, query in (
        (created, "insert_user"),
        (servers["GET /users/{user_id}"], "select_user"),
        (conflict, "insert_user"),
        (root, "select_users_first_page"),
    ):
        [child] = children(spans, server)
        assert (child.name, child.kind, child.trace_id) == (query, CLIENT, server.trace_id)
        assert server.start_ns <= child.start_ns <= child.end_ns <= server.end_ns
        assert child.attributes["db.system.name"] == "postgresql"
        assert child.attributes["db.query.summary"] == query
    assert children(spans, servers["GET"]) == []

    # Attributes: method, route template, status; nothing else from the request.
    assert created.attributes == {
        "http.request.method": "POST",
        "http.route": "/users",
        "http.response.status_code": 201,
        "url.scheme": "http",
        "network.protocol.version": "1.1",
    }
    assert servers["GET /users/{user_id}"].attributes["http.route"] == "/users/{user_id}"
    assert "http.route" not in servers["GET"].attributes  # no route matched
    assert servers["GET"].attributes["http.response.status_code"] == 404
    # A 409 is the caller's doing; the query under it failed, and says only how.
    assert conflict.attributes["http.response.status_code"] == 409
    assert conflict.status == STATUS_UNSET
    [unique] = children(spans, conflict)
    assert unique.status == STATUS_ERROR
    assert unique.attributes["error.type"] == "UniqueViolationError"
    for span in spans:
        allowed = SERVER_ATTRIBUTES if span.kind == SERVER else CLIENT_ATTRIBUTES
        assert set(span.attributes) <= allowed, span
        assert span.events == [], span  # no exception event: a message can quote a value
        assert span.scope == "user-service"
        assert span.resource["service.name"] == "users-under-test"
        assert span.resource["service.version"]
        assert span.resource["deployment.environment.name"] == "test"
        assert span.resource["team"] == "a,b"  # percent-decoded
        for text in span.strings():
            for secret in (WRITE_KEY, role.password, USERNAME, EMAIL, "tracy", "limit"):
                assert secret not in text, (span.name, text)

    # The access line of each sampled request carries its trace and server span ids.
    for number, span in ((0, created), (1, servers["GET /users/{user_id}"]), (3, root)):
        line = access_line(service, f"call-{number}")
        assert (line["trace_id"], line["span_id"]) == (span.trace_id, span.span_id)
    # A caller's unsampled trace: no span of ours to link to.
    assert "trace_id" not in access_line(service, "call-4")
    [on] = service.messages("tracing on")
    assert on["endpoint"] == f"{receiver.endpoint}/v1/traces"
    assert (on["sampler"], on["ratio"]) == ("parentbased_always_on", 1.0)


async def test_a_failed_request_is_an_error_span_whose_ids_are_in_its_log_lines(
    services: ServiceGroup, role: Role, receiver: OtlpReceiver
) -> None:
    """The database refuses the password: 503, logged inside the request's span."""
    service = services.start(tracing_env(role.url("Wr0ng-password"), receiver.endpoint))
    await service.log_event(lambda x: x["message"] == "database not reachable, retrying", 10)
    async with aiohttp.ClientSession(service.base_url, headers=WRITE_AUTH) as http:
        headers = {**traceparent(TRACE_GET, PARENT_GET), "X-Request-ID": "refused"}
        async with http.get("/users", headers=headers) as response:
            assert response.status == 503
    [span] = await receiver.wait_for(lambda s: len(s) >= 1, within=10)
    assert (span.name, span.trace_id, span.status) == ("GET /users", TRACE_GET, STATUS_ERROR)
    assert span.attributes["http.response.status_code"] == 503
    assert span.attributes["error.type"] == "503"
    [unavailable] = [
        x for x in service.messages("database unavailable") if x["request_id"] == "refused"
    ]
    assert (unavailable["trace_id"], unavailable["span_id"]) == (span.trace_id, span.span_id)
    assert access_line(service, "refused")["span_id"] == span.span_id


@pytest.mark.parametrize(
    ("sampler", "follows_caller"), [("parentbased_traceidratio", True), ("traceidratio", False)]
)
async def test_at_ratio_zero_only_a_sampled_callers_trace_is_followed_by_parentbased(
    services: ServiceGroup,
    database_url: str,
    receiver: OtlpReceiver,
    sampler: str,
    follows_caller: bool,
) -> None:
    env = tracing_env(
        database_url, receiver.endpoint, OTEL_TRACES_SAMPLER=sampler, OTEL_TRACES_SAMPLER_ARG="0"
    )
    service = services.start(env)
    await ready(service)
    async with aiohttp.ClientSession(service.base_url, headers=WRITE_AUTH) as http:
        for _ in range(20):  # roots: the middleware's draw at ratio 0 never keeps one
            async with http.get("/users?limit=1") as response:
                assert response.status == 200
        async with http.get(
            "/users?limit=1", headers=traceparent(TRACE_GET, PARENT_GET)
        ) as response:
            assert response.status == 200
    if follows_caller:
        spans = await receiver.wait_for(lambda s: len(s) >= 2, within=10)
        assert {(s.name, s.trace_id) for s in spans} == {
            ("GET /users", TRACE_GET),
            ("select_users_first_page", TRACE_GET),
        }
    await asyncio.sleep(0.5)  # more than the batch delay: anything else would have arrived
    assert len(receiver.spans) == (2 if follows_caller else 0)


async def _timed_gets(http: aiohttp.ClientSession, count: int) -> list[float]:
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        async with http.get("/users/1", timeout=aiohttp.ClientTimeout(total=5)) as response:
            assert response.status == 200
            await response.read()
        timings.append(time.perf_counter() - started)
    return timings


async def _stop_seconds(service: Service) -> float:
    started = time.monotonic()
    service.send_signal(signal.SIGTERM)
    assert await service.exited(within=30) == 0
    return time.monotonic() - started


@pytest.mark.slow
async def test_a_dead_collector_neither_fails_nor_slows_requests_nor_holds_shutdown(
    services: ServiceGroup, database_url: str, db: object
) -> None:
    """Every request sampled, exported every 50 ms to a port nobody listens on, against the
    same service with tracing off, in turns: latency ratios, not absolute times."""
    dead = f"http://127.0.0.1:{free_port()}"
    off = services.start(clean_environ(DATABASE_URL=database_url))
    on = services.start(
        clean_environ(
            DATABASE_URL=database_url,
            OTEL_EXPORTER_OTLP_ENDPOINT=dead,
            OTEL_TRACES_SAMPLER="always_on",
            OTEL_BSP_SCHEDULE_DELAY="50",
        )
    )
    await ready(off)
    await ready(on)
    async with (
        aiohttp.ClientSession(off.base_url) as http_off,
        aiohttp.ClientSession(on.base_url) as http_on,
    ):
        async with http_off.post("/users", json={"username": "dead_end", "email": "d@x.org"}):
            pass
        timings: dict[str, list[float]] = {"off": [], "on": []}
        for _ in range(10):  # in turns, so that a noisy neighbour hurts both alike
            timings["off"] += await _timed_gets(http_off, 20)
            timings["on"] += await _timed_gets(http_on, 20)
        # The exporter has failed and retried all along (a busy span queue at shutdown).
        await on.log_event(lambda x: x["logger"].startswith("opentelemetry"), within=10)
    median = {k: statistics.median(v) for k, v in timings.items()}
    p90 = {k: statistics.quantiles(v, n=10)[-1] for k, v in timings.items()}
    assert median["on"] < 2 * median["off"] + 0.002, (median, p90)
    assert p90["on"] < 3 * p90["off"] + 0.005, (median, p90)

    off_seconds, on_seconds = await _stop_seconds(off), await _stop_seconds(on)
    # The flush is bounded: a dead collector costs the pod FLUSH_SECONDS (and a second for the
    # exporter to stop), not the SDK's 10 s export timeout and retries.
    assert on_seconds < off_seconds + FLUSH_SECONDS + 2, (off_seconds, on_seconds)
    assert "Traceback" not in on.stderr() and "Fatal" not in on.stderr(), on.stderr()


def _modules_loaded(env: Mapping[str, str]) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", MODULES_AFTER_START],
        env=dict(env),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    loaded: list[str] = json.loads(result.stdout.splitlines()[-1])
    return loaded


@pytest.mark.parametrize(
    ("otel", "imported"),
    [
        ({}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}, True),  # the check can see it
    ],
)
def test_with_tracing_off_opentelemetry_is_never_imported(
    otel: dict[str, str], imported: bool
) -> None:
    closed = f"postgresql://nobody@127.0.0.1:{free_port()}/none"  # the pool retries meanwhile
    env = clean_environ(DATABASE_URL=closed, AUTH_DISABLED="true", **otel)
    assert bool(_modules_loaded(env)) is imported


# Settings: the switch rule and a clear error for each bad value.


def tracing_settings(**environ: str) -> TracingSettings | None:
    return Settings.from_env({"AUTH_DISABLED": "true", **environ}).tracing


def test_tracing_is_on_only_with_an_endpoint_and_not_disabled() -> None:
    assert tracing_settings() is None
    assert tracing_settings(OTEL_SERVICE_NAME="x", OTEL_TRACES_SAMPLER="always_on") is None
    base = tracing_settings(OTEL_EXPORTER_OTLP_ENDPOINT="http://collector:4318/")
    assert base == TracingSettings(
        endpoint="http://collector:4318/v1/traces",
        service_name="user-service",
        sampler="parentbased_always_on",
        ratio=1.0,
        resource_attributes=(),
    )
    traces = tracing_settings(
        OTEL_EXPORTER_OTLP_ENDPOINT="http://collector:4318",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="https://otlp.example.com/api/traces",
        OTEL_TRACES_SAMPLER="parentbased_traceidratio",
        OTEL_TRACES_SAMPLER_ARG="0.01",
        OTEL_RESOURCE_ATTRIBUTES="service.name=from-attributes, k8s.namespace.name=users",
    )
    assert traces is not None
    assert traces.endpoint == "https://otlp.example.com/api/traces"  # as given, no path added
    assert (traces.sampler, traces.ratio) == ("parentbased_traceidratio", 0.01)
    assert traces.service_name == "from-attributes"  # OTEL_SERVICE_NAME, when set, wins
    assert traces.resource_attributes == (
        ("service.name", "from-attributes"),
        ("k8s.namespace.name", "users"),
    )
    for off in ("true", "TRUE", "1"):
        endpoint = "http://collector:4318"
        assert tracing_settings(OTEL_SDK_DISABLED=off, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint) is None


@pytest.mark.parametrize(
    ("environ", "variable", "message"),
    [
        ({"OTEL_TRACES_SAMPLER_ARG": "abc"}, "OTEL_TRACES_SAMPLER_ARG", "'abc' is not a number"),
        ({"OTEL_TRACES_SAMPLER_ARG": "1.5"}, "OTEL_TRACES_SAMPLER_ARG", "not between 0 and 1"),
        ({"OTEL_TRACES_SAMPLER_ARG": "nan"}, "OTEL_TRACES_SAMPLER_ARG", "not between 0 and 1"),
        (
            {"OTEL_TRACES_SAMPLER": "always_on", "OTEL_TRACES_SAMPLER_ARG": "0.5"},
            "OTEL_TRACES_SAMPLER_ARG",
            "the always_on sampler takes no argument",
        ),
        ({"OTEL_TRACES_SAMPLER": "jaeger_remote"}, "OTEL_TRACES_SAMPLER", "is not one of"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "OTEL_EXPORTER_OTLP_PROTOCOL", "only http/pro"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT", "http"),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:x"}, "OTEL_EXPORTER_OTLP_TRACES_", "URL"),
        ({"OTEL_RESOURCE_ATTRIBUTES": "a=1,b"}, "OTEL_RESOURCE_ATTRIBUTES", "key=value"),
        ({"OTEL_SDK_DISABLED": "maybe"}, "OTEL_SDK_DISABLED", "is not true or false"),
    ],
)
def test_a_bad_tracing_value_is_a_clear_error(
    environ: dict[str, str], variable: str, message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        tracing_settings(**{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", **environ})
    assert raised.value.variable.startswith(variable)
    assert message in str(raised.value)


def test_the_start_up_line_never_shows_an_endpoint_password() -> None:
    settings = Settings.from_env(
        {
            "AUTH_DISABLED": "true",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://user:s3cret@otlp.example.com/v1/traces",
        }
    )
    shown = settings.redacted()["tracing"]
    assert shown["endpoint"] == "https://user:***@otlp.example.com/v1/traces"
