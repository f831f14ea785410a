"""Fixtures for the chart tests: real helm and kubectl binaries from .tools/bin
(scripts/install-tools.sh).

Without them these tests skip with the reason, except under CI=true, where they must run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import REPO, skip_or_fail

from .render import Helm, Render

TOOLS = REPO / ".tools" / "bin"


def find_helm(name: str) -> Helm:
    binary = TOOLS / name
    if not (binary.exists() and os.access(binary, os.X_OK)):
        skip_or_fail(f"{binary} not found: run scripts/install-tools.sh")
    return Helm(binary)


@pytest.fixture(scope="session")
def helm() -> Helm:
    """The default helm (.tools/bin/helm)."""
    return find_helm("helm")


@pytest.fixture(scope="session", params=["helm3", "helm4"])
def each_helm(request: pytest.FixtureRequest) -> Helm:
    """Both Helm majors the chart supports, for the tests that must hold on each."""
    return find_helm(str(request.param))


@pytest.fixture(scope="session")
def kubectl() -> Path:
    """kubectl from .tools/bin, whatever is on PATH (for `kubectl kustomize`: no cluster)."""
    binary = TOOLS / "kubectl"
    if not (binary.exists() and os.access(binary, os.X_OK)):
        skip_or_fail(f"{binary} not found: run scripts/install-tools.sh")
    return binary


@pytest.fixture(scope="session")
def default_render(helm: Helm) -> Render:
    """The chart rendered with its default values."""
    return helm.render()
