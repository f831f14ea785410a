"""The controllers' part for one release, driven by a deployer's plan (tests/pods/deployers.py).

Applying an object does what its controller would: a StatefulSet starts its pod, a Deployment
starts its replicas or rolls them (a new pod, ready, then an old one stopped: maxUnavailable 0),
a Job runs its pod until it succeeds. Each of those runs in the background, as controllers do,
and a pod whose Secret or ConfigMap is not there yet waits for it (the kubelet's
CreateContainerConfigError). Waits are the deployer's; one that cannot be met within the bound
is the deadlock the test is looking for.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from tests.chart.render import NAMESPACE

from .deployers import Deployer, Plan, Wait
from .kubelet import JobRun, Node, Pod
from .spec import Manifests, Obj, PodConfigError, template_hash

_RETRY_SECONDS = 0.5


class Deadlock(AssertionError):
    """A deployer's wait was not met within the bound."""


@dataclass
class _Job:
    thread: threading.Thread
    run: JobRun | None = None

    @property
    def succeeded(self) -> bool:
        return self.run is not None and self.run.exit_codes[-1:] == [0]


@dataclass
class Cluster:
    node: Node
    bound: float  # seconds one wait may take
    applied: dict[tuple[str, str], Obj] = field(default_factory=dict)
    db: Pod | None = None
    api: list[Pod] = field(default_factory=list)
    jobs: dict[str, _Job] = field(default_factory=dict)
    _template: str = ""  # the hash of the Deployment template the pods should run
    _replicas: int = 0
    _rollout: threading.Thread | None = None
    _started: set[str] = field(default_factory=set)
    _closing: threading.Event = field(default_factory=threading.Event)
    _serial: int = 0

    def manifests(self) -> Manifests:
        return Manifests(list(self.applied.values()), NAMESPACE)

    # ---- a deployer's plan ---------------------------------------------------------------
    def deploy(self, deployer: Deployer, plan: Plan) -> dict[str, float]:
        """Runs the plan; the seconds each step took, from the plan's start."""
        began = time.monotonic()
        if deployer.prunes:
            wanted = {(o["kind"], o["metadata"]["name"]) for step in plan for o in step.objects}
            for key in [k for k in self.applied if k not in wanted]:
                self._delete(key)
        timings: dict[str, float] = {}
        for step in plan:
            for obj in step.objects:
                if step.then is Wait.COMPLETE:  # a hook: deleted and created anew each time
                    self.applied.pop((obj["kind"], obj["metadata"]["name"]), None)
                    self.jobs.pop(obj["metadata"]["name"], None)
                self.apply(obj)
                if step.then is Wait.COMPLETE and obj["kind"] == "Job":
                    self._wait(partial(self._job_done, obj), f"{step.what}: Job complete")
            if step.then in (Wait.READY, Wait.READY_AND_JOBS):
                with_jobs = step.then is Wait.READY_AND_JOBS
                self._wait(partial(self.ready, with_jobs=with_jobs), f"{step.what}: ready")
            timings[step.what] = round(time.monotonic() - began, 2)
        return timings

    def _wait(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + self.bound
        while not condition():
            if time.monotonic() > deadline:
                raise Deadlock(f"{what}: not within {self.bound} s\n{self.describe()}")
            time.sleep(0.1)

    # ---- what applying an object starts ---------------------------------------------------
    def apply(self, obj: Obj) -> None:
        kind, name = obj["kind"], obj["metadata"]["name"]
        self.applied[(kind, name)] = obj
        if kind == "StatefulSet" and "StatefulSet" not in self._started:
            self._started.add("StatefulSet")
            self._in_background(self._start_db, obj)
        elif kind == "Deployment":
            self._apply_deployment(obj)
        elif kind == "Job" and name not in self.jobs:
            self.jobs[name] = _Job(self._in_background(self._run_job, obj))

    def _delete(self, key: tuple[str, str]) -> None:
        del self.applied[key]
        if key[0] == "Job":
            self.jobs.pop(key[1], None)  # its pods go with it; applied again, it runs again

    def _apply_deployment(self, deployment: Obj) -> None:
        template = template_hash(deployment["spec"]["template"])
        self._replicas = int(deployment["spec"]["replicas"])
        if template == self._template:
            return
        self._template = template
        self._rollout = self._in_background(self._roll, deployment, template, self._rollout)

    def _in_background(self, target: Callable[..., None], *args: Any) -> threading.Thread:
        """A controller's work: the deployer does not wait for it."""
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        return thread

    def _start_db(self, statefulset: Obj) -> None:
        self.db = self._start_pod(statefulset, f"{statefulset['metadata']['name']}-0")

    def _roll(self, deployment: Obj, template: str, previous: threading.Thread | None) -> None:
        """The first rollout starts every replica; later ones replace them one at a time."""
        if previous is not None:
            previous.join()
        if not self.api:
            for _ in range(self._replicas):
                self.api.append(self._start_api_pod(deployment))
            return
        for old in list(self.api):
            if self._closing.is_set() or self._template != template:
                return
            new = self._start_api_pod(deployment)
            while not new.ready:
                if self._closing.is_set():
                    return
                time.sleep(0.1)
            self.api[self.api.index(old)] = new
            old.stop()

    def _start_api_pod(self, deployment: Obj) -> Pod:
        self._serial += 1
        name = f"{deployment['metadata']['name']}-{self._template}-{self._serial}"
        return self._start_pod(deployment, name)

    def _start_pod(self, workload: Obj, name: str) -> Pod:
        self._until_startable(workload)
        return self.node.start(self.node.plan(workload, self.manifests(), name))

    def _until_startable(self, workload: Obj) -> None:
        """A Secret or ConfigMap the pod needs is not applied yet: the kubelet waits for it."""
        while True:
            try:
                self.node.plan(workload, self.manifests(), "check")
            except PodConfigError:
                if self._closing.wait(_RETRY_SECONDS):
                    raise
            else:
                return

    def _run_job(self, job: Obj) -> None:
        self._until_startable(job)
        run = self.node.run_job(job, self.manifests(), "run")
        state = self.jobs.get(job["metadata"]["name"])
        if state is not None:
            state.run = run

    # ---- what the waits look at -----------------------------------------------------------
    def _job_done(self, job: Obj) -> bool:
        state = self.jobs.get(job["metadata"]["name"])
        return state is not None and state.succeeded

    def ready(self, *, with_jobs: bool) -> bool:
        """Every workload applied is ready: the database pod, the Deployment rolled out with all
        its replicas ready (and, with_jobs, every Job complete)."""
        kinds = {kind for kind, _ in self.applied}
        if "StatefulSet" in kinds and not (self.db is not None and self.db.ready):
            return False
        if "Deployment" in kinds:
            rolled = self._rollout is not None and not self._rollout.is_alive()
            current = [p for p in self.api if self._template in p.plan.name]
            if not (rolled and len(current) == self._replicas and all(p.ready for p in current)):
                return False
        return not with_jobs or all(job.succeeded for job in self.jobs.values())

    def describe(self) -> str:
        lines = [f"db: {self.db and self.db.ready}"]
        lines += [f"api {p.plan.name}: ready={p.ready}" for p in self.api]
        for name, job in self.jobs.items():
            codes = job.run.exit_codes if job.run else "not finished"
            lines.append(f"job {name}: {codes}")
        return "\n".join(lines)

    def close(self) -> None:
        self._closing.set()
        if self._rollout is not None:
            self._rollout.join(30)
        for job in self.jobs.values():
            job.thread.join(0)
