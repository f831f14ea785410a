"""The harness itself, offline (helm, no Docker): the rendered pods become the docker flags the
spec asks for, and every field it cannot honour fails loudly, naming the field."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from tests.chart.render import NAMESPACE, Helm

from .release import run_values
from .spec import Manifests, Obj, PodConfigError, PodPlan, Unsupported, expand, plan_pod

pytestmark = pytest.mark.pods

PASSWORD = "not-a-real-secret-0123"
IMAGE_USER = "10001:10001"


@pytest.fixture(scope="module")
def manifests(pods_helm: Helm) -> Manifests:
    values = run_values("dev", "user-service/postgres-standin:15", PASSWORD)
    return Manifests(pods_helm.render(values).docs, NAMESPACE)


def plan(manifests: Manifests, kind: str, image_user: str = IMAGE_USER) -> PodPlan:
    return plan_pod(manifests.one(kind), manifests, f"{kind.lower()}-0", image_user=image_user)


def flag(options: list[str], name: str) -> list[str]:
    """Every value given to a docker flag."""
    return [options[i + 1] for i, option in enumerate(options) if option == name]


def test_app_pod_becomes_the_docker_flags_of_its_spec(manifests: Manifests) -> None:
    app = plan(manifests, "Deployment")
    assert app.command is None and app.args == ["serve"]  # the image's ENTRYPOINT stays
    assert flag(app.options, "--user") == ["10001:10001"]
    assert flag(app.options, "--group-add") == ["10001"]  # fsGroup
    assert "--read-only" in app.options
    assert flag(app.options, "--cap-drop") == ["ALL"]
    assert flag(app.options, "--security-opt") == ["no-new-privileges"]  # RuntimeDefault seccomp
    assert flag(app.options, "--cpus") == ["1"]
    assert flag(app.options, "--memory") == flag(app.options, "--memory-swap") == [str(256 << 20)]
    assert flag(app.options, "--cpu-shares") == ["512"]  # 500m, the kubelet's conversion
    assert [(m.path, m.kind, m.size) for m in app.mounts] == [("/tmp", "tmpfs", 64 << 20)]  # noqa: S108
    # envFrom the ConfigMap, secretKeyRef from the Secret, Service links for ClusterIP Services.
    assert app.env["PGHOST"] == "user-service-postgresql"
    assert app.env["LOG_LEVEL"] == "INFO"
    for var in container(manifests.one("Deployment"))["env"]:
        if ref := var.get("valueFrom", {}).get("secretKeyRef"):
            assert (
                app.env[var["name"]] == (manifests.secret(ref["name"]) or {})[ref["key"]].decode()
            )
    assert app.env["PGPASSWORD"] in (PASSWORD, f"{PASSWORD}-app")  # owner or app role
    assert app.env["USER_SERVICE_PORT"].startswith("tcp://")
    assert "USER_SERVICE_POSTGRESQL_SERVICE_HOST" not in app.env  # headless: no variables
    assert app.ports["http"] == app.ports["8080"] == 8080
    assert app.probes["readiness"].target == ("/readyz",) and app.probes["readiness"].period == 1
    assert app.probes["liveness"].target == ("/healthz",)
    assert app.pre_stop == ("python", "-c", "import time; time.sleep(2)")
    assert app.grace == 2 + 2 + 5 + 2  # preStop + drain + shutdown + margin
    assert app.restart_policy == "Always"
    assert "user-service" in app.aliases
    assert "user-service.user-service.svc.cluster.local" in app.aliases


def test_database_pod_gets_its_secret_file_claim_and_stable_name(manifests: Manifests) -> None:
    db = plan_pod(
        manifests.one("StatefulSet"), manifests, "user-service-postgresql-0", image_user="999"
    )
    assert db.command is None and db.args == ["-c", "max_connections=100"]
    assert flag(db.options, "--user") == ["999:999"]
    assert "PGPASSWORD" not in db.env and "POSTGRES_PASSWORD" not in db.env
    assert db.env["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgresql/password"
    mounts = {m.path: m for m in db.mounts}
    assert mounts["/run/secrets/postgresql"].files == {"password": (PASSWORD.encode(), 0o440)}
    assert mounts["/run/secrets/postgresql"].read_only
    assert (
        mounts["/var/lib/postgresql/data"].claim,
        mounts["/var/lib/postgresql/data"].claim_bytes,
    ) == ("data", 1 << 30)
    assert db.fs_group == 999 and db.fs_group_change_policy == "OnRootMismatch"
    assert db.probes["readiness"].handler == "exec"
    assert "user-service-postgresql" in db.aliases
    assert "user-service-postgresql-0.user-service-postgresql" in db.aliases


def test_migration_job_pod_runs_once(manifests: Manifests) -> None:
    job = plan(manifests, "Job")
    assert job.restart_policy == "Never"
    assert job.args == ["migrate", "--wait-timeout", "180"]
    assert job.env["LOG_LEVEL"] == "INFO" and job.env["PGPASSWORD"] == PASSWORD


def container(doc: Obj) -> Obj:
    spec: Obj = doc["spec"]["template"]["spec"]["containers"][0]
    return spec


def pod_spec(doc: Obj) -> Obj:
    spec: Obj = doc["spec"]["template"]["spec"]
    return spec


POD = "spec.template.spec"
C = f"{POD}.containers.0"
RESOURCE_REF = {"name": "X", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}
POD_IP = {"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
# (id, where in the rendered Deployment, keys set there (None: removed), the field the error names)
MUTATIONS: list[tuple[str, str, Obj, str]] = [
    ("hostNetwork", POD, {"hostNetwork": True}, f"{POD}.hostNetwork"),
    ("initContainers", POD, {"initContainers": []}, f"{POD}.initContainers"),
    ("nodeSelector", POD, {"nodeSelector": {"disk": "ssd"}}, f"{POD}.nodeSelector"),
    ("token", POD, {"automountServiceAccountToken": None}, "automountServiceAccountToken"),
    ("hard spread", f"{POD}.topologySpreadConstraints.0",
     {"whenUnsatisfiable": "DoNotSchedule"}, "topologySpreadConstraints[0]"),
    ("hostPath", f"{POD}.volumes.0", {"hostPath": {"path": "/"}}, "volumes[0].hostPath"),
    ("minReadySeconds", "spec", {"minReadySeconds": 5}, "spec.minReadySeconds"),
    ("stdin", C, {"stdin": True}, "containers[0].stdin"),
    ("pull Always", C, {"imagePullPolicy": "Always"}, "containers[0].imagePullPolicy"),
    ("subPath", f"{C}.volumeMounts.0", {"subPath": "x"}, "volumeMounts[0].subPath"),
    ("grpc probe", C, {"readinessProbe": {"grpc": {"port": 8080}}}, "readinessProbe.grpc"),
    ("probe headers", f"{C}.livenessProbe.httpGet", {"httpHeaders": []}, "httpGet.httpHeaders"),
    ("undeclared port", f"{C}.livenessProbe.httpGet", {"port": 9999}, "httpGet.port"),
    ("postStart", f"{C}.lifecycle", {"postStart": {}}, "lifecycle.postStart"),
    ("ephemeral-storage", f"{C}.resources.limits",
     {"ephemeral-storage": "1Gi"}, "limits.ephemeral-storage"),
    ("SELinux", f"{C}.securityContext", {"seLinuxOptions": {}}, "seLinuxOptions"),
    ("seccomp Localhost", f"{C}.securityContext",
     {"seccompProfile": {"type": "Localhost"}}, "seccompProfile.type"),
    ("resourceFieldRef", C, {"env": [RESOURCE_REF]}, "env[0].valueFrom.resourceFieldRef"),
    ("status.podIP", C, {"env": [POD_IP]}, "valueFrom.fieldRef.fieldPath"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("where", "updates", "field"), [m[1:] for m in MUTATIONS], ids=[m[0] for m in MUTATIONS]
)
def test_unhonoured_pod_fields_fail_loudly(
    manifests: Manifests, where: str, updates: Obj, field: str
) -> None:
    deployment = copy.deepcopy(manifests.one("Deployment"))
    target: Any = deployment
    for part in where.split("."):
        target = target[int(part)] if part.isdigit() else target[part]
    for key, value in updates.items():
        if value is None:
            del target[key]
        else:
            target[key] = value
    with pytest.raises(Unsupported, match=re.escape(field)):
        plan_pod(deployment, manifests, "pod-0", image_user=IMAGE_USER)


def test_unhonoured_objects_fail_loudly(manifests: Manifests) -> None:
    cron = {"kind": "CronJob", "metadata": {"name": "nightly"}}
    with pytest.raises(Unsupported, match="kind CronJob"):
        Manifests([*manifests.docs, cron], NAMESPACE)
    statefulset = copy.deepcopy(manifests.one("StatefulSet"))
    statefulset["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] = "fast"
    with pytest.raises(Unsupported, match="storageClassName"):
        plan_pod(statefulset, manifests, "db-0", image_user="999")
    docs = copy.deepcopy(manifests.docs)
    next(d for d in docs if d["kind"] == "Service")["spec"]["type"] = "NodePort"
    with pytest.raises(Unsupported, match=r"Service user-service.*\.spec\.type"):
        plan(Manifests(docs, NAMESPACE), "Deployment")


def test_what_a_kubelet_refuses_is_refused(manifests: Manifests) -> None:
    root = copy.deepcopy(manifests.one("Deployment"))
    container(root)["securityContext"]["runAsUser"] = 0
    with pytest.raises(PodConfigError, match="would run as root"):
        plan_pod(root, manifests, "pod-0", image_user=IMAGE_USER)

    unnamed = copy.deepcopy(manifests.one("Deployment"))
    for context in (pod_spec(unnamed)["securityContext"], container(unnamed)["securityContext"]):
        del context["runAsUser"], context["runAsGroup"]
    with pytest.raises(PodConfigError, match="not numeric"):
        plan_pod(unnamed, manifests, "pod-0", image_user="app")

    missing = copy.deepcopy(manifests.one("Deployment"))
    container(missing)["env"][1]["valueFrom"]["secretKeyRef"]["key"] = "nope"
    with pytest.raises(PodConfigError, match="user-service-postgresql/nope not found"):
        plan_pod(missing, manifests, "pod-0", image_user=IMAGE_USER)


def test_variable_references_expand_as_in_kubernetes() -> None:
    env = {"A": "1", "B": "x"}
    assert expand("$(A)-$(B)-$(C)", env) == "1-x-$(C)"  # unknown stays as written
    assert expand("$$(A) costs $$5", env) == "$(A) costs $5"  # $$ escapes
