"""The benchmark's profile (bench/profile.py): each sample's stack charged to one cost centre, the
shares priced in microseconds per request, and the chart of them (bench/charts.py)."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from bench import charts, profile
from bench.loadgen import Load
from bench.profile import (
    ACCESS_LOG,
    AUTH,
    CALLER,
    CENTRES,
    HANDLER,
    HTTP,
    JSON,
    LOOP,
    METRICS,
    OTHER,
    POOL,
    QUERY,
    REQUEST_ID,
    SOCKET_READS,
    classify,
)
from bench.report import BARE_HANDLER, Results, Row

# Frames as py-spy 0.4 writes them in its raw format, outermost first.
LOOP_FRAMES = [
    "<module> (service/__main__.py:5)",
    "BaseEventLoop.run_forever (asyncio/base_events.py:607)",
    "BaseEventLoop._run_once (asyncio/base_events.py:1922)",
    "Handle._run (asyncio/events.py:80)",
]
REQUEST = [
    *LOOP_FRAMES,
    "RequestHandler._handle_request (aiohttp/web_protocol.py:479)",
    "Application._handle (aiohttp/web_app.py:569)",
    "metrics_middleware (service/metrics.py:225)",
    "auth_middleware (service/auth.py:80)",
    "request_id_middleware (service/logs.py:154)",
    "drain_middleware (service/health.py:190)",
]
GET_USER = [*REQUEST, "get_user (service/handlers.py:57)"]
FETCHROW = [
    *GET_USER,
    "select_user (service/users.py:102)",
    "Connection.fetchrow (asyncpg/connection.py:748)",
    "Connection._execute (asyncpg/connection.py:1864)",
    "Connection.__execute (asyncpg/connection.py:1961)",
    "Connection._do_execute (asyncpg/connection.py:2024)",
]
SOCKET_WRITE = "_SelectorSocketTransport.write (asyncio/selector_events.py:1070)"
ACCESS_LINE = [
    *LOOP_FRAMES,
    "RequestHandler.finish_response (aiohttp/web_protocol.py:730)",
    "RequestHandler.log_access (aiohttp/web_protocol.py:447)",
    "AccessLogger.log (service/logs.py:190)",
    "Logger.info (logging/__init__.py:1489)",
    "Logger._log (logging/__init__.py:1634)",
    "StreamHandler.emit (logging/__init__.py:1113)",
    "_Formatter.format (service/logs.py:80)",
]


@pytest.mark.parametrize(
    ("frames", "centre"),
    [
        # The access log's JSON encoding and its write are the access log's, not JSON's.
        pytest.param(
            [*ACCESS_LINE, "JSONEncoder.encode (json/encoder.py:200)"], ACCESS_LOG, id="log-json"
        ),
        pytest.param(
            [*ACCESS_LINE[:-1], "StreamHandler.flush (logging/__init__.py:1100)"],
            ACCESS_LOG,
            id="log-write",
        ),
        # A response body's JSON is JSON, although our handler called it.
        pytest.param(
            [
                *GET_USER,
                "json_response (aiohttp/web_response.py:780)",
                "dumps (json/__init__.py:231)",
                "JSONEncoder.encode (json/encoder.py:200)",
            ],
            JSON,
            id="response-json",
        ),
        pytest.param(FETCHROW, QUERY, id="query"),
        # The query logger's histogram inside a fetch is metrics, not the query.
        pytest.param(
            [
                *FETCHROW,
                "Connection._time_and_log (asyncpg/connection.py:2400)",
                "QueryMetrics.__call__ (service/metrics.py:170)",
                "Histogram.observe (prometheus_client/metrics.py:640)",
                "MutexValue.inc (prometheus_client/values.py:20)",
            ],
            METRICS,
            id="query-logger",
        ),
        # A socket write is its writer's: asyncpg's (compiled, no frame) under the query, ...
        pytest.param([*FETCHROW, SOCKET_WRITE], QUERY, id="query-send"),
        # ... aiohttp's for the response.
        pytest.param(
            [
                *GET_USER[:5],
                "RequestHandler.finish_response (aiohttp/web_protocol.py:730)",
                "StreamResponse.write_eof (aiohttp/web_response.py:560)",
                "StreamWriter._writelines (aiohttp/http_writer.py:100)",
                SOCKET_WRITE,
            ],
            HTTP,
            id="response-send",
        ),
        # The pool's release claims the asyncio helpers it calls.
        pytest.param(
            [
                *LOOP_FRAMES,
                "PoolConnectionHolder.release (asyncpg/pool.py:230)",
                "timeout (asyncio/timeouts.py:150)",
            ],
            POOL,
            id="pool-release",
        ),
        pytest.param(
            [
                *GET_USER,
                "_AsyncGeneratorContextManager.__aenter__ (contextlib.py:204)",
                "Database.connection (service/db.py:213)",
                "Pool._acquire (asyncpg/pool.py:860)",
                "wait_for (asyncio/tasks.py:479)",
            ],
            POOL,
            id="pool-acquire",
        ),
        # A middleware's own line is its centre; what its handler calls is the handler's.
        pytest.param(REQUEST[:-3], METRICS, id="metrics-middleware"),
        pytest.param(REQUEST[:-2], AUTH, id="auth-middleware"),
        pytest.param(
            [*REQUEST[:-2], "Authenticator.authenticate (service/auth.py:40)"], AUTH, id="auth"
        ),
        pytest.param(
            [*REQUEST[:-1], "incoming_request_id (service/logs.py:134)"],
            REQUEST_ID,
            id="request-id",
        ),
        pytest.param(GET_USER, HANDLER, id="handler"),
        pytest.param(
            [*GET_USER, "User.to_json (service/users.py:60)", "iso8601 (service/users.py:70)"],
            HANDLER,
            id="row-to-json",
        ),
        pytest.param(
            [*LOOP_FRAMES[:3], "EpollSelector.select (selectors.py:468)"], LOOP, id="select"
        ),
        # A read is the loop's, with asyncpg's compiled protocol under it; aiohttp's parser is
        # aiohttp's.
        pytest.param(
            [
                *LOOP_FRAMES,
                "_SelectorSocketTransport._read_ready__data_received "
                "(asyncio/selector_events.py:1008)",
            ],
            SOCKET_READS,
            id="read",
        ),
        pytest.param(
            [
                *LOOP_FRAMES,
                "_SelectorSocketTransport._read_ready__data_received "
                "(asyncio/selector_events.py:1008)",
                "RequestHandler.data_received (aiohttp/web_protocol.py:400)",
            ],
            HTTP,
            id="parse",
        ),
        # The loop's rules are its own code only: what it runs that no rule knows is "other".
        pytest.param(
            [*LOOP_FRAMES, "WeakSet.__init__.<locals>._remove (_weakrefset.py:39)"],
            OTHER,
            id="unknown-under-loop",
        ),
        pytest.param(["<module> (somewhere.py:1)"], OTHER, id="unknown"),
    ],
)
def test_each_stack_is_charged_to_its_centre(frames: list[str], centre: str) -> None:
    assert classify(frames) == centre


def test_frames_are_split_into_file_and_function() -> None:
    assert profile.frame_parts("Pool._acquire.<locals>._acquire_impl (asyncpg/pool.py:864)") == (
        "asyncpg/pool.py",
        "Pool._acquire.<locals>._acquire_impl",
    )
    assert profile.frame_parts("<lambda> (<string>)") == ("<string>", "<lambda>")
    # Full paths (py-spy --full-filenames) match the rules' suffixes too.
    assert classify(["Logger._log (/usr/lib/python3.11/logging/__init__.py:1634)"]) == ACCESS_LOG
    # A file whose name only ends like a rule's is not that file.
    assert classify(["f (mylogging/__init__.py:1)"]) == OTHER


def test_every_rule_names_a_centre_and_a_reach() -> None:
    for rule in profile.RULES:
        assert rule.centre in CENTRES or rule.centre == CALLER, rule
        assert rule.reach in (profile.CALLS, profile.FRAME, profile.OWN), rule


RAW = [
    ";".join([*ACCESS_LINE, "JSONEncoder.encode (json/encoder.py:200)"]) + " 30",
    ";".join(FETCHROW) + " 50",
    ";".join(GET_USER) + " 20",
    "not a sample line",
]


def test_samples_add_up_per_centre_and_price_at_the_cpu_per_request() -> None:
    samples = profile.summarise(RAW)
    assert samples == Counter({QUERY: 50, ACCESS_LOG: 30, HANDLER: 20})
    costs = profile.costs(dict(samples), server_us=200.0)
    assert costs == {ACCESS_LOG: 60.0, QUERY: 100.0, HANDLER: 40.0}
    assert list(costs) == [ACCESS_LOG, QUERY, HANDLER]  # the centres' order
    assert profile.costs({}, 200.0) == {}
    assert profile.innermost_frames(RAW, HANDLER) == Counter({"get_user (service/handlers.py)": 20})


def _profile(scenario: str, samples: dict[str, int], server_us: float) -> profile.Profile:
    return profile.Profile(scenario, 64, samples, server_us, 1000.0, server_us * 1.2)


def test_the_table_gives_microseconds_and_shares_per_scenario() -> None:
    get = _profile("GET /users/{id}", {QUERY: 75, ACCESS_LOG: 25}, 200.0)
    failed = profile.Profile("POST /users", 64, {}, 300.0, 0.0, 0.0, error="py-spy exited 1")
    lines = profile.table([get, failed])
    assert lines[0] == "| cost centre | GET /users/{id} @64 |"
    assert f"| {QUERY} | 150.0 (75.0%) |" in lines
    assert f"| {ACCESS_LOG} | 50.0 (25.0%) |" in lines
    assert f"| {METRICS} | 0.0 (0.0%) |" in lines
    assert "| samples | 100 |" in lines
    assert profile.table([failed]) == []
    # bench --compare: each variant's column names it.
    old = profile.Profile("GET /users/{id}", 64, {QUERY: 1}, 1.0, 0.0, 0.0, variant="@762bd53")
    assert profile.table([get, old])[0] == (
        "| cost centre | GET /users/{id} @64 | GET /users/{id} @64, @762bd53 |"
    )


def test_a_process_py_spy_cannot_record_is_reported_not_raised(tmp_path: Path) -> None:
    if profile.py_spy() is None:
        pytest.skip("py-spy is not installed")
    ran = []
    samples, error = profile.record_window(
        _a_pid_that_is_gone(), tmp_path / "gone.txt", lambda: ran.append(True)
    )
    assert samples == Counter()
    assert error is not None
    assert error.startswith("py-spy exited")
    assert ran == [True]  # the load still ran: the benchmark's figures do not need py-spy


def _a_pid_that_is_gone() -> int:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def _capture(monkeypatch: pytest.MonkeyPatch) -> list[Figure]:
    drawn: list[Figure] = []
    real = charts._save

    def save(figure: Figure, path: Path) -> None:
        drawn.append(figure)
        real(figure, path)

    monkeypatch.setattr(charts, "_save", save)
    return drawn


def test_the_costs_chart_stacks_each_scenario_with_the_floor_on_get(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn = _capture(monkeypatch)
    get = _profile("GET /users/{id}", {QUERY: 50, ACCESS_LOG: 30, HTTP: 20}, 200.0)
    post = _profile("POST /users", {QUERY: 40, POOL: 60}, 300.0)
    path = tmp_path / "run.costs.png"
    charts.costs([get, post], path, title="t", floors={"GET /users/{id}": 120.0})
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 10_000  # drawn, not an empty canvas
    [axes] = drawn[0].axes
    # One segment per centre a scenario has, stacked: each bar ends at its CPU per request.
    bars = [bar for bar in axes.patches if isinstance(bar, Rectangle)]
    ends: dict[float, float] = {}
    for bar in bars:
        y = round(bar.get_y() + bar.get_height() / 2)
        ends[y] = max(ends.get(y, 0.0), bar.get_x() + bar.get_width())
    assert ends == pytest.approx({0: 200.0, 1: 300.0})
    assert len([bar for bar in bars if bar.get_width() > 0]) == 5
    # The bare handler's reference line, across the GET bar only.
    [line] = [c for c in axes.collections if isinstance(c, LineCollection)]
    [segment] = line.get_segments()
    assert segment[:, 0] == pytest.approx([120.0, 120.0])
    assert -0.5 < segment[:, 1].min() < segment[:, 1].max() < 0.5


def test_a_profiled_run_draws_its_costs_with_the_bare_handler_on_get(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn = _capture(monkeypatch)

    def row(group: str, name: str, cpu: float) -> Row:
        load = Load(requests=1000, rps=500, p50_ms=1, p99_ms=2, non_2xx=0, socket_errors=0,
                    cpu_seconds=0.1)  # fmt: skip
        return Row(group, name, 64, load, cpu, 0.1, 0.0, 50.0, 0, 100.0)

    def results(profiles: list[profile.Profile]) -> Results:
        return Results(
            command="x", started="now", elapsed_seconds=1, smoke=True, users=1, warmup=1,
            seconds=1, pool_max_size=10, machine={}, cold_start_seconds=1,
            cold_start_max_seconds=1, idle_rss_mib=1, notes=[], profiles=profiles,
            rows=[row("floor", BARE_HANDLER, 0.12), row("service", "GET /users/{id}", 0.2)],
        )  # fmt: skip

    failed = profile.Profile("GET /users/{id}", 64, {}, 1.0, 0.0, 0.0, error="no ptrace")
    paths = charts.draw(results([failed]), tmp_path / "a.md")
    assert set(paths) == {"rps", "latency", "cpu"}
    assert not (tmp_path / "a.costs.png").exists()
    get = _profile("GET /users/{id}", {QUERY: 1}, 200.0)
    paths = charts.draw(results([get]), tmp_path / "b.md")
    assert paths["costs"] == tmp_path / "b.costs.png"
    assert paths["costs"].read_bytes().startswith(b"\x89PNG")
    [axes] = drawn[-1].axes
    [line] = [c for c in axes.collections if isinstance(c, LineCollection)]
    assert line.get_segments()[0][:, 0] == pytest.approx([120.0, 120.0])  # 0.12 s / 1000
