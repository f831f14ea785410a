"""The `helm test` script, taken from the rendered chart, run against the real service."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.procs import ServiceGroup, clean_environ

from .render import Render

pytestmark = pytest.mark.chart


def run_smoke_test(render: Render, tmp_path: Path, base_url: str, ready_timeout: str) -> str:
    script = tmp_path / "smoke_test.py"
    script.write_text(render.one("ConfigMap", "user-service-test-api")["data"]["smoke_test.py"])
    result = subprocess.run(
        [sys.executable, str(script), base_url, ready_timeout],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = result.stdout + result.stderr
    return f"exit {result.returncode}\n{output}"


def test_smoke_test_passes_against_the_real_service(
    default_render: Render, services: ServiceGroup, database_url: str, tmp_path: Path
) -> None:
    service = services.start(clean_environ(DATABASE_URL=database_url))
    output = run_smoke_test(default_render, tmp_path, service.base_url, "20")
    assert output.startswith("exit 0"), output
    for step in (
        "readyz: 200",
        "create: 201",
        "read: 200",
        "delete: 204",
        "read after delete: 404",
    ):
        assert step in output
    assert output.rstrip().endswith("PASS")


def test_smoke_test_fails_while_the_schema_is_missing(
    default_render: Render, services: ServiceGroup, scratch_url: str, tmp_path: Path
) -> None:
    """Before the migration hook has run, /readyz is 503, and the helm test must say so."""
    service = services.start(clean_environ(DATABASE_URL=scratch_url))
    output = run_smoke_test(default_render, tmp_path, service.base_url, "3")
    assert output.startswith("exit 1"), output
    assert "FAIL: /readyz not ready after 3s (HTTP 503)" in output
