"""Scenario 7, the `skaffold dev` loop without skaffold: skaffold.yaml's `dev` profile builds the
Dockerfile's `dev` target and syncs edited service/**/*.py files into the running pods. Here the
dev image runs as the chart renders the API pod with that profile's values; an edited module is
copied in where the profile's sync rule puts it, the way skaffold does (`tar` through an exec,
as the container's user); the next requests show the new code, with no new image, no new pod
and no migration Job. The kubelet's SIGTERM still drains the reloaded service. The production
image has neither the reloader nor code its user could change.

What skaffold itself does (its file watcher, choosing sync over rebuild, `kubectl exec`) is not
run: no skaffold binary can be installed here. Its configuration is checked against the schema
this project wrote from skaffold's configuration reference (schemas/skaffold.schema.json), with
each profile's patches applied as skaffold applies them.
"""

from __future__ import annotations

import copy
import http.client
import io
import json
import os
import re
import secrets
import subprocess
import tarfile
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
import yaml

from tests.container.dockerctl import Docker
from tests.helpers import REPO

from .release import Release, chart_defaults, record

pytestmark = pytest.mark.pods

SKAFFOLD_SCHEMA = REPO / "schemas" / "skaffold.schema.json"
EDITED_MODULE = "service/health.py"
# The liveness body: a module constant, so an edit of it shows on the next GET /healthz.
LIVE_BODY_LINE = re.compile(r"^_LIVE_BODY = b'\{\"status\": \"ok\"\}'", re.MULTILINE)
EDITS = 3  # three edits in a row: the figure is the copy-to-new-behaviour time of each
RELOAD_BOUND_SECONDS = 30.0  # a failure guard only; the figures are the measurement
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy to loopback

Obj = dict[str, Any]


# ---- skaffold.yaml as skaffold reads it ------------------------------------------------------
def skaffold_config(*profiles: str) -> Obj:
    """skaffold.yaml with the named profiles' JSON patches applied (RFC 6902 `add`, the only op
    it uses), as skaffold applies an active profile's patches before it reads the config."""
    config: Obj = yaml.safe_load((REPO / "skaffold.yaml").read_text())
    by_name = {profile["name"]: profile for profile in config["profiles"]}
    patched = copy.deepcopy(config)
    for name in profiles:
        for patch in by_name[name].get("patches", []):
            assert patch["op"] == "add", f"profile {name}: only `add` is modelled here"
            tokens = patch["path"].split("/")[1:]
            *parents, key = [t.replace("~1", "/").replace("~0", "~") for t in tokens]
            node: Any = patched
            for part in parents:
                node = node[int(part)] if isinstance(node, list) else node[part]
            node[key] = patch["value"]
    return patched


def helm_values(flat: Obj) -> Obj:
    """skaffold's setValues (`--set a.b=c` each) as the nested values helm builds from them."""
    values: Obj = {}
    for dotted, value in flat.items():
        *parents, key = dotted.split(".")
        node = values
        for part in parents:
            node = node.setdefault(part, {})
        node[key] = value
    return values


def sync_destination(rules: list[Obj], path: str) -> str:
    """Where skaffold's manual sync puts a file of the context (pkg/skaffold/sync/sync.go,
    matchSyncRules): dest joined with the path minus `strip`, for the first matching rule."""
    for rule in rules:
        # doublestar: `**/` is zero or more directories, `*` stays within one.
        parts = re.split(r"(\*\*/|\*)", rule["src"])
        tokens = {"**/": "(?:.*/)?", "*": "[^/]*"}
        pattern = "".join(tokens.get(part, re.escape(part)) for part in parts)
        if re.fullmatch(pattern, path):
            assert rule["dest"].startswith("/"), "a relative dest depends on the image's WORKDIR"
            return os.path.join(rule["dest"], path.removeprefix(rule.get("strip", "")))
    raise AssertionError(f"no sync rule matches {path}")


def dev_artifact() -> Obj:
    artifact: Obj = skaffold_config("dev")["build"]["artifacts"][0]
    return artifact


