"""The chart as a chart index shows it: its README (parameters table generated from values.yaml,
links that work outside the repository) and its Chart.yaml metadata (Artifact Hub annotations
in their documented formats, the images a default render really uses, `helm lint --strict`
without recommendations), with Helm 3 and Helm 4.
"""

from __future__ import annotations

import difflib
import itertools
import json
import re
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree

import pytest
import yaml

from tests.helpers import REPO

from .render import CHART, Helm, Render
from .test_chart_topology import install_notes

# scripts/ is no package (its scripts run standalone), so the generator is imported by path.
sys.path.insert(0, str(REPO / "scripts"))
import chart_readme

pytestmark = pytest.mark.chart

README = CHART / "README.md"
NOTES = CHART / "templates" / "NOTES.txt"
METADATA: dict[str, Any] = yaml.safe_load((CHART / "Chart.yaml").read_text())
HOME: str = METADATA["home"]
ANNOTATIONS: dict[str, str] = METADATA["annotations"]
ICON = "docs/images/user-service-icon.svg"
# Repository pages that are not files: the repository itself and its issue tracker.
REPO_PAGES = {HOME, f"{HOME}/issues"}
# Values that reach every branch of NOTES.txt that prints a link.
NOTES_WITH_EVERY_LINK = {
    "ingress": {"enabled": True},
    "metrics": {"serviceMonitor": {"enabled": True}},
    "postgresql": {"enabled": False},
    "cnpg": {"enabled": True},
}


def values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return loaded


# --- the parameters table -------------------------------------------------------------------


def test_readme_table_is_a_fresh_generation_from_values_yaml() -> None:
    fresh = chart_readme.generate()
    current = README.read_text()
    diff = difflib.unified_diff(current.splitlines(True), fresh.splitlines(True), "README", "fresh")
    stale = "helm/user-service/README.md is stale: run `make chart-readme`\n"
    assert current == fresh, stale + "".join(itertools.islice(diff, 40))


def test_every_values_leaf_is_documented_by_itself_or_a_parent() -> None:
    rows = chart_readme.parse_rows((CHART / "values.yaml").read_text(), values())
    missing = chart_readme.undocumented(rows, values())
    assert not missing, f"add a `# --` comment in values.yaml to: {', '.join(missing)}"


def readme_rows() -> list[str]:
    """The keys of the README's parameters table, read from the README itself."""
    region = README.read_text().split(chart_readme.START, 1)[1].split(chart_readme.END, 1)[0]
    return re.findall(r"^\| `([^`]+)` \|", region, flags=re.MULTILINE)


def test_every_readme_row_names_a_values_key() -> None:
    rows = readme_rows()
    assert len(rows) > 100, "the table is missing"
    unknown = [key for key in rows if not chart_readme.lookup(values(), tuple(key.split(".")))[0]]
    assert not unknown, f"README rows for keys values.yaml does not have: {unknown}"
    assert len(rows) == len(set(rows)), "a key has two rows"


def test_every_readme_row_has_the_schema_type_and_the_default() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    region = README.read_text().split(chart_readme.START, 1)[1]
    for key, kind, default in re.findall(
        r"^\| `([^`]+)` \| (.+?) \| `(.*?)` \| ", region, flags=re.MULTILINE
    ):
        path = tuple(key.split("."))
        assert kind.replace("\\|", "|") == chart_readme.schema_type(schema, path), key
        found, value = chart_readme.lookup(values(), path)
        assert found and json.loads(default.replace("\\|", "|")) == value, key


# --- the generator's rules, on small inputs --------------------------------------------------


def rows_of(text: str) -> list[chart_readme.Row]:
    return chart_readme.parse_rows(text, yaml.safe_load(text))


def test_a_leaf_without_a_comment_is_reported() -> None:
    text = "# -- Documented.\na: 1\nb: 2\nc:\n  # -- Documented too.\n  d: 3\n  e: {}\n"
    assert chart_readme.undocumented(rows_of(text), yaml.safe_load(text)) == ["b", "c.e"]


