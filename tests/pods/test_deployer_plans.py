"""Each deployer's plan for the rendered chart, read without running it (no Docker needed).

A plan deadlocks when a step waits for something that only a later step creates: pods that
turn ready only after the migration Job, which a later hook phase runs (helm --wait with a
post-install hook), or a Job whose Secret comes after it (Argo CD's PreSync). test_6_deployers
runs the same plans with real pods.
"""

from __future__ import annotations

import pytest

from tests.chart.conftest import find_helm
from tests.chart.render import Render

from .deployers import DEPLOYERS, Action, Deployer, Plan, Step, Wait, helm_hooks
from .spec import Obj

ACTIONS: list[Action] = ["install", "upgrade", "rollback"]


@pytest.fixture(scope="module")
def rendered() -> Render:
    return find_helm("helm").render()


def _job_step(plan: Plan) -> int:
    [index] = [i for i, step in enumerate(plan) for o in step.objects if o["kind"] == "Job"]
    return index


def _first_ready_wait(plan: Plan) -> int:
    return next(i for i, s in enumerate(plan) if s.then in (Wait.READY, Wait.READY_AND_JOBS))


def _needs(obj: Obj) -> set[tuple[str, str]]:
    """The Secrets and ConfigMaps a workload's pods cannot start without."""
    spec = obj["spec"]["template"]["spec"]
    needed: set[tuple[str, str]] = set()
    for container in spec["containers"]:
        for source in container.get("envFrom", []):
            for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                if key in source and not source[key].get("optional"):
                    needed.add((kind, source[key]["name"]))
        for env in container.get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref and not ref.get("optional"):
                needed.add(("Secret", ref["name"]))
    for volume in spec.get("volumes", []):
        if "secret" in volume and not volume["secret"].get("optional"):
            needed.add(("Secret", volume["secret"]["secretName"]))
        if "configMap" in volume and not volume["configMap"].get("optional"):
            needed.add(("ConfigMap", volume["configMap"]["name"]))
    return needed


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("deployer", DEPLOYERS, ids=lambda d: d.name)
def test_the_migration_job_is_created_before_anyone_waits_for_ready_pods(
    rendered: Render, deployer: Deployer, action: Action
) -> None:
    """API pods turn ready only once the Job has migrated: a wait for ready pods before the
    Job exists never ends (the old post-install hook under helm --wait, Flux, Terraform)."""
    plan = deployer.plan(rendered.docs, action)
    assert _job_step(plan) <= _first_ready_wait(plan), _describe(plan)


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("deployer", DEPLOYERS, ids=lambda d: d.name)
def test_every_workload_is_created_no_earlier_than_what_it_needs(
    rendered: Render, deployer: Deployer, action: Action
) -> None:
    """A Job waited for in a step that comes before its Secret never starts (a hook Job in
    Argo CD's PreSync, before the release's objects)."""
    plan = deployer.plan(rendered.docs, action)
    created = {
        (o["kind"], o["metadata"]["name"]): i for i, step in enumerate(plan) for o in step.objects
    }
    for i, step in enumerate(plan):
        for obj in step.objects:
            if obj["kind"] in ("Deployment", "StatefulSet", "Job"):
                late = {need for need in _needs(obj) if created.get(need, len(plan)) > i}
                assert not late, f"{obj['kind']} {obj['metadata']['name']} needs {late}"


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("deployer", DEPLOYERS, ids=lambda d: d.name)
def test_every_object_is_created_once(rendered: Render, deployer: Deployer, action: Action) -> None:
    plan = deployer.plan(rendered.docs, action)
    created = [(o["kind"], o["metadata"]["name"]) for step in plan for o in step.objects]
    expected = {
        (d["kind"], d["metadata"]["name"]) for d in rendered.docs if "test" not in helm_hooks(d)
    }
    assert sorted(created) == sorted(expected)


# --- the model itself, on a chart with hooks --------------------------------------------------


def _obj(kind: str, name: str, hook: str = "") -> Obj:
    annotations = {"helm.sh/hook": hook} if hook else {}
    return {"kind": kind, "metadata": {"name": name, "annotations": annotations}}


HOOKED = [
    _obj("Secret", "s"),
    _obj("Deployment", "d"),
    _obj("Job", "migrate", "post-install,pre-upgrade"),
    _obj("Pod", "t", "test"),
]


def _names(step: Step) -> list[str]:
    return [o["metadata"]["name"] for o in step.objects]


def test_helm_runs_hooks_around_the_release_objects_and_waits_between() -> None:
    [d] = [d for d in DEPLOYERS if d.name.startswith("helm --wait (")]
    install = d.plan(HOOKED, "install")
    assert [(s.what, _names(s), s.then) for s in install] == [
        ("pre-install hooks", [], Wait.COMPLETE),
        ("release objects", ["s", "d"], Wait.READY),
        ("post-install hooks", ["migrate"], Wait.COMPLETE),
        ("the user waits", [], Wait.READY),
    ]
    assert _names(d.plan(HOOKED, "upgrade")[0]) == ["migrate"]
    assert all(not s.objects for s in d.plan(HOOKED, "rollback") if "hooks" in s.what)


def test_argo_cd_maps_both_hook_events_and_ignores_test_hooks() -> None:
    [d] = [d for d in DEPLOYERS if d.name == "Argo CD"]
    plan = d.plan(HOOKED, "install")
    assert [(s.what, _names(s)) for s in plan] == [
        ("PreSync hooks", ["migrate"]),
        ("Sync wave 0", ["s", "d"]),
        ("PostSync hooks", ["migrate"]),
        ("Application healthy", []),
    ]


def _describe(plan: Plan) -> str:
    return "\n".join(f"{s.what}: {_names(s)} then {s.then.value}" for s in plan)
