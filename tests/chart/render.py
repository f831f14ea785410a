"""Render the chart with a real helm binary and query the result."""

from __future__ import annotations

import base64
import re
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.helpers import REPO

CHART = REPO / "helm" / "user-service"
RELEASE = "user-service"
NAMESPACE = "user-service"

Obj = dict[str, Any]


class RenderError(Exception):
    """helm template exited non-zero; the message is its stderr."""


@dataclass(frozen=True)
class Render:
    """The objects of one `helm template` run."""

    docs: list[Obj]

    def all(self, kind: str) -> list[Obj]:
        return [d for d in self.docs if d["kind"] == kind]

    def one(self, kind: str, name: str | None = None) -> Obj:
        found = [d for d in self.all(kind) if name is None or d["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
        return found[0]

    def has(self, kind: str) -> bool:
        return bool(self.all(kind))

    def pod_templates(self) -> Iterator[tuple[Obj, Obj]]:
        """(owner object, pod template-like object with metadata and spec) for every pod."""
        for doc in self.docs:
            if doc["kind"] == "Pod":
                yield doc, doc
            elif doc["kind"] in {"Deployment", "StatefulSet", "Job"}:
                yield doc, doc["spec"]["template"]

    def container(self, kind: str, name: str | None = None, index: int = 0) -> Obj:
        owner = self.one(kind, name)
        spec = owner["spec"] if kind == "Pod" else owner["spec"]["template"]["spec"]
        container: Obj = spec["containers"][index]
        return container

    def secret(self, name: str) -> dict[str, str]:
        """A rendered Secret's data, decoded."""
        data = self.one("Secret", name).get("data", {})
        return {key: base64.b64decode(value).decode() for key, value in data.items()}

    def non_secret_docs(self) -> list[Obj]:
        return [d for d in self.docs if d["kind"] != "Secret"]


@dataclass(frozen=True)
class Helm:
    """A helm binary and how to call it on this chart."""

    binary: Path

    def _run(
        self, values: Mapping[str, Any] | None, args: list[str]
    ) -> subprocess.CompletedProcess[str]:
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as vf:
            yaml.safe_dump(dict(values or {}), vf)
            vf.flush()
            cmd = [
                str(self.binary),
                "template",
                RELEASE,
                str(CHART),
                "-n",
                NAMESPACE,
                "-f",
                vf.name,
            ]
            return subprocess.run(
                [*cmd, *args], capture_output=True, text=True, check=False, timeout=120
            )

    def render(self, values: Mapping[str, Any] | None = None, *args: str) -> Render:
        result = self._run(values, list(args))
        if result.returncode != 0:
            raise RenderError(result.stderr)
        return Render([d for d in yaml.safe_load_all(result.stdout) if d is not None])

    def render_sources(self, values: Mapping[str, Any] | None = None) -> list[tuple[str, Obj]]:
        """(template path under templates/, object) for every rendered object, tests included."""
        result = self._run(values, [])
        if result.returncode != 0:
            raise RenderError(result.stderr)
        objects = []
        for chunk in result.stdout.split("\n---\n"):
            source = re.search(r"^# Source: [^/]+/templates/(.+)$", chunk, flags=re.MULTILINE)
            doc = yaml.safe_load(chunk)
            if source and doc:
                objects.append((source.group(1), doc))
        return objects

    def render_error(self, values: Mapping[str, Any] | None = None, *args: str) -> str:
        result = self._run(values, list(args))
        assert result.returncode != 0, "helm template succeeded but should have failed"
        return result.stderr


def selects(selector: Obj, labels: Mapping[str, str]) -> bool:
    """Whether a Kubernetes LabelSelector (matchLabels/matchExpressions) selects these labels."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        key, op, vals = expr["key"], expr["operator"], expr.get("values", [])
        if op == "In" and labels.get(key) not in vals:
            return False
        if op == "NotIn" and labels.get(key) in vals:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def env_map(container: Obj) -> dict[str, Obj]:
    """A container's env entries by name."""
    return {e["name"]: e for e in container.get("env", [])}


def container_env(
    render: Render, container: Obj, external: Mapping[tuple[str, str], str] | None = None
) -> dict[str, str]:
    """The environment a container really gets: its envFrom ConfigMaps, then env, with each
    secretKeyRef resolved against the rendered Secrets, or `external` ((Secret, key) -> value)
    for Secrets the user provides. A reference nothing resolves is an error, as in a kubelet."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(render.one("ConfigMap", source["configMapRef"]["name"])["data"])
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = entry["value"]
            continue
        ref = entry["valueFrom"]["secretKeyRef"]
        secret, key = ref["name"], ref["key"]
        rendered = [d for d in render.all("Secret") if d["metadata"]["name"] == secret]
        if rendered:
            env[entry["name"]] = render.secret(secret)[key]
        elif external is not None and (secret, key) in external:
            env[entry["name"]] = external[secret, key]
        else:
            raise AssertionError(f"{entry['name']}: Secret {secret} key {key} is not provided")
    return env
