"""Database wiring: generated vs existing Secret, external database, password kept across
upgrades (real helm `lookup` against a fake API server), and the connection budget."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from .fake_apiserver import fake_apiserver
from .render import NAMESPACE, Helm, Render, env_map

pytestmark = pytest.mark.chart


def secret_password(render: Render, key: str = "password") -> str:
    return render.secret("user-service-postgresql")[key]


def test_generated_secret_feeds_app_job_and_postgresql(default_render: Render) -> None:
    secret = default_render.one("Secret", "user-service-postgresql")
    assert set(secret["data"]) == {"username", "password", "app-password"}
    assert len(secret_password(default_render)) == 32
    assert len(secret_password(default_render, "app-password")) == 32
    assert secret_password(default_render) != secret_password(default_render, "app-password")
    # Kept on uninstall: the retained PostgreSQL volume only accepts this password.
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    # The API pods: the app role, with its password from the release's Secret.
    api = env_map(default_render.container("Deployment"))
    assert api["PGUSER"] == {"name": "PGUSER", "value": "user_service_app"}
    assert api["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "user-service-postgresql",
        "key": "app-password",
    }
    # The migration Job: the owner, and the app role's name and password, from the same Secret.
    job = env_map(default_render.container("Job"))
    for name, key in (("PGUSER", "username"), ("PGPASSWORD", "password")):
        ref = {"name": "user-service-postgresql", "key": key}
        assert job[name]["valueFrom"]["secretKeyRef"] == ref
    assert job["APP_DB_USER"]["value"] == "user_service_app"
    assert job["APP_DB_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "user-service-postgresql",
        "key": "app-password",
    }
    pg_spec = default_render.one("StatefulSet")["spec"]["template"]["spec"]
    volume = next(v for v in pg_spec["volumes"] if v["name"] == "password")
    assert volume["secret"]["secretName"] == "user-service-postgresql"
    assert volume["secret"]["items"] == [{"key": "password", "path": "password"}]
    assert env_map(pg_spec["containers"][0])["POSTGRES_PASSWORD_FILE"]["value"].endswith(
        "/password"
    )


def test_app_role_must_not_be_the_owner(helm: Helm) -> None:
    error = helm.render_error({"postgresql": {"auth": {"appUsername": "user_service"}}})
    assert 'the app role "user_service" must differ from the owner role' in error
    external = {
        "postgresql": {"enabled": False},
        "externalDatabase": {
            "host": "db",
            "existingSecret": "s",
            "user": "owner",
            "appUser": "owner",
        },
    }
    assert 'the app role "owner" must differ' in helm.render_error(external)


def secret_checksum(render: Render) -> str:
    annotations = render.one("Deployment")["spec"]["template"]["metadata"]["annotations"]
    return str(annotations["checksum/postgresql-secret"])


def test_secret_checksum_hashes_the_password_the_secret_holds(
    helm: Helm, default_render: Render
) -> None:
    """The generated password is memoised within a render: the checksum annotation and the
    Secret see the same one (else the first upgrade would roll every pod for nothing)."""
    generated = {
        "password": secret_password(default_render),
        "appPassword": secret_password(default_render, "app-password"),
    }
    explicit = helm.render({"postgresql": {"auth": generated}})
    assert secret_checksum(explicit) == secret_checksum(default_render)
    for changed in ("password", "appPassword"):
        other = {**generated, changed: generated[changed] + "x"}
        assert secret_checksum(helm.render({"postgresql": {"auth": other}})) != secret_checksum(
            default_render
        )


def test_postgresql_is_not_restarted_for_a_secret_change(default_render: Render) -> None:
    annotations = default_render.one("StatefulSet")["spec"]["template"]["metadata"]
    assert "checksum/postgresql-secret" not in annotations.get("annotations", {})


def db_refs(render: Render, kind: str) -> dict[str, object]:
    """Each credential variable of a container: its plain value or its (Secret, key)."""
    refs: dict[str, object] = {}
    for name, entry in env_map(render.container(kind)).items():
        if name in {"PGUSER", "PGPASSWORD", "APP_DB_USER", "APP_DB_PASSWORD"}:
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            refs[name] = (ref["name"], ref["key"]) if ref else entry["value"]
    return refs


def test_existing_secret_replaces_the_generated_one(helm: Helm) -> None:
    render = helm.render(
        {
            "postgresql": {
                "auth": {
                    "existingSecret": "pg-creds",
                    "existingSecretPasswordKey": "pw",
                    "existingSecretAppPasswordKey": "app-pw",
                }
            }
        }
    )
    # No database Secret of the chart's.
    assert {s["metadata"]["name"] for s in render.all("Secret")} == {"user-service-api"}
    assert db_refs(render, "Job") == {
        "PGUSER": "user_service",
        "PGPASSWORD": ("pg-creds", "pw"),
        "APP_DB_USER": "user_service_app",
        "APP_DB_PASSWORD": ("pg-creds", "app-pw"),
    }
    assert db_refs(render, "Deployment") == {
        "PGUSER": "user_service_app",
        "PGPASSWORD": ("pg-creds", "app-pw"),
    }
    pg_spec = render.one("StatefulSet")["spec"]["template"]["spec"]
    volume = next(v for v in pg_spec["volumes"] if v["name"] == "password")
    assert volume["secret"]["secretName"] == "pg-creds"
    assert volume["secret"]["items"] == [{"key": "pw", "path": "password"}]
    annotations = render.one("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert "checksum/postgresql-secret" not in annotations


def test_external_database(helm: Helm) -> None:
    render = helm.render(
        {
            "postgresql": {"enabled": False},
            "externalDatabase": {
                "host": "db.example.com",
                "port": 6432,
                "database": "users",
                "user": "owner",
                "appUser": "app",
                "existingSecret": "db-creds",
                "existingSecretPasswordKey": "secret",
                "existingSecretAppPasswordKey": "app-secret",
            },
        }
    )
    assert not render.has("StatefulSet")
    assert {s["metadata"]["name"] for s in render.all("Secret")} == {"user-service-api"}
    assert {n["metadata"]["name"] for n in render.all("NetworkPolicy")} == {
        "user-service",
        "user-service-default-deny",
    }
    data = render.one("ConfigMap", "user-service")["data"]
    assert (data["PGHOST"], data["PGPORT"], data["PGDATABASE"]) == (
        "db.example.com",
        "6432",
        "users",
    )
    env = env_map(render.container("Job"))
    assert env["PGHOST"]["value"] == "db.example.com"
    # The Job migrates as the owner (which needs CREATEROLE) and creates the app role.
    assert db_refs(render, "Job") == {
        "PGUSER": "owner",
        "PGPASSWORD": ("db-creds", "secret"),
        "APP_DB_USER": "app",
        "APP_DB_PASSWORD": ("db-creds", "app-secret"),
    }
    assert db_refs(render, "Deployment") == {
        "PGUSER": "app",
        "PGPASSWORD": ("db-creds", "app-secret"),
    }


@pytest.mark.parametrize("missing", ["host", "existingSecret"])
def test_external_database_needs_host_and_secret(helm: Helm, missing: str) -> None:
    external = {"host": "db.example.com", "existingSecret": "db-creds"}
    external[missing] = ""
    error = helm.render_error({"postgresql": {"enabled": False}, "externalDatabase": external})
    assert missing in error


def secret_object(name: str, data: dict[str, str]) -> dict[str, Any]:
    encode = base64.b64encode
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        # Ownership metadata as Helm leaves it on the Secret of an installed release (helm 4
        # checks it before it would adopt the object).
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "labels": {"app.kubernetes.io/managed-by": "Helm"},
            "annotations": {
                "meta.helm.sh/release-name": "user-service",
                "meta.helm.sh/release-namespace": NAMESPACE,
            },
        },
        "data": {key: encode(value.encode()).decode() for key, value in data.items()},
    }


def db_secret(password: str, app_password: str | None = None) -> dict[str, Any]:
    """The release's database Secret as a cluster holds it (chart 0.1 had no app-password)."""
    data = {"username": "user_service", "password": password}
    if app_password is not None:
        data["app-password"] = app_password
    return secret_object("user-service-postgresql", data)


