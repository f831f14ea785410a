"""How each deployer applies a rendered chart and what it waits for, from its documentation.

A deployer's plan is a list of steps: objects it creates together, then what it waits for
before the next step. The pods harness plays the cluster (tests/pods/cluster.py); a plan
deadlocks when a wait needs something only a later step brings.

- Helm (helm.sh/docs/topics/charts_hooks, "The Lifecycle of a Hook"): for install, upgrade and
  rollback, the pre-<action> hooks by weight, each created anew (a hook is deleted before it
  is created again, `before-hook-creation`) and, for a Job, waited for until it completes;
  then the release's other objects, all at once; with `--wait`, every Deployment, StatefulSet
  and Pod ready (and Jobs complete with `--wait-for-jobs`) before anything else;
  then the post-<action> hooks the same way. Flux's helm-controller waits by default, Jobs too
  (`disableWait`, `disableWaitForJobs` false); Terraform's helm_release has `wait = true` and
  `wait_for_jobs = false`.
- Argo CD (argo-cd.readthedocs.io, "Helm" and "Sync Phases and Waves"): renders the chart
  with `helm template`, so install, upgrade and rollback are one and the same sync. Helm hooks
  map to its phases: pre-install and pre-upgrade to PreSync, post-install and post-upgrade to
  PostSync, hook weights to waves; `test` hooks are not run. PreSync hooks first, each waited
  for; then the other objects wave by wave (`argocd.argoproj.io/sync-wave`, default 0), each
  wave healthy before the next; PostSync once every object is healthy.
- `kubectl apply -k k8s/`: every object at once; annotations mean nothing to it.
Every plan ends where its user ends: every workload ready (`kubectl rollout status`, the
HelmRelease or Application turning Ready/Healthy).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Literal

from .spec import Obj

Action = Literal["install", "upgrade", "rollback"]


class Wait(Enum):
    NOTHING = "nothing"
    COMPLETE = "each Job complete, in order"  # a hook phase
    READY = "workloads ready"  # helm --wait, and every deployer's end
    READY_AND_JOBS = "workloads ready, Jobs complete"  # --wait-for-jobs, Argo CD health


@dataclass(frozen=True)
class Step:
    what: str
    objects: tuple[Obj, ...]
    then: Wait


Plan = list[Step]
Planner = Callable[[list[Obj], Action], Plan]


@dataclass(frozen=True)
class Deployer:
    name: str
    plan: Planner
    # Deletes what left the manifests: Helm does; `kubectl apply` without --prune and Argo CD
    # (prune is off by default) leave it.
    prunes: bool


# Helm's InstallOrder for the kinds the chart renders: the order `helm install` creates them.
_KIND_ORDER = [
    "NetworkPolicy", "ServiceAccount", "Secret", "ConfigMap", "Service", "StatefulSet",
    "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Job", "Ingress",
    "ServiceMonitor", "Pod",
]  # fmt: skip


def _annotation(obj: Obj, key: str) -> str:
    value: str = obj["metadata"].get("annotations", {}).get(key, "")
    return value


def helm_hooks(obj: Obj) -> set[str]:
    return {h.strip() for h in _annotation(obj, "helm.sh/hook").split(",") if h.strip()}


def _weight(obj: Obj, key: str) -> int:
    return int(_annotation(obj, key) or 0)


def _in_install_order(objects: Iterable[Obj]) -> tuple[Obj, ...]:
    def key(obj: Obj) -> tuple[int, str]:
        kind = obj["kind"]
        rank = _KIND_ORDER.index(kind) if kind in _KIND_ORDER else len(_KIND_ORDER)
        return rank, obj["metadata"]["name"]

    return tuple(sorted(objects, key=key))


def _hooks(docs: list[Obj], event: str) -> tuple[Obj, ...]:
    found = [d for d in docs if event in helm_hooks(d)]
    ordered = _in_install_order(found)
    return tuple(sorted(ordered, key=lambda d: _weight(d, "helm.sh/hook-weight")))


def helm(*, wait: bool, wait_for_jobs: bool = False) -> Planner:
    def plan(docs: list[Obj], action: Action) -> Plan:
        release = _in_install_order(d for d in docs if not helm_hooks(d))
        settle = Wait.NOTHING
        if wait:
            settle = Wait.READY_AND_JOBS if wait_for_jobs else Wait.READY
        return [
            Step(f"pre-{action} hooks", _hooks(docs, f"pre-{action}"), Wait.COMPLETE),
            Step("release objects", release, settle),
            Step(f"post-{action} hooks", _hooks(docs, f"post-{action}"), Wait.COMPLETE),
            Step("the user waits", (), Wait.READY),
        ]

    return plan


_ARGO_PHASES = {
    "pre-install": "PreSync",
    "pre-upgrade": "PreSync",
    "post-install": "PostSync",
    "post-upgrade": "PostSync",
}


def argo_cd(docs: list[Obj], action: Action) -> Plan:
    del action  # one sync whatever changed
    phases: dict[str, list[Obj]] = {"PreSync": [], "Sync": [], "PostSync": []}
    for doc in docs:
        hooks = helm_hooks(doc)
        if not hooks:
            phases["Sync"].append(doc)
        for hook in hooks:
            if hook in _ARGO_PHASES:
                phases[_ARGO_PHASES[hook]].append(doc)
    plan = [Step("PreSync hooks", _by_hook_weight(phases["PreSync"]), Wait.COMPLETE)]
    waves = sorted({_weight(d, "argocd.argoproj.io/sync-wave") for d in phases["Sync"]})
    for wave in waves:
        members = [d for d in phases["Sync"] if _weight(d, "argocd.argoproj.io/sync-wave") == wave]
        plan.append(Step(f"Sync wave {wave}", _in_install_order(members), Wait.READY_AND_JOBS))
    plan.append(Step("PostSync hooks", _by_hook_weight(phases["PostSync"]), Wait.COMPLETE))
    plan.append(Step("Application healthy", (), Wait.READY_AND_JOBS))
    return plan


def _by_hook_weight(objects: list[Obj]) -> tuple[Obj, ...]:
    ordered = _in_install_order(objects)
    return tuple(sorted(ordered, key=lambda d: _weight(d, "helm.sh/hook-weight")))


def kubectl_apply(docs: list[Obj], action: Action) -> Plan:
    del action
    everything = _in_install_order(d for d in docs if "test" not in helm_hooks(d))
    return [
        Step("kubectl apply -f", everything, Wait.NOTHING),
        Step("kubectl rollout status / wait", (), Wait.READY_AND_JOBS),
    ]


# `--atomic` implies `--wait`; `upgrade --install` on a first install is an install.
DEPLOYERS = [
    Deployer("helm", helm(wait=False), prunes=True),
    Deployer("helm --wait (--atomic, Terraform)", helm(wait=True), prunes=True),
    Deployer("helm --wait --wait-for-jobs (Flux)", helm(wait=True, wait_for_jobs=True), True),
    Deployer("Argo CD", argo_cd, prunes=False),
    Deployer("kubectl apply", kubectl_apply, prunes=False),
]
