"""Generate the parameters table of helm/user-service/README.md from values.yaml.

values.yaml documents its keys the helm-docs way: a `# --` comment block right above a key.
helm-docs itself is a Go binary, and neither a Go toolchain nor the Go module proxy is
reachable on this project's machines; the generator npm does offer,
@bitnami/readme-generator-for-helm, reads another comment style (`## @param key description`)
and would need every comment rewritten. So this small script reads the `# --` style itself.

One row per key with a `# --` block (a leaf, or an object documented as a whole, such as
`resources`):
- type: from values.schema.json, the source of truth for types, `$ref`s followed; a union
  reads "integer | null" (`"type": ["integer", "null"]`) or "string | number" (a oneOf);
- default: the value in values.yaml, as one line of JSON;
- description: the comment block, its lines joined; a mention of a repository document
  (docs/*.md) becomes a link to it under the chart's `home`, since a chart index shows this
  README without the repository around it.
Rows are grouped under the `# ----` banner sections of values.yaml, in file order.

It refuses to write a table that would leave something out: a leaf key documented neither
itself nor by an ancestor, a `# --` block that documents no key, a key the schema lacks or
gives no type.

Usage: chart_readme.py [--check] [CHART_DIR]
  rewrites the README between its parameters markers; --check only exits 1 when it is stale.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parents[1] / "helm" / "user-service"
START = "<!-- parameters:start -->"
END = "<!-- parameters:end -->"
# The branch that absolute links into the repository point at.
BRANCH = "main"

Path_ = tuple[str, ...]

BANNER = re.compile(r"^#\s*-{10,}\s*$")
COMMENT = re.compile(r"^(\s*)#(.*)$")
# A mapping key at the start of a line (list items start with "-" and are never values keys).
KEY = re.compile(r"""^(\s*)("[^"]*"|'[^']*'|[^\s#"'\-][^:#]*?)\s*:(?:\s|$)""")
DOC_MENTION = re.compile(r"(?<![\w/.])(docs/[\w.-]+\.md)\b")


class ChartDocError(Exception):
    """values.yaml or values.schema.json cannot give a complete table; one problem a line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Row:
    """A documented key of values.yaml."""

    path: Path_
    section: str
    description: str

    @property
    def key(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class _Open:
    """A key whose children may follow on deeper-indented lines."""

    indent: int
    path: Path_
    is_mapping: bool


class _RowParser:
    """Walks values.yaml line by line, keeping the key path of each line by its indentation."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values
        self.rows: list[Row] = []
        self.problems: list[str] = []
        self.section = ""
        self.pending: list[str] | None = None  # the `# --` block waiting for its key
        self.pending_line = 0
        self.stack: list[_Open] = []

    def drop_pending(self, why: str = "documents no key") -> None:
        if self.pending is not None:
            self.problems.append(f"line {self.pending_line}: `# --` comment {why}")
        self.pending = None

    def comment(self, text: str, number: int) -> None:
        if text == " --" or text.startswith(" -- "):
            self.drop_pending()
            self.pending, self.pending_line = [text[4:].strip()], number
        elif self.pending is not None:
            self.pending.append(text.strip())

    def content(self, line: str, number: int) -> None:
        indent = len(line) - len(line.lstrip())
        while self.stack and self.stack[-1].indent >= indent:
            self.stack.pop()
        parent = self.stack[-1] if self.stack else _Open(-1, (), True)
        key = KEY.match(line)
        if key is None or not parent.is_mapping:
            # A list item, or a line inside a list or scalar value: not a values key.
            self.drop_pending("documents no values key")
            return
        path = (*parent.path, key.group(2).strip("\"'"))
        found, value = lookup(self.values, path)
        if not found:
            self.problems.append(f"line {number}: {'.'.join(path)} not found in the parsed values")
            self.pending = None
            return
        self.stack.append(_Open(indent, path, isinstance(value, dict)))
        if self.pending is not None:
            description = " ".join(p for p in self.pending if p)
            self.rows.append(Row(path, self.section, description))
            self.pending = None

    def parse(self, text: str) -> list[Row]:
        lines = text.splitlines()
        index = 0
        while index < len(lines):
            line, number = lines[index], index + 1
            index += 1
            comment = COMMENT.match(line)
            if BANNER.match(line):
                title = []
                while index < len(lines) and not BANNER.match(lines[index]):
                    title.append(lines[index].lstrip("#").strip())
                    index += 1
                index += 1  # the closing banner line
                self.section = " ".join(t for t in title if t)
                self.drop_pending()
            elif comment:
                self.comment(comment.group(2), number)
            elif not line.strip():
                self.drop_pending()
            else:
                self.content(line, number)
        self.drop_pending()
        if self.problems:
            raise ChartDocError(self.problems)
        return self.rows


