"""Turn `helm template` output into the kustomize tree of k8s/ (called by scripts/render-k8s.sh).

base OUT RENDER -- FLAG...
    OUT/base/: one file per object of RENDER, named after its kind and name, plus a
    kustomization.yaml listing them; OUT/kustomization.yaml points at base/.
overlay OUT NAME BASE_RENDER RENDER -- FLAG...
    OUT/overlays/NAME/: RENDER expressed as changes to the base (BASE_RENDER): a
    `$patch: delete` for each object only the base has, the objects only RENDER has as new
    resources, and one JSON 6902 patch per object that differs.

Objects lose Helm's own metadata (the helm.sh/chart label, app.kubernetes.io/managed-by: Helm
and helm.sh/* annotations): nothing manages them as a Helm release, and a chart version in the
pod labels would roll every pod on a chart-only change. The files are Helm's text minus those
lines, so the chart's comments stay; each is parsed back and must equal the parsed object
minus that metadata. FLAG... are the render's settings, written into kustomization.yaml's
header.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

Obj = dict[str, Any]
Key = tuple[str, str, str, str]

GENERATOR = "scripts/render-k8s.sh"
KUSTOMIZATION = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}
SEPARATOR = re.compile(r"^---\s*$", flags=re.MULTILINE)
SOURCE = re.compile(r"^# Source: (\S+)\s*$", flags=re.MULTILINE)
# Helm's metadata as `helm template` prints it: one `key: value` line each.
HELM_LINE = re.compile(r"^\s*(helm\.sh/[\w.-]+: .*|app\.kubernetes\.io/managed-by: Helm)\s*$")
MAPPING_KEY = re.compile(r"^(\s*)(labels|annotations):\s*$")
# Keys whose integers are file modes, written in octal as Kubernetes' docs do (0444, not 292).
FILE_MODE_KEYS = {"defaultMode", "mode"}


class FileMode(int):
    """An int written in octal."""


class Dumper(yaml.SafeDumper):
    """Block style with indented sequences, as the chart's templates write them."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def represent_file_mode(dumper: yaml.SafeDumper, value: FileMode) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:int", f"0{int(value):o}")


Dumper.add_representer(FileMode, represent_file_mode)


def dump(data: Any) -> str:
    return yaml.dump(data, Dumper=Dumper, sort_keys=False, width=1000, allow_unicode=True)


