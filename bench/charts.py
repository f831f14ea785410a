"""The report's figures as pictures: PNG files beside it (matplotlib, no display needed).

- `<report>.rps.png`: req/s of each scenario at the top connection count, against the floors
  (pgbench, the bare handler) and the framework ceiling;
- `<report>.latency.png`: p50 and p99 of the same rows;
- `<report>.cpu.png`: server CPU per request of each service scenario, GET by id split into
  what the bare handler costs (aiohttp, the pool, the query, the JSON) and what the service
  adds on top of it (middlewares, authentication, metrics, the access log, validation);
- `<report>.costs.png`, when the run profiled the service: the same CPU per request of GET,
  POST and the list page stacked by cost centre (bench/profile.py), the bare handler's CPU per
  request a reference line across the GET bar.

The tables in the report keep every figure; the charts only show them.
"""

from __future__ import annotations

from pathlib import Path

# Figure objects, not pyplot: no global state, no display or GUI toolkit, files only.
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from bench import profile
from bench.report import BARE_HANDLER, Results, Row, cpu_per_request

_COLOURS = {"floor": "#8c8c8c", "ceiling": "#4c72b0", "service": "#dd8452"}
_SCENARIO_GROUPS = ("floor", "ceiling", "service")
_ROOM_FOR_LABELS = 1.15  # x axis past the longest bar, for its figure


def chart_paths(output: Path) -> dict[str, Path]:
    """Where each chart of the report at `output` goes."""
    return {kind: output.with_suffix(f".{kind}.png") for kind in ("rps", "latency", "cpu")}


def draw(results: Results, output: Path) -> dict[str, Path]:
    """Writes the three charts beside the report; returns their paths by kind."""
    paths = chart_paths(output)
    rows = _top_rows(results)
    _rps(rows, paths["rps"])
    _latency(rows, paths["latency"])
    _cpu(results, rows, paths["cpu"])
    profiled = [p for p in results.profiles if p.error is None and p.total]
    if profiled:
        bare = next((r for r in rows if r.group == "floor" and r.name == BARE_HANDLER), None)
        paths["costs"] = output.with_suffix(".costs.png")
        costs(
            profiled,
            paths["costs"],
            title=f"Server CPU per request by cost centre ({results.users:,} users)",
            floors={"GET /users/{id}": cpu_per_request(bare)} if bare else {},
        )
    return paths


def _top_rows(results: Results) -> list[Row]:
    """The floor, ceiling and service rows at the highest connection count each was run at."""
    chosen: list[Row] = []
    for group in _SCENARIO_GROUPS:
        in_group = [r for r in results.rows if r.group == group]
        for name in dict.fromkeys(r.name for r in in_group):  # first-seen order
            chosen.append(max((r for r in in_group if r.name == name), key=_connections))
    return chosen


def _connections(row: Row) -> int:
    return row.connections


def _label(row: Row) -> str:
    return f"{row.name} @{row.connections}"


