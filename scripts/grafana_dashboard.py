"""The user-service Grafana dashboard, built from the typed models of grafana-foundation-sdk.

Built rather than hand-written so that it is a valid dashboard of the Grafana schema the SDK
models (a field Grafana does not know cannot be set), and so that every query is written once,
with the same label filter. scripts/render_monitoring.py writes it to
helm/user-service/files/grafana-dashboard.json (the chart's ConfigMap) and
monitoring/grafana-dashboard.json (for import); tests/test_monitoring*.py check both.

No name is hard-coded: the data source is the `datasource` variable, the series are those of
the `namespace`, `job` and `instance` variables (read from user_service_build_info, so they
work the same with the ServiceMonitor's labels and with any other scrape config).
"""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.builders import prometheus, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataSourceRef,
    VariableHide,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

UID = "user-service"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
# Every series of the service: the three variables' filter.
SERIES = 'namespace=~"$namespace", job=~"$job", instance=~"$instance"'
API = f'{SERIES}, route=~"/users.*"'
RATE = "[$__rate_interval]"

Panel = timeseries.Panel | table.Panel


def query(expr: str, legend: str = "", ref: str = "A") -> prometheus.Dataquery:
    return (
        prometheus.Dataquery()
        .expr(expr)
        .legend_format(legend or "__auto")
        .ref_id(ref)
        .datasource(DATASOURCE)
    )


def graph(
    title: str, description: str, unit: str, *queries: prometheus.Dataquery, width: int = 8
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .min(0)
        .height(8)
        .span(width)
    )
    for q in queries:
        panel = panel.with_target(q)
    return panel


def refs(*pairs: tuple[str, str]) -> list[prometheus.Dataquery]:
    """(expr, legend) pairs as queries A, B, C..."""
    return [query(expr, legend, chr(ord("A") + i)) for i, (expr, legend) in enumerate(pairs)]


def variable(name: str, label: str, expr: str, *, multi: bool = False) -> gd.QueryVariable:
    built = (
        gd.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(expr)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
    )
    if multi:
        built = built.multi(True).include_all(True).all_value(".*")
    return built


def slo_panel(slo: str, what: str) -> timeseries.Panel:
    windows = ("5m", "1h", "6h")
    return graph(
        f"{slo.capitalize()} SLO burn rate",
        f"How many times faster than the {slo} objective allows the error budget is spent "
        f"({what}); 1 spends it in exactly 30 days. The alerts page at 14.4 over 1 h (and 5 m) "
        "or 6 over 6 h (and 30 m). From the recording rules of the chart's PrometheusRule "
        "(monitoring/user-service-rules.yaml): no data without them.",
        "suffix:x",
        *refs(
            *(
                (f'user_service:slo_{slo}_burn:rate{w}{{namespace=~"$namespace", job=~"$job"}}', w)
                for w in windows
            )
        ),
        width=12,
    )


