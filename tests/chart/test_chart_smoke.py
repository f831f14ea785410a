"""The `helm test` script, taken from the rendered chart, run against the real service, with
the API key Secret the chart rendered: API_KEYS from its `api-keys` entry, the key file from
its `api-key` entry, exactly as the pods get them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.procs import ServiceGroup, clean_environ

from .render import Helm, Render

pytestmark = pytest.mark.chart


def run_smoke_test(
    render: Render, tmp_path: Path, base_url: str, ready_timeout: str, key: str | None = None
) -> str:
    """Run the script with the pod's arguments, the Service URL replaced by base_url and the
    key file (when the pod has one) written with `key`, or absent when key is None."""
    script = tmp_path / "smoke_test.py"
    script.write_text(render.one("ConfigMap", "user-service-tests")["data"]["smoke_test.py"])
    args = render.one("Pod")["spec"]["containers"][0]["command"][2:]
    args[:2] = [base_url, ready_timeout]
    if len(args) > 2:  # BASE_URL READY_TIMEOUT [KEY_FILE]
        key_file = tmp_path / "api-key"
        if key is not None:
            key_file.write_text(key)
        args[2] = str(key_file)
    result = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = result.stdout + result.stderr
    return f"exit {result.returncode}\n{output}"


def with_keys(render: Render, database_url: str) -> dict[str, str]:
    """The service's environment with the chart's API_KEYS (digest only) and auth on."""
    api_keys = render.secret("user-service-api")["api-keys"]
    return clean_environ(DATABASE_URL=database_url, API_KEYS=api_keys, AUTH_DISABLED="false")


def chart_key(render: Render) -> str:
    return render.secret("user-service-api")["api-key"]


def test_smoke_test_passes_against_the_real_service(
    default_render: Render, services: ServiceGroup, database_url: str, tmp_path: Path
) -> None:
    service = services.start(with_keys(default_render, database_url))
    output = run_smoke_test(
        default_render, tmp_path, service.base_url, "20", chart_key(default_render)
    )
    assert output.startswith("exit 0"), output
    for step in (
        "readyz: 200",
        "list without a key: 401",
        "create: 201",
        "read: 200",
        "delete: 204",
        "read after delete: 404",
    ):
        assert step in output
    assert output.rstrip().endswith("PASS")
    assert chart_key(default_render) not in output, "the key is never printed"
    # The access log names the key, never shows it.
    assert "admin" in {line.get("api_key") for line in service.log_lines()}
    assert chart_key(default_render) not in service.output()


def test_smoke_test_fails_with_a_wrong_key(
    default_render: Render, services: ServiceGroup, database_url: str, tmp_path: Path
) -> None:
    service = services.start(with_keys(default_render, database_url))
    output = run_smoke_test(
        default_render, tmp_path, service.base_url, "20", "wrong-key-0123456789abcdef"
    )
    assert output.startswith("exit 1"), output
    assert "FAIL: create: HTTP 401" in output


def test_smoke_test_fails_when_the_service_wants_no_key(
    default_render: Render, services: ServiceGroup, database_url: str, tmp_path: Path
) -> None:
    """Auth expected (the chart's default) but the service serves anyone: the test says so."""
    service = services.start(clean_environ(DATABASE_URL=database_url, AUTH_DISABLED="true"))
    output = run_smoke_test(
        default_render, tmp_path, service.base_url, "20", chart_key(default_render)
    )
    assert output.startswith("exit 1"), output
    assert "FAIL: list without a key: HTTP 200, wanted [401]" in output


def test_smoke_test_without_a_test_key_checks_the_refusal(
    helm: Helm, services: ServiceGroup, database_url: str, tmp_path: Path
) -> None:
    """auth.existingSecret without a raw key for the test: the mounted file is absent."""
    render = helm.render({"auth": {"existingSecret": "keys"}})
    entries = "deploy:write:sha256:" + "0" * 64
    env = clean_environ(DATABASE_URL=database_url, API_KEYS=entries, AUTH_DISABLED="false")
    service = services.start(env)
    output = run_smoke_test(render, tmp_path, service.base_url, "20", None)
    assert output.startswith("exit 0"), output
    assert "list without a key: 401" in output
    assert "checked the refusal only" in output
    assert "create:" not in output


def test_smoke_test_with_auth_disabled(
    helm: Helm, services: ServiceGroup, database_url: str, tmp_path: Path
) -> None:
    render = helm.render({"auth": {"disabled": True}})
    service = services.start(clean_environ(DATABASE_URL=database_url, AUTH_DISABLED="true"))
    output = run_smoke_test(render, tmp_path, service.base_url, "20")
    assert output.startswith("exit 0"), output
    assert "auth: disabled" in output
    assert "create: 201" in output


def test_smoke_test_fails_while_the_schema_is_missing(
    default_render: Render, services: ServiceGroup, scratch_url: str, tmp_path: Path
) -> None:
    """Before the migration Job has run, /readyz is 503, and the helm test must say so."""
    service = services.start(with_keys(default_render, scratch_url))
    output = run_smoke_test(
        default_render, tmp_path, service.base_url, "3", chart_key(default_render)
    )
    assert output.startswith("exit 1"), output
    assert "FAIL: /readyz not ready after 3s (HTTP 503)" in output
