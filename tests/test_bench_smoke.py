"""The benchmark command's smoke mode, so that it cannot rot, and a tiny soak.

It runs the whole thing on tiny tables for about a second per scenario and checks the report's
shape, never its figures: timings on a shared machine are not pass/fail material. The soak's
test does the same with 24 s of its fixed-rate load: samples and slopes there, no threshold.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.profile import CENTRES
from bench.report import BARE_HANDLER
from bench.run import PROFILED
from tests.helpers import IN_CI, REPO, skip_or_fail

# Every row the report must hold: (group, scenario name as a regular expression, connections).
EXPECTED_ROWS = [
    ("floor", r"pgbench SELECT by id", 16),
    ("floor", r"pgbench INSERT", 16),
    ("floor", re.escape(BARE_HANDLER), 16),
    ("floor", re.escape(BARE_HANDLER), 64),
    ("ceiling", r"aiohttp constant JSON", 16),
    ("ceiling", r"aiohttp constant JSON", 64),
    *[
        ("service", name, conns)
        for name in (
            r"GET /users/\{id\}",
            r"POST /users",
            r"90/10 GET/POST",
            r"GET /users\?limit=50",
            r"GET /users\?limit=50 deep \(row [\d,]+\)",
        )
        for conns in (16, 64)
    ],
    ("list", r"first page, [\d,]+ users", 1),
    ("list", r"deep page \(row [\d,]+\), [\d,]+ users", 1),
    ("tracing", r"GET /users/\{id\}, tracing off", 64),
    ("tracing", r"GET /users/\{id\}, tracing on, ratio 0\.01", 64),
]
TARGETS = [
    "GET by id @64 vs the bare handler @64 (same query and pool)",
    "GET by id @64 vs framework ceiling",
    "server CPU per request, GET /users/{id} @64",
    "server CPU per request, POST /users @64",
    "server CPU per request, GET /users?limit=50 @64",
    "POST @64 vs GET by id",
    "cold start",
    "idle RSS",
    "server CPU per GET, tracing on, ratio 0.01 vs tracing off",
]


@pytest.mark.slow
def test_smoke_run_writes_a_complete_report(tmp_path: Path) -> None:
    if shutil.which("wrk") is None:
        skip_or_fail("wrk is not installed (apt-get install -y wrk)")
    output = tmp_path / "report.md"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--no-install", "--output", str(output)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,  # a guard against a hang, not a performance threshold
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = output.read_text()
    assert report in result.stdout  # printed as well as written
    for kind in ("rps", "latency", "cpu"):
        chart = output.with_suffix(f".{kind}.png")
        assert chart.read_bytes().startswith(b"\x89PNG\r\n\x1a\n"), chart
        assert chart.stat().st_size > 10_000, chart  # drawn, not an empty canvas
        assert f"]({chart.name})" in report
    for target in TARGETS:
        assert target in report
    figures = json.loads(output.with_suffix(".json").read_text())
    _check_profiles(figures["profiles"], report, output)
    rows = figures["rows"]
    for group, name, conns in EXPECTED_ROWS:
        matching = [
            r
            for r in rows
            if r["group"] == group and re.fullmatch(name, r["name"]) and r["connections"] == conns
        ]
        assert len(matching) == 1, (group, name, conns)
        row = matching[0]
        assert f"| {group} | {row['name']} | {conns} |" in report
        assert row["load"]["requests"] > 0, row
        assert row["load"]["socket_errors"] == 0, row
        # Not a performance check: a wrong API key, route or payload fails every request. GET by
        # id and POST must not fail one: the list rows tolerate what a tiny table may cause.
        if group == "service" and row["name"] in ("GET /users/{id}", "POST /users"):
            assert row["load"]["non_2xx"] == 0, row
        assert row["load"]["non_2xx"] <= row["load"]["requests"] // 10, row


def _check_profiles(profiles: list[dict[str, Any]], report: str, output: Path) -> None:
    """py-spy's windows: GET, POST and the list page at 64 connections, each sample charged to a
    cost centre, priced and drawn. Where py-spy cannot attach (no ptrace) the report says why
    and the run still succeeds; under CI=true the profile must work."""
    assert [(p["scenario"], p["connections"]) for p in profiles] == [(s, 64) for s in PROFILED]
    chart = output.with_suffix(".costs.png")
    failed = [p for p in profiles if p["error"] is not None]
    if failed and not IN_CI:
        for p in failed:
            assert f"No profile of {p['scenario']} @64: {p['error']}" in report
        return
    assert not failed, failed
    for p in profiles:
        assert set(p["samples"]) <= set(CENTRES), p
        # A second of a saturated service at 250 Hz: far more than this many samples.
        assert sum(p["samples"].values()) >= 50, p
        # Most of a request's CPU is in named centres, not "other".
        assert p["samples"].get("other", 0) < sum(p["samples"].values()) / 10, p
        assert p["server_us"] > 0, p
    assert "## Where the CPU goes (py-spy)" in report
    header = "| cost centre | " + " | ".join(f"{s} @64" for s in PROFILED) + " |"
    assert header in report
    for centre in CENTRES:
        assert f"| {centre} | " in report
    assert chart.read_bytes().startswith(b"\x89PNG\r\n\x1a\n"), chart
    assert chart.stat().st_size > 10_000, chart
    assert f"]({chart.name})" in report


@pytest.mark.slow
def test_tiny_soak_writes_samples_and_slopes(tmp_path: Path) -> None:
    """24 s at 20 req/s, sampled every 2 s: the report's shape, never a memory threshold."""
    output = tmp_path / "soak.md"
    result = subprocess.run(
        [
            sys.executable, "-m", "bench", "--soak", "--soak-minutes", "0.4",
            "--soak-rate", "20", "--sample-seconds", "2", "--users", "1000",
            "--output", str(output),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,  # a guard against a hang, not a performance threshold
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    report = output.read_text()
    assert report in result.stdout  # printed as well as written
    soak = json.loads(output.with_suffix(".json").read_text())
    samples = soak["samples"]
    assert len(samples) == 13  # at 0, 2, ... 24 s
    assert all(s["rss_mb"] > 0 and s["fds"] > 0 for s in samples)
    assert sum(s["sent"] for s in samples) > 0
    # The run is shorter than the window: its last 2/3, 16 s, is 9 samples.
    assert soak["window_samples"] == 9
    assert "window is its last 67%" in report
    for figure in ("rss", "rss_anon", "fds"):
        assert isinstance(soak[figure]["slope_per_minute"], float), figure
    assert soak["sent"] > 0
    assert soak["ok"] == soak["sent"], (soak["http_errors"], soak["socket_errors"])
    assert {k["kind"] for k in soak["mix"] if k["sent"] > 0} >= {"GET /users/{id}", "POST /users"}
    for target in ("RSS growth over the last 20 minutes", "open file descriptors", "errors"):
        assert target in report
    for s in samples:  # the samples table
        assert f"| {s['seconds']:.0f} | {s['rss_mb']:.2f} | {s['rss_anon_mb']:.2f} |" in report
