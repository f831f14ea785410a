"""A small kubelet stand-in: runs the pods of spec.py's plans with the docker CLI.

Per pod: one container on the run's private network (hostname = pod name, DNS aliases for the
Services selecting it), its declared ports published on 127.0.0.1 only (the test process is
outside the network), Secret volumes as read-only bind-mounted files, emptyDirs as tmpfs,
StatefulSet claims as named volumes (kept across pod restarts, group-owned by fsGroup like a
kubelet does). Probes run from the spec against the pod's IP, one thread per probe. A pod stops
the kubelet's way: not ready at once, preStop, the image's stop signal (what containerd sends:
SIGTERM unless the image says otherwise), SIGKILL at terminationGracePeriodSeconds. Containers of
restartPolicy Always pods are restarted after a crash or a failed liveness/startup probe.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.container.dockerctl import Docker

from .spec import Manifests, Mount, Obj, PodConfigError, PodPlan, Probe, plan_pod, workload_pod

# No proxy between the "kubelet" and its pods, whatever the environment says.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))
CRASH_BACKOFF_SECONDS = 10.0  # the kubelet's first CrashLoopBackOff delay, doubling to 300


@dataclass(frozen=True)
class Termination:
    """How a pod stopped: the kubelet's steps and how long each took."""

    pod: str
    began: float  # time.monotonic() when the pod was deleted
    pre_stop_seconds: float
    signal: str
    exit_seconds: float  # from the stop signal to the container's exit
    total_seconds: float
    exit_code: int | None
    killed: bool  # SIGKILL at the end of the grace period
    pre_stop_error: str | None = None


@dataclass
class _Incarnation:
    """One run of the container (a restart starts a new one): its address and probe state."""

    ip: str
    host_ports: dict[int, int]
    stop: threading.Event = field(default_factory=threading.Event)
    started: threading.Event = field(default_factory=threading.Event)
    exited: threading.Event = field(default_factory=threading.Event)
    ready: bool = False
    exit_code: int | None = None
    restart_reason: str | None = None


class Node:
    """The one "node": a docker client, a private network, volumes and Secret files of a run."""

    def __init__(self, docker: Docker, run_id: str) -> None:
        self.docker = docker
        self.run_id = run_id
        self.network = f"pods-{run_id}"
        self.files = Path(tempfile.mkdtemp(prefix=f"pods-{run_id}-"))
        self.files.chmod(0o755)
        self._images: dict[str, dict[str, Any]] = {}
        self.pods: list[Pod] = []
        docker("network", "create", "--label", docker.label, self.network)

    def image(self, ref: str) -> dict[str, Any]:
        """The image's config; it must be present (imagePullPolicy IfNotPresent, no registry)."""
        if ref not in self._images:
            proc = self.docker("image", "inspect", ref, check=False)
            if proc.returncode != 0:
                raise PodConfigError(f"image {ref} is not present and no registry is reachable")
            self._images[ref] = json.loads(proc.stdout)[0]["Config"]
        return self._images[ref]

    def plan(self, workload: Obj, manifests: Manifests, pod_name: str) -> PodPlan:
        _, template = workload_pod(workload)
        image = self.image(template["spec"]["containers"][0]["image"])
        return plan_pod(workload, manifests, pod_name, image_user=image.get("User") or "")

    def start(self, plan: PodPlan) -> Pod:
        pod = Pod(self, plan)
        self.pods.append(pod)
        return pod.start()

    def run_job(self, job: Obj, manifests: Manifests, suffix: str) -> JobRun:
        """Run a Job's pods until one succeeds, backoffLimit is spent or the deadline passes."""
        spec, _ = workload_pod(job)
        run = JobRun(f"{job['metadata']['name']}-{suffix}")
        deadline = run.started + float(spec.get("activeDeadlineSeconds", 1e9))
        for attempt in range(int(spec.get("backoffLimit", 6)) + 1):
            if attempt:  # the Job controller's retry backoff: 10 s, doubling
                time.sleep(min(10.0 * 2 ** (attempt - 1), max(0.0, deadline - time.monotonic())))
            pod = self.start(self.plan(job, manifests, f"{run.name}-{attempt}"))
            code = pod.wait_exit(max(0.0, deadline - time.monotonic()))
            if code is None:  # DeadlineExceeded: the Job controller deletes its pod
                pod.stop()
            run.exit_codes.append(code)
            run.logs.append(pod.logs())
            pod.delete()
            if code in (0, None):
                break
        run.ended = time.monotonic()
        return run

    def claim_volume(self, mount: Mount, plan: PodPlan) -> str:
        """The StatefulSet pod's PersistentVolumeClaim: a named volume that outlives the pod."""
        volume = f"pods-{self.run_id}-{mount.claim}-{plan.name}"
        if self.docker("volume", "inspect", volume, check=False).returncode != 0:
            root = self.docker("info", "-f", "{{.DockerRootDir}}").stdout.strip()
            if shutil.disk_usage(root).free < mount.claim_bytes:
                raise PodConfigError(f"claim {volume}: {mount.claim_bytes} bytes not available")
            self.docker("volume", "create", "--label", self.docker.label, volume)
        return volume

    def cleanup(self) -> None:
        """Remove every container, network and volume of the run, and the Secret files."""
        for pod in self.pods:
            pod.abandon()
        self.docker.sweep()
        label = f"label={self.docker.label}"
        volumes = self.docker("volume", "ls", "-q", "--filter", label, check=False).stdout.split()
        if volumes:
            self.docker("volume", "rm", "-f", *volumes, check=False)
        shutil.rmtree(self.files, ignore_errors=True)


