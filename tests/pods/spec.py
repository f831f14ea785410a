"""The rendered chart as a kubelet reads it: pod specs turned into `docker run` plans.

Pure functions, no Docker (test_harness.py checks them offline). Every key of a workload, pod
and container spec is either honoured below or refused with `Unsupported` naming the field:
nothing the chart renders is silently dropped. What a real cluster adds on top is listed in
docs/pods.md.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]


class Unsupported(Exception):
    """A field of the rendered spec the harness cannot honour; the message names the field."""


class PodConfigError(Exception):
    """What a kubelet would refuse too (missing Secret key, root user under runAsNonRoot...)."""


def check_keys(obj: Mapping[str, Any], path: str, known: Iterable[str]) -> None:
    """Refuse, naming it, the first key of obj that is not known."""
    unknown = sorted(set(obj) - set(known))
    if unknown:
        raise Unsupported(f"{path}.{unknown[0]}: not honoured by the pods harness (tests/pods)")


# ---------------------------------------------------------------------------------------------
# The objects of one render
# ---------------------------------------------------------------------------------------------
RUN_KINDS = frozenset({"Deployment", "StatefulSet", "Job"})
INPUT_KINDS = frozenset({"ConfigMap", "Secret", "Service"})
# Rendered, but nothing a kubelet runs: each needs a part of a cluster Docker does not have.
NOT_RUN = {
    "NetworkPolicy": "needs a CNI plugin that enforces it",
    "PodDisruptionBudget": "only the eviction API (node drains) consults it",
    "HorizontalPodAutoscaler": "its control loop needs metrics-server; replicas come from values",
    "ServiceAccount": "no API server; every pod must set automountServiceAccountToken: false",
    "ServiceMonitor": "needs the Prometheus Operator",
    "Ingress": "needs an ingress controller",
}


@dataclass(frozen=True)
class Manifests:
    """The objects of one `helm template` run, all in one namespace."""

    docs: list[Obj]
    namespace: str

    def __post_init__(self) -> None:
        for doc in self.docs:
            kind, name = doc["kind"], doc["metadata"]["name"]
            hook = doc["metadata"].get("annotations", {}).get("helm.sh/hook", "")
            if kind == "Pod" and hook == "test":
                continue  # `helm test` calls the Service's port 80: kube-proxy's job, not run here
            if kind not in RUN_KINDS | INPUT_KINDS and kind not in NOT_RUN:
                raise Unsupported(f"kind {kind} ({name}): the pods harness does not know it")

    def all(self, kind: str) -> list[Obj]:
        return [d for d in self.docs if d["kind"] == kind]

    def one(self, kind: str, name: str | None = None) -> Obj:
        found = [d for d in self.all(kind) if name is None or d["metadata"]["name"] == name]
        if len(found) != 1:
            raise PodConfigError(f"expected one {kind} {name or ''}, found {len(found)}")
        return found[0]

    def find(self, kind: str, name: str) -> Obj | None:
        found = [d for d in self.all(kind) if d["metadata"]["name"] == name]
        return found[0] if found else None

    def config_map(self, name: str) -> dict[str, str] | None:
        obj = self.find("ConfigMap", name)
        if obj is None:
            return None
        check_keys(obj, f"ConfigMap {name}", ("apiVersion", "kind", "metadata", "data"))
        return {k: str(v) for k, v in obj.get("data", {}).items()}

    def secret(self, name: str) -> dict[str, bytes] | None:
        obj = self.find("Secret", name)
        if obj is None:
            return None
        check_keys(obj, f"Secret {name}", ("apiVersion", "kind", "metadata", "type", "data"))
        return {k: base64.b64decode(v) for k, v in obj.get("data", {}).items()}


def template_hash(template: Obj) -> str:
    """A stand-in for the pod-template-hash label: changes whenever the pod template does."""
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


# ---------------------------------------------------------------------------------------------
# Small value parsers
# ---------------------------------------------------------------------------------------------
_QUANTITY = re.compile(r"([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?")
_FACTORS = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "m": 1e-3}
_FACTORS |= {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def quantity(value: object, path: str) -> float:
    """A Kubernetes quantity ("500m", "1", "256Mi") as a plain number."""
    match = _QUANTITY.fullmatch(str(value))
    if match is None:
        raise Unsupported(f"{path}: quantity {value!r} not understood")
    return float(match.group(1)) * _FACTORS[match.group(2) or ""]


_VAR_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' $(VAR) expansion in env values, command and args; $$ escapes a $."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _VAR_REF.sub(one, text)


# ---------------------------------------------------------------------------------------------
# Plans
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Probe:
    handler: str  # httpGet, tcpSocket or exec
    port: int | None  # the container port (httpGet, tcpSocket)
    target: tuple[str, ...]  # (path,) for httpGet, the command for exec
    initial_delay: float = 0
    period: float = 10
    timeout: float = 1
    success_threshold: int = 1
    failure_threshold: int = 3


@dataclass(frozen=True)
class Mount:
    path: str
    kind: str  # tmpfs (emptyDir), secret (files written on the host) or claim (a named volume)
    read_only: bool = False
    size: int | None = None  # tmpfs size in bytes
    files: dict[str, tuple[bytes, int]] = field(default_factory=dict)  # secret: name -> data, mode
    claim: str = ""  # volumeClaimTemplate name
    claim_bytes: int = 0  # its storage request


@dataclass(frozen=True)
class PodPlan:
    """One pod of one container, as `docker run` will start it."""

    name: str  # pod name, also the container's hostname
    labels: dict[str, str]
    image: str
    command: list[str] | None  # Kubernetes command = Docker entrypoint; None: the image's
    args: list[str] | None  # Kubernetes args = Docker CMD; None: the image's (unless command)
    env: dict[str, str]
    ports: dict[str, int]  # port name (and number as text) -> containerPort
    options: list[str]  # docker run flags from securityContext, resources, workingDir
    mounts: list[Mount]
    probes: dict[str, Probe]  # startup, liveness, readiness
    pre_stop: tuple[str, ...] | float | None  # exec command, or the sleep action's seconds
    grace: float  # terminationGracePeriodSeconds
    restart_policy: str  # Always or Never
    fs_group: int | None
    fs_group_change_policy: str
    aliases: list[str]  # DNS names on the pod network: Services selecting it, StatefulSet DNS


def _keys(names: str) -> frozenset[str]:
    return frozenset(names.split())


# The controllers' fields: the tests play the controllers (release.py) with replicas, strategy
# (rolls), serviceName (pod DNS), volumeClaimTemplates (claims), backoffLimit and
# activeDeadlineSeconds (Jobs); revisionHistoryLimit only prunes old ReplicaSets.
_WORKLOAD_KEYS = {
    "Deployment": _keys("replicas selector strategy template revisionHistoryLimit"),
    "StatefulSet": _keys("replicas selector serviceName template volumeClaimTemplates"),
    # ttlSecondsAfterFinished: the TTL controller's deletion is not played; a finished Job stays.
    "Job": _keys(
        "backoffLimit activeDeadlineSeconds template completions parallelism "
        "ttlSecondsAfterFinished"
    ),
}
# Every key honoured below; scheduling keys only where a single node meets them anyway.
_POD_KEYS = _keys("""containers volumes securityContext terminationGracePeriodSeconds restartPolicy
    serviceAccountName automountServiceAccountToken enableServiceLinks
    topologySpreadConstraints""")
_CONTAINER_KEYS = _keys("""name image imagePullPolicy command args workingDir env envFrom ports
    startupProbe livenessProbe readinessProbe lifecycle resources securityContext
    volumeMounts""")
_POD_SECURITY_KEYS = _keys("""runAsUser runAsGroup runAsNonRoot fsGroup fsGroupChangePolicy
    supplementalGroups seccompProfile""")
_CONTAINER_SECURITY_KEYS = _keys("""runAsUser runAsGroup runAsNonRoot allowPrivilegeEscalation
    privileged readOnlyRootFilesystem capabilities seccompProfile""")
_PROBE_TIMING = {
    "initialDelaySeconds": "initial_delay",
    "periodSeconds": "period",
    "timeoutSeconds": "timeout",
    "successThreshold": "success_threshold",
    "failureThreshold": "failure_threshold",
}


def workload_pod(workload: Obj) -> tuple[Obj, Obj]:
    """(workload spec, pod template) after checking the workload's own keys."""
    kind, name = workload["kind"], workload["metadata"]["name"]
    spec: Obj = workload["spec"]
    check_keys(spec, f"{kind} {name}.spec", _WORKLOAD_KEYS[kind])
    template: Obj = spec["template"]
    check_keys(template, f"{kind} {name}.spec.template", ("metadata", "spec"))
    check_keys(
        template["metadata"], f"{kind} {name}.spec.template.metadata", ("labels", "annotations")
    )
    labels = template["metadata"].get("labels", {})
    selector = spec.get("selector", {})
    if kind != "Job":
        check_keys(selector, f"{kind} {name}.spec.selector", ("matchLabels",))
        if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
            raise PodConfigError(f"{kind} {name}: selector does not match the template labels")
    for key in ("completions", "parallelism"):
        if spec.get(key, 1) != 1:
            raise Unsupported(f"Job {name}.spec.{key}: only single-pod Jobs are run")
    return spec, template