def _rps(rows: list[Row], path: Path) -> None:
    figure = Figure(figsize=(10, 0.45 * len(rows) + 1.5), layout="constrained")
    axes = figure.subplots()
    labels = [_label(r) for r in rows]
    values = [r.load.rps for r in rows]
    bars = axes.barh(labels, values, color=[_COLOURS[r.group] for r in rows])
    axes.bar_label(bars, labels=[f"{v:,.0f}" for v in values], padding=3, fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel("requests per second (higher is better)")
    axes.set_title("Throughput: the service against its floors and the framework ceiling")
    axes.set_xlim(0, max(values, default=1) * _ROOM_FOR_LABELS)
    _legend(figure)
    _save(figure, path)


def _latency(rows: list[Row], path: Path) -> None:
    figure = Figure(figsize=(10, 0.55 * len(rows) + 1.5), layout="constrained")
    axes = figure.subplots()
    labels = [_label(r) for r in rows]
    positions = range(len(rows))
    height = 0.4
    axes.barh([p - height / 2 for p in positions], [r.load.p50_ms for r in rows], height,
              label="p50", color="#55a868")  # fmt: skip
    axes.barh([p + height / 2 for p in positions], [r.load.p99_ms for r in rows], height,
              label="p99", color="#c44e52")  # fmt: skip
    axes.set_yticks(list(positions), labels)
    axes.invert_yaxis()
    axes.set_xscale("log")
    axes.set_xlabel("latency, ms (log scale; lower is better)")
    axes.set_title("Latency percentiles per scenario")
    figure.legend(loc="outside lower center", ncols=2)
    _save(figure, path)


def _cpu(results: Results, rows: list[Row], path: Path) -> None:
    service = [r for r in rows if r.group == "service"]
    bare = next((r for r in rows if r.group == "floor" and r.name == BARE_HANDLER), None)
    figure = Figure(figsize=(10, 0.45 * len(service) + 1.5), layout="constrained")
    axes = figure.subplots()
    labels = [_label(r) for r in service]
    costs = [cpu_per_request(r) for r in service]
    floor = [
        min(cpu_per_request(bare), cost) if bare and r.name == "GET /users/{id}" else 0.0
        for r, cost in zip(service, costs, strict=True)
    ]
    axes.barh(labels, floor, color=_COLOURS["floor"], label="bare handler: aiohttp, pool, query")
    added = [cost - base for cost, base in zip(costs, floor, strict=True)]
    bars = axes.barh(labels, added, left=floor, color=_COLOURS["service"], label="the service")
    axes.bar_label(bars, labels=[f"{c:,.0f} us" for c in costs], padding=3, fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel("server CPU per request, microseconds (lower is better)")
    axes.set_title(f"Server CPU per request ({results.users:,} users)")
    axes.set_xlim(0, max(costs, default=1) * _ROOM_FOR_LABELS)
    figure.legend(loc="outside lower center", ncols=2)
    _save(figure, path)


# One colour per cost centre, in bench/profile.py's order ("other" grey).
_CENTRE_COLOURS = dict(
    zip(
        profile.CENTRES,
        ["#c44e52", "#8172b3", "#937860", "#da8bc3", "#ccb974", "#64b5cd", "#4c72b0", "#55a868",
         "#dd8452", "#a05195", "#2f4b7c", "#b0b0b0"],
        strict=True,
    )
)  # fmt: skip


def costs(
    profiles: list[profile.Profile],
    path: Path,
    *,
    title: str,
    floors: dict[str, float] | None = None,
) -> None:
    """One bar per profiled scenario: its server CPU per request stacked by cost centre; a
    scenario named in `floors` gets a reference line at that many microseconds across its bar."""
    floors = floors or {}
    figure = Figure(figsize=(10, 0.6 * len(profiles) + 2.5), layout="constrained")
    axes = figure.subplots()
    labels = [p.label for p in profiles]
    left = [0.0] * len(profiles)
    for centre in profile.CENTRES:
        widths = [p.costs().get(centre, 0.0) for p in profiles]
        if not any(widths):
            continue
        axes.barh(labels, widths, left=left, color=_CENTRE_COLOURS[centre], label=centre)
        left = [x + w for x, w in zip(left, widths, strict=True)]
    for position, (p, total) in enumerate(zip(profiles, left, strict=True)):
        axes.annotate(f"{total:,.0f} us", (total, position), xytext=(3, 0),
                      textcoords="offset points", va="center", fontsize=8)  # fmt: skip
        floor = floors.get(p.scenario)
        if floor is not None:
            axes.vlines(floor, position - 0.45, position + 0.45, colors="black",
                        linestyles="dashed", label=f"bare handler ({floor:,.0f} us)")  # fmt: skip
    axes.invert_yaxis()
    axes.set_xlabel("server CPU per request, microseconds (lower is better)")
    axes.set_title(title)
    axes.set_xlim(0, max(left, default=1) * _ROOM_FOR_LABELS or 1)
    figure.legend(loc="outside lower center", ncols=3, fontsize=8)
    _save(figure, path)


def _legend(figure: Figure) -> None:
    handles = [Rectangle((0, 0), 1, 1, color=_COLOURS[g]) for g in _SCENARIO_GROUPS]
    figure.legend(handles, _SCENARIO_GROUPS, loc="outside lower center", ncols=3)


def _save(figure: Figure, path: Path) -> None:
    figure.savefig(path, dpi=100)