def parse_rows(text: str, values: dict[str, Any]) -> list[Row]:
    """The documented keys of values.yaml, in file order; `values` is the same text parsed."""
    return _RowParser(values).parse(text)


def lookup(values: Any, path: Path_) -> tuple[bool, Any]:
    """(found, value) of a key path in nested mappings."""
    node = values
    for name in path:
        if not isinstance(node, dict) or name not in node:
            return False, None
        node = node[name]
    return True, node


def leaves(values: dict[str, Any], prefix: Path_ = ()) -> Iterator[Path_]:
    """Every key whose value is not a non-empty mapping (lists are leaves: their items are
    examples of a shape, not keys of their own)."""
    for name, value in values.items():
        path = (*prefix, name)
        if isinstance(value, dict) and value:
            yield from leaves(value, path)
        else:
            yield path


def undocumented(rows: list[Row], values: dict[str, Any]) -> list[str]:
    """Leaf keys with no row for themselves or for any ancestor."""
    documented = {row.path for row in rows}
    return [
        ".".join(path)
        for path in leaves(values)
        if not any(path[:n] in documented for n in range(1, len(path) + 1))
    ]


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    seen = 0
    while "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/") or seen > 20:
            raise ChartDocError([f"cannot follow $ref {ref!r}"])
        target: Any = schema
        for part in ref[2:].split("/"):
            target = target[part]
        node, seen = target, seen + 1
    return node


def _type_names(schema: dict[str, Any], node: dict[str, Any]) -> list[str]:
    node = _resolve(schema, node)
    declared = node.get("type")
    if isinstance(declared, str):
        return [declared]
    if isinstance(declared, list):
        return [str(t) for t in declared]
    names: list[str] = []
    for branch in node.get("oneOf", []) + node.get("anyOf", []):
        names += [n for n in _type_names(schema, branch) if n not in names]
    return names


def schema_type(schema: dict[str, Any], path: Path_) -> str:
    """The JSON Schema type of a key path, e.g. "string" or "integer | null"."""
    node = schema
    for name in path:
        node = _resolve(schema, node)
        properties = node.get("properties", {})
        extra = node.get("additionalProperties")
        if name in properties:
            node = properties[name]
        elif isinstance(extra, dict):
            node = extra
        else:
            raise ChartDocError([f"{'.'.join(path)}: not in values.schema.json"])
    names = _type_names(schema, node)
    if not names:
        raise ChartDocError([f"{'.'.join(path)}: values.schema.json gives it no type"])
    return " | ".join(names)


def repo_url(home: str, path: str) -> str:
    """The web page of a file of the repository."""
    return f"{home}/blob/{BRANCH}/{path}"


def raw_url(home: str, path: str) -> str:
    """The raw content of a file of the repository (for images such as the chart icon)."""
    owner_repo = home.removeprefix("https://github.com/")
    return f"https://raw.githubusercontent.com/{owner_repo}/{BRANCH}/{path}"


def _markdown(text: str, home: str) -> str:
    """Markdown for prose from values.yaml: `|` escaped everywhere (GFM ends a table cell at
    it, even inside a code span); outside code spans, < and > escaped (else `<fullname>`
    vanishes as an HTML tag), * escaped (`checksum/*` is no emphasis), and mentions of
    docs/*.md made absolute links."""

    def prose(part: str) -> str:
        escaped = part.replace("<", "&lt;").replace(">", "&gt;").replace("*", "\\*")
        return DOC_MENTION.sub(lambda m: f"[{m.group(1)}]({repo_url(home, m.group(1))})", escaped)

    parts = re.split(r"(`[^`]*`)", text)  # code spans stay as they are
    return "".join((p if p.startswith("`") else prose(p)).replace("|", "\\|") for p in parts)


