"""One name per part of the chart: its values key, its folder under templates/, its component
label and its helpers' names agree (helm/user-service/templates/_helpers.tpl lists the parts).
"""

from __future__ import annotations

import re

import pytest

from .render import CHART, Helm

pytestmark = pytest.mark.chart

PARTS = {"api", "cnpg", "metrics", "migration", "postgresql", "tests"}
COMPONENT = "app.kubernetes.io/component"

# Every optional object on, so that every template renders something.
EVERYTHING_ON = {
    "ingress": {"enabled": True},
    "metrics": {
        "serviceMonitor": {"enabled": True},
        "prometheusRule": {"enabled": True},
        "dashboard": {"enabled": True},
    },
    "networkPolicy": {"prometheus": {"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}},
}
# The bundled PostgreSQL and CloudNativePG exclude each other: the second render has the latter.
CNPG_ON = EVERYTHING_ON | {
    "postgresql": {"enabled": False},
    "cnpg": {"enabled": True, "pooler": {"enabled": True}},
}


def test_every_template_folder_is_a_part_and_every_part_has_one() -> None:
    folders = {p.name for p in (CHART / "templates").iterdir() if p.is_dir()}
    assert folders == PARTS


def test_an_objects_component_label_is_its_template_folder(helm: Helm) -> None:
    """api/ renders component api, postgresql/ component postgresql, and so on; the templates at
    the top (ServiceAccount, default-deny NetworkPolicy) serve every part and name none."""
    rendered = helm.render_sources(EVERYTHING_ON) + helm.render_sources(CNPG_ON)
    sources = {source for source, _ in rendered}
    templates = {
        str(p.relative_to(CHART / "templates")) for p in (CHART / "templates").rglob("*.yaml")
    }
    assert sources == templates, "every template renders with EVERYTHING_ON or CNPG_ON"
    for source, doc in rendered:
        folder = source.split("/")[0] if "/" in source else None
        labels = doc["metadata"]["labels"]
        where = f"{source}: {doc['kind']}/{doc['metadata']['name']}"
        assert labels.get(COMPONENT) == folder, where
        template = doc.get("spec", {}).get("template", {}).get("metadata", {})
        if template:
            assert template["labels"].get(COMPONENT) == folder, where


def test_part_helpers_are_named_after_their_part() -> None:
    """Defines in _<part>.tpl are user-service.<part>.*, and a part's define lives nowhere else;
    the API keys (values auth.*) belong to the api part, and "database" is whichever PostgreSQL
    the app uses (_database.tpl). _validate.tpl holds the checks of every part."""
    owners: dict[str, tuple[str, ...]] = {p: (f"user-service.{p}.",) for p in PARTS | {"database"}}
    owners["api"] += ("user-service.auth.",)
    templates = CHART / "templates"
    for path in [*templates.rglob("*.tpl"), *templates.rglob("*.yaml"), templates / "NOTES.txt"]:
        defines = re.findall(r'define "([^"]+)"', path.read_text())
        own = path.stem.removeprefix("_") if path.name.startswith("_") else None
        if own in owners:
            assert defines, path.name
            assert all(d.startswith(owners[own]) for d in defines), (path.name, defines)
        elif path.name == "_validate.tpl":
            assert all(d.startswith("user-service.validateValues") for d in defines), defines
        else:
            for define in defines:
                prefix = ".".join(define.split(".")[:2]) + "."
                owner = next((p for p, prefixes in owners.items() if prefix in prefixes), None)
                assert owner is None or path.parent.name == owner, (
                    f"{path.relative_to(templates)} defines {define}: move it to _{owner}.tpl"
                )