def test_skaffold_config_with_each_profile_is_valid() -> None:
    validator = jsonschema.Draft7Validator(json.loads(SKAFFOLD_SCHEMA.read_text()))
    for active in ((), ("dev",), ("kind",), ("dev", "kind")):
        errors = [e.message for e in validator.iter_errors(skaffold_config(*active))]
        assert errors == [], (active, errors)
    plain = skaffold_config()["build"]["artifacts"][0]  # skaffold run / build
    assert "target" not in plain["docker"] and "sync" not in plain
    profiles = {profile["name"]: profile for profile in skaffold_config()["profiles"]}
    assert profiles["dev"]["activation"] == [{"command": "dev"}]  # skaffold dev only
    assert dev_artifact()["docker"]["target"] == "dev"
    assert sync_destination(dev_artifact()["sync"]["manual"], EDITED_MODULE) == (
        "/app/service/health.py"
    )
    # Both profiles together keep each other's values (they add keys, not the whole map).
    both = skaffold_config("dev", "kind")["deploy"]["helm"]["releases"][0]["setValues"]
    assert both.keys() >= {"securityContext.readOnlyRootFilesystem", "service.type"}


# ---- the dev image in a pod ------------------------------------------------------------------
@pytest.fixture(scope="session")
def dev_image(pods_docker: Docker, pods_run_id: str) -> Iterator[str]:
    """The Dockerfile's `dev` target, built by the same script as the production image."""
    tag = f"pods-{pods_run_id}-dev"
    proc = subprocess.run(
        ["scripts/build-image.sh"], cwd=REPO, capture_output=True, text=True, timeout=1200,
        check=False,
        env={**os.environ, "DOCKER": pods_docker.binary, "IMAGE": f"user-service:{tag}",
             "TARGET": dev_artifact()["docker"]["target"]},
    )  # fmt: skip
    if proc.returncode != 0:
        pytest.fail(f"build-image.sh (dev target) failed:\n{proc.stdout}\n{proc.stderr}")
    print(proc.stdout.strip().splitlines()[-1])
    yield tag
    pods_docker("rmi", f"user-service:{tag}", check=False)


def get_healthz(url: str) -> bytes | None:
    try:
        with _HTTP.open(f"{url}/healthz", timeout=2) as response:
            body: bytes = response.read()
            return body
    except (OSError, http.client.HTTPException):  # refused or cut while the process restarts
        return None


