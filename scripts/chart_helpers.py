"""Small YAML helpers for scripts/verify-chart.sh.

merge-values DEFAULTS OVERRIDE OUT   deep-merge a values profile onto values.yaml the way Helm
                                     does (maps merge, everything else replaces, null deletes),
                                     so a partial profile can be checked against the strict
                                     values.schema.json
same-objects A B                     exit 1 unless two multi-document files hold the same
                                     objects (helm 3 and helm 4 format output differently);
                                     for two directories, the same files holding the same
                                     objects each
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Return base updated with override, recursively for maps; None removes a key."""
    merged = dict(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_mapping(path: Path) -> dict[str, Any]:
    """Load one YAML mapping (an empty file is an empty mapping)."""
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise SystemExit(f"{path}: not a YAML mapping")
    return data


def merge_values(defaults: Path, override: Path, out: Path) -> int:
    """Write the merged values of a profile."""
    out.write_text(yaml.safe_dump(merge(load_mapping(defaults), load_mapping(override))))
    return 0


def same_objects(first: Path, second: Path) -> int:
    """Compare two renders object by object, ignoring formatting and comments."""
    if first.is_dir() and second.is_dir():
        a_files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
        b_files = sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
        if a_files != b_files:
            print(f"{first} and {second} hold different files")
            return 1
        return max((same_objects(first / f, second / f) for f in a_files), default=0)
    a = [d for d in yaml.safe_load_all(first.read_text()) if d is not None]
    b = [d for d in yaml.safe_load_all(second.read_text()) if d is not None]
    if a == b:
        return 0
    print(f"{first} and {second} hold different objects ({len(a)} vs {len(b)} documents)")
    return 1


def main(argv: list[str]) -> int:
    """Dispatch the subcommand."""
    match argv[1:]:
        case ["merge-values", defaults, override, out]:
            return merge_values(Path(defaults), Path(override), Path(out))
        case ["same-objects", first, second]:
            return same_objects(Path(first), Path(second))
        case _:
            print(__doc__, file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
