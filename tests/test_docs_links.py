"""Every relative link in the repository's markdown (README.md, docs/, k8s/, monitoring/) names a
file that exists and, with a #fragment, a heading of that file, as GitHub renders it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.chart.test_chart_readme import github_anchors
from tests.helpers import REPO

PAGES = sorted(
    [
        REPO / "README.md",
        *(REPO / "docs").glob("*.md"),
        *REPO.glob("k8s/**/*.md"),
        *REPO.glob("monitoring/**/*.md"),
    ]
)
# [text](target) outside fenced code; absolute URLs and mail are another test's business.
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def relative_links(markdown: str) -> list[str]:
    links: list[str] = []
    fence = False
    for line in markdown.splitlines():
        if re.match(r"^\s*(```|~~~)", line):
            fence = not fence
            continue
        if not fence:
            links += [x for x in _LINK.findall(line) if not re.match(r"^[a-z]+:", x)]
    return links


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_name_existing_files_and_headings(page: Path) -> None:
    broken = []
    for link in relative_links(page.read_text()):
        target, _, anchor = link.partition("#")
        path = (page.parent / target).resolve() if target else page
        if not path.exists():
            broken.append(f"{link}: no file {path}")
        elif anchor and path.suffix == ".md" and anchor not in github_anchors(path.read_text()):
            broken.append(f"{link}: no heading #{anchor} in {path.relative_to(REPO)}")
    assert broken == []


def test_links_are_found() -> None:
    assert "docs/scaling.md" in relative_links((REPO / "README.md").read_text())
    assert relative_links("[a](b.md#c)\n```\n[d](e.md)\n```\n[f](https://x)") == ["b.md#c"]