def synced_tar(destination: str, content: bytes) -> bytes:
    """What skaffold streams into the pod: one entry per file, named by its absolute
    destination, with the local file's mode (pkg/skaffold/util/tar.go, CreateMappedTar)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        entry = tarfile.TarInfo(destination)
        entry.size, entry.mode, entry.mtime = len(content), 0o644, int(time.time())
        tar.addfile(entry, io.BytesIO(content))
    return buffer.getvalue()


def skaffold_sync(docker: Docker, container: str, destination: str, content: bytes) -> None:
    """skaffold's copy: `kubectl exec POD -c C -i -- tar xmf - -C / --no-same-owner`, which runs
    as the container's user, as `docker exec` does."""
    command = [docker.binary, "exec", "-i", container, "tar", "xmf", "-", "-C", "/"]
    proc = subprocess.run(
        [*command, "--no-same-owner"], input=synced_tar(destination, content),
        capture_output=True, timeout=30, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()


def test_synced_edit_is_served_by_the_running_dev_pod(release: Release, dev_image: str) -> None:
    config = skaffold_config("dev")
    dev_values = helm_values(config["deploy"]["helm"]["releases"][0]["setValues"])
    # The chart's own liveness probe, as skaffold dev deploys it (the harness shortens probes to
    # keep scenarios quick): each reload leaves /healthz unanswered while the process restarts,
    # seconds on a loaded machine, which 2 s x 3 would turn into a container restart.
    liveness = chart_defaults()["probes"]["liveness"]
    manifests = release.render(
        {**dev_values, "image": {"tag": dev_image}, "probes": {"liveness": liveness}}
    )
    container = manifests.one("Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is False
    assert "command" not in container  # the dev image's entrypoint runs, with the chart's args
    destination = sync_destination(dev_artifact()["sync"]["manual"], EDITED_MODULE)
    original = (REPO / EDITED_MODULE).read_text()
    assert len(LIVE_BODY_LINE.findall(original)) == 1, f"{EDITED_MODULE} changed: pick an edit"

    pod = release.start_api_pod(manifests)
    node = release.node
    stopped = False
    try:
        pod.wait_ready(60)
        imported = node.docker(
            "exec", pod.container, "python", "-c", "import service.health as h; print(h.__file__)"
        ).stdout.strip()
        assert imported == destination  # the synced path is the code that runs
        assert get_healthz(pod.url) == b'{"status": "ok"}'

        seconds: list[float] = []
        for edit in range(1, EDITS + 1):
            marker = f"edit-{edit}-{secrets.token_hex(4)}"
            body = f'_LIVE_BODY = b\'{{"status": "ok", "edit": "{marker}"}}\''
            edited = LIVE_BODY_LINE.sub(body, original)  # body: no backslash, no group reference
            copied = time.monotonic()
            skaffold_sync(node.docker, pod.container, destination, edited.encode())
            while marker.encode() not in (get_healthz(pod.url) or b""):
                if time.monotonic() - copied > RELOAD_BOUND_SECONDS:
                    pytest.fail(f"edit {edit} not served in time\n{pod.describe()}")
                time.sleep(0.05)
            seconds.append(round(time.monotonic() - copied, 2))
        pod.wait_ready(30)  # the restarted process is ready again, in the same container
        assert pod.restarts == 0, pod.describe()
        reloads = [e for e in logs_of(pod.logs()) if e.get("logger") == "dev-reload"]
        assert sum(e["message"] == "change detected: restarting" for e in reloads) == EDITS
        stops = [e["seconds"] for e in reloads if e["message"] == "stopped"]

        termination = pod.stop()  # the kubelet's way: preStop, SIGTERM, SIGKILL at the grace
        stopped = True
    finally:
        if not stopped:
            pod.delete()
    assert termination.exit_code == 0 and not termination.killed, termination
    # The last process (started by the last reload) got the kubelet's SIGTERM and drained.
    final = logs_of(pod.final_logs)
    starts = [i for i, e in enumerate(final) if e.get("logger") == "dev-reload" and "pid" in e]
    last_start = starts[-1]
    assert final[last_start]["reloads"] == EDITS
    drained = [e.get("message") for e in final[last_start:]]
    assert "shutdown requested" in drained and "stopped" in drained, pod.final_logs[-3000:]
    assert final[-1] == {"logger": "dev-reload", "message": "exiting", "code": 0}
    record(
        "7 dev loop",
        copy_to_new_behaviour_s=seconds,
        old_process_stop_s=stops,
        sigterm_exit_s=termination.exit_seconds,
    )
    assert max(seconds) < RELOAD_BOUND_SECONDS


def logs_of(text: str) -> list[Obj]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


# ---- the production image stays as it was --------------------------------------------------
# Runs in the production image as its own user: where the code is, and what of it that user
# could change (the root filesystem left writable, to see file permissions alone).
PRODUCTION_PROBE = r"""
import importlib.util, json, os, service
code = os.path.dirname(service.__file__)
writable = [root for root, _, _ in os.walk(code) if os.access(root, os.W_OK)]
writable += [os.path.join(root, name) for root, _, files in os.walk(code) for name in files
             if os.access(os.path.join(root, name), os.W_OK)]
print(json.dumps({
    "watchfiles": importlib.util.find_spec("watchfiles") is not None,
    "code": code,
    "writable": writable,
    "dev_paths": [p for p in ("/app", "/opt/dev") if os.path.exists(p)],
}))
"""


def test_production_image_has_no_reloader_and_no_writable_code(
    pods_docker: Docker, pods_images: tuple[str, str]
) -> None:
    image = f"user-service:{pods_images[0]}"
    config = pods_docker.inspect(image)["Config"]
    assert config["Entrypoint"] == ["python", "-m", "service"]
    probe = ("run", "--rm", "--network", "none", "--entrypoint", "python", image)
    found = json.loads(pods_docker(*probe, "-c", PRODUCTION_PROBE).stdout)
    assert found["watchfiles"] is False
    assert found["code"].startswith("/opt/venv/lib/"), found  # the installed wheel
    assert found["writable"] == [] and found["dev_paths"] == [], found
    # The probe's own import must fail, not just report: the image cannot run the reloader.
    assert pods_docker(*probe, "-c", "import watchfiles", check=False).returncode == 1
