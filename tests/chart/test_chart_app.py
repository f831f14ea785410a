"""The API pods as rendered: env the app really reads, probes on its real routes, drain timing,
hardened security context. The app side comes from the service package itself, not a copy."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest

from service.app import create_app, create_metrics_app
from service.config import VARIABLE_NAMES, VARIABLES, Settings
from service.metrics import Metrics
from tests.helpers import REPO

from .render import Helm, Obj, Render, container_env, env_map

pytestmark = pytest.mark.chart

# What the chart must always give the app: where the database is and who to connect as.
# The image's only writable path, as a mount path in the pod spec (not a file we create).
TMP_MOUNT = "/tmp"  # noqa: S108
REQUIRED_ENV = {"PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD"}
# Values of the Secrets a user provides (existingSecret): what the pods would read from them.
USER_KEY = "user-provided-api-key-0123456789"
EXTERNAL: dict[tuple[str, str], str] = {
    ("db-creds", "password"): "external-owner-password",
    ("db-creds", "app-password"): "external-app-password",
    ("pg-creds", "password"): "existing-owner-password",
    ("pg-creds", "app-password"): "existing-app-password",
    ("api-keys", "api-keys"): f"deploy:write:sha256:{hashlib.sha256(USER_KEY.encode()).hexdigest()}"
    + ",ci:read:ci-read-key-0123456789abcdef",
}
PROFILES: dict[str, dict[str, Any]] = {
    "default": {},
    "external-db": {
        "postgresql": {"enabled": False},
        "externalDatabase": {
            "host": "db.example.com",
            "existingSecret": "db-creds",
            "user": "users_owner",
            "appUser": "users_app",
        },
    },
    "external-db-tls": {
        "postgresql": {"enabled": False},
        "externalDatabase": {
            "host": "db.example.com",
            "existingSecret": "db-creds",
            "tls": {"mode": "verify-full", "caSecret": {"name": "db-ca", "key": "ca.crt"}},
        },
    },
    "existing-secret": {"postgresql": {"auth": {"existingSecret": "pg-creds"}}},
    "existing-api-keys": {"auth": {"existingSecret": "api-keys"}},
    "auth-disabled": {"auth": {"disabled": True}},
}
# (owner role, app role) per profile.
ROLES = {"external-db": ("users_owner", "users_app")}


def chart_env(render: Render, container: Obj) -> dict[str, str]:
    """The environment a container gets, every secret resolved (rendered or EXTERNAL)."""
    return container_env(render, container, EXTERNAL)


def app_routes(env: dict[str, str]) -> tuple[Settings, set[str], set[str]]:
    """Build the real apps from the chart's env (no I/O): settings, API routes, metrics routes."""
    settings = Settings.from_env(env)
    app = create_app(settings)
    routes = {resource.canonical for resource in app.router.resources()}
    metrics = {resource.canonical for resource in create_metrics_app(Metrics()).router.resources()}
    return settings, routes, metrics


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("kind", ["Deployment", "Job"])
def test_env_is_exactly_what_the_app_reads(helm: Helm, profile: str, kind: str) -> None:
    render = helm.render(PROFILES[profile])
    env = chart_env(render, render.container(kind))
    unknown = set(env) - VARIABLE_NAMES
    assert not unknown, f"{kind} sets variables the app never reads: {sorted(unknown)}"
    missing = REQUIRED_ENV - set(env)
    assert not missing, f"{kind} lacks {sorted(missing)}"
    assert "DATABASE_URL" not in env, "the chart passes the password as PGPASSWORD, not in a URL"
    settings = Settings.from_env(env)  # parses, as the process would at start
    if kind == "Deployment":
        # What `serve` checks before it starts: keys, or an explicit opt-out.
        assert settings.auth_problem() is None
        assert not {"APP_DB_USER", "APP_DB_PASSWORD"} & set(env), "migrate-only settings"
    else:
        assert settings.app_db_user and settings.app_db_password
        assert "API_KEYS" not in env, "migrate needs no API key"


@pytest.mark.parametrize("profile", PROFILES)
def test_api_connects_as_the_app_role_and_the_job_as_the_owner(helm: Helm, profile: str) -> None:
    render = helm.render(PROFILES[profile])
    api = chart_env(render, render.container("Deployment"))
    job = chart_env(render, render.container("Job"))
    owner, app_role = ROLES.get(profile, ("user_service", "user_service_app"))
    assert (job["PGUSER"], job["APP_DB_USER"]) == (owner, app_role)
    assert api["PGUSER"] == app_role != owner
    # The API gets the password the Job gives the app role, never the owner's.
    assert api["PGPASSWORD"] == job["APP_DB_PASSWORD"] != job["PGPASSWORD"]


