"""What the image is, before it runs: identity, metadata, and what it must not contain."""

from __future__ import annotations

import json
import re
import tomllib

import pytest

from tests.helpers import REPO

from .dockerctl import Docker

pytestmark = pytest.mark.container

# Runs inside the image as root (to see everything) with no network; prints what it finds.
INSPECT_SCRIPT = r"""
import importlib.util, json, os, shutil, sys
found = {"compilers": [], "pip_caches": [], "tests_dirs": [], "secrets": []}
for tool in ("gcc", "cc", "c++", "g++", "clang", "make"):
    if shutil.which(tool):
        found["compilers"].append(shutil.which(tool))
for root, dirs, files in os.walk("/"):
    if root in ("/proc", "/sys", "/dev"):
        dirs.clear()
        continue
    for d in dirs:
        path = os.path.join(root, d)
        if d == "pip" and os.path.basename(root) == ".cache":
            found["pip_caches"].append(path)
        if d == "tests" and (root in ("/", "/src", "/app") or "/service" in path):
            found["tests_dirs"].append(path)
if os.path.exists("/run/secrets/ca-bundle") and os.path.getsize("/run/secrets/ca-bundle"):
    found["secrets"].append("/run/secrets/ca-bundle")
found["pip_in_venv"] = importlib.util.find_spec("pip") is not None
found["source_tree"] = [p for p in ("/src", "/src/service", "/app") if os.path.exists(p)]
print(json.dumps(found))
"""


def test_image_metadata_matches_the_contract(docker: Docker, images: str) -> None:
    config = docker.inspect(images)["Config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["python", "-m", "service"]
    assert config["Cmd"] == ["serve"]
    assert "8080/tcp" in config["ExposedPorts"]
    assert config["Healthcheck"]["Test"][0] == "CMD"  # exec form: no shell needed
    assert "/healthz" in " ".join(config["Healthcheck"]["Test"])
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["PATH"].startswith("/opt/venv/bin:")
    assert env["PYTHONDONTWRITEBYTECODE"] == env["PYTHONUNBUFFERED"] == "1"
    labels = config["Labels"]
    with (REPO / "pyproject.toml").open("rb") as f:
        version = tomllib.load(f)["project"]["version"]
    assert labels["org.opencontainers.image.version"] == version
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", labels["org.opencontainers.image.revision"])
    assert labels["org.opencontainers.image.source"]


def test_image_holds_no_build_tools_caches_tests_or_secrets(docker: Docker, images: str) -> None:
    proc = docker(
        "run", "--rm", "--network", "none", "--user", "0", "--entrypoint", "python",
        images, "-c", INSPECT_SCRIPT,
    )  # fmt: skip
    found = json.loads(proc.stdout)
    assert found == {
        "compilers": [], "pip_caches": [], "tests_dirs": [], "secrets": [],
        "pip_in_venv": False, "source_tree": [],
    }  # fmt: skip
    history = docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", images).stdout
    assert "BEGIN CERTIFICATE" not in history
    assert "PIP_CERT=/run" not in " ".join(docker.inspect(images)["Config"]["Env"])


def test_runs_as_10001_by_default(docker: Docker, images: str) -> None:
    proc = docker("run", "--rm", "--network", "none", "--entrypoint", "id", images)
    assert proc.stdout.startswith("uid=10001(app) gid=10001(app)")


def test_invalid_config_exits_2_naming_the_variable(docker: Docker, images: str) -> None:
    proc = docker(
        "run", "--rm", "--network", "none", "--read-only", "-e", "PORT=not-a-port", images,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "PORT" in proc.stderr
