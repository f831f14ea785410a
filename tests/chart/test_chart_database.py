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


def secret_password(render: Render) -> str:
    return base64.b64decode(render.one("Secret")["data"]["password"]).decode()


def test_generated_secret_feeds_app_job_and_postgresql(default_render: Render) -> None:
    secret = default_render.one("Secret")
    name = secret["metadata"]["name"]
    assert set(secret["data"]) == {"username", "password"}
    assert len(secret_password(default_render)) == 32
    # Kept on uninstall: the retained PostgreSQL volume only accepts this password.
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    for kind in ("Deployment", "Job"):
        env = env_map(default_render.container(kind))
        assert env["PGUSER"]["valueFrom"]["secretKeyRef"] == {"name": name, "key": "username"}
        assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": name, "key": "password"}
    pg_spec = default_render.one("StatefulSet")["spec"]["template"]["spec"]
    volume = next(v for v in pg_spec["volumes"] if v["name"] == "password")
    assert volume["secret"]["secretName"] == name
    assert env_map(pg_spec["containers"][0])["POSTGRES_PASSWORD_FILE"]["value"].endswith(
        "/password"
    )


def secret_checksum(render: Render) -> str:
    annotations = render.one("Deployment")["spec"]["template"]["metadata"]["annotations"]
    return str(annotations["checksum/secret"])


def test_secret_checksum_hashes_the_password_the_secret_holds(
    helm: Helm, default_render: Render
) -> None:
    """The generated password is memoised within a render: the checksum annotation and the
    Secret see the same one (else the first upgrade would roll every pod for nothing)."""
    generated = secret_password(default_render)
    explicit = helm.render({"postgresql": {"auth": {"password": generated}}})
    assert secret_checksum(explicit) == secret_checksum(default_render)
    other = helm.render({"postgresql": {"auth": {"password": generated + "x"}}})
    assert secret_checksum(other) != secret_checksum(default_render)


def test_postgresql_is_not_restarted_for_a_secret_change(default_render: Render) -> None:
    annotations = default_render.one("StatefulSet")["spec"]["template"]["metadata"]
    assert "checksum/secret" not in annotations.get("annotations", {})


def test_existing_secret_replaces_the_generated_one(helm: Helm) -> None:
    render = helm.render(
        {"postgresql": {"auth": {"existingSecret": "pg-creds", "existingSecretPasswordKey": "pw"}}}
    )
    assert not render.has("Secret")
    for kind in ("Deployment", "Job"):
        env = env_map(render.container(kind))
        assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "pg-creds", "key": "pw"}
        assert env["PGUSER"]["value"] == "user_service"
    pg_spec = render.one("StatefulSet")["spec"]["template"]["spec"]
    volume = next(v for v in pg_spec["volumes"] if v["name"] == "password")
    assert volume["secret"]["secretName"] == "pg-creds"
    assert volume["secret"]["items"] == [{"key": "pw", "path": "password"}]
    annotations = render.one("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert "checksum/secret" not in annotations


def test_external_database(helm: Helm) -> None:
    render = helm.render(
        {
            "postgresql": {"enabled": False},
            "externalDatabase": {
                "host": "db.example.com",
                "port": 6432,
                "database": "users",
                "user": "app",
                "existingSecret": "db-creds",
                "existingSecretPasswordKey": "secret",
            },
        }
    )
    assert not render.has("StatefulSet")
    assert not render.has("Secret")
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
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "db-creds", "key": "secret"}


@pytest.mark.parametrize("missing", ["host", "existingSecret"])
def test_external_database_needs_host_and_secret(helm: Helm, missing: str) -> None:
    external = {"host": "db.example.com", "existingSecret": "db-creds"}
    external[missing] = ""
    error = helm.render_error({"postgresql": {"enabled": False}, "externalDatabase": external})
    assert missing in error


def secret_object(password: str) -> dict[str, Any]:
    encode = base64.b64encode
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        # Ownership metadata as Helm leaves it on the Secret of an installed release (helm 4
        # checks it before it would adopt the object).
        "metadata": {
            "name": "user-service-db",
            "namespace": NAMESPACE,
            "labels": {"app.kubernetes.io/managed-by": "Helm"},
            "annotations": {
                "meta.helm.sh/release-name": "user-service",
                "meta.helm.sh/release-namespace": NAMESPACE,
            },
        },
        "data": {
            "username": encode(b"user_service").decode(),
            "password": encode(password.encode()).decode(),
        },
    }


def server_render(helm: Helm, kubeconfig: Path, values: dict[str, Any] | None = None) -> Render:
    # helm 4 builds the objects against discovery; the fake server has no OpenAPI schemas.
    return helm.render(
        values,
        "--dry-run=server",
        "--disable-openapi-validation",
        "--kubeconfig",
        str(kubeconfig),
    )


def test_upgrade_keeps_the_stored_password(each_helm: Helm, tmp_path: Path) -> None:
    """What `helm upgrade` sees: lookup finds the release's Secret and reuses its password."""
    stored = "stored-password-from-first-install"
    with fake_apiserver(
        tmp_path, {(NAMESPACE, "user-service-db"): secret_object(stored)}
    ) as config:
        first = server_render(each_helm, config)
        second = server_render(each_helm, config)
    assert secret_password(first) == stored
    assert first.one("Secret") == second.one("Secret")
    assert secret_checksum(first) == secret_checksum(second), "no roll for an unchanged Secret"


def test_first_install_generates_a_password(each_helm: Helm, tmp_path: Path) -> None:
    """What `helm install` sees: no Secret yet (404), so a random one is generated."""
    with fake_apiserver(tmp_path, {}) as config:
        passwords = {secret_password(server_render(each_helm, config)) for _ in range(2)}
    assert len(passwords) == 2
    assert all(len(p) == 32 for p in passwords)


def test_explicit_password_wins_over_the_stored_one(each_helm: Helm, tmp_path: Path) -> None:
    stored = secret_object("old")
    with fake_apiserver(tmp_path, {(NAMESPACE, "user-service-db"): stored}) as config:
        render = server_render(each_helm, config, {"postgresql": {"auth": {"password": "new-one"}}})
    assert secret_password(render) == "new-one"


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
