"""One version everywhere: the package, its metadata and the chart's appVersion."""

from __future__ import annotations

import tomllib

import yaml

from service import __version__
from tests.helpers import REPO


def test_version_is_the_same_everywhere() -> None:
    with (REPO / "pyproject.toml").open("rb") as f:
        assert tomllib.load(f)["project"]["version"] == __version__
    chart = yaml.safe_load((REPO / "helm/user-service/Chart.yaml").read_text())
    assert chart["appVersion"] == __version__