@pytest.mark.parametrize("profile", PROFILES)
def test_secrets_only_ever_come_from_a_secret(helm: Helm, profile: str) -> None:
    render = helm.render(PROFILES[profile])
    secret_names = {v.name for v in VARIABLES if v.secret}
    for kind in ("Deployment", "Job"):
        for name, entry in env_map(render.container(kind)).items():
            if name in secret_names:
                assert "value" not in entry, f"{kind} {name}"
                assert "secretKeyRef" in entry["valueFrom"], f"{kind} {name}"
    for config_map in render.all("ConfigMap"):
        assert not (secret_names | {"PGUSER"}) & set(config_map.get("data", {}))


def test_chart_settings_are_valid_for_the_app(default_render: Render) -> None:
    env = chart_env(default_render, default_render.container("Deployment"))
    settings, _, _ = app_routes(env)
    assert settings.use_libpq_env, "PGHOST must switch the app to the PG* variables"
    assert settings.log_level == "INFO"
    assert not settings.auth_disabled
    # One write key, whose digest is that of the key the chart keeps for humans.
    key = default_render.secret("user-service-api")["api-key"]
    [api_key] = settings.api_keys
    assert (api_key.name, api_key.scope.value) == ("admin", "write")
    assert api_key.digest == hashlib.sha256(key.encode()).digest()


def test_probes_hit_the_apps_real_routes_and_port(default_render: Render) -> None:
    container = default_render.container("Deployment")
    settings, routes, metrics_routes = app_routes(chart_env(default_render, container))
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": settings.port, "metrics": settings.metrics_port}
    assert (settings.port, settings.metrics_port) == (8080, 9090)
    expected = {
        "startupProbe": "/healthz",
        "livenessProbe": "/healthz",
        "readinessProbe": "/readyz",
    }
    for probe, path in expected.items():
        http_get = container[probe]["httpGet"]
        assert http_get["path"] == path
        assert http_get["path"] in routes
        assert ports[http_get["port"]] == settings.port
    annotations = default_render.one("Deployment")["spec"]["template"]["metadata"]["annotations"]
    # Scraped on the metrics port, where the metrics app serves it (and the API app does not).
    assert annotations["prometheus.io/path"] in metrics_routes
    assert annotations["prometheus.io/path"] not in routes
    assert int(annotations["prometheus.io/port"]) == settings.metrics_port


def test_port_default_matches_the_app_default(default_render: Render) -> None:
    app_default = next(v.default for v in VARIABLES if v.name == "PORT")
    assert default_render.one("ConfigMap", "user-service")["data"]["PORT"] == app_default


