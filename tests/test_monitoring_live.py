"""The alert rules and the dashboard against a real Prometheus scraping a real service.

One stack for the module, all on loopback: an embedded PostgreSQL of the module's own (the test
stops it), `python -m service serve` with API keys and /metrics on a port of its own, a little
traffic (reads, writes, a duplicate, refused keys, an unknown path) and a kubelet-like /readyz
prober, and Debian's `prometheus` scraping every second and evaluating the chart's rules
(rendered by helm with the default values except `for:` durations of 5 s) every second. The
scrape config labels the target as the chart's ServiceMonitor would (job <fullname>-metrics,
namespace), so the rules' default selector and the dashboard's variables work as in a cluster.

- Every dashboard panel's queries, variables resolved as Grafana would (from Prometheus), return
  data, except the panels listed in NO_DATA_HERE with the reason.
- Stopping PostgreSQL takes UserServiceDatabaseUnreachable from inactive to pending to firing,
  and the 503s it causes fire UserServiceAvailabilityBurnFast; starting it again resolves the
  database alert. The times are printed (pytest -s shows them).

Without prometheus (or helm) these tests skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import math
import re
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import yaml

from service.devdb import EmbeddedPostgres
from service.processes import free_port, stop_process
from tests.chart.render import NAMESPACE, RELEASE, Helm
from tests.conftest import FAST_SETTINGS, migrate
from tests.helpers import READ_AUTH, REPO, TEST_API_KEYS, WRITE_AUTH, skip_or_fail
from tests.procs import Service, ServiceGroup, clean_environ

pytestmark = pytest.mark.slow

DASHBOARD = REPO / "monitoring" / "grafana-dashboard.json"
JOB = f"{RELEASE}-metrics"  # what the chart's ServiceMonitor makes the job label
# Panels that cannot have data on this machine, by title, and why.
NO_DATA_HERE = {
    "Deployment pods and disruption budget": (
        "kube-state-metrics: no Kubernetes cluster runs here, so there are no kube_deployment_* "
        "or kube_poddisruptionbudget_* series (the rules' unit tests cover those alerts)"
    ),
}
# What Grafana puts for $__rate_interval is about 4 scrape intervals; any window with a few
# samples does here.
RATE_INTERVAL = "30s"
SHORT_FOR = "5s"


@dataclass
class Prometheus:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def get(self, path: str, **params: str) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", f"{path}?{urlencode(params)}" if params else path)
            response = conn.getresponse()
            body = json.loads(response.read())
        finally:
            conn.close()
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.get("/api/v1/query", query=expr)["result"]
        return result

    def alerts(self) -> dict[str, str]:
        """alertname -> state (pending, firing) of the active alerts."""
        return {a["labels"]["alertname"]: a["state"] for a in self.get("/api/v1/alerts")["alerts"]}


@dataclass
class Stack:
    postgres: EmbeddedPostgres
    service: Service
    prometheus: Prometheus
    answers: dict[int, int] = field(default_factory=dict)


def _request(port: int, method: str, path: str, headers: dict[str, str], body: Any = None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        payload = json.dumps(body) if body is not None else None
        sent = {**headers, **({"Content-Type": "application/json"} if payload else {})}
        conn.request(method, path, body=payload, headers=sent)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _traffic(port: int, stop: threading.Event, answers: dict[int, int]) -> None:
    """About 30 requests a second: lists, creates, reads, a duplicate now and then, an unknown
    path, and refused keys at 0.4 a second per reason (below the auth alert's 1/s)."""
    n = 0
    while not stop.is_set():
        n += 1
        name = f"u{uuid.uuid4().hex[:12]}"
        calls: list[tuple[str, str, dict[str, str], Any]] = [
            ("GET", "/users?limit=5", READ_AUTH, None),
            ("POST", "/users", WRITE_AUTH, {"username": name, "email": f"{name}@x.org"}),
            ("GET", "/users/1", READ_AUTH, None),
        ]
        if n % 10 == 0:
            calls.append(("POST", "/users", WRITE_AUTH, {"username": name, "email": "d@x.org"}))
            calls.append(("GET", "/no/such/path", {}, None))
        if n % 25 == 0:
            calls.append(("GET", "/users", {}, None))
            calls.append(("GET", "/users", {"Authorization": "Bearer not-a-key-0123456789"}, None))
        for method, path, headers, body in calls:
            try:
                status = _request(port, method, path, headers, body)
            except OSError:
                status = 0
            answers[status] = answers.get(status, 0) + 1
        stop.wait(0.1)


def _prober(port: int, stop: threading.Event) -> None:
    """/readyz twice a second, as a kubelet does: it is what updates user_service_db_up."""
    while not stop.is_set():
        with contextlib.suppress(OSError):
            _request(port, "GET", "/readyz", {})
        stop.wait(0.5)


def _rules(helm: Helm, keys: list[str]) -> dict[str, Any]:
    """The chart's PrometheusRule, default values but every `for:` SHORT_FOR, as a rules file."""
    values = {
        "metrics": {"prometheusRule": {"enabled": True, "for": dict.fromkeys(keys, SHORT_FOR)}}
    }
    rule = helm.render(values, "--show-only", "templates/metrics/prometheusrule.yaml")
    return {"groups": rule.one("PrometheusRule")["spec"]["groups"]}


def _start_prometheus(directory: Path, target: int, rules: dict[str, Any]) -> Prometheus:
    binary = shutil.which("prometheus")
    assert binary is not None
    (directory / "rules.yaml").write_text(yaml.safe_dump(rules))
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(directory / "rules.yaml")],
        "scrape_configs": [
            {
                "job_name": JOB,
                "static_configs": [
                    {"targets": [f"127.0.0.1:{target}"], "labels": {"namespace": NAMESPACE}}
                ],
            }
        ],
    }
    (directory / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = directory / "prometheus.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={directory / 'prometheus.yml'}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
    prometheus = Prometheus(process, port, log)
    # Ready, and the service's target scraped (its discovery takes up to 5 s at start).
    _wait(lambda: _scraped(prometheus), 30, "Prometheus scraping the service", prometheus)
    return prometheus


def _scraped(prometheus: Prometheus) -> bool:
    if prometheus.process.poll() is not None:
        raise AssertionError("prometheus exited:\n" + prometheus.log.read_text()[-3000:])
    try:
        return bool(prometheus.query(f'up{{job="{JOB}"}} == 1'))
    except OSError:
        return False


def _wait(
    predicate: Callable[[], bool], within: float, what: str, prometheus: Prometheus | None = None
) -> float:
    """Polls until `predicate`; returns the seconds it took."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > within:
            log = prometheus.log.read_text()[-3000:] if prometheus else ""
            raise AssertionError(f"{what}: not within {within} s\n{log}")
        time.sleep(0.2)
    return time.monotonic() - started


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if shutil.which("prometheus") is None:
        skip_or_fail("prometheus not found (Debian: apt-get install prometheus)")
    helm_binary = REPO / ".tools" / "bin" / "helm"
    if not helm_binary.exists():
        skip_or_fail(f"{helm_binary} not found: run scripts/install-tools.sh")
    directory = tmp_path_factory.mktemp("monitoring")
    keys = list(
        yaml.safe_load((REPO / "helm/user-service/values.yaml").read_text())["metrics"][
            "prometheusRule"
        ]["for"]
    )
    rules = _rules(Helm(helm_binary), keys)
    postgres = EmbeddedPostgres(settings=FAST_SETTINGS)
    services = ServiceGroup(directory)
    stop = threading.Event()
    threads: list[threading.Thread] = []
    prometheus: Prometheus | None = None
    try:
        postgres.start()
        asyncio.run(migrate(postgres.dsn()))
        metrics_port = free_port()
        service = services.start(
            clean_environ(
                DATABASE_URL=postgres.dsn(),
                API_KEYS=TEST_API_KEYS,
                AUTH_DISABLED="false",
                METRICS_PORT=str(metrics_port),
            )
        )
        service.wait_ready()
        answers: dict[int, int] = {}
        threads = [
            threading.Thread(target=_traffic, args=(service.port, stop, answers), daemon=True),
            threading.Thread(target=_prober, args=(service.port, stop), daemon=True),
        ]
        for thread in threads:
            thread.start()
        prometheus = _start_prometheus(directory, metrics_port, rules)
        yield Stack(postgres, service, prometheus, answers)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
        if prometheus is not None:
            stop_process(prometheus.process, 10)
        services.stop_all()
        postgres.cleanup()


def _label_values(prometheus: Prometheus, query: str, resolved: dict[str, str]) -> list[str]:
    """A Grafana `label_values(selector, label)` variable query, answered by Prometheus."""
    found = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
    assert found, query
    selector, label = _substitute(found.group(1), resolved), found.group(2)
    values: list[str] = prometheus.get(f"/api/v1/label/{label}/values", **{"match[]": selector})
    return values


def _substitute(expr: str, resolved: dict[str, str]) -> str:
    for name in sorted(resolved, key=len, reverse=True):
        expr = expr.replace(f"${{{name}}}", resolved[name]).replace(f"${name}", resolved[name])
    return expr


def _resolve_variables(prometheus: Prometheus, board: dict[str, Any]) -> dict[str, str]:
    """Each query variable's values as Grafana would fetch them, in order (later ones use
    earlier ones); several values become a regex alternation, as Grafana formats them."""
    resolved = {"__rate_interval": RATE_INTERVAL}
    for variable in board["templating"]["list"]:
        if variable["type"] != "query":
            continue
        values = _label_values(prometheus, variable["query"], resolved)
        resolved[variable["name"]] = "|".join(_regex_escape(v) for v in values)
    return resolved


def _regex_escape(value: str) -> str:
    """A label value as a literal in a PromQL regex string, as Grafana escapes multi-values."""
    return re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\\\1", value)


def _has_data(result: list[dict[str, Any]]) -> bool:
    return any(math.isfinite(float(sample["value"][1])) for sample in result)


def test_every_dashboard_panel_has_data(stack: Stack) -> None:
    board = json.loads(DASHBOARD.read_text())
    panels = {p["title"]: p for p in board["panels"] if p["type"] != "row"}
    assert set(NO_DATA_HERE) <= set(panels), "NO_DATA_HERE names a panel the dashboard lacks"
    prometheus = stack.prometheus

    def missing() -> list[str]:
        resolved = _resolve_variables(prometheus, board)
        assert (resolved["namespace"], resolved["job"]) == (NAMESPACE, JOB), resolved
        empty = []
        for title, panel in panels.items():
            for target in panel["targets"]:
                expr = _substitute(target["expr"], resolved)
                if not _has_data(prometheus.query(expr)):
                    empty.append(f"{title} [{target['refId']}]: {expr}")
        return empty

    deadline = time.monotonic() + 45
    while True:
        empty = missing()
        expected = [e for e in empty if e.split(" [")[0] in NO_DATA_HERE]
        if empty == expected or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert empty == expected, "panels without data:\n" + "\n".join(empty)
    # The listed panels really have none here (or the list would hide a broken query).
    assert {e.split(" [")[0] for e in expected} == set(NO_DATA_HERE)
    with_data = len(panels) - len(NO_DATA_HERE)
    print(f"\ndashboard: {with_data} of {len(panels)} panels have data; without: {NO_DATA_HERE}")
    # What the service and the rules cost Prometheus here (docs/observability.md, costs).
    [samples] = prometheus.query(f'scrape_samples_scraped{{job="{JOB}"}}')
    groups = prometheus.get("/api/v1/rules")["groups"]
    evaluation = {g["name"]: f"{g['evaluationTime'] * 1000:.2f} ms" for g in groups}
    print(f"samples a scrape: {samples['value'][1]}; rule group evaluation: {evaluation}")


def test_database_alert_goes_pending_firing_resolved_and_5xx_burn_fires(stack: Stack) -> None:
    prometheus = stack.prometheus
    # A healthy, busy service fires nothing (and the database alert's gauge has been set).
    _wait(lambda: bool(prometheus.query(f'user_service_db_up{{job="{JOB}"}} == 1')), 20, "db up")
    _wait(lambda: prometheus.alerts() == {}, 20, f"no alert while healthy: {prometheus.alerts()}")

    database, burn = "UserServiceDatabaseUnreachable", "UserServiceAvailabilityBurnFast"
    seen: dict[str, float] = {}
    stopped = time.monotonic()
    stack.postgres.stop()
    try:

        def watch() -> bool:
            now = time.monotonic() - stopped
            for name, state in prometheus.alerts().items():
                seen.setdefault(f"{name} {state}", now)
            return f"{database} firing" in seen and f"{burn} firing" in seen

        _wait(watch, 45, f"both alerts firing (seen: {seen})")
    finally:
        restarted = time.monotonic()
        stack.postgres.start()
    _wait(lambda: database not in prometheus.alerts(), 30, f"{database} resolved")
    resolved = time.monotonic() - restarted

    assert seen[f"{database} pending"] < seen[f"{database} firing"], seen
    firing_after_pending = seen[f"{database} firing"] - seen[f"{database} pending"]
    assert firing_after_pending >= 4, f"`for: {SHORT_FOR}` was not honoured: {seen}"
    assert stack.answers.get(503, 0) > 0, stack.answers
    # With minutes of data, every window holds the same burst: the ticket fires too.
    expected = (database, burn, "UserServiceAvailabilityBurnSlow")
    unexpected = {k for k in seen if not k.startswith(expected)}
    assert not unexpected, f"other alerts fired during the outage: {unexpected}"
    print(
        f"\n{database}: pending {seen[f'{database} pending']:.1f} s and firing "
        f"{seen[f'{database} firing']:.1f} s after PostgreSQL stopped (for: {SHORT_FOR}); "
        f"resolved {resolved:.1f} s after it started again"
        f"\n{burn}: pending {seen.get(f'{burn} pending', float('nan')):.1f} s, firing "
        f"{seen[f'{burn} firing']:.1f} s after PostgreSQL stopped; answers {stack.answers}"
    )