def test_an_object_documented_as_a_whole_covers_its_children() -> None:
    text = "# -- Requests and limits.\nresources:\n  requests:\n    cpu: 1m\n"
    rows = rows_of(text)
    assert [r.key for r in rows] == ["resources"]
    assert chart_readme.undocumented(rows, yaml.safe_load(text)) == []


def test_a_multi_line_comment_is_one_description_under_its_banner_section() -> None:
    text = (
        "# ------------\n# Exposure (the Service)\n# ------------\n"
        "service:\n  # -- First line,\n  # second line.\n  port: 80\n"
    )
    [row] = rows_of(text)
    assert (row.key, row.section, row.description) == (
        "service.port",
        "Exposure (the Service)",
        "First line, second line.",
    )


def test_keys_inside_lists_are_not_values_keys() -> None:
    text = "# -- Hosts.\nhosts:\n  - host: a\n    paths:\n      - path: /\n# -- After.\nafter: 1\n"
    assert [r.key for r in rows_of(text)] == ["hosts", "after"]


@pytest.mark.parametrize(
    "text",
    [
        "# -- Nothing below.\n\na: 1\n",  # a blank line between comment and key
        "# -- Twice.\n# -- documented.\na: 1\n",
        "a:\n  - x\n  # -- Inside a list.\n  - y\n",
        "a: 1\n# -- At the end.\n",
    ],
)
def test_a_comment_that_documents_no_key_is_an_error(text: str) -> None:
    with pytest.raises(chart_readme.ChartDocError, match="documents no"):
        rows_of(text)


def test_types_come_from_the_schema() -> None:
    schema = {
        "definitions": {"quantity": {"oneOf": [{"type": "string"}, {"type": "number"}]}},
        "properties": {
            "grace": {"type": ["integer", "null"]},
            "size": {"$ref": "#/definitions/quantity"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }
    assert chart_readme.schema_type(schema, ("grace",)) == "integer | null"
    assert chart_readme.schema_type(schema, ("size",)) == "string | number"
    assert chart_readme.schema_type(schema, ("labels", "team")) == "string"
    with pytest.raises(chart_readme.ChartDocError, match=r"not in values\.schema\.json"):
        chart_readme.schema_type(schema, ("typo",))


def test_a_table_cell_keeps_its_text_and_links_repository_documents() -> None:
    row = chart_readme.Row(("a",), "", "Service <fullname>-x, a|b, `k: v|w` (docs/kubernetes.md).")
    table = chart_readme.render_table(
        [row], {"a": "x|y"}, {"properties": {"a": {"type": "string"}}}, HOME
    )
    cells = table.splitlines()[-1]
    assert "&lt;fullname&gt;-x, a\\|b, `k: v\\|w`" in cells
    assert f"([docs/kubernetes.md]({HOME}/blob/main/docs/kubernetes.md))" in cells
    assert '`"x\\|y"`' in cells


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Naming", ("Naming", "")),
        ("Image (the same image runs the API)", ("Image", "The same image runs the API.")),
        (
            "API keys (API_KEYS): every request needs a key",
            ("API keys (API_KEYS)", "Every request needs a key."),
        ),
        (
            "Escape hatches: rendered as given. A clash fails.",
            ("Escape hatches", "Rendered as given. A clash fails."),
        ),
        (
            "Shutdown (terminationGracePeriodSeconds = a + b)",
            ("Shutdown", "terminationGracePeriodSeconds = a + b."),
        ),
    ],
)
def test_a_banner_becomes_a_short_heading_and_a_lead(title: str, expected: tuple[str, str]) -> None:
    assert chart_readme.section_heading(title) == expected


# --- the packaged chart ---------------------------------------------------------------------