def test_metrics_port_is_wired_from_the_value(helm: Helm) -> None:
    render = helm.render({"metrics": {"port": 9102}})
    assert render.one("ConfigMap", "user-service")["data"]["METRICS_PORT"] == "9102"
    ports = {p["name"]: p["containerPort"] for p in render.container("Deployment")["ports"]}
    assert ports["metrics"] == 9102
    annotations = render.one("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == "9102"
    [port] = render.one("Service", "user-service-metrics")["spec"]["ports"]
    assert (port["name"], port["port"], port["targetPort"]) == ("metrics", 9102, "metrics")
    api_ports = render.one("Service", "user-service")["spec"]["ports"]
    assert [p["name"] for p in api_ports] == ["http"], "the API Service exposes no metrics"


def test_metrics_port_must_differ_from_the_api_port(helm: Helm) -> None:
    error = helm.render_error({"metrics": {"port": 8081}, "config": {"port": 8081}})
    assert "metrics.port (8081) must differ from config.port" in error


def test_readiness_probe_waits_longer_than_the_apps_db_ping(default_render: Render) -> None:
    container = default_render.container("Deployment")
    data = default_render.one("ConfigMap", "user-service")["data"]
    assert container["readinessProbe"]["timeoutSeconds"] > float(data["READINESS_TIMEOUT_SECONDS"])


def prestop_seconds(container: Obj) -> int:
    command = " ".join(container["lifecycle"]["preStop"]["exec"]["command"])
    match = re.search(r"sleep\((\d+)\)", command)
    assert match, command
    return int(match.group(1))


@pytest.mark.parametrize(
    ("prestop", "drain", "shutdown", "margin"), [(5, 5, 20, 5), (10, 15, 45, 3), (0, 0, 1, 0)]
)
def test_grace_period_covers_prestop_drain_and_shutdown(
    helm: Helm, prestop: int, drain: int, shutdown: int, margin: int
) -> None:
    render = helm.render(
        {
            "lifecycle": {"preStopSleepSeconds": prestop, "terminationMarginSeconds": margin},
            "config": {"drainDelaySeconds": drain, "shutdownTimeoutSeconds": shutdown},
        }
    )
    container = render.container("Deployment")
    data = render.one("ConfigMap", "user-service")["data"]
    grace = render.one("Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert prestop_seconds(container) == prestop
    assert (data["DRAIN_DELAY_SECONDS"], data["SHUTDOWN_TIMEOUT_SECONDS"]) == (
        str(drain),
        str(shutdown),
    )
    assert grace == prestop + drain + shutdown + margin


def test_explicit_grace_period_is_kept_when_long_enough(helm: Helm) -> None:
    render = helm.render({"terminationGracePeriodSeconds": 90})
    assert (
        render.one("Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 90
    )


def test_explicit_grace_period_too_short_fails(helm: Helm) -> None:
    error = helm.render_error({"terminationGracePeriodSeconds": 34})
    assert "terminationGracePeriodSeconds=34 is too short" in error
    assert "= 35" in error


def test_rolling_update_never_lowers_capacity(default_render: Render) -> None:
    strategy = default_render.one("Deployment")["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate"
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0


def test_topology_spread_is_soft_and_selects_the_api_pods(default_render: Render) -> None:
    template = default_render.one("Deployment")["spec"]["template"]
    constraints = template["spec"]["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in constraints} == {
        "kubernetes.io/hostname",
        "topology.kubernetes.io/zone",
    }
    for constraint in constraints:
        assert constraint["whenUnsatisfiable"] == "ScheduleAnyway"
        labels = template["metadata"]["labels"]
        assert all(labels[k] == v for k, v in constraint["labelSelector"]["matchLabels"].items())


def image_uid() -> int | None:
    """The numeric USER of the Dockerfile's final stage, if the Dockerfile exists."""
    dockerfile = REPO / "Dockerfile"
    if not dockerfile.exists():
        return None
    users = re.findall(r"^USER\s+(\d+)", dockerfile.read_text(), flags=re.MULTILINE)
    return int(users[-1]) if users else None


def test_every_app_image_pod_is_hardened(default_render: Render) -> None:
    uid = image_uid()
    checked = 0
    for owner, template in default_render.pod_templates():
        spec = template["spec"]
        assert spec["automountServiceAccountToken"] is False, owner["metadata"]["name"]
        if owner["kind"] == "StatefulSet":
            continue  # PostgreSQL: its own UID, checked below
        checked += 1
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True
        assert (pod["runAsUser"], pod["runAsGroup"], pod["fsGroup"]) == (10001, 10001, 10001)
        assert uid in (None, 10001), f"Dockerfile USER {uid} differs from the chart's 10001"
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in spec["containers"]:
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert sc.get("privileged", False) is False
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            volumes = {v["name"]: v for v in spec["volumes"]}
            assert "emptyDir" in volumes[mounts[TMP_MOUNT]], "read-only root: /tmp writable"
            assert container["resources"]["limits"]["memory"]
    assert checked == 3, "api Deployment, migration Job and helm test pod"


def test_postgresql_runs_as_its_image_user_non_root(default_render: Render) -> None:
    spec = default_render.one("StatefulSet")["spec"]["template"]["spec"]
    assert spec["securityContext"]["runAsUser"] == 999
    assert spec["securityContext"]["runAsNonRoot"] is True
    container = spec["containers"][0]
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    env = env_map(container)
    assert env["PGDATA"]["value"].startswith("/var/lib/postgresql/data/")
    data_mount = next(m for m in container["volumeMounts"] if m["name"] == "data")
    assert data_mount["mountPath"] == "/var/lib/postgresql/data"
    assert re.fullmatch(r"postgres:\d+\.\d+(-\w+)?", container["image"]), "pinned official image"


def test_config_change_rolls_the_pods(helm: Helm, default_render: Render) -> None:
    def checksum(render: Render) -> str:
        annotations = render.one("Deployment")["spec"]["template"]["metadata"]["annotations"]
        return str(annotations["checksum/config"])

    changed = helm.render({"config": {"logLevel": "DEBUG"}})
    assert checksum(changed) != checksum(default_render)
    assert checksum(helm.render()) == checksum(default_render)


def test_standard_labels_everywhere(default_render: Render) -> None:
    """The component label is there too, but not on release-wide objects (test_chart_names)."""
    for doc in default_render.docs:
        labels = doc["metadata"]["labels"]
        for key in (
            "app.kubernetes.io/name",
            "app.kubernetes.io/instance",
            "app.kubernetes.io/version",
            "app.kubernetes.io/managed-by",
            "helm.sh/chart",
        ):
            assert key in labels, f"{doc['kind']}/{doc['metadata']['name']} lacks {key}"


def test_selectors_hold_only_immutable_labels(default_render: Render) -> None:
    for kind in ("Deployment", "StatefulSet"):
        selector = default_render.one(kind)["spec"]["selector"]["matchLabels"]
        assert set(selector) == {
            "app.kubernetes.io/name",
            "app.kubernetes.io/instance",
            "app.kubernetes.io/component",
        }