def panels() -> list[tuple[str, list[Panel]]]:
    """(row title, its panels), top to bottom."""
    requests = f"user_service_http_requests_total{{{SERIES}}}"
    duration = f"user_service_http_request_duration_seconds_bucket{{{SERIES}}}"
    return [
        (
            "Service level objectives",
            [
                slo_panel("availability", "5xx answers to /users"),
                slo_panel("latency", "/users answers slower than the SLO's threshold"),
            ],
        ),
        (
            "Requests (rate, errors, duration)",
            [
                graph(
                    "Request rate by route",
                    "Requests answered a second, by route template and method (probes and "
                    "scrapes are not counted).",
                    "reqps",
                    query(
                        f"sum by (route, method) (rate({requests}{RATE}))", "{{method}} {{route}}"
                    ),
                ),
                graph(
                    "5xx ratio by route",
                    "Share of answers that are 5xx (503: the database is away), by route; 0 "
                    "while there are none.",
                    "percentunit",
                    query(
                        "(sum by (route) (rate("
                        f'user_service_http_requests_total{{{SERIES}, status=~"5.."}}{RATE}))'
                        f" or 0 * sum by (route) (rate({requests}{RATE})))"
                        f" / (sum by (route) (rate({requests}{RATE})) > 0)",
                        "{{route}}",
                    ),
                ),
                graph(
                    "Responses by status",
                    "Answers a second by status code (4xx: the client's doing; 499: the client "
                    "went away).",
                    "reqps",
                    query(f"sum by (status) (rate({requests}{RATE}))", "{{status}}"),
                ),
                graph(
                    "Request duration by route (p50, p99)",
                    "Time to produce a response, from the histogram's buckets.",
                    "s",
                    *refs(
                        (
                            "histogram_quantile(0.99, sum by (le, route) "
                            f"(rate({duration}{RATE})))",
                            "p99 {{route}}",
                        ),
                        (
                            f"histogram_quantile(0.5, sum by (le, route) (rate({duration}{RATE})))",
                            "p50 {{route}}",
                        ),
                    ),
                ),
                graph(
                    "In-flight requests",
                    "Requests being handled now, per pod.",
                    "short",
                    query(
                        f"sum by (instance) (user_service_http_requests_in_flight{{{SERIES}}})",
                        "{{instance}}",
                    ),
                ),
                graph(
                    "Auth failures by reason",
                    "Requests refused a second: missing, malformed or unknown key (401), "
                    "insufficient scope (403).",
                    "reqps",
                    query(
                        "sum by (reason) "
                        f"(rate(user_service_auth_failures_total{{{SERIES}}}{RATE}))",
                        "{{reason}}",
                    ),
                ),
            ],
        ),
        (
            "Database",
            [
                graph(
                    "Pool connections",
                    "Open pooled connections, those in use, and the pool's ceiling "
                    "(DB_POOL_MAX_SIZE), per pod.",
                    "short",
                    *refs(
                        (f"user_service_db_pool_max_connections{{{SERIES}}}", "max {{instance}}"),
                        (f"user_service_db_pool_connections{{{SERIES}}}", "open {{instance}}"),
                        (
                            "user_service_db_pool_connections_by_state"
                            f'{{{SERIES}, state="in_use"}}',
                            "in use {{instance}}",
                        ),
                    ),
                ),
                graph(
                    "Pool acquire wait (p99)",
                    "Wait for a pooled connection; it nears DB_ACQUIRE_TIMEOUT_SECONDS when the "
                    "pool is saturated.",
                    "s",
                    query(
                        "histogram_quantile(0.99, sum by (le, instance) (rate("
                        f"user_service_db_pool_acquire_duration_seconds_bucket{{{SERIES}}}{RATE})))",
                        "{{instance}}",
                    ),
                ),
                graph(
                    "Pool acquire timeouts",
                    "Requests a second that gave up waiting for a connection (answered 503).",
                    "reqps",
                    query(
                        "sum by (instance) (rate("
                        f"user_service_db_pool_acquire_timeouts_total{{{SERIES}}}{RATE}))",
                        "{{instance}}",
                    ),
                ),
                graph(
                    "Query duration by query (p99)",
                    "Query time as the client sees it, by the name each SQL statement gives "
                    "itself.",
                    "s",
                    query(
                        "histogram_quantile(0.99, sum by (le, query) (rate("
                        f"user_service_db_query_duration_seconds_bucket{{{SERIES}}}{RATE})))",
                        "{{query}}",
                    ),
                ),
                graph(
                    "Query errors by query",
                    "Queries that raised a second (a unique violation is one: a 409).",
                    "reqps",
                    query(
                        "sum by (query) "
                        f"(rate(user_service_db_query_errors_total{{{SERIES}}}{RATE}))",
                        "{{query}}",
                    ),
                ),
            ],
        ),
        (
            "Pods",
            [
                graph(
                    "Readiness, database and drain",
                    "Per pod: ready (1 when /readyz passes), database (1 when its ping "
                    "answers), draining (1 once shutdown began).",
                    "short",
                    *refs(
                        (f"user_service_ready{{{SERIES}}}", "ready {{instance}}"),
                        (f"user_service_db_up{{{SERIES}}}", "database {{instance}}"),
                        (f"user_service_draining{{{SERIES}}}", "draining {{instance}}"),
                    ),
                ),
                graph(
                    "Deployment pods and disruption budget",
                    "From kube-state-metrics: available and unavailable pods of the Deployment, "
                    "and the healthy pods its PodDisruptionBudget needs.",
                    "short",
                    *refs(
                        (
                            'kube_deployment_status_replicas_available{namespace=~"$namespace", '
                            'deployment=~"$deployment"}',
                            "available",
                        ),
                        (
                            'kube_deployment_status_replicas_unavailable{namespace=~"$namespace", '
                            'deployment=~"$deployment"}',
                            "unavailable",
                        ),
                        (
                            "kube_poddisruptionbudget_status_desired_healthy"
                            '{namespace=~"$namespace", poddisruptionbudget=~"$deployment"}',
                            "PDB needs",
                        ),
                    ),
                ),
                graph(
                    "Scrape targets up",
                    "1 per pod Prometheus scrapes successfully.",
                    "short",
                    query(f"up{{{SERIES}}}", "{{instance}}"),
                ),
                graph(
                    "Process CPU",
                    "CPU seconds a second, per pod (one process uses one core at most).",
                    "percentunit",
                    query(f"rate(process_cpu_seconds_total{{{SERIES}}}{RATE})", "{{instance}}"),
                ),
                graph(
                    "Process memory (RSS)",
                    "Resident memory per pod: what the pod's memory limit counts.",
                    "bytes",
                    query(f"process_resident_memory_bytes{{{SERIES}}}", "{{instance}}"),
                ),
                table.Panel()
                .title("Build info")
                .description("The version each pod runs, and its Python.")
                .datasource(DATASOURCE)
                .height(8)
                .span(8)
                .with_target(
                    query(f"user_service_build_info{{{SERIES}}}", "{{version}}")
                    .instant()
                    .format(PromQueryFormat.TABLE)
                ),
            ],
        ),
    ]


