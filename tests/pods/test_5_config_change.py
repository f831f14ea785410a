"""Scenario 5, config change: a changed ConfigMap value (LOG_LEVEL) changes the pod template's
checksum annotation, so `helm upgrade` rolls the replicas; the new pods get the value in their
environment and act on it (DEBUG logs the probe requests that INFO keeps quiet)."""

from __future__ import annotations

import copy

import pytest

from .release import Release, json_logs, record

pytestmark = pytest.mark.pods


def probe_lines(logs: str) -> int:
    """Access-log lines of the kubelet's probes: logged at DEBUG only (service/logs.py)."""
    return sum(
        1
        for e in json_logs(logs)
        if e.get("message") == "request" and e.get("path") in ("/healthz", "/readyz")
    )


def test_changed_config_map_rolls_pods_that_use_the_new_value(release: Release) -> None:
    before = release.manifests
    after = release.render({"config": {"logLevel": "DEBUG"}})
    assert (before.config_map("user-service") or {})["LOG_LEVEL"] == "INFO"
    assert (after.config_map("user-service") or {})["LOG_LEVEL"] == "DEBUG"

    old_template = before.one("Deployment")["spec"]["template"]
    new_template = after.one("Deployment")["spec"]["template"]
    old_notes, new_notes = (
        old_template["metadata"]["annotations"],
        new_template["metadata"]["annotations"],
    )
    assert old_notes["checksum/config"] != new_notes["checksum/config"]
    assert old_notes["checksum/postgresql-secret"] == new_notes["checksum/postgresql-secret"]
    # The checksum is the only difference: without it the pods would never roll.
    strip = copy.deepcopy(new_template)
    strip["metadata"]["annotations"]["checksum/config"] = old_notes["checksum/config"]
    assert strip == old_template

    old = list(release.api)
    assert all(probe_lines(pod.logs()) == 0 for pod in old)  # INFO: probes not logged

    # helm upgrade: the pre-upgrade hook (same Job, new inline settings) runs first, then the
    # Deployment's new template rolls out.
    job = release.run_migration("upgrade", after)
    assert job.exit_codes == [0], job.logs[-1]
    new, terminations = release.roll(after)

    for pod in new:
        assert pod.env()["LOG_LEVEL"] == "DEBUG"
        assert pod.ready and pod.restarts == 0
        assert probe_lines(pod.logs()) > 0, pod.describe()  # DEBUG: the probes show up
    assert all(probe_lines(pod.final_logs) == 0 for pod in old)
    assert all(t.exit_code == 0 and not t.killed for t in terminations), terminations
    record(
        "5 config change",
        checksum_before=old_notes["checksum/config"][:12],
        checksum_after=new_notes["checksum/config"][:12],
        new_pods=[pod.plan.name for pod in new],
        probe_log_lines_new=[probe_lines(pod.logs()) for pod in new],
        probe_log_lines_old=[probe_lines(pod.final_logs) for pod in old],
        rollout_stops=[t.total_seconds for t in terminations],
    )