def server_render(helm: Helm, kubeconfig: Path, values: dict[str, Any] | None = None) -> Render:
    # helm 4 builds the objects against discovery; the fake server has no OpenAPI schemas.
    return helm.render(
        values,
        "--dry-run=server",
        "--disable-openapi-validation",
        "--kubeconfig",
        str(kubeconfig),
    )


def test_upgrade_keeps_the_stored_passwords(each_helm: Helm, tmp_path: Path) -> None:
    """What `helm upgrade` sees: lookup finds the release's Secret and reuses its passwords."""
    stored = {(NAMESPACE, "user-service-postgresql"): db_secret("stored-owner", "stored-app")}
    with fake_apiserver(tmp_path, stored) as config:
        first = server_render(each_helm, config)
        second = server_render(each_helm, config)
    assert secret_password(first) == "stored-owner"
    assert secret_password(first, "app-password") == "stored-app"
    assert first.one("Secret", "user-service-postgresql") == second.one(
        "Secret", "user-service-postgresql"
    )
    assert secret_checksum(first) == secret_checksum(second), "no roll for an unchanged Secret"


def test_upgrade_from_a_chart_without_app_role(each_helm: Helm, tmp_path: Path) -> None:
    """Upgrading from chart 0.1 (no app-password stored): the owner password is kept, and an app
    password is generated once; the Job, applied with the Secret, reads it from there."""
    stored = {(NAMESPACE, "user-service-postgresql"): db_secret("stored-owner")}
    with fake_apiserver(tmp_path, stored) as config:
        render = server_render(each_helm, config)
    assert secret_password(render) == "stored-owner"
    app_password = secret_password(render, "app-password")
    assert len(app_password) == 32
    job = env_map(render.container("Job"))
    assert job["APP_DB_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "user-service-postgresql"


def test_first_install_generates_passwords(each_helm: Helm, tmp_path: Path) -> None:
    """What `helm install` sees: no Secret yet (404), so random ones are generated."""
    with fake_apiserver(tmp_path, {}) as config:
        renders = [server_render(each_helm, config) for _ in range(2)]
    for key in ("password", "app-password"):
        passwords = {secret_password(render, key) for render in renders}
        assert len(passwords) == 2
        assert all(len(p) == 32 for p in passwords)


def test_explicit_passwords_win_over_the_stored_ones(each_helm: Helm, tmp_path: Path) -> None:
    stored = {(NAMESPACE, "user-service-postgresql"): db_secret("old", "old-app")}
    values = {"postgresql": {"auth": {"password": "new-one", "appPassword": "new-app"}}}
    with fake_apiserver(tmp_path, stored) as config:
        render = server_render(each_helm, config, values)
    assert secret_password(render) == "new-one"
    assert secret_password(render, "app-password") == "new-app"


def budget_values(max_replicas: int, **extra: Any) -> dict[str, Any]:
    return {"autoscaling": {"maxReplicas": max_replicas}, **extra}


def test_connection_budget_boundary(helm: Helm) -> None:
    # (maxReplicas + maxSurge 1) * pool 10 + reserved 10 <= max_connections 100
    helm.render(budget_values(8))
    error = helm.render_error(budget_values(9))
    assert "connection budget exceeded" in error
    assert "= 110 > database max_connections 100" in error


def test_connection_budget_follows_its_inputs(helm: Helm) -> None:
    # A bigger database, a smaller pool or HPA off (replicaCount instead) each make room again.
    helm.render(budget_values(9, postgresql={"maxConnections": 110}))
    helm.render(budget_values(17, config={"dbPoolMaxSize": 5}))
    helm.render({"autoscaling": {"enabled": False, "maxReplicas": 50}, "replicaCount": 3})
    error = helm.render_error({"autoscaling": {"enabled": False}, "replicaCount": 9})
    assert "connection budget exceeded" in error
    external = {
        "postgresql": {"enabled": False},
        "externalDatabase": {"host": "db", "existingSecret": "s", "maxConnections": 500},
    }
    helm.render(budget_values(40, **external))
    assert "connection budget" in helm.render_error(budget_values(50, **external))


def test_postgresql_max_connections_is_what_the_budget_checks(default_render: Render) -> None:
    container = default_render.container("StatefulSet")
    assert container["args"] == ["-c", "max_connections=100"]
