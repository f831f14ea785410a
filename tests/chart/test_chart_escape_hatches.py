"""The escape hatches: extra env, envFrom, volumes, init containers and sidecars of the API pods,
raw topologySpreadConstraints, pod metadata, env and resources of the migration Job and the
helm test pod, image registries and pull secrets for every image, the top-level `enabled` for
a parent chart's condition, and every setting the app reads settable from values.

Each renders as a user would expect with Helm 3 and Helm 4 (the tests taking `each_helm`); a
name the chart itself uses fails the render with a message naming the key.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.config import VARIABLE_NAMES, VARIABLES, Settings

from .render import CHART, Helm, Obj, Render, container_env, env_map

pytestmark = pytest.mark.chart


def pod_spec(render: Render, kind: str) -> Obj:
    owner = render.one(kind)
    spec: Obj = owner["spec"] if kind == "Pod" else owner["spec"]["template"]["spec"]
    return spec


def pod_metadata(render: Render, kind: str) -> Obj:
    owner = render.one(kind)
    metadata: Obj = owner["metadata"] if kind == "Pod" else owner["spec"]["template"]["metadata"]
    return metadata


def images(render: Render, kind: str) -> list[str]:
    spec = pod_spec(render, kind)
    return [c["image"] for c in spec.get("initContainers", []) + spec["containers"]]


def pull_secrets(render: Render, kind: str) -> list[str]:
    return [s["name"] for s in pod_spec(render, kind).get("imagePullSecrets", [])]


# --- extra env and envFrom -------------------------------------------------------------------

EXTRA_ENV = [
    {"name": "OTEL_SERVICE_NAME", "value": "user-service"},
    {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
]


def test_extra_env_and_env_from_reach_the_api_container(each_helm: Helm) -> None:
    render = each_helm.render(
        {"extraEnv": EXTRA_ENV, "extraEnvFrom": [{"secretRef": {"name": "vendor-keys"}}]}
    )
    container = render.container("Deployment")
    # After the chart's own entries, exactly as given.
    assert container["env"][-2:] == EXTRA_ENV
    assert {"PGUSER", "PGPASSWORD", "API_KEYS"} <= set(env_map(container))
    # Before the chart's ConfigMap: for a key in both, the chart's setting wins.
    assert container["envFrom"] == [
        {"secretRef": {"name": "vendor-keys"}},
        {"configMapRef": {"name": "user-service"}},
    ]
    # The other pods are not the API's: none of it there.
    assert "env" not in render.container("Pod")


@pytest.mark.parametrize("name", ["LOG_LEVEL", "KEEPALIVE_TIMEOUT_SECONDS", "PGUSER", "API_KEYS"])
def test_extra_env_cannot_shadow_a_chart_variable(helm: Helm, name: str) -> None:
    error = helm.render_error({"extraEnv": [EXTRA_ENV[0], {"name": name, "value": "x"}]})
    assert f"extraEnv[1]: {name} is set by the chart: use its values key" in error


def test_extra_env_may_not_shadow_the_tls_settings(helm: Helm) -> None:
    values = {
        "postgresql": {"enabled": False},
        "externalDatabase": {"host": "db", "existingSecret": "s", "tls": {"mode": "require"}},
        "extraEnv": [{"name": "PGSSLMODE", "value": "disable"}],
    }
    assert "extraEnv[0]: PGSSLMODE is set by the chart" in helm.render_error(values)


# --- volumes, init containers, sidecars ------------------------------------------------------

NATIVE_SIDECAR = {
    "name": "log-forwarder",
    "image": "fluent/fluent-bit:3.2.4",
    "restartPolicy": "Always",
}
SIDECAR = {
    "name": "shared-writer",
    "image": "busybox:1.37.0",
    "volumeMounts": [{"name": "shared", "mountPath": "/var/run/shared"}],
}
HATCHES: dict[str, Any] = {
    "extraVolumes": [{"name": "shared", "emptyDir": {"sizeLimit": "16Mi"}}],
    "extraVolumeMounts": [{"name": "shared", "mountPath": "/var/run/shared", "readOnly": True}],
    "initContainers": [NATIVE_SIDECAR],
    "sidecars": [SIDECAR],
}


def test_volumes_init_containers_and_sidecars(each_helm: Helm) -> None:
    render = each_helm.render(HATCHES)
    spec = pod_spec(render, "Deployment")
    assert spec["volumes"][0]["name"] == "tmp"
    assert spec["volumes"][-1] == HATCHES["extraVolumes"][0]
    api = spec["containers"][0]
    assert api["name"] == "api"
    assert api["volumeMounts"][-1] == HATCHES["extraVolumeMounts"][0]
    # A native sidecar keeps its restartPolicy (it starts first and stops after the api).
    assert spec["initContainers"] == [NATIVE_SIDECAR]
    assert spec["containers"][1:] == [SIDECAR]
    # Only the API pods get them.
    for kind in ("Job", "Pod"):
        other = pod_spec(render, kind)
        assert "initContainers" not in other
        assert [c["name"] for c in other["containers"]] in (["migration"], ["test-api"])


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"extraVolumes": [{"name": "tmp", "emptyDir": {}}]},
            'extraVolumes[0]: a volume named "tmp" exists already',
        ),
        (
            {"extraVolumeMounts": [{"name": "nothing", "mountPath": "/x"}]},
            'extraVolumeMounts[0]: no volume named "nothing"',
        ),
        (
            {"extraVolumeMounts": [{"name": "tmp", "mountPath": "/tmp/"}]},  # noqa: S108
            "extraVolumeMounts[0]: /tmp/ is mounted already",
        ),
        (
            {"sidecars": [{"name": "api", "image": "busybox:1.37.0"}]},
            'sidecars[0]: a container named "api" exists already',
        ),
        (
            {"sidecars": [{**SIDECAR, "volumeMounts": [], "restartPolicy": "Always"}]},
            "sidecars[0] (shared-writer): restartPolicy is for init containers",
        ),
        (
            {"initContainers": [NATIVE_SIDECAR], "sidecars": [{**NATIVE_SIDECAR}]},
            'sidecars[0]: a container named "log-forwarder" exists already',
        ),
    ],
)
def test_extra_names_the_pod_would_reject_fail(
    helm: Helm, values: dict[str, Any], message: str
) -> None:
    assert message in helm.render_error(values)


# --- topologySpreadConstraints ---------------------------------------------------------------

ZONES_HARD = {
    "maxSkew": 1,
    "topologyKey": "topology.kubernetes.io/zone",
    "whenUnsatisfiable": "DoNotSchedule",
    "minDomains": 2,
}


def test_raw_topology_spread_constraints_follow_the_simple_form(each_helm: Helm) -> None:
    render = each_helm.render({"topologySpreadConstraints": [ZONES_HARD]})
    template = render.one("Deployment")["spec"]["template"]
    constraints = template["spec"]["topologySpreadConstraints"]
    assert [c["whenUnsatisfiable"] for c in constraints] == [
        "ScheduleAnyway",
        "ScheduleAnyway",
        "DoNotSchedule",
    ]
    # Without a labelSelector the chart gives it the API pods' selector, so it counts them.
    selector = render.one("Deployment")["spec"]["selector"]
    assert constraints[-1] == {**ZONES_HARD, "labelSelector": selector}
    own = {**ZONES_HARD, "labelSelector": {"matchLabels": {"app": "other"}}}
    only = each_helm.render(
        {"topologySpread": {"enabled": False}, "topologySpreadConstraints": [own]}
    )
    assert only.one("Deployment")["spec"]["template"]["spec"]["topologySpreadConstraints"] == [own]
    none = each_helm.render({"topologySpread": {"enabled": False}})
    assert "topologySpreadConstraints" not in none.one("Deployment")["spec"]["template"]["spec"]


def test_raw_topology_spread_constraint_may_not_repeat_the_simple_form(helm: Helm) -> None:
    repeated = {**ZONES_HARD, "whenUnsatisfiable": "ScheduleAnyway"}
    error = helm.render_error({"topologySpreadConstraints": [repeated]})
    assert "topologySpreadConstraints[0]: topologyKey topology.kubernetes.io/zone" in error
    assert "topologySpread.enabled" in error


# --- pod metadata, env and resources of the migration Job and the helm test pod -------------

POD_EXTRAS: dict[str, Any] = {
    "podAnnotations": {"sidecar.istio.io/inject": "false"},
    "podLabels": {"team": "users"},
    "extraEnv": [{"name": "NO_PROXY", "value": ".svc,.cluster.local"}],
    "resources": {
        "requests": {"cpu": "20m", "memory": "40Mi"},
        "limits": {"cpu": "300m", "memory": "96Mi"},
    },
}


def test_test_pod_takes_its_own_metadata_env_and_resources(each_helm: Helm) -> None:
    render = each_helm.render({"tests": POD_EXTRAS, "podLabels": {"team": "api-only"}})
    pod = render.one("Pod")
    assert pod["metadata"]["annotations"]["sidecar.istio.io/inject"] == "false"
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert pod["metadata"]["labels"]["team"] == "users"
    assert pod["metadata"]["labels"]["app.kubernetes.io/component"] == "tests"
    container = pod["spec"]["containers"][0]
    assert container["env"] == POD_EXTRAS["extraEnv"]
    assert container["resources"] == POD_EXTRAS["resources"]
    # Its own values, not the API pods'.
    api = pod_metadata(render, "Deployment")
    assert api["labels"]["team"] == "api-only"
    assert "sidecar.istio.io/inject" not in api["annotations"]


def test_migration_job_resources(each_helm: Helm) -> None:
    render = each_helm.render({"migration": {"resources": POD_EXTRAS["resources"]}})
    assert render.container("Job")["resources"] == POD_EXTRAS["resources"]


def test_migration_job_takes_its_own_metadata_and_env(helm: Helm) -> None:
    extras = {key: value for key, value in POD_EXTRAS.items() if key != "resources"}
    render = helm.render({"migration": extras})
    metadata = pod_metadata(render, "Job")
    assert metadata.get("annotations", {})["sidecar.istio.io/inject"] == "false"
    assert metadata["labels"]["team"] == "users"
    assert metadata["labels"]["app.kubernetes.io/component"] == "migration"
    assert render.container("Job")["env"][-1] == POD_EXTRAS["extraEnv"][0]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"podLabels": {"app.kubernetes.io/component": "x"}},
            'podLabels: "app.kubernetes.io/component" is one of the chart\'s own labels',
        ),
        (
            {"tests": {"podLabels": {"app.kubernetes.io/name": "x"}}},
            'tests.podLabels: "app.kubernetes.io/name" is one of the chart\'s own labels',
        ),
        (
            {"podAnnotations": {"checksum/config": "x"}},
            'podAnnotations: "checksum/config" is set by the chart',
        ),
        (
            {"podAnnotations": {"prometheus.io/port": "1"}},
            'podAnnotations: "prometheus.io/port" is set by the chart',
        ),
        (
            {"tests": {"podAnnotations": {"helm.sh/hook": "x"}}},
            'tests.podAnnotations: "helm.sh/hook" is set by the chart',
        ),
    ],
)
def test_extra_metadata_cannot_replace_the_charts(
    helm: Helm, values: dict[str, Any], message: str
) -> None:
    assert message in helm.render_error(values)


def test_scrape_annotations_off_frees_their_names(helm: Helm) -> None:
    render = helm.render(
        {"metrics": {"scrapeAnnotations": False}, "podAnnotations": {"prometheus.io/port": "1"}}
    )
    assert pod_metadata(render, "Deployment")["annotations"]["prometheus.io/port"] == "1"


# --- registries and pull secrets -------------------------------------------------------------


def test_default_images_and_no_pull_secrets(default_render: Render) -> None:
    assert images(default_render, "Deployment") == ["user-service:0.1.0"]
    assert images(default_render, "StatefulSet") == ["postgres:17.6-bookworm"]
    for kind in ("Deployment", "StatefulSet", "Job", "Pod"):
        assert "imagePullSecrets" not in pod_spec(default_render, kind), kind


def test_image_registry_keys_apply_to_their_images(each_helm: Helm) -> None:
    render = each_helm.render(
        {
            "image": {"registry": "registry.example.com/team"},
            "postgresql": {"image": {"registry": "registry.example.com/hub"}},
        }
    )
    app = "registry.example.com/team/user-service:0.1.0"
    assert images(render, "Deployment") == images(render, "Pod") == images(render, "Job") == [app]
    assert images(render, "StatefulSet") == ["registry.example.com/hub/postgres:17.6-bookworm"]


def test_global_registry_and_pull_secrets_apply_to_every_image(each_helm: Helm) -> None:
    render = each_helm.render(
        {
            "global": {"imageRegistry": "mirror.example.com", "imagePullSecrets": ["mirror"]},
            "imagePullSecrets": [{"name": "team"}, {"name": "mirror"}],
            # global.imageRegistry wins over an image's own registry key.
            "image": {"registry": "registry.example.com/team", "digest": "sha256:" + "a" * 64},
            **HATCHES,
        }
    )
    assert images(render, "Deployment") == [
        "mirror.example.com/fluent/fluent-bit:3.2.4",
        f"mirror.example.com/user-service@sha256:{'a' * 64}",
        "mirror.example.com/busybox:1.37.0",
    ]
    assert images(render, "StatefulSet") == ["mirror.example.com/postgres:17.6-bookworm"]
    assert images(render, "Pod") == images(render, "Job") == [images(render, "Deployment")[1]]
    for kind in ("Deployment", "StatefulSet", "Pod"):
        assert pull_secrets(render, kind) == ["mirror", "team"], kind


def test_global_pull_secrets_reach_the_migration_job(helm: Helm) -> None:
    render = helm.render({"global": {"imagePullSecrets": [{"name": "mirror"}]}})
    assert pull_secrets(render, "Job") == ["mirror"]


def test_an_image_already_under_the_registry_is_kept(helm: Helm) -> None:
    render = helm.render(
        {
            "global": {"imageRegistry": "mirror.example.com"},
            "image": {"repository": "mirror.example.com/team/user-service"},
            "sidecars": [{"name": "s", "image": "mirror.example.com/busybox:1.37.0"}],
        }
    )
    assert images(render, "Deployment") == [
        "mirror.example.com/team/user-service:0.1.0",
        "mirror.example.com/busybox:1.37.0",
    ]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {
                "image": {
                    "registry": "registry.example.com",
                    "repository": "ghcr.io/acme/user-service",
                }
            },
            'image.repository "ghcr.io/acme/user-service" names another registry than '
            'image.registry "registry.example.com"',
        ),
        (
            {
                "global": {"imageRegistry": "mirror.example.com"},
                "postgresql": {"image": {"repository": "docker.io/library/postgres"}},
            },
            'postgresql.image.repository "docker.io/library/postgres" names another registry '
            'than global.imageRegistry "mirror.example.com"',
        ),
        (
            {
                "global": {"imageRegistry": "mirror.example.com"},
                "initContainers": [{"name": "proxy", "image": "localhost/proxy:1"}],
            },
            'initContainers[0].image "localhost/proxy:1" names another registry than '
            'global.imageRegistry "mirror.example.com"',
        ),
    ],
)
def test_an_image_of_another_registry_fails_rather_than_being_ignored(
    helm: Helm, values: dict[str, Any], message: str
) -> None:
    assert message in helm.render_error(values)


# --- enabled (a parent chart's condition) ----------------------------------------------------


def test_enabled_false_on_its_own_fails_with_the_reason(helm: Helm) -> None:
    error = helm.render_error({"enabled": False})
    assert "enabled=false: this key is for a parent chart's `condition: user-service.enabled`" in (
        error
    )


def parent_chart(tmp_path: Path, values: dict[str, Any]) -> Path:
    """A parent chart with this one as a dependency switched by `condition:`."""
    parent = tmp_path / "shop"
    shutil.copytree(CHART, parent / "charts" / "user-service", ignore=shutil.ignore_patterns("ci"))
    version = yaml.safe_load((CHART / "Chart.yaml").read_text())["version"]
    chart = {
        "apiVersion": "v2",
        "name": "shop",
        "version": "1.0.0",
        "dependencies": [
            {"name": "user-service", "version": version, "condition": "user-service.enabled"}
        ],
    }
    (parent / "Chart.yaml").write_text(yaml.safe_dump(chart))
    (parent / "values.yaml").write_text(yaml.safe_dump(values))
    return parent


def render_chart(helm: Helm, chart: Path, *args: str) -> Render:
    result = subprocess.run(
        [str(helm.binary), "template", "shop", str(chart), "-n", "shop", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return Render([d for d in yaml.safe_load_all(result.stdout) if d is not None])


def test_works_as_a_dependency_with_a_condition(each_helm: Helm, tmp_path: Path) -> None:
    # A parent's global holds keys of its own: the subchart's schema must accept them.
    values = {
        "global": {"imageRegistry": "mirror.example.com", "team": "shop"},
        "user-service": {"enabled": True},
    }
    chart = parent_chart(tmp_path, values)
    render = render_chart(each_helm, chart)
    assert render.one("Deployment")["metadata"]["name"] == "shop-user-service"
    assert images(render, "Deployment") == ["mirror.example.com/user-service:0.1.0"]
    off = render_chart(each_helm, chart, "--set", "user-service.enabled=false")
    assert off.docs == []


# --- every setting the app reads can be set from values --------------------------------------

# Settings the chart deliberately does not take from values, with the reason.
NOT_FROM_VALUES = {
    "DATABASE_URL": "the chart connects with the PG* variables: a URL would carry the password",
    "HOST": "fixed at the app's default 0.0.0.0: a pod must listen on every interface of its "
    "network namespace to be reachable through its Service",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "tracing.endpoint is the base URL; spans go to its "
    "/v1/traces, OTLP's path",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf, the app's default, is the only protocol it "
    "supports",
    "OTEL_SDK_DISABLED": "tracing.enabled=false sets no OTEL_* variable at all, which is off",
}
# Secrets, with where their value comes from and which container reads them.
FROM_SECRETS = {
    "PGPASSWORD": ("Deployment", "postgresql.auth.appPassword, or the existingSecret's key"),
    "API_KEYS": ("Deployment", "auth.apiKey (its digest), or auth.existingSecret"),
    "APP_DB_PASSWORD": ("Job", "postgresql.auth.appPassword, or the existingSecret's key"),
}
EXTERNAL_DB: dict[str, Any] = {
    "postgresql": {"enabled": False},
    "externalDatabase": {"host": "db.example.com", "existingSecret": "db-creds"},
}
EXTERNAL_SECRETS = {
    ("db-creds", "password"): "owner-password",
    ("db-creds", "app-password"): "app-password",
}
# variable -> (values path, value, what the container gets, the container that reads it)
FROM_VALUES: dict[str, tuple[str, object, str, str]] = {
    "PGHOST": (
        "externalDatabase.host",
        "users.db.example.com",
        "users.db.example.com",
        "Deployment",
    ),
    "PGPORT": ("externalDatabase.port", 6432, "6432", "Deployment"),
    "PGDATABASE": ("externalDatabase.database", "users", "users", "Deployment"),
    "PGUSER": ("externalDatabase.appUser", "users_app", "users_app", "Deployment"),
    "PGSSLMODE": ("externalDatabase.tls.mode", "verify-full", "verify-full", "Deployment"),
    "PGSSLROOTCERT": (
        "externalDatabase.tls.caFile",
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/ssl/certs/ca-certificates.crt",
        "Deployment",
    ),
    "AUTH_DISABLED": ("auth.disabled", True, "true", "Deployment"),
    "METRICS_PORT": ("metrics.port", 9102, "9102", "Deployment"),
    "APP_DB_USER": ("externalDatabase.appUser", "users_app", "users_app", "Job"),
    "PORT": ("config.port", 8081, "8081", "Deployment"),
    "LOG_LEVEL": ("config.logLevel", "DEBUG", "DEBUG", "Deployment"),
    "DB_POOL_MIN_SIZE": ("config.dbPoolMinSize", 1, "1", "Deployment"),
    "DB_POOL_MAX_SIZE": ("config.dbPoolMaxSize", 7, "7", "Deployment"),
    "DB_CONNECT_TIMEOUT_SECONDS": ("config.dbConnectTimeoutSeconds", 3, "3", "Deployment"),
    "DB_REQUEST_TIMEOUT_SECONDS": ("config.dbRequestTimeoutSeconds", 4, "4", "Deployment"),
    "DB_ACQUIRE_TIMEOUT_SECONDS": ("config.dbAcquireTimeoutSeconds", 1.5, "1.5", "Deployment"),
    "DB_STATEMENT_TIMEOUT_SECONDS": ("config.dbStatementTimeoutSeconds", 6, "6", "Deployment"),
    "MAX_BODY_BYTES": ("config.maxBodyBytes", 131072, "131072", "Deployment"),
    "READINESS_TIMEOUT_SECONDS": ("config.readinessTimeoutSeconds", 2, "2", "Deployment"),
    "READINESS_CACHE_SECONDS": ("config.readinessCacheSeconds", 3, "3", "Deployment"),
    "KEEPALIVE_TIMEOUT_SECONDS": ("config.keepaliveTimeoutSeconds", 90, "90", "Deployment"),
    "DRAIN_DELAY_SECONDS": ("config.drainDelaySeconds", 7, "7", "Deployment"),
    "SHUTDOWN_TIMEOUT_SECONDS": ("config.shutdownTimeoutSeconds", 25, "25", "Deployment"),
    "DOCS_ENABLED": ("config.docsEnabled", False, "false", "Deployment"),
    # Also set by cnpg.pooler.enabled (tests/chart/test_chart_cnpg.py); never in the Job.
    "DB_TRANSACTION_POOLING": ("externalDatabase.transactionPooling", True, "true", "Deployment"),
    # Rendered only with tracing.enabled (settings_render turns it on).
    "OTEL_EXPORTER_OTLP_ENDPOINT": (
        "tracing.endpoint",
        "http://otel-collector.observability:4318",
        "http://otel-collector.observability:4318",
        "Deployment",
    ),
    "OTEL_TRACES_SAMPLER": ("tracing.sampler", "traceidratio", "traceidratio", "Deployment"),
    "OTEL_TRACES_SAMPLER_ARG": ("tracing.samplingRatio", 0.25, "0.25", "Deployment"),
    "OTEL_SERVICE_NAME": ("tracing.serviceName", "users", "users", "Deployment"),
    "OTEL_RESOURCE_ATTRIBUTES": (
        "tracing.resourceAttributes",
        {"deployment.environment.name": "prod"},
        "deployment.environment.name=prod",
        "Deployment",
    ),
}


def test_every_app_setting_has_a_value_or_a_reason() -> None:
    """Adding a variable to service.config without a chart value (or a reason here) fails."""
    covered = set(FROM_VALUES) | set(FROM_SECRETS) | set(NOT_FROM_VALUES)
    missing = VARIABLE_NAMES - covered
    assert not missing, (
        f"service.config reads {sorted(missing)}, which no chart value sets: add a values key "
        "(values.yaml, values.schema.json, user-service.configData) and an entry in FROM_VALUES, "
        "or an entry with its reason in NOT_FROM_VALUES"
    )
    stale = covered - VARIABLE_NAMES
    assert not stale, f"the app no longer reads {sorted(stale)}: remove them here"
    secret = {v.name for v in VARIABLES if v.secret}
    assert set(FROM_SECRETS) <= secret, "FROM_SECRETS holds secrets only"
    assert not set(FROM_VALUES) & secret, "a secret never comes from a plain value"


def with_path(values: dict[str, Any], path: str, value: object) -> None:
    *parents, leaf = path.split(".")
    node = values
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value


@pytest.fixture(scope="module")
def settings_render(helm: Helm) -> Render:
    """One render with every FROM_VALUES value set (they are independent of each other)."""
    values: dict[str, Any] = yaml.safe_load(yaml.safe_dump(EXTERNAL_DB))
    for path, value, _, _ in FROM_VALUES.values():
        with_path(values, path, value)
    with_path(values, "tracing.enabled", True)
    # transactionPooling: the migration Job needs the server itself.
    with_path(values, "externalDatabase.migrationHost", "users-direct.db.example.com")
    return helm.render(values)


@pytest.mark.parametrize("name", sorted(FROM_VALUES))
def test_each_setting_reaches_the_app_from_its_value(settings_render: Render, name: str) -> None:
    path, _, expected, kind = FROM_VALUES[name]
    env = container_env(settings_render, settings_render.container(kind), EXTERNAL_SECRETS)
    assert env.get(name) == expected, f"{path} does not set {name}"


def test_the_settings_render_is_valid_for_the_app(settings_render: Render) -> None:
    for kind in ("Deployment", "Job"):
        env = container_env(settings_render, settings_render.container(kind), EXTERNAL_SECRETS)
        assert set(env) <= VARIABLE_NAMES, sorted(set(env) - VARIABLE_NAMES)
        Settings.from_env(env)


@pytest.mark.parametrize("name", sorted(FROM_SECRETS))
def test_each_secret_setting_comes_from_a_secret(default_render: Render, name: str) -> None:
    kind, _ = FROM_SECRETS[name]
    entry = env_map(default_render.container(kind))[name]
    assert "secretKeyRef" in entry["valueFrom"]


def test_keepalive_default_is_the_apps(default_render: Render) -> None:
    app_default = next(v.default for v in VARIABLES if v.name == "KEEPALIVE_TIMEOUT_SECONDS")
    data = default_render.one("ConfigMap", "user-service")["data"]
    assert data["KEEPALIVE_TIMEOUT_SECONDS"] == app_default