def test_packaged_chart_shows_the_readme_with_the_table(each_helm: Helm, tmp_path: Path) -> None:
    helm = str(each_helm.binary)
    subprocess.run(
        [helm, "package", str(CHART), "-d", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    [package] = tmp_path.glob("user-service-*.tgz")
    shown = subprocess.run(
        [helm, "show", "readme", str(package)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert shown.strip() == README.read_text().strip()
    assert '| `image.repository` | string | `"user-service"` |' in shown


def test_helm_lint_strict_makes_no_recommendation(each_helm: Helm) -> None:
    result = subprocess.run(
        [str(each_helm.binary), "lint", "--strict", str(CHART)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "[INFO]" not in output and "recommended" not in output, output


# --- links ----------------------------------------------------------------------------------

LINK = re.compile(
    r"\]\(\s*<?([^)\s>]+)|<(https?://[^>\s]+)>|^\s*\[[^\]]+\]:\s*(\S+)|(?:href|src)=\"([^\"]+)\"",
    re.M,
)
URL = re.compile(r"https?://[^\s)>\"'`]+")


def markdown_links(text: str) -> list[str]:
    """Targets of inline links and images, autolinks, reference definitions and HTML links."""
    return [next(g for g in match.groups() if g) for match in LINK.finditer(text)]


def github_anchors(markdown: str) -> set[str]:
    """The heading anchors GitHub gives a markdown file: lower case, punctuation dropped, spaces
    as hyphens, "-1", "-2" for repeats; headings inside fenced code blocks are no headings."""
    anchors: set[str] = set()
    seen: Counter[str] = Counter()
    fence = ""
    for line in markdown.splitlines():
        opening = re.match(r"^\s*(```|~~~)", line)
        if opening:
            fence = "" if fence == opening.group(1) else fence or opening.group(1)
            continue
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if fence or not heading:
            continue
        text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading.group(1))
        slug = re.sub(r"[^\w\- ]", "", re.sub(r"<[^>]+>", "", text).strip().lower()).replace(
            " ", "-"
        )
        anchors.add(f"{slug}-{seen[slug]}" if seen[slug] else slug)
        seen[slug] += 1
    return anchors


def test_github_anchors_follow_githubs_rules() -> None:
    text = "# Plain manifests (`k8s/`)\n```yaml\n# values: not-a-heading\n```\n## A, b\n## A, b\n"
    assert github_anchors(text) == {"plain-manifests-k8s", "a-b", "a-b-1"}


def repository_file(url: str) -> tuple[Path, str] | None:
    """(file, anchor) a URL names in this repository, None for a page that is no file, or an
    AssertionError for a URL under the repository that names nothing here."""
    raw_prefix = chart_readme.raw_url(HOME, "")
    blob_prefix = chart_readme.repo_url(HOME, "")
    tree_prefix = f"{HOME}/tree/{chart_readme.BRANCH}/"
    parts = urlsplit(url)
    plain = parts._replace(fragment="").geturl()
    if plain.rstrip("/") in REPO_PAGES:
        return None
    for prefix in (blob_prefix, tree_prefix, raw_prefix):
        if plain.startswith(prefix):
            return REPO / plain.removeprefix(prefix), parts.fragment
    raise AssertionError(f"{url}: under the repository, but neither a file nor a known page")


def check_links(links: list[str], where: str) -> None:
    assert links, f"no links found in {where}"
    for link in links:
        assert link.startswith("https://"), (
            f"{where}: {link} is not absolute (a chart index breaks it)"
        )
        if not (link.startswith(HOME) or link.startswith(chart_readme.raw_url(HOME, ""))):
            continue
        named = repository_file(link)
        if named is None:
            continue
        path, anchor = named
        assert path.exists(), (
            f"{where}: {link} names {path.relative_to(REPO)}, which does not exist"
        )
        if anchor:
            assert anchor in github_anchors(path.read_text()), (
                f"{where}: {link}: no heading #{anchor}"
            )


def test_readme_links_are_absolute_and_name_existing_files_and_headings() -> None:
    links = markdown_links(README.read_text())
    check_links(links, "README.md")
    assert any("#" in link for link in links), "no link with an anchor was checked"


def test_notes_links_are_absolute_and_name_existing_files_and_headings(tmp_path: Path) -> None:
    notes = install_notes(NOTES_WITH_EVERY_LINK, tmp_path)
    links = [url.rstrip(".,") for url in URL.findall(notes)]
    check_links([link for link in links if link.startswith(HOME)], "NOTES.txt")
    assert len({link for link in links if link.startswith(HOME)}) >= 2
    # Branches these values do not reach must not mention a repository path either (template
    # comments never reach the user).
    printed = re.sub(r"\{\{-?\s*/\*.*?\*/\s*-?\}\}", "", NOTES.read_text(), flags=re.DOTALL)
    assert not re.search(r"(?<!/blob/main/)\bdocs/[\w.-]+\.md", printed)


def test_chart_yaml_links_are_absolute_and_name_existing_files() -> None:
    links = [HOME, *METADATA["sources"], METADATA["icon"]]
    links += [m["url"] for m in METADATA["maintainers"] if "url" in m]
    links += [entry["url"] for entry in yaml.safe_load(ANNOTATIONS["artifacthub.io/links"])]
    check_links(links, "Chart.yaml")
    assert METADATA["sources"] == [HOME]


# --- Chart.yaml metadata ----------------------------------------------------------------------


def test_icon_is_the_repositorys_svg_under_home() -> None:
    assert METADATA["icon"] == chart_readme.raw_url(HOME, ICON)
    root = ElementTree.parse(REPO / ICON).getroot()  # noqa: S314 (our own file, not input)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox")


def rendered_images(render: Render) -> set[str]:
    return {
        container["image"]
        for _, pod in render.pod_templates()
        for key in ("initContainers", "containers")
        for container in pod["spec"].get(key, [])
    }


def test_artifacthub_images_are_exactly_those_of_a_default_render(default_render: Render) -> None:
    assert default_render.has("Pod"), "the helm test pod is part of a default render"
    listed = yaml.safe_load(ANNOTATIONS["artifacthub.io/images"])
    assert {entry["image"] for entry in listed} == rendered_images(default_render)
    assert len(listed) == len({entry["image"] for entry in listed})


def test_artifacthub_annotations_follow_the_documented_formats() -> None:
    """https://artifacthub.io/docs/topics/annotations/helm/: YAML strings for lists, "true" or
    "false" strings for flags, an SPDX license."""
    changes = yaml.safe_load(ANNOTATIONS["artifacthub.io/changes"])
    kinds = {"added", "changed", "deprecated", "removed", "fixed", "security"}
    assert changes
    for change in changes:
        assert set(change) <= {"kind", "description", "links"}, change
        assert change["kind"] in kinds and isinstance(change["description"], str), change
    for entry in yaml.safe_load(ANNOTATIONS["artifacthub.io/images"]):
        assert set(entry) <= {"name", "image", "whitelisted", "platforms"}, entry
        assert entry["name"] and not entry["image"].endswith(":latest"), entry
    for entry in yaml.safe_load(ANNOTATIONS["artifacthub.io/links"]):
        assert set(entry) == {"name", "url"}, entry
    with (REPO / "pyproject.toml").open("rb") as f:
        license_ = tomllib.load(f)["project"]["license"]["text"]
    assert ANNOTATIONS["artifacthub.io/license"] == license_
    major = int(METADATA["version"].split(".")[0])
    assert ANNOTATIONS["artifacthub.io/prerelease"] == ("true" if major == 0 else "false")
    assert METADATA["kubeVersion"] and METADATA["maintainers"]


# --- the README's upgrade notes ---------------------------------------------------------------

# The selectors of chart 0.3.0, which an upgrade to this version starts from.
RELEASE_LABELS = {
    "app.kubernetes.io/name": "user-service",
    "app.kubernetes.io/instance": "user-service",
}
DEPLOYMENT_0_3_0 = {**RELEASE_LABELS, "app.kubernetes.io/component": "api"}
STATEFULSET_0_3_0 = {**RELEASE_LABELS, "app.kubernetes.io/component": "database"}


def test_upgrade_notes_say_which_selectors_change(default_render: Render) -> None:
    """The README: the Deployment keeps 0.3.0's selector; the StatefulSet's changes, so an
    upgrade deletes that StatefulSet first."""
    deployment = default_render.one("Deployment")["spec"]["selector"]["matchLabels"]
    assert deployment == DEPLOYMENT_0_3_0
    statefulset = default_render.one("StatefulSet")["spec"]["selector"]["matchLabels"]
    assert statefulset == {**STATEFULSET_0_3_0, "app.kubernetes.io/component": "postgresql"}
    readme = README.read_text()
    assert "`postgresql` (was `database`)" in readme
    assert "kubectl -n user-service delete statefulset user-service-postgresql" in readme
