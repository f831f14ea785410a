"""The harness's kubelet restarts a restartPolicy Always container as Kubernetes does: after a
crash, and after its liveness probe failed failureThreshold times (stopped the kubelet's way)."""

from __future__ import annotations

import copy
import urllib.request

import pytest

from .release import Release, record

pytestmark = pytest.mark.pods


def texts(events: list[tuple[float, str]]) -> list[str]:
    return [text for _, text in events]


def test_crashed_container_is_restarted_and_turns_ready_again(release: Release) -> None:
    pod = release.start_api_pod()
    try:
        pod.wait_ready(60)
        release.node.docker("kill", "-s", "SIGKILL", pod.container)
        restarted = pod.wait_until(lambda: pod.restarts == 1, 30, "restarted")
        ready = pod.wait_ready(60)
        with urllib.request.urlopen(f"{pod.url}/healthz", timeout=3) as response:  # noqa: S310
            assert response.status == 200
        assert "exited 137; restarting in 0.0s" in texts(pod.events)  # the first restart: at once
    finally:
        pod.stop()
    record(
        "kubelet: crash restart",
        restarted_after_s=round(restarted, 2),
        ready_after_s=round(ready, 2),
    )


def test_failing_liveness_probe_restarts_the_container(release: Release) -> None:
    deployment = copy.deepcopy(release.manifests.one("Deployment"))
    liveness = deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]
    liveness["httpGet"]["path"] = "/no-such-path"  # 404: a failure, as any status >= 400
    liveness |= {"periodSeconds": 1, "failureThreshold": 2}
    pod = release.node.start(release.node.plan(deployment, release.manifests, "liveness-check-0"))
    try:
        restarted = pod.wait_until(lambda: pod.restarts == 1, 60, "restarted")
        events = texts(pod.events)
        assert "liveness probe failed 2 times: killing the container" in events
        # Stopped the kubelet's way (preStop, SIGTERM): the app drained and exited 0.
        assert "exited 0; restarting in 0.0s" in events
    finally:
        pod.stop()
    record("kubelet: liveness restart", restarted_after_s=round(restarted, 2))
