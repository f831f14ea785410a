"""The CloudNativePG mode (cnpg.*), as Helm 3 and 4 render it: a Cluster instead of the bundled
StatefulSet, optionally a transaction-mode Pooler in front; the API pods on the Pooler or the
-rw Service, the migration Job always on -rw; the credentials Secret CloudNativePG and both
pods read; the values that shape the Cluster; the connection budget with and without the
Pooler; and the rendered Cluster and Pooler valid for schemas/cnpg-*.schema.json (written by
this project from CloudNativePG's API reference).

With CNPG_CRD_SCHEMA_DIR pointing at a directory holding CloudNativePG's own CRD files
(postgresql.cnpg.io_clusters.yaml and postgresql.cnpg.io_poolers.yaml, from its
config/crd/bases/, never committed here), the renders of every ci/ profile are also checked
against the CRDs' openAPIV3Schema, made strict as the API server's field validation is.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.helpers import REPO

from .fake_apiserver import fake_apiserver
from .render import CHART, NAMESPACE, Helm, Obj, Render, container_env, env_map
from .test_chart_database import secret_object, server_render
from .test_chart_topology import install_notes

# scripts/ is no package (its scripts run standalone), so the validator is imported by path.
sys.path.insert(0, str(REPO / "scripts"))
import chart_helpers
import validate_manifests

pytestmark = pytest.mark.chart

CLUSTER = "user-service-cnpg"
RW = "user-service-cnpg-rw"
POOLER = "user-service-cnpg-pooler"
SECRET = "user-service-cnpg-credentials"
CNPG: Obj = {"postgresql": {"enabled": False}, "cnpg": {"enabled": True}}
POOLED: Obj = {
    "postgresql": {"enabled": False},
    "cnpg": {"enabled": True, "pooler": {"enabled": True}},
}
SCHEMAS = {
    "Cluster": REPO / "schemas" / "cnpg-cluster.schema.json",
    "Pooler": REPO / "schemas" / "cnpg-pooler.schema.json",
}
PROFILES = sorted(p for p in (CHART / "ci").glob("*-values.yaml"))
CNPG_PROFILES = [p for p in PROFILES if p.name.startswith("cnpg")]


def merged(*layers: Obj) -> Obj:
    """Values layered as -f files are (scripts/chart_helpers.py's merge, as Helm does it)."""
    return functools.reduce(chart_helpers.merge, layers, {})


def api_env(render: Render) -> dict[str, str]:
    return container_env(render, render.container("Deployment"))


def job_env(render: Render) -> dict[str, str]:
    return container_env(render, render.container("Job"))


# ---------------------------------------------------------------------------------------------
# Off by default; one database at a time
# ---------------------------------------------------------------------------------------------


def test_off_by_default(each_helm: Helm) -> None:
    render = each_helm.render()
    assert not render.has("Cluster")
    assert not render.has("Pooler")
    assert render.has("StatefulSet")
    assert "DB_TRANSACTION_POOLING" not in render.one("ConfigMap", "user-service")["data"]


def test_cnpg_replaces_the_bundled_postgresql(each_helm: Helm) -> None:
    render = each_helm.render(CNPG)
    cluster = render.one("Cluster", CLUSTER)
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    assert cluster["metadata"]["namespace"] == NAMESPACE
    assert cluster["metadata"]["labels"]["app.kubernetes.io/component"] == "cnpg"
    assert not render.has("StatefulSet")
    assert not render.has("Pooler")
    names = {d["metadata"]["name"] for d in render.all("Secret")}
    assert "user-service-postgresql" not in names
    assert not [
        n for n in render.all("NetworkPolicy") if n["metadata"]["name"].endswith("-postgresql")
    ]


def test_cnpg_needs_the_bundled_postgresql_off(helm: Helm) -> None:
    error = helm.render_error({"cnpg": {"enabled": True}})
    assert "cnpg.enabled=true needs postgresql.enabled=false" in error
    error = helm.render_error({"cnpg": {"pooler": {"enabled": True}}})
    assert "cnpg.pooler.enabled=true needs cnpg.enabled=true" in error


# ---------------------------------------------------------------------------------------------
# Wiring: the API pods and the migration Job
# ---------------------------------------------------------------------------------------------


def test_without_pooler_api_and_job_connect_to_rw(each_helm: Helm) -> None:
    render = each_helm.render(CNPG)
    api, job = api_env(render), job_env(render)
    assert (api["PGHOST"], api["PGPORT"], api["PGDATABASE"]) == (RW, "5432", "user_service")
    assert (job["PGHOST"], job["PGPORT"]) == (RW, "5432")
    assert "DB_TRANSACTION_POOLING" not in api
    assert "DB_TRANSACTION_POOLING" not in job


def test_with_pooler_api_goes_through_it_and_the_job_never_does(each_helm: Helm) -> None:
    render = each_helm.render(POOLED)
    api, job = api_env(render), job_env(render)
    assert api["PGHOST"] == POOLER
    assert api["DB_TRANSACTION_POOLING"] == "true"
    # The Job: the primary directly, without the pooling switch `migrate` refuses.
    assert job["PGHOST"] == RW
    assert job["PGPORT"] == "5432"
    assert "DB_TRANSACTION_POOLING" not in job
    # Every other setting of the API pods' ConfigMap reaches the Job unchanged.
    config = render.one("ConfigMap", "user-service")["data"]
    for name, value in config.items():
        if name not in {"PGHOST", "DB_TRANSACTION_POOLING"}:
            assert job[name] == value, name


def test_the_pooler_fronts_the_cluster_in_transaction_mode(each_helm: Helm) -> None:
    values = merged(
        POOLED,
        {"cnpg": {"pooler": {"instances": 3, "maxClientConn": 400, "defaultPoolSize": 15}}},
        {"cnpg": {"pooler": {"parameters": {"max_prepared_statements": 100}}}},
    )
    pooler = each_helm.render(values).one("Pooler", POOLER)
    spec = pooler["spec"]
    assert spec["cluster"] == {"name": CLUSTER}
    assert spec["type"] == "rw"
    assert spec["instances"] == 3
    assert spec["pgbouncer"]["poolMode"] == "transaction"
    assert spec["pgbouncer"]["parameters"] == {
        "max_client_conn": "400",
        "default_pool_size": "15",
        "max_prepared_statements": "100",
        # The defaults the failover test measured (values.yaml).
        "server_login_retry": "1",
        "server_connect_timeout": "3",
        "query_wait_timeout": "10",
    }
    (container,) = spec["template"]["spec"]["containers"]
    assert container["name"] == "pgbouncer"
    assert container["resources"]["limits"]["memory"] == "128Mi"
    # Default: two PgBouncers.
    assert each_helm.render(POOLED).one("Pooler")["spec"]["instances"] == 2


def test_turning_the_pooler_on_does_not_rerun_the_migration(helm: Helm) -> None:
    """The Job connects to -rw either way: its spec, and so its name, stay the same."""
    job = helm.render(CNPG).one("Job")
    pooled = helm.render(POOLED).one("Job")
    assert job["metadata"]["name"] == pooled["metadata"]["name"]


# ---------------------------------------------------------------------------------------------
# Credentials
# ---------------------------------------------------------------------------------------------


def test_generated_credentials_feed_cluster_api_and_job(each_helm: Helm) -> None:
    render = each_helm.render(CNPG)
    secret = render.one("Secret", SECRET)
    assert secret["type"] == "kubernetes.io/basic-auth"
    data = render.secret(SECRET)
    assert set(data) == {"username", "password", "app-password"}
    assert data["username"] == "user_service"
    assert len(data["password"]) == 32 and len(data["app-password"]) == 32
    assert data["password"] != data["app-password"]
    spec = render.one("Cluster")["spec"]
    assert spec["bootstrap"]["initdb"] == {
        "database": "user_service",
        "owner": "user_service",
        "secret": {"name": SECRET},
    }
    # The owner can create the app role: a managed role with CREATEROLE, password from the Secret.
    (role,) = spec["managed"]["roles"]
    assert role["name"] == "user_service"
    assert role["createrole"] is True and role["login"] is True
    assert role["superuser"] is False
    assert role["ensure"] == "present"
    assert role["passwordSecret"] == {"name": SECRET}
    api, job = api_env(render), job_env(render)
    assert (api["PGUSER"], api["PGPASSWORD"]) == ("user_service_app", data["app-password"])
    assert (job["PGUSER"], job["PGPASSWORD"]) == ("user_service", data["password"])
    assert (job["APP_DB_USER"], job["APP_DB_PASSWORD"]) == (
        "user_service_app",
        data["app-password"],
    )
    # A changed Secret rolls the API pods.
    annotations = render.one("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert "checksum/cnpg-secret" in annotations
    assert "checksum/postgresql-secret" not in annotations


def test_existing_secret_replaces_the_generated_one(each_helm: Helm) -> None:
    auth = {"existingSecret": "db-creds", "existingSecretAppPasswordKey": "app"}
    values = merged(CNPG, {"cnpg": {"auth": auth}})
    render = each_helm.render(values)
    assert not [s for s in render.all("Secret") if s["metadata"]["name"] == SECRET]
    spec = render.one("Cluster")["spec"]
    assert spec["bootstrap"]["initdb"]["secret"] == {"name": "db-creds"}
    assert spec["managed"]["roles"][0]["passwordSecret"] == {"name": "db-creds"}
    provided = {("db-creds", "password"): "owner-pw", ("db-creds", "app"): "app-pw"}
    api = container_env(render, render.container("Deployment"), provided)
    job = container_env(render, render.container("Job"), provided)
    assert api["PGPASSWORD"] == "app-pw"
    assert (job["PGUSER"], job["PGPASSWORD"], job["APP_DB_PASSWORD"]) == (
        "user_service",
        "owner-pw",
        "app-pw",
    )
    annotations = render.one("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert not [a for a in annotations if a.endswith("-secret") and a != "checksum/auth-secret"]


def test_upgrade_keeps_the_stored_passwords(each_helm: Helm, tmp_path: Path) -> None:
    stored_data = {"username": "user_service", "password": "kept-owner", "app-password": "kept-app"}
    stored = {(NAMESPACE, SECRET): secret_object(SECRET, stored_data)}
    with fake_apiserver(tmp_path, stored) as config:
        render = server_render(each_helm, config, CNPG)
    assert render.secret(SECRET)["password"] == "kept-owner"
    assert render.secret(SECRET)["app-password"] == "kept-app"


def test_role_names_and_database_are_values(helm: Helm) -> None:
    auth = {"username": "owner_x", "appUsername": "app_x", "database": "db_x"}
    render = helm.render(merged(CNPG, {"cnpg": {"auth": auth}}))
    spec = render.one("Cluster")["spec"]
    assert spec["bootstrap"]["initdb"]["owner"] == "owner_x"
    assert spec["bootstrap"]["initdb"]["database"] == "db_x"
    assert spec["managed"]["roles"][0]["name"] == "owner_x"
    assert render.secret(SECRET)["username"] == "owner_x"
    assert api_env(render)["PGUSER"] == "app_x"
    assert api_env(render)["PGDATABASE"] == "db_x"
    error = helm.render_error(merged(CNPG, {"cnpg": {"auth": {"appUsername": "user_service"}}}))
    assert 'the app role "user_service" must differ from the owner role' in error


# ---------------------------------------------------------------------------------------------
# The Cluster's shape
# ---------------------------------------------------------------------------------------------


def test_cluster_defaults(each_helm: Helm) -> None:
    spec = each_helm.render(CNPG).one("Cluster")["spec"]
    assert spec["instances"] == 3
    assert spec["postgresql"]["parameters"] == {"max_connections": "100"}
    assert "synchronous" not in spec["postgresql"]
    assert spec["storage"] == {"size": "8Gi"}
    assert spec["resources"]["requests"] == {"cpu": "100m", "memory": "256Mi"}
    assert "imageName" not in spec
    assert spec["monitoring"] == {"enablePodMonitor": False}


def test_cluster_values(helm: Helm) -> None:
    cnpg = {
        "instances": 5,
        "imageName": "ghcr.io/cloudnative-pg/postgresql:17.6",
        "storage": {"size": "50Gi", "storageClass": "fast"},
        "postgresql": {"parameters": {"max_connections": 300, "shared_buffers": "1GB"}},
        "resources": {"requests": {"cpu": "2", "memory": "4Gi"}},
    }
    spec = helm.render(merged(CNPG, {"cnpg": cnpg})).one("Cluster")["spec"]
    assert spec["instances"] == 5
    assert spec["imageName"] == "ghcr.io/cloudnative-pg/postgresql:17.6"
    assert spec["storage"] == {"size": "50Gi", "storageClass": "fast"}
    # Parameters are strings, as the CRD wants them, whatever YAML type the value had.
    assert spec["postgresql"]["parameters"] == {"max_connections": "300", "shared_buffers": "1GB"}
    assert spec["resources"]["requests"] == {"cpu": "2", "memory": "4Gi"}


def test_synchronous_replication_is_a_value(each_helm: Helm) -> None:
    sync = {"enabled": True, "method": "first", "number": 2, "dataDurability": "preferred"}
    spec = each_helm.render(merged(CNPG, {"cnpg": {"synchronous": sync}})).one("Cluster")["spec"]
    assert spec["postgresql"]["synchronous"] == {
        "method": "first",
        "number": 2,
        "dataDurability": "preferred",
    }
    assert "minSyncReplicas" not in spec and "maxSyncReplicas" not in spec
    error = each_helm.render_error(
        merged(CNPG, {"cnpg": {"instances": 2, "synchronous": {"enabled": True, "number": 2}}})
    )
    assert "cnpg.synchronous.number (2) must be at most cnpg.instances - 1 (1 standbys)" in error


@pytest.mark.parametrize(
    ("service_monitor", "explicit", "expected"),
    [(False, None, False), (True, None, True), (True, False, False), (False, True, True)],
)
def test_pod_monitor_follows_the_charts_monitoring(
    helm: Helm, service_monitor: bool, explicit: bool | None, expected: bool
) -> None:
    values = merged(
        CNPG,
        {"metrics": {"serviceMonitor": {"enabled": service_monitor}}},
        {"cnpg": {"monitoring": {"enablePodMonitor": explicit}}},
    )
    spec = helm.render(values).one("Cluster")["spec"]
    assert spec["monitoring"]["enablePodMonitor"] is expected


def test_reserved_roles_and_chart_owned_pooler_parameters_are_refused(helm: Helm) -> None:
    error = helm.render_error(merged(CNPG, {"cnpg": {"auth": {"username": "streaming_replica"}}}))
    assert 'cnpg.auth.username "streaming_replica" is a role CloudNativePG reserves' in error
    params = {"default_pool_size": "50"}
    error = helm.render_error(merged(POOLED, {"cnpg": {"pooler": {"parameters": params}}}))
    assert "cnpg.pooler.parameters.default_pool_size is set by the chart" in error


# ---------------------------------------------------------------------------------------------
# Connection budget
# ---------------------------------------------------------------------------------------------


def test_budget_without_pooler_is_the_clusters_max_connections(helm: Helm) -> None:
    # (maxReplicas + 1) * 10 + 10 reserved against max_connections 100.
    helm.render(merged(CNPG, {"autoscaling": {"maxReplicas": 8}}))
    error = helm.render_error(merged(CNPG, {"autoscaling": {"maxReplicas": 9}}))
    assert "connection budget exceeded: (pods 9 + maxSurge 1) * dbPoolMaxSize 10" in error
    assert "= 110 > database max_connections 100" in error
    assert "raise cnpg.postgresql.parameters.max_connections" in error
    more = {"cnpg": {"postgresql": {"parameters": {"max_connections": "110"}}}}
    helm.render(merged(CNPG, more, {"autoscaling": {"maxReplicas": 9}}))


def test_budget_with_pooler_counts_clients_against_pgbouncer(helm: Helm) -> None:
    # Clients: (maxReplicas + 1) * 10 against 2 * maxClientConn 100 = 200; max_connections
    # no longer limits the API pods.
    small = merged(POOLED, {"cnpg": {"pooler": {"maxClientConn": 100}}})
    helm.render(merged(small, {"autoscaling": {"maxReplicas": 19}}))
    error = helm.render_error(merged(small, {"autoscaling": {"maxReplicas": 20}}))
    assert "pooler client budget exceeded: (pods 20 + maxSurge 1) * dbPoolMaxSize 10 = 210" in error
    assert "> cnpg.pooler.instances 2 * cnpg.pooler.maxClientConn 100 = 200" in error
    assert "raise cnpg.pooler.maxClientConn or cnpg.pooler.instances" in error
    assert "connection budget exceeded" not in error


def test_budget_with_pooler_counts_server_connections_against_the_cluster(helm: Helm) -> None:
    # Servers: instances * (defaultPoolSize + reserve_pool_size) + 10 against max_connections.
    helm.render(merged(POOLED, {"cnpg": {"pooler": {"instances": 4, "defaultPoolSize": 22}}}))
    pooler = {"instances": 4, "defaultPoolSize": 20, "parameters": {"reserve_pool_size": "3"}}
    error = helm.render_error(merged(POOLED, {"cnpg": {"pooler": pooler}}))
    assert (
        "pooler server budget exceeded: cnpg.pooler.instances 4 * (cnpg.pooler.defaultPoolSize 20"
        " + reserve_pool_size 3) + connectionBudget.reservedConnections 10 = 102"
        " > max_connections 100" in error
    )
    assert "lower cnpg.pooler.defaultPoolSize or cnpg.pooler.instances" in error
    assert "raise cnpg.postgresql.parameters.max_connections" in error


def test_many_api_pods_fit_behind_the_pooler(helm: Helm) -> None:
    """What the Pooler is for: 40 API pods do not fit in max_connections 100, behind it they do."""
    many = {"autoscaling": {"maxReplicas": 40}}
    assert "connection budget exceeded" in helm.render_error(merged(CNPG, many))
    helm.render(merged(POOLED, many))


# ---------------------------------------------------------------------------------------------
# An external transaction-mode pooler
# ---------------------------------------------------------------------------------------------

EXTERNAL: Obj = {
    "postgresql": {"enabled": False},
    "externalDatabase": {"host": "pgbouncer.db", "existingSecret": "db", "port": 6432},
}


def test_external_transaction_pooling(each_helm: Helm) -> None:
    ext = {"transactionPooling": True, "migrationHost": "pg.db", "migrationPort": 5433}
    render = each_helm.render(merged(EXTERNAL, {"externalDatabase": ext}))
    config = render.one("ConfigMap", "user-service")["data"]
    assert (config["PGHOST"], config["PGPORT"]) == ("pgbouncer.db", "6432")
    assert config["DB_TRANSACTION_POOLING"] == "true"
    job = env_map(render.container("Job"))
    assert (job["PGHOST"]["value"], job["PGPORT"]["value"]) == ("pg.db", "5433")
    assert "DB_TRANSACTION_POOLING" not in job
    # Without it: nothing set, the Job on the same host as the API pods.
    render = each_helm.render(EXTERNAL)
    assert "DB_TRANSACTION_POOLING" not in render.one("ConfigMap", "user-service")["data"]
    assert env_map(render.container("Job"))["PGHOST"]["value"] == "pgbouncer.db"


def test_external_transaction_pooling_needs_a_direct_host_for_the_job(helm: Helm) -> None:
    values = merged(EXTERNAL, {"externalDatabase": {"transactionPooling": True}})
    assert "needs externalDatabase.migrationHost" in helm.render_error(values)
    render = helm.render(merged(values, {"migration": {"enabled": False}}))
    assert render.one("ConfigMap", "user-service")["data"]["DB_TRANSACTION_POOLING"] == "true"


# ---------------------------------------------------------------------------------------------
# Schemas
# ---------------------------------------------------------------------------------------------


def schema_errors(document: Obj, schema: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(schema)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def custom_resources(render: Render) -> list[Obj]:
    return render.all("Cluster") + render.all("Pooler")


@pytest.mark.parametrize("profile", CNPG_PROFILES, ids=lambda p: p.name)
def test_rendered_resources_are_valid_for_our_schemas(each_helm: Helm, profile: Path) -> None:
    values = yaml.safe_load(profile.read_text())
    resources = custom_resources(each_helm.render(values))
    assert {r["kind"] for r in resources} >= {"Cluster"}
    for resource in resources:
        schema = json.loads(SCHEMAS[resource["kind"]].read_text())
        assert schema_errors(resource, schema) == [], resource["kind"]


def test_the_ci_profiles_cover_both_kinds() -> None:
    kinds = set()
    for profile in CNPG_PROFILES:
        cnpg = yaml.safe_load(profile.read_text())["cnpg"]
        kinds |= {"Cluster"} | ({"Pooler"} if cnpg.get("pooler", {}).get("enabled") else set())
    assert kinds == {"Cluster", "Pooler"}


def spoiled(resource: Obj, path: tuple[str, ...], wrong: Obj) -> Obj:
    """A copy of `resource` with `wrong` written into the object at `path`."""
    broken: Obj = json.loads(json.dumps(resource))
    target = broken
    for key in path:
        target = target[key]
    target.update(wrong)
    return broken


def test_our_schemas_are_strict(helm: Helm) -> None:
    render = helm.render(POOLED)
    cluster, pooler = render.one("Cluster"), render.one("Pooler")
    cluster_schema = json.loads(SCHEMAS["Cluster"].read_text())
    pooler_schema = json.loads(SCHEMAS["Pooler"].read_text())
    for path, wrong in (
        (("spec",), {"instance": 3}),
        (("spec", "postgresql"), {"synchronous": {"method": "all", "number": 1}}),
        (("spec", "bootstrap", "initdb"), {"ownr": "x"}),
        (("spec", "postgresql", "parameters"), {"max_connections": 100}),
        (("spec", "monitoring"), {"enablePodMonitor": "true"}),
    ):
        assert schema_errors(spoiled(cluster, path, wrong), cluster_schema), (path, wrong)
    for path, wrong in (
        (("spec", "pgbouncer"), {"poolMode": "statement"}),
        (("spec",), {"type": "rx"}),
        (("spec", "pgbouncer", "parameters"), {"max_client_conn": 1000}),
    ):
        assert schema_errors(spoiled(pooler, path, wrong), pooler_schema), (path, wrong)
    # validate_manifests (scripts/verify-chart.sh, step 3) routes both kinds to these schemas.
    for kind, schema in SCHEMAS.items():
        assert validate_manifests.CRD_SCHEMAS[("postgresql.cnpg.io/v1", kind)] == schema


# ---------------------------------------------------------------------------------------------
# Optional: CloudNativePG's own CRDs (CNPG_CRD_SCHEMA_DIR)
# ---------------------------------------------------------------------------------------------

CRD_FILES = {
    "Cluster": "postgresql.cnpg.io_clusters.yaml",
    "Pooler": "postgresql.cnpg.io_poolers.yaml",
}


def strict(schema: Any) -> Any:
    """An openAPIV3Schema as the API server applies it with strict field validation: an object
    with properties and nothing that keeps unknown fields refuses other fields."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) for k, v in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def crd_schema(kind: str) -> dict[str, Any]:
    directory = os.environ.get("CNPG_CRD_SCHEMA_DIR")
    if not directory:
        pytest.skip("CNPG_CRD_SCHEMA_DIR is not set (CloudNativePG's CRD files, not committed)")
    crd = yaml.safe_load((Path(directory) / CRD_FILES[kind]).read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    schema = strict(version["schema"]["openAPIV3Schema"])
    # metadata is ObjectMeta, which the CRD leaves open: our own check covers it.
    schema["properties"]["metadata"] = {"type": "object"}
    return dict(schema)


@pytest.mark.parametrize("profile", CNPG_PROFILES, ids=lambda p: p.name)
def test_rendered_resources_are_valid_for_cloudnativepgs_crds(
    each_helm: Helm, profile: Path
) -> None:
    values = yaml.safe_load(profile.read_text())
    for resource in custom_resources(each_helm.render(values)):
        assert schema_errors(resource, crd_schema(resource["kind"])) == [], resource["kind"]


def test_notes_name_the_cluster_where_each_part_connects_and_the_owner_password(
    tmp_path: Path,
) -> None:
    notes = install_notes(POOLED, tmp_path)
    assert f"kubectl -n user-service get cluster {CLUSTER}" in notes
    assert f"The API pods connect to {POOLER} (the Pooler: PgBouncer in transaction mode);" in notes
    assert f"\nthe migration Job to {CLUSTER}-rw." in notes
    assert f"get secret {SECRET} -o jsonpath='{{.data.password}}'" in notes
    direct = install_notes(merged(CNPG, {"cnpg": {"auth": {"existingSecret": "mine"}}}), tmp_path)
    assert f"The API pods connect to {CLUSTER}-rw;\nthe migration Job to {CLUSTER}-rw." in direct
    assert "Owner password" not in direct
