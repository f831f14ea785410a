"""tracing.*: the OTEL_* variables appear only when tracing is enabled, and mean to the app what
the values say (parsed by the app's own Settings), with Helm 3 and Helm 4."""

from __future__ import annotations

from typing import Any

import pytest

from service.config import Settings, TracingSettings

from .render import Helm, RenderError, container_env

pytestmark = pytest.mark.chart

ENDPOINT = "http://otel-collector.observability:4318"


def tracing_of(
    helm: Helm, tracing: dict[str, Any]
) -> tuple[dict[str, str], TracingSettings | None]:
    """The OTEL_* variables of the API container and of the migration Job, and what the app
    makes of the API's environment."""
    render = helm.render({"tracing": tracing})
    env = container_env(render, render.container("Deployment"))
    job = container_env(render, render.container("Job"))
    otel = {k: v for k, v in env.items() if k.startswith("OTEL_")}
    assert otel == {k: v for k, v in job.items() if k.startswith("OTEL_")}  # one configData
    return otel, Settings.from_env(env).tracing


def test_tracing_is_off_by_default_and_sets_nothing(each_helm: Helm) -> None:
    otel, tracing = tracing_of(each_helm, {})
    assert (otel, tracing) == ({}, None)
    # Disabled, its other values set nothing either.
    otel, tracing = tracing_of(
        each_helm, {"enabled": False, "endpoint": ENDPOINT, "serviceName": "users"}
    )
    assert (otel, tracing) == ({}, None)


def test_enabled_it_sets_the_endpoint_and_the_default_sampling(each_helm: Helm) -> None:
    otel, tracing = tracing_of(each_helm, {"enabled": True, "endpoint": ENDPOINT})
    assert otel == {
        "OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT,
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.01",
    }
    assert tracing == TracingSettings(
        endpoint=f"{ENDPOINT}/v1/traces",
        service_name="user-service",
        sampler="parentbased_traceidratio",
        ratio=0.01,
        resource_attributes=(),
    )


def test_every_tracing_value_reaches_the_app(each_helm: Helm) -> None:
    otel, tracing = tracing_of(
        each_helm,
        {
            "enabled": True,
            "endpoint": "https://otlp.example.com/base/",
            "sampler": "always_on",  # takes no ratio: none is rendered
            "samplingRatio": 0.5,
            "serviceName": "users-eu",
            "resourceAttributes": {
                "deployment.environment.name": "prod",
                "team": "users, accounts & billing+1",
            },
        },
    )
    assert "OTEL_TRACES_SAMPLER_ARG" not in otel
    assert tracing is not None
    assert tracing.endpoint == "https://otlp.example.com/base/v1/traces"
    assert (tracing.sampler, tracing.service_name) == ("always_on", "users-eu")
    # Any value survives the trip: percent-encoded by the chart, decoded by the app.
    assert dict(tracing.resource_attributes) == {
        "deployment.environment.name": "prod",
        "team": "users, accounts & billing+1",
    }


def test_enabled_without_an_endpoint_fails_the_render(each_helm: Helm) -> None:
    error = each_helm.render_error({"tracing": {"enabled": True}})
    assert "tracing.enabled=true needs tracing.endpoint" in error


@pytest.mark.parametrize(
    "tracing",
    [
        {"endpoint": "collector:4318"},
        {"sampler": "jaeger_remote"},
        {"samplingRatio": 1.5},
        {"resourceAttributes": {"bad key": "x"}},
        {"exporter": "grpc"},
    ],
)
def test_the_schema_refuses_bad_tracing_values(helm: Helm, tracing: dict[str, Any]) -> None:
    with pytest.raises(RenderError):
        helm.render({"tracing": {"enabled": True, "endpoint": ENDPOINT, **tracing}})