def section_heading(title: str) -> tuple[str, str]:
    """(heading, lead sentence) of a banner title: "Image (the same image runs ...)" gives
    ("Image", "The same image runs ..."), "API keys (API_KEYS): every request ..." gives
    ("API keys (API_KEYS)", "Every request ..."), so the table of contents stays short."""
    cut = min((i for i in (title.find(" ("), title.find(": ")) if i >= 0), default=-1)
    if cut < 0:
        return title, ""
    head, rest = title[:cut], title[cut:].strip()
    if rest.startswith("(") and ")" in rest:
        inside, after = rest[1:].split(")", 1)
        if not after.strip():
            rest = inside
        elif after.startswith(":"):
            head, rest = f"{head} ({inside})", after[1:].strip()
    elif rest.startswith(":"):
        rest = rest[1:].strip()
    first = rest.split(" ", 1)[0]
    if first.isalpha() and first.islower():  # not a key name such as terminationGracePeriod...
        rest = rest[0].upper() + rest[1:]
    if rest and not rest.endswith("."):
        rest += "."
    return head, rest


def _default(value: Any) -> str:
    return "`" + json.dumps(value, ensure_ascii=False).replace("|", "\\|") + "`"


def render_table(rows: list[Row], values: dict[str, Any], schema: dict[str, Any], home: str) -> str:
    """The markdown between the markers: a table per values.yaml section."""
    problems: list[str] = []
    out = [
        "<!-- Generated by scripts/chart_readme.py (make chart-readme) from the `# --` comments"
        " of values.yaml and the types of values.schema.json: edit those, not this table. -->",
    ]
    section: str | None = None
    for row in rows:
        if row.section != section:
            section = row.section
            if section:
                heading, lead = section_heading(section)
                out += ["", f"### {_markdown(heading, home)}"]
                out += ["", _markdown(lead, home)] if lead else []
            out += ["", "| Key | Type | Default | Description |", "| --- | --- | --- | --- |"]
        try:
            kind = schema_type(schema, row.path)
        except ChartDocError as error:
            problems += error.problems
            continue
        _, value = lookup(values, row.path)
        cells = [
            f"`{row.key}`",
            kind.replace("|", "\\|"),
            _default(value),
            _markdown(row.description, home),
        ]
        out.append("| " + " | ".join(cells) + " |")
    if problems:
        raise ChartDocError(problems)
    return "\n".join(out)


def replace_region(readme: str, table: str) -> str:
    """The README with the text between its two markers replaced by the table."""
    if (
        readme.count(START) != 1
        or readme.count(END) != 1
        or readme.index(START) > readme.index(END)
    ):
        raise ChartDocError([f"the README needs one {START} line, then one {END} line"])
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table}\n{END}{tail}"


def generate(chart: Path = CHART) -> str:
    """The chart's README with a freshly generated parameters table."""
    text = (chart / "values.yaml").read_text()
    values = yaml.safe_load(text)
    schema = json.loads((chart / "values.schema.json").read_text())
    home = yaml.safe_load((chart / "Chart.yaml").read_text())["home"]
    rows = parse_rows(text, values)
    missing = undocumented(rows, values)
    if missing:
        raise ChartDocError([f"{key}: no `# --` comment on it or on a parent" for key in missing])
    table = render_table(rows, values, schema, home)
    return replace_region((chart / "README.md").read_text(), table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if the README is stale")
    parser.add_argument("chart", nargs="?", type=Path, default=CHART)
    args = parser.parse_args(argv)
    readme = args.chart / "README.md"
    try:
        fresh = generate(args.chart)
    except ChartDocError as error:
        print(f"chart_readme: {readme}: cannot generate the table:", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    if readme.read_text() == fresh:
        return 0
    if args.check:
        print(f"chart_readme: {readme} is stale: run `make chart-readme`", file=sys.stderr)
        return 1
    readme.write_text(fresh)
    print(f"chart_readme: wrote {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
