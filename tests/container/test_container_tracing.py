"""The production image can turn tracing on (the `tracing` extra is in requirements/main.txt),
and with it off loads nothing of OpenTelemetry, as the chart runs it: app user, read-only root."""

from __future__ import annotations

import json

import pytest

from tests.otlp import MODULES_AFTER_START

from .dockerctl import Docker

pytestmark = pytest.mark.container


@pytest.mark.parametrize("on", [False, True])
def test_the_image_loads_opentelemetry_only_with_tracing_on(
    docker: Docker, images: str, on: bool
) -> None:
    otel = ["-e", "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318"] if on else []
    proc = docker(
        "run", "--rm", "--network", "none", "--read-only", "--entrypoint", "python",
        "-e", "DATABASE_URL=postgresql://nobody@127.0.0.1:1/none", "-e", "AUTH_DISABLED=true",
        *otel, images, "-c", MODULES_AFTER_START,
    )  # fmt: skip
    loaded = json.loads(proc.stdout.splitlines()[-1])
    assert ("opentelemetry.sdk.trace" in loaded) is on, loaded
    if on:  # the exporter and its protobuf encoding are there too
        assert "opentelemetry.exporter.otlp.proto.http.trace_exporter" in loaded
    else:
        assert loaded == []
