"""The static pipeline: bad values fail, k8s/ is fresh, and scripts/verify-chart.sh passes.

verify-chart.sh is what CI relies on for helm 3 + 4 lint/template, kubernetes-validate over
1.29-1.37, yamllint, check-jsonschema and checkov; running it here keeps it exercised.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, skip_or_fail

from .conftest import TOOLS
from .render import Helm

pytestmark = pytest.mark.chart

BAD_VALUES = sorted((REPO / "tests" / "chart" / "bad-values").glob("*.yaml"))


def render_bad_values(helm: Helm, path: Path) -> str:
    """helm template with a bad values file: it must fail; its error output."""
    result = subprocess.run(
        [str(helm.binary), "template", "x", str(REPO / "helm" / "user-service"), "-f", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode != 0, f"{path.name} rendered but must fail"
    return result.stderr


@pytest.mark.parametrize("path", BAD_VALUES, ids=[p.stem for p in BAD_VALUES])
def test_bad_values_fail_for_the_stated_reason(each_helm: Helm, path: Path) -> None:
    expected = re.findall(r"^# expect \(regex\): (.+)$", path.read_text(), flags=re.MULTILINE)
    assert expected, f"{path.name} needs an '# expect (regex):' header"
    error = render_bad_values(each_helm, path)
    for pattern in expected:
        assert re.search(pattern, error), f"/{pattern}/ not in:\n{error}"


def test_three_mistakes_are_reported_in_one_message(each_helm: Helm) -> None:
    """One render names every problem, not the first one only (user-service.validateValues)."""
    error = render_bad_values(
        each_helm, REPO / "tests" / "chart" / "bad-values" / "three-mistakes.yaml"
    )
    problems = [line for line in error.splitlines() if line.startswith("- ")]
    assert "3 problems with the values" in error, error
    assert [p.split(":")[0].split(" (")[0] for p in problems] == [
        "- pdb.minAvailable",
        "- connection budget exceeded",
        "- metrics.port",
    ], error


def generated_files(root: Path) -> dict[str, str]:
    """Every file under root but the hand-written README.md, by relative path."""
    return {
        str(p.relative_to(root)): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.relative_to(root) != Path("README.md")
    }


def test_k8s_manifests_equal_a_fresh_render(helm: Helm, tmp_path: Path) -> None:
    venv = Path(os.environ.get("VENV", Path(sys.executable).parent.parent))
    subprocess.run(
        [str(REPO / "scripts" / "render-k8s.sh"), str(tmp_path)],
        env={**os.environ, "HELM": str(helm.binary), "VENV": str(venv)},
        check=True,
        capture_output=True,
        timeout=120,
    )
    fresh, committed = generated_files(tmp_path), generated_files(REPO / "k8s")
    assert sorted(committed) == sorted(fresh), "k8s/ is stale: run scripts/render-k8s.sh"
    for name, text in fresh.items():
        assert committed[name] == text, f"k8s/{name} is stale: run scripts/render-k8s.sh"


@pytest.mark.slow
def test_verify_chart_script_passes() -> None:
    venv = Path(os.environ.get("VENV", Path(sys.executable).parent.parent))
    needed = [TOOLS / "helm3", TOOLS / "helm4", TOOLS / "kubectl"]
    needed += [TOOLS.parent / "checkov" / "bin" / "checkov"]
    needed += [
        venv / "bin" / tool for tool in ("kubernetes-validate", "yamllint", "check-jsonschema")
    ]
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        skip_or_fail(f"missing {', '.join(missing)}: run scripts/install-tools.sh")
    result = subprocess.run(
        [str(REPO / "scripts" / "verify-chart.sh")],
        env={**os.environ, "VENV": str(venv)},
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "verify-chart: all checks passed" in result.stdout
    assert "FAIL" not in result.stdout


def test_kube_version_floor_is_1_29(each_helm: Helm) -> None:
    each_helm.render(None, "--kube-version", "1.29.0")
    each_helm.render(None, "--kube-version", "1.37.0")
    error = each_helm.render_error(None, "--kube-version", "1.28.9")
    assert "kubeVersion" in error or "incompatible" in error, error