def plan_pod(
    workload: Obj,
    manifests: Manifests,
    pod_name: str,
    *,
    image_user: str = "",
) -> PodPlan:
    """The docker plan of one pod of `workload` (Deployment, StatefulSet or Job)."""
    kind, name = workload["kind"], workload["metadata"]["name"]
    workload_spec, template = workload_pod(workload)
    path = f"{kind} {name}.spec.template.spec"
    spec: Obj = template["spec"]
    check_keys(spec, path, _POD_KEYS)
    if spec.get("automountServiceAccountToken") is not False:
        raise Unsupported(f"{path}.automountServiceAccountToken: no API server token to mount")
    for i, tsc in enumerate(spec.get("topologySpreadConstraints", [])):
        if tsc.get("whenUnsatisfiable") != "ScheduleAnyway":
            raise Unsupported(f"{path}.topologySpreadConstraints[{i}]: needs a scheduler")
    restart_policy = spec.get("restartPolicy", "Always")
    if restart_policy not in ("Always", "Never") or (kind == "Job") != (restart_policy == "Never"):
        raise Unsupported(f"{path}.restartPolicy: {restart_policy} for a {kind}")
    if len(spec["containers"]) != 1:
        raise Unsupported(f"{path}.containers: only single-container pods are run")
    container: Obj = spec["containers"][0]
    cpath = f"{path}.containers[0]"
    check_keys(container, cpath, _CONTAINER_KEYS)
    if container.get("imagePullPolicy", "IfNotPresent") == "Always":
        raise Unsupported(f"{cpath}.imagePullPolicy: Always needs a registry")

    pod_sc: Obj = spec.get("securityContext", {})
    check_keys(pod_sc, f"{path}.securityContext", _POD_SECURITY_KEYS)
    sc: Obj = container.get("securityContext", {})
    check_keys(sc, f"{cpath}.securityContext", _CONTAINER_SECURITY_KEYS)
    options = _security_options(pod_sc, sc, f"{cpath}.securityContext")
    options += _resource_options(container.get("resources", {}), f"{cpath}.resources")
    if "workingDir" in container:
        options += ["--workdir", container["workingDir"]]

    ports = _ports(container.get("ports", []), f"{cpath}.ports")
    env = _env(container, manifests, pod_name, spec.get("enableServiceLinks", True), cpath)
    command = [expand(a, env) for a in container["command"]] if "command" in container else None
    args = [expand(a, env) for a in container["args"]] if "args" in container else None
    probes = {
        probe: _probe(container[f"{probe}Probe"], ports, f"{cpath}.{probe}Probe")
        for probe in ("startup", "liveness", "readiness")
        if f"{probe}Probe" in container
    }
    user = sc.get("runAsUser", pod_sc.get("runAsUser"))
    image_uid = image_user.split(":", maxsplit=1)[0]
    fs_group = pod_sc.get("fsGroup")
    claims = {t["metadata"]["name"]: t for t in workload_spec.get("volumeClaimTemplates", [])}
    mounts = _mounts(
        container,
        volumes=spec.get("volumes", []),
        claims=claims,
        manifests=manifests,
        fs_group=fs_group,
        path=path,
    )
    non_root = bool(sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot", False)))
    if non_root and user is None and not image_uid.isdigit():
        raise PodConfigError(f"{cpath}: runAsNonRoot, and image user {image_user!r} is not numeric")
    if non_root and (user == 0 or (user is None and image_uid == "0")):
        raise PodConfigError(f"{cpath}: runAsNonRoot, but the container would run as root")

    return PodPlan(
        name=pod_name,
        labels=dict(template["metadata"].get("labels", {})),
        image=container["image"],
        command=command,
        args=args,
        env=env,
        ports=ports,
        options=options,
        mounts=mounts,
        probes=probes,
        pre_stop=_pre_stop(container.get("lifecycle", {}), f"{cpath}.lifecycle"),
        grace=float(spec.get("terminationGracePeriodSeconds", 30)),
        restart_policy=restart_policy,
        fs_group=fs_group,
        fs_group_change_policy=pod_sc.get("fsGroupChangePolicy", "Always"),
        aliases=_aliases(workload, manifests, pod_name),
    )


def _security_options(pod_sc: Obj, sc: Obj, path: str) -> list[str]:
    options: list[str] = []
    user, group = (
        sc.get("runAsUser", pod_sc.get("runAsUser")),
        sc.get("runAsGroup", pod_sc.get("runAsGroup")),
    )
    if group is not None and user is None:
        raise Unsupported(f"{path}.runAsGroup: without runAsUser (docker --user needs the uid)")
    if user is not None:
        options += ["--user", f"{user}:{group}" if group is not None else str(user)]
    for gid in [pod_sc["fsGroup"]] if "fsGroup" in pod_sc else []:
        options += ["--group-add", str(gid)]
    for gid in pod_sc.get("supplementalGroups", []):
        options += ["--group-add", str(gid)]
    if sc.get("readOnlyRootFilesystem"):
        options.append("--read-only")
    if sc.get("privileged"):
        options.append("--privileged")
    if sc.get("allowPrivilegeEscalation") is False:
        options += ["--security-opt", "no-new-privileges"]
    caps: Obj = sc.get("capabilities", {})
    check_keys(caps, f"{path}.capabilities", ("drop", "add"))
    options += [arg for cap in caps.get("drop", []) for arg in ("--cap-drop", cap)]
    options += [arg for cap in caps.get("add", []) for arg in ("--cap-add", cap)]
    unconfined = {"type": "Unconfined"}
    seccomp: Obj = sc.get("seccompProfile") or pod_sc.get("seccompProfile") or unconfined
    check_keys(seccomp, f"{path}.seccompProfile", ("type",))
    if seccomp["type"] == "Unconfined":  # Kubernetes' default; Docker's is its own profile
        options += ["--security-opt", "seccomp=unconfined"]
    elif seccomp["type"] != "RuntimeDefault":  # RuntimeDefault = Docker's default profile
        raise Unsupported(f"{path}.seccompProfile.type: {seccomp['type']}")
    return options


def _resource_options(resources: Obj, path: str) -> list[str]:
    check_keys(resources, path, ("limits", "requests"))
    options: list[str] = []
    for part in ("limits", "requests"):
        check_keys(resources.get(part, {}), f"{path}.{part}", ("cpu", "memory"))
    limits, requests = resources.get("limits", {}), resources.get("requests", {})
    if "cpu" in limits:
        options += ["--cpus", f"{quantity(limits['cpu'], f'{path}.limits.cpu'):g}"]
    if "memory" in limits:  # no swap on top, as the kubelet sets it
        memory = str(int(quantity(limits["memory"], f"{path}.limits.memory")))
        options += ["--memory", memory, "--memory-swap", memory]
    if "cpu" in requests:  # the kubelet's conversion: shares = milliCPU * 1024 / 1000
        millis = quantity(requests["cpu"], f"{path}.requests.cpu") * 1000
        options += ["--cpu-shares", str(max(2, int(millis * 1024 / 1000)))]
    if "memory" in requests:  # scheduling input; the runtime's nearest knob is the soft limit
        memory = str(int(quantity(requests["memory"], f"{path}.requests.memory")))
        options += ["--memory-reservation", memory]
    return options


def _ports(ports: list[Obj], path: str) -> dict[str, int]:
    by_name: dict[str, int] = {}
    for i, port in enumerate(ports):
        check_keys(port, f"{path}[{i}]", ("name", "containerPort", "protocol"))
        if port.get("protocol", "TCP") != "TCP":
            raise Unsupported(f"{path}[{i}].protocol: {port['protocol']}")
        by_name[str(port["containerPort"])] = port["containerPort"]
        if "name" in port:
            by_name[port["name"]] = port["containerPort"]
    return by_name


def _port(ref: object, ports: Mapping[str, int], path: str) -> int:
    if str(ref) not in ports:  # the harness reaches a pod on the ports it declares
        raise Unsupported(f"{path}: port {ref!r} is not one of the container's ports")
    return ports[str(ref)]


def _probe(probe: Obj, ports: Mapping[str, int], path: str) -> Probe:
    check_keys(probe, path, ("httpGet", "tcpSocket", "exec", *_PROBE_TIMING))
    timing = {_PROBE_TIMING[k]: v for k, v in probe.items() if k in _PROBE_TIMING}
    if "httpGet" in probe:
        get: Obj = probe["httpGet"]
        check_keys(get, f"{path}.httpGet", ("path", "port", "scheme"))
        if get.get("scheme", "HTTP") != "HTTP":
            raise Unsupported(f"{path}.httpGet.scheme: {get['scheme']}")
        port = _port(get["port"], ports, f"{path}.httpGet.port")
        return Probe("httpGet", port, (get.get("path", "/"),), **timing)
    if "tcpSocket" in probe:
        check_keys(probe["tcpSocket"], f"{path}.tcpSocket", ("port",))
        port = _port(probe["tcpSocket"]["port"], ports, f"{path}.tcpSocket.port")
        return Probe("tcpSocket", port, (), **timing)
    check_keys(probe["exec"], f"{path}.exec", ("command",))
    return Probe("exec", None, tuple(probe["exec"]["command"]), **timing)


def _pre_stop(lifecycle: Obj, path: str) -> tuple[str, ...] | float | None:
    check_keys(lifecycle, path, ("preStop",))
    hook: Obj | None = lifecycle.get("preStop")
    if hook is None:
        return None
    check_keys(hook, f"{path}.preStop", ("exec", "sleep"))
    if "sleep" in hook:
        check_keys(hook["sleep"], f"{path}.preStop.sleep", ("seconds",))
        return float(hook["sleep"]["seconds"])
    check_keys(hook["exec"], f"{path}.preStop.exec", ("command",))
    return tuple(hook["exec"]["command"])


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _source(manifests: Manifests, ref_kind: str, name: str) -> Mapping[str, str | bytes] | None:
    """The data of the ConfigMap or Secret a reference names, None when there is none."""
    if ref_kind in ("configMapRef", "configMapKeyRef"):
        return manifests.config_map(name)
    return manifests.secret(name)


def _env(
    container: Obj, manifests: Manifests, pod_name: str, service_links: bool, path: str
) -> dict[str, str]:
    """The kubelet's order: Service links, then envFrom, then env (later wins). A missing
    ConfigMap, Secret or key that is not optional is the kubelet's CreateContainerConfigError."""
    env = _service_links(manifests, service_links)
    for i, source in enumerate(container.get("envFrom", [])):
        check_keys(source, f"{path}.envFrom[{i}]", ("configMapRef", "secretRef", "prefix"))
        ref_kind = "configMapRef" if "configMapRef" in source else "secretRef"
        ref: Obj = source[ref_kind]
        check_keys(ref, f"{path}.envFrom[{i}].{ref_kind}", ("name", "optional"))
        data = _source(manifests, ref_kind, ref["name"])
        if data is None and not ref.get("optional", False):
            raise PodConfigError(f"{path}.envFrom[{i}]: {ref_kind} {ref['name']} not found")
        for key, value in (data or {}).items():
            env[source.get("prefix", "") + key] = _text(value)
    for i, var in enumerate(container.get("env", [])):
        vpath = f"{path}.env[{i}]"
        check_keys(var, vpath, ("name", "value", "valueFrom"))
        if "valueFrom" not in var:
            env[var["name"]] = expand(str(var.get("value", "")), env)
            continue
        value_from: Obj = var["valueFrom"]
        kinds = ("secretKeyRef", "configMapKeyRef", "fieldRef")
        check_keys(value_from, f"{vpath}.valueFrom", kinds)
        if "fieldRef" in value_from:
            fields = {"metadata.name": pod_name, "metadata.namespace": manifests.namespace}
            field_path = value_from["fieldRef"]["fieldPath"]
            if field_path not in fields:
                raise Unsupported(f"{vpath}.valueFrom.fieldRef.fieldPath: {field_path}")
            env[var["name"]] = fields[field_path]
            continue
        ref_kind = "secretKeyRef" if "secretKeyRef" in value_from else "configMapKeyRef"
        ref = value_from[ref_kind]
        check_keys(ref, f"{vpath}.valueFrom.{ref_kind}", ("name", "key", "optional"))
        data = _source(manifests, ref_kind, ref["name"])
        if data is not None and ref["key"] in data:
            env[var["name"]] = _text(data[ref["key"]])
        elif not ref.get("optional", False):
            raise PodConfigError(f"{vpath}: {ref_kind} {ref['name']}/{ref['key']} not found")
    return env


def _service_links(manifests: Manifests, enabled: bool) -> dict[str, str]:
    """The variables a kubelet injects for the namespace's Services (enableServiceLinks).

    The addresses are stand-ins (no kube-proxy here): only the shape of the environment is
    real, which is what can clash with an app's own settings (FOO_PORT=tcp://...).
    """
    services: list[tuple[str, str, list[Obj]]] = [
        ("kubernetes", "10.96.0.1", [{"name": "https", "port": 443}])
    ]
    if enabled:
        for i, svc in enumerate(manifests.all("Service")):
            if svc["spec"].get("clusterIP") != "None":  # headless Services get no variables
                services.append(
                    (svc["metadata"]["name"], f"10.96.0.{10 + i}", svc["spec"]["ports"])
                )
    env: dict[str, str] = {}
    for name, ip, ports in services:
        prefix = name.upper().replace("-", "_")
        env[f"{prefix}_SERVICE_HOST"] = ip
        env[f"{prefix}_SERVICE_PORT"] = str(ports[0]["port"])
        env[f"{prefix}_PORT"] = f"tcp://{ip}:{ports[0]['port']}"
        for port in ports:
            if "name" in port:
                port_name = str(port["name"]).upper().replace("-", "_")
                env[f"{prefix}_SERVICE_PORT_{port_name}"] = str(port["port"])
            var = f"{prefix}_PORT_{port['port']}_TCP"
            env |= {var: f"tcp://{ip}:{port['port']}", f"{var}_PROTO": "tcp"}
            env |= {f"{var}_PORT": str(port["port"]), f"{var}_ADDR": ip}
    return env


def _mounts(
    container: Obj,
    *,
    volumes: list[Obj],
    claims: Mapping[str, Obj],
    manifests: Manifests,
    fs_group: int | None,
    path: str,
) -> list[Mount]:
    by_name = {v["name"]: (i, v) for i, v in enumerate(volumes)}
    mounts: list[Mount] = []
    for i, mount in enumerate(container.get("volumeMounts", [])):
        mpath = f"{path}.containers[0].volumeMounts[{i}]"
        check_keys(mount, mpath, ("name", "mountPath", "readOnly"))
        read_only = bool(mount.get("readOnly", False))
        if mount["name"] in claims:
            mounts.append(_claim_mount(claims[mount["name"]], mount["mountPath"], read_only, path))
            continue
        if mount["name"] not in by_name:
            raise PodConfigError(f"{mpath}: no volume {mount['name']}")
        index, volume = by_name[mount["name"]]
        vpath = f"{path}.volumes[{index}]"
        check_keys(volume, vpath, ("name", "emptyDir", "secret"))
        if "emptyDir" in volume:
            check_keys(volume["emptyDir"], f"{vpath}.emptyDir", ("sizeLimit", "medium"))
            if volume["emptyDir"].get("medium", "") not in ("", "Memory"):
                raise Unsupported(f"{vpath}.emptyDir.medium: {volume['emptyDir']['medium']}")
            limit = volume["emptyDir"].get("sizeLimit")
            size = int(quantity(limit, f"{vpath}.emptyDir.sizeLimit")) if limit else None
            mounts.append(Mount(mount["mountPath"], "tmpfs", read_only, size=size))
        else:
            files = _secret_files(volume["secret"], manifests, f"{vpath}.secret")
            mounts.append(Mount(mount["mountPath"], "secret", read_only, files=files))
    return mounts


def _secret_files(source: Obj, manifests: Manifests, path: str) -> dict[str, tuple[bytes, int]]:
    check_keys(source, path, ("secretName", "defaultMode", "items", "optional"))
    data = manifests.secret(source["secretName"])
    if data is None:
        raise PodConfigError(f"{path}: Secret {source['secretName']} not found")
    mode = int(source.get("defaultMode", 0o644))
    if "items" not in source:
        return {key: (value, mode) for key, value in data.items()}
    files: dict[str, tuple[bytes, int]] = {}
    for i, item in enumerate(source["items"]):
        check_keys(item, f"{path}.items[{i}]", ("key", "path", "mode"))
        if "/" in item["path"]:
            raise Unsupported(f"{path}.items[{i}].path: subdirectories")
        if item["key"] not in data:
            raise PodConfigError(f"{path}.items[{i}]: no key {item['key']}")
        files[item["path"]] = (data[item["key"]], int(item.get("mode", mode)))
    return files


def _claim_mount(template: Obj, mount_path: str, read_only: bool, path: str) -> Mount:
    name = template["metadata"]["name"]
    cpath = f"{path} volumeClaimTemplates[{name}]"
    check_keys(template, cpath, ("metadata", "spec"))
    spec: Obj = template["spec"]
    check_keys(spec, f"{cpath}.spec", ("accessModes", "resources"))  # storageClassName: refused
    if not set(spec["accessModes"]) <= {"ReadWriteOnce", "ReadWriteOncePod"}:
        raise Unsupported(f"{cpath}.spec.accessModes: {spec['accessModes']} (one node here)")
    check_keys(spec["resources"], f"{cpath}.spec.resources", ("requests",))
    check_keys(spec["resources"]["requests"], f"{cpath}.spec.resources.requests", ("storage",))
    size = int(quantity(spec["resources"]["requests"]["storage"], f"{cpath}.storage"))
    return Mount(mount_path, "claim", read_only, claim=name, claim_bytes=size)


def _aliases(workload: Obj, manifests: Manifests, pod_name: str) -> list[str]:
    """DNS names of the pod: every Service whose selector matches it, and for a StatefulSet pod
    its stable name under the governing Service; each also in its namespace-qualified forms."""
    labels = workload["spec"]["template"]["metadata"].get("labels", {})
    names: list[str] = []
    for svc in manifests.all("Service"):
        spec: Obj = svc["spec"]
        path = f"Service {svc['metadata']['name']}.spec"
        check_keys(spec, path, ("type", "clusterIP", "selector", "ports"))
        if spec.get("type", "ClusterIP") != "ClusterIP":
            raise Unsupported(f"{path}.type: {spec['type']}")
        selector = spec.get("selector", {})
        if selector and all(labels.get(k) == v for k, v in selector.items()):
            names.append(svc["metadata"]["name"])
    if workload["kind"] == "StatefulSet":
        names.append(f"{pod_name}.{workload['spec']['serviceName']}")
    ns = manifests.namespace
    return [
        alias
        for n in names
        for alias in (n, f"{n}.{ns}", f"{n}.{ns}.svc", f"{n}.{ns}.svc.cluster.local")
    ]


def service_target_port(service: Obj, port: int, plan: PodPlan) -> int:
    """The container port a Service port forwards to (kube-proxy's translation, for callers:
    a DNS alias gives the name but not the port mapping)."""
    for entry in service["spec"]["ports"]:
        if entry["port"] == port:
            target = entry.get("targetPort", port)
            return plan.ports[str(target)]
    raise PodConfigError(f"Service {service['metadata']['name']} has no port {port}")