def build() -> dict[str, Any]:
    """The dashboard as Grafana's JSON model."""
    board = (
        gd.Dashboard("user-service")
        .uid(UID)
        .description(
            "RED metrics, SLO burn, database pool and queries, readiness, auth failures and the "
            "process of user-service (docs/observability.md)."
        )
        .tags(["user-service"])
        .editable()
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .refresh("30s")
        .time("now-1h", "now")
        .timezone("browser")
        .with_variable(gd.DatasourceVariable("datasource").label("Data source").type("prometheus"))
        .with_variable(
            variable("namespace", "Namespace", "label_values(user_service_build_info, namespace)")
        )
        .with_variable(
            variable(
                "job", "Job", 'label_values(user_service_build_info{namespace=~"$namespace"}, job)'
            )
        )
        .with_variable(
            variable(
                "instance",
                "Instance",
                'label_values(user_service_build_info{namespace=~"$namespace", job=~"$job"}, '
                "instance)",
                multi=True,
            )
        )
        .with_variable(
            variable(
                "deployment",
                "Deployment (kube-state-metrics)",
                'label_values(kube_deployment_status_replicas{namespace=~"$namespace"}, '
                "deployment)",
            ).hide(VariableHide.DONT_HIDE)
        )
    )
    for title, row in panels():
        board = board.with_row(gd.Row(title))
        for panel in row:
            board = board.with_panel(panel)
    encoded: dict[str, Any] = json.loads(JSONEncoder().encode(board.build()))
    return encoded


def render() -> str:
    """The JSON file's text: sorted keys, two-space indents, a final newline."""
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(), end="")