@dataclass
class JobRun:
    name: str
    started: float = field(default_factory=time.monotonic)
    ended: float = 0.0
    exit_codes: list[int | None] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return round(self.ended - self.started, 2)


class Pod:
    def __init__(self, node: Node, plan: PodPlan) -> None:
        self.node = node
        self.plan = plan
        self.container = f"pods-{node.run_id}-{plan.name}"
        self.created = time.monotonic()
        self.events: list[tuple[float, str]] = []
        self.restarts = 0
        self.exit_code: int | None = None
        self.final_logs = ""
        self._stop_signal = node.image(plan.image).get("StopSignal") or "SIGTERM"
        self._lock = threading.Lock()  # one lifecycle action at a time (restart, stop)
        self._attention = threading.Event()  # wakes the supervisor
        self._terminating = threading.Event()
        self._done = threading.Event()  # restartPolicy Never: the container has exited
        self._inc = _Incarnation("", {})

    def __repr__(self) -> str:
        return f"Pod({self.plan.name})"

    # ---- state seen by tests -------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return not self._terminating.is_set() and self._inc.started.is_set() and self._inc.ready

    @property
    def ip(self) -> str:
        return self._inc.ip

    @property
    def url(self) -> str:
        """The port named http (else the first declared), published on 127.0.0.1."""
        port = self.plan.ports.get("http", next(iter(self.plan.ports.values())))
        return f"http://127.0.0.1:{self._inc.host_ports[port]}"

    def event(self, text: str) -> None:
        self.events.append((round(time.monotonic() - self.created, 2), text))

    def logs(self) -> str:
        proc = self.node.docker("logs", self.container, check=False)
        return proc.stdout + proc.stderr if proc.returncode == 0 else self.final_logs

    def env(self) -> dict[str, str]:
        """The container's environment as Docker recorded it."""
        entries = self.node.docker("inspect", "-f", "{{json .Config.Env}}", self.container)
        return dict(e.split("=", 1) for e in json.loads(entries.stdout))

    def describe(self) -> str:
        """For failure messages: the kubelet's events and the container's last log lines."""
        events = "\n".join(f"  {t:7.2f}s {text}" for t, text in self.events)
        tail = "\n".join(self.logs().splitlines()[-25:])
        return f"{self.plan.name} events:\n{events}\nlogs:\n{tail}"

    def wait_ready(self, timeout: float) -> float:
        """Seconds until the readiness probe passes (from now)."""
        return self.wait_until(lambda: self.ready, timeout, "ready")

    def wait_started(self, timeout: float) -> float:
        """Seconds until the startup probe passes (liveness and readiness run from then on)."""
        return self.wait_until(self._inc.started.is_set, timeout, "started")

    def wait_unready(self, timeout: float) -> float:
        return self.wait_until(lambda: not self.ready, timeout, "not ready")

    def wait_until(self, condition: Callable[[], bool], timeout: float, what: str) -> float:
        """Seconds until condition() holds; fails with the pod's events and logs if it
        exits for good (restartPolicy Never), crash-loops or the timeout passes."""
        start = time.monotonic()
        while not condition():
            if self._done.is_set():
                raise AssertionError(f"{self} exited ({self.exit_code})\n{self.describe()}")
            if self.restarts >= 2:  # a test fixture needs no CrashLoopBackOff minutes
                raise AssertionError(f"{self} is crash-looping\n{self.describe()}")
            if time.monotonic() - start > timeout:
                raise AssertionError(f"{self} not {what} in {timeout}s\n{self.describe()}")
            time.sleep(0.05)
        return time.monotonic() - start

    def wait_exit(self, timeout: float) -> int | None:
        """restartPolicy Never: the exit code, or None if still running after timeout."""
        return self.exit_code if self._done.wait(timeout) else None

    # ---- start ---------------------------------------------------------------------------
    def start(self) -> Pod:
        plan, docker = self.plan, self.node.docker
        args = ["run", "-d", "--name", self.container, "--label", docker.label]
        args += ["--hostname", plan.name, "--network", self.node.network]
        args += [arg for alias in plan.aliases for arg in ("--network-alias", alias)]
        args += [arg for key, value in plan.labels.items() for arg in ("--label", f"{key}={value}")]
        args += [arg for port in set(plan.ports.values()) for arg in ("-p", f"127.0.0.1::{port}")]
        args += plan.options + [arg for m in plan.mounts for arg in self._mount(m)]
        # Values reach docker through its environment: no Secret on a command line.
        args += [arg for name in plan.env for arg in ("-e", name)]
        if plan.command is not None:  # --entrypoint also drops the image's CMD, as command does
            args += ["--entrypoint", plan.command[0]]
        args.append(plan.image)
        if plan.command is not None:
            args += plan.command[1:]
        args += plan.args if plan.args is not None else []
        proc = subprocess.run(
            [docker.binary, *args],
            env={**os.environ, **plan.env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if proc.returncode != 0:
            raise PodConfigError(f"docker run {plan.name}: {proc.stderr.strip()}")
        self.event(f"started {plan.image}")
        self._begin()
        threading.Thread(target=self._supervise, daemon=True, name=f"{plan.name}-kubelet").start()
        return self

    def _mount(self, mount: Mount) -> list[str]:
        if mount.kind == "tmpfs":
            options = ["rw", "exec"] + ([f"size={mount.size}"] if mount.size else [])
            options += [f"gid={self.plan.fs_group}"] if self.plan.fs_group is not None else []
            return ["--tmpfs", f"{mount.path}:{','.join(options)}"]
        if mount.kind == "secret":  # files owned by root:fsGroup with the spec's modes
            host = Path(tempfile.mkdtemp(dir=self.node.files))
            host.chmod(0o755)
            for name, (data, mode) in mount.files.items():
                (host / name).write_bytes(data)
                os.chown(host / name, 0, self.plan.fs_group or 0)
                (host / name).chmod(mode)
            spec = f"type=bind,src={host},dst={mount.path},readonly"
            return ["--mount", spec]
        volume = self.node.claim_volume(mount, self.plan)
        self._apply_fs_group(volume, mount)
        # volume-nocopy: a new claim starts empty, not with the image's files at that path.
        spec = f"type=volume,src={volume},dst={mount.path},volume-nocopy"
        return ["--mount", spec + (",readonly" if mount.read_only else "")]

    def _apply_fs_group(self, volume: str, mount: Mount) -> None:
        """What the kubelet does to a claim for fsGroup: group-own it, g+rwX, setgid dirs;
        with fsGroupChangePolicy OnRootMismatch only when the volume root does not match yet."""
        if self.plan.fs_group is None:
            return
        script = (
            'd=/volume; g=$0; if [ "$1" = OnRootMismatch ] && [ "$(stat -c %g $d)" = "$g" ] '
            '&& [ -g $d ] && [ "$(stat -c %A $d | cut -c5-6)" = rw ]; then exit 0; fi; '
            'chgrp -R "$g" $d && chmod -R g+rwX $d && find $d -type d -exec chmod g+s {} +'
        )
        self.node.docker(
            "run", "--rm", "--label", self.node.docker.label, "--network", "none",
            "--user", "0", "--entrypoint", "sh",
            "--mount", f"type=volume,src={volume},dst=/volume,volume-nocopy",
            self.plan.image, "-c", script, str(self.plan.fs_group),
            self.plan.fs_group_change_policy,
        )  # fmt: skip

    def _begin(self) -> None:
        """A new incarnation of the container: its address, an exit watcher, its probes."""
        info = json.loads(self.node.docker("inspect", self.container).stdout)[0]
        ip = info["NetworkSettings"]["Networks"][self.node.network]["IPAddress"]
        ports = {
            int(key.split("/")[0]): int(bindings[0]["HostPort"])
            for key, bindings in (info["NetworkSettings"]["Ports"] or {}).items()
            if bindings
        }
        inc = self._inc = _Incarnation(ip, ports)
        threading.Thread(target=self._watch_exit, args=(inc,), daemon=True).start()
        if "startup" not in self.plan.probes:
            inc.started.set()
        if "readiness" not in self.plan.probes:
            inc.ready = True
        for kind, probe in self.plan.probes.items():
            thread = threading.Thread(target=self._probe_loop, args=(inc, kind, probe), daemon=True)
            thread.start()

    def _watch_exit(self, inc: _Incarnation) -> None:
        proc = self.node.docker("wait", self.container, check=False, timeout=24 * 3600)
        with contextlib.suppress(ValueError):
            inc.exit_code = int(proc.stdout.strip())
        inc.exited.set()
        inc.stop.set()
        inc.ready = False
        self._attention.set()

    # ---- probes --------------------------------------------------------------------------
    def _probe_loop(self, inc: _Incarnation, kind: str, probe: Probe) -> None:
        if kind != "startup":  # liveness and readiness wait for the startup probe
            while not inc.started.wait(0.1):
                if inc.stop.is_set():
                    return
        if inc.stop.wait(probe.initial_delay):
            return
        successes = failures = 0
        while not inc.stop.is_set():
            began = time.monotonic()
            ok = self._probe(inc, probe)
            successes, failures = (successes + 1, 0) if ok else (0, failures + 1)
            if kind == "startup" and ok:
                self.event("startup probe succeeded")
                inc.started.set()
                return
            if kind == "readiness":
                if ok and successes >= probe.success_threshold and not inc.ready:
                    self.event("ready")
                    inc.ready = True
                elif not ok and failures >= probe.failure_threshold and inc.ready:
                    self.event("not ready")
                    inc.ready = False
            elif not ok and failures >= probe.failure_threshold:
                inc.restart_reason = f"{kind} probe failed {failures} times"
                self._attention.set()
                return
            inc.stop.wait(max(0.0, probe.period - (time.monotonic() - began)))

    def _probe(self, inc: _Incarnation, probe: Probe) -> bool:
        try:
            if probe.handler == "exec":
                command = [self.node.docker.binary, "exec", self.container, *probe.target]
                proc = subprocess.run(
                    command, capture_output=True, timeout=probe.timeout, check=False
                )
                return proc.returncode == 0
            if probe.handler == "tcpSocket":
                socket.create_connection((inc.ip, probe.port or 0), timeout=probe.timeout).close()
                return True
            request = urllib.request.Request(
                f"http://{inc.ip}:{probe.port}{probe.target[0]}",
                headers={"User-Agent": "kube-probe/1.33", "Accept": "*/*"},
            )
            with _HTTP.open(request, timeout=probe.timeout) as response:
                return 200 <= int(response.status) < 400
        except (OSError, subprocess.TimeoutExpired, urllib.error.URLError):
            return False

    # ---- restarts and termination --------------------------------------------------------
    def _supervise(self) -> None:
        """Restart the container when it exits or a liveness/startup probe gives up; for
        restartPolicy Never record the exit instead."""
        while True:
            self._attention.wait()
            self._attention.clear()
            with self._lock:
                if self._terminating.is_set():
                    return
                inc = self._inc
                if inc.restart_reason is not None:
                    self.event(f"{inc.restart_reason}: killing the container")
                    inc.stop.set()
                    self._kill(inc)
                elif not inc.exited.is_set():
                    continue
                if self.plan.restart_policy == "Never":
                    self.exit_code = inc.exit_code
                    self.event(f"exited {inc.exit_code}")
                    self._done.set()
                    return
            delay = 0.0 if self.restarts == 0 else CRASH_BACKOFF_SECONDS * 2 ** (self.restarts - 1)
            self.event(f"exited {inc.exit_code}; restarting in {min(delay, 300.0)}s")
            if self._terminating.wait(min(delay, 300.0)):
                return
            with self._lock:
                if self._terminating.is_set():
                    return
                self.node.docker("start", self.container)
                self.restarts += 1
                self._begin()

    def _kill(self, inc: _Incarnation) -> Termination:
        """preStop, then the image's stop signal, then SIGKILL when the grace period is over."""
        began = time.monotonic()
        grace, hook, error = self.plan.grace, self.plan.pre_stop, None
        if hook is not None and not inc.exited.is_set():
            if isinstance(hook, float):
                inc.exited.wait(min(hook, grace))
            else:
                command = [self.node.docker.binary, "exec", self.container, *hook]
                try:
                    proc = subprocess.run(command, capture_output=True, timeout=grace, check=False)
                    error = f"exit {proc.returncode}: {proc.stderr!r}" if proc.returncode else None
                except subprocess.TimeoutExpired:
                    error = "did not finish within the grace period"
        pre_stop = time.monotonic() - began
        if error:
            self.event(f"preStop hook failed: {error}")
        signalled = time.monotonic()
        killed = False
        if not inc.exited.is_set():
            self.node.docker("kill", "-s", self._stop_signal, self.container, check=False)
            # A preStop that used up the grace period earns a one-off 2 s extension.
            if not inc.exited.wait(max(grace - pre_stop, 2.0)):
                self.node.docker("kill", "-s", "SIGKILL", self.container, check=False)
                killed = True
                inc.exited.wait(30)
        now = time.monotonic()
        return Termination(
            pod=self.plan.name,
            began=began,
            pre_stop_seconds=round(pre_stop, 2),
            signal=self._stop_signal,
            exit_seconds=round(now - signalled, 2),
            total_seconds=round(now - began, 2),
            exit_code=inc.exit_code,
            killed=killed,
            pre_stop_error=error,
        )

    def stop(self) -> Termination:
        """Delete the pod: unready (endpoints drop it) at once, then the kubelet's stop."""
        self._terminating.set()
        self._attention.set()
        self.event("deleted: terminating")
        with self._lock:
            inc = self._inc
            inc.stop.set()
            termination = self._kill(inc)
        self.event(f"terminated: {termination}")
        self.delete()
        return termination

    def abandon(self) -> None:
        """Stop supervising (the run is over: its containers are about to be removed)."""
        self._terminating.set()
        self._attention.set()
        self._inc.stop.set()

    def delete(self) -> None:
        """Remove the container (its tmpfs and anonymous volumes); claims stay."""
        self.abandon()
        self.final_logs = self.logs()
        self.node.docker("rm", "-fv", self.container, check=False)