def strip_helm_metadata(node: Any) -> Any:
    """A copy of node without Helm's labels and annotations in any metadata (objects, pod
    templates, claim templates); selectors are left alone."""
    if isinstance(node, list):
        return [strip_helm_metadata(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: strip_helm_metadata(value) for key, value in node.items()}
    meta = out.get("metadata")
    if isinstance(meta, dict):
        for field in ("labels", "annotations"):
            kept = {
                k: v
                for k, v in (meta.pop(field, None) or {}).items()
                if not k.startswith("helm.sh/")
                and (k, v) != ("app.kubernetes.io/managed-by", "Helm")
            }
            if kept:
                meta[field] = kept
    return out


def strip_helm_lines(text: str) -> str:
    """Helm's metadata lines removed, then any labels:/annotations: key left empty."""
    lines = [line for line in text.splitlines() if not HELM_LINE.match(line)]
    kept: list[str] = []
    for i, line in enumerate(lines):
        match = MAPPING_KEY.match(line)
        if match:
            following = (n for n in lines[i + 1 :] if n.strip() and not n.lstrip().startswith("#"))
            child = next(following, "")
            if len(child) - len(child.lstrip()) <= len(match.group(1)):
                continue
        kept.append(line)
    return "\n".join(kept)


@dataclass(frozen=True)
class Doc:
    """One object of a render: its file text (Helm's, comments kept) and its parsed content."""

    text: str
    obj: Obj

    @property
    def key(self) -> Key:
        meta = self.obj["metadata"]
        return (self.obj["apiVersion"], self.obj["kind"], meta.get("namespace", ""), meta["name"])

    @property
    def label(self) -> str:
        return f"{self.obj['kind']} {self.obj['metadata']['name']}"


def parse_render(path: Path, chart_parent: str) -> list[Doc]:
    """The objects of a `helm template` output, Helm's metadata stripped."""
    docs = []
    for chunk in SEPARATOR.split(path.read_text()):
        obj = yaml.safe_load(chunk)
        if obj is None:
            continue
        annotations = obj.get("metadata", {}).get("annotations") or {}
        if "helm.sh/hook" in annotations:
            # A hook runs at a Helm lifecycle point; as a plain object it would mean something else.
            raise SystemExit(f"{path}: {obj['kind']} {obj['metadata']['name']} is a Helm hook")
        text = strip_helm_lines(SOURCE.sub(rf"# From {chart_parent}/\1.", chunk)).strip("\n")
        expected = strip_helm_metadata(obj)
        if yaml.safe_load(text) != expected:
            raise SystemExit(
                f"{path}: removing Helm's metadata lines from {obj['kind']} "
                f"{obj['metadata']['name']} changed more than that metadata: "
                "extend strip_helm_lines"
            )
        docs.append(Doc(text, expected))
    return docs


def file_name(doc: Doc, release: str) -> str:
    """`<kind>-<name without the release prefix>.yaml`, `<kind>.yaml` for the release's own."""
    kind, name = doc.obj["kind"].lower(), doc.obj["metadata"]["name"]
    if name == release:
        return f"{kind}.yaml"
    return f"{kind}-{name.removeprefix(release + '-')}.yaml"


def header(*lines: str) -> str:
    return "".join(f"# {line}".rstrip() + "\n" for line in lines)


def flag_lines(flags: list[str], indent: str) -> list[str]:
    """One flag with its argument per line, shell-quoted (tests read them back)."""
    lines: list[str] = []
    for flag in flags:
        if lines and lines[-1].startswith("--") and " " not in lines[-1] and flag[:2] != "--":
            lines[-1] += " " + shlex.quote(flag)
        else:
            lines.append(shlex.quote(flag))
    return [indent + line for line in lines]


def write_objects(docs: list[Doc], directory: Path, release: str) -> list[str]:
    """Write one file per object; return the file names in render order."""
    names = []
    for doc in docs:
        name = file_name(doc, release)
        if name in names:
            raise SystemExit(f"two objects would be written to {directory / name}")
        note = f"{GENERATOR} (settings: kustomization.yaml): do not edit by hand."
        (directory / name).write_text(header(f"GENERATED by {note}") + "---\n" + doc.text + "\n")
        names.append(name)
    return names


def write_kustomization(directory: Path, head: str, body: Obj) -> None:
    (directory / "kustomization.yaml").write_text(head + "---\n" + dump({**KUSTOMIZATION, **body}))


def generate_base(out: Path, render: Path, args: argparse.Namespace) -> None:
    base = out / "base"
    base.mkdir(parents=True)
    resources = write_objects(parse_render(render, args.chart_parent), base, args.release)
    head = header(
        f"GENERATED by {GENERATOR}: do not edit by hand.",
        "The chart rendered with these settings (plus a Namespace, which Helm users get",
        "from --create-namespace), one object per file, without Helm's own metadata",
        "(helm.sh/chart and app.kubernetes.io/managed-by: Helm labels, helm.sh/* annotations):",
        f"  helm template {args.release} {args.chart_dir}",
        *flag_lines(args.flags, "    "),
    )
    write_kustomization(base, head, {"resources": resources})
    root = header(
        f"GENERATED by {GENERATOR}: do not edit by hand.",
        "`kubectl apply -k k8s/` applies the base; overlays/ holds examples (k8s/README.md).",
    )
    write_kustomization(out, root, {"resources": ["base"]})


def escape(key: str) -> str:
    """A JSON pointer token (RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")


def with_file_modes(node: Any, key: str = "") -> Any:
    if isinstance(node, dict):
        return {k: with_file_modes(v, k) for k, v in node.items()}
    if isinstance(node, list):
        return [with_file_modes(item) for item in node]
    if key in FILE_MODE_KEYS and isinstance(node, int) and not isinstance(node, bool):
        return FileMode(node)
    return node


def op(kind: str, path: str, value: Any = None) -> Obj:
    patch: Obj = {"op": kind, "path": path}
    if kind != "remove":
        patch["value"] = with_file_modes(value)
    return patch


def same_item(old: Any, new: Any) -> bool:
    """List items that can be patched in place: equal, or maps with the same `name`."""
    if old == new:
        return True
    both_maps = isinstance(old, dict) and isinstance(new, dict)
    return both_maps and "name" in old and old["name"] == new.get("name")


def json_patch(old: Any, new: Any, path: str = "") -> Iterator[Obj]:
    """RFC 6902 operations turning old into new, each at the deepest path that changed: maps key
    by key; lists item by item when their items line up by name, appended to when new only
    adds at the end, else replaced whole (so no index ever shifts under a later operation)."""
    if old == new:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        yield from (op("remove", f"{path}/{escape(k)}") for k in old if k not in new)
        for k in old:
            if k in new:
                yield from json_patch(old[k], new[k], f"{path}/{escape(k)}")
        yield from (op("add", f"{path}/{escape(k)}", v) for k, v in new.items() if k not in old)
        return
    if isinstance(old, list) and isinstance(new, list):
        if len(new) > len(old) and new[: len(old)] == old:
            yield from (op("add", f"{path}/-", item) for item in new[len(old) :])
            return
        if len(old) == len(new) and all(map(same_item, old, new)):
            for i, (a, b) in enumerate(zip(old, new, strict=True)):
                yield from json_patch(a, b, f"{path}/{i}")
            return
    yield op("replace", path, new)


def delete_patch(obj: Obj) -> Obj:
    """A strategic-merge patch that deletes obj."""
    meta = {k: obj["metadata"][k] for k in ("name", "namespace") if k in obj["metadata"]}
    return {
        "$patch": "delete",
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "metadata": meta,
    }


def generate_overlay(
    out: Path, name: str, base_render: Path, render: Path, args: argparse.Namespace
) -> None:
    overlay = out / "overlays" / name
    overlay.mkdir(parents=True)
    base = {doc.key: doc for doc in parse_render(base_render, args.chart_parent)}
    docs = parse_render(render, args.chart_parent)
    keys = {doc.key for doc in docs}
    removed = [doc for key, doc in base.items() if key not in keys]
    added = [doc for doc in docs if doc.key not in base]
    changed = [(base[d.key], d) for d in docs if d.key in base and base[d.key].obj != d.obj]
    for old, new in changed:
        if new.obj["kind"] == "Job" and old.obj["spec"] != new.obj["spec"]:
            # A Job's pod template is immutable: `kubectl apply` would fail on this patch. The
            # chart names its Job after a hash of the spec, so this means that hash is missing.
            raise SystemExit(f"{name}: {new.label} changes its spec but keeps its name")

    patches: list[Obj] = []
    if removed:
        (overlay / "delete.yaml").write_text(
            header(
                f"GENERATED by {GENERATOR}: do not edit by hand.",
                "The base's objects that the chart does not render with this overlay's settings.",
            )
            + "".join("---\n" + dump(delete_patch(doc.obj)) for doc in removed)
        )
        patches.append({"path": "delete.yaml"})
    for old, new in changed:
        patch_file = "patch-" + file_name(new, args.release)
        (overlay / patch_file).write_text(
            header(
                f"GENERATED by {GENERATOR}: do not edit by hand.",
                f"{new.label} as the chart renders it with this overlay's settings,",
                "as changes to the base's (JSON 6902).",
            )
            + "---\n"
            + dump(list(json_patch(old.obj, new.obj)))
        )
        target = {"kind": new.obj["kind"], "name": new.obj["metadata"]["name"]}
        patches.append({"path": patch_file, "target": target})

    head = header(
        f"GENERATED by {GENERATOR}: do not edit by hand.",
        "The chart rendered with the base's settings (../../base/kustomization.yaml) plus these,",
        "as changes to the base: delete.yaml drops the objects this render lacks, the other",
        "objects' files are new resources, patch-*.yaml change objects both have:",
        *flag_lines(args.flags, "  "),
    )
    body: Obj = {"resources": ["../../base", *write_objects(added, overlay, args.release)]}
    if patches:
        body["patches"] = patches
    write_kustomization(overlay, head, body)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", required=True)
    parser.add_argument("--chart-dir", required=True, help="as shown in headers: helm/user-service")
    sub = parser.add_subparsers(dest="command", required=True)
    base = sub.add_parser("base")
    base.add_argument("out", type=Path)
    base.add_argument("render", type=Path)
    overlay = sub.add_parser("overlay")
    overlay.add_argument("out", type=Path)
    overlay.add_argument("name")
    overlay.add_argument("base_render", type=Path)
    overlay.add_argument("render", type=Path)
    for command in (base, overlay):
        command.add_argument("flags", nargs="*", help="the render's settings, after --")
    args = parser.parse_args(argv)
    # `# Source: user-service/templates/...` names a path under the chart's parent directory.
    args.chart_parent = str(Path(args.chart_dir).parent)
    if args.command == "base":
        generate_base(args.out, args.render, args)
    else:
        generate_overlay(args.out, args.name, args.base_render, args.render, args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
