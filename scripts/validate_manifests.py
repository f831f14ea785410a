"""Validate rendered Kubernetes manifests offline, for a range of Kubernetes versions.

Built-in kinds go to the `kubernetes-validate --strict` CLI (schemas shipped in its wheel), once
per version. Custom resources it cannot know (ServiceMonitor, PrometheusRule, CloudNativePG's
Cluster and Pooler) are checked against the small schema in schemas/ named in CRD_SCHEMAS, with
a printed notice; any other unknown kind fails, as does a WARN from kubernetes-validate, which
it otherwise prints with exit code 0.

Usage: python scripts/validate_manifests.py --versions 1.29.0,1.37.0 FILE...
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
# (apiVersion, kind) -> schema file for custom resources.
CRD_SCHEMAS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): REPO / "schemas/servicemonitor.schema.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): REPO / "schemas/prometheusrule.schema.json",
    ("postgresql.cnpg.io/v1", "Cluster"): REPO / "schemas/cnpg-cluster.schema.json",
    ("postgresql.cnpg.io/v1", "Pooler"): REPO / "schemas/cnpg-pooler.schema.json",
}


def load_documents(path: Path) -> list[dict[str, Any]]:
    """Return the non-empty YAML documents of a multi-document file."""
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    for doc in docs:
        if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
            raise SystemExit(f"{path}: a document is not a Kubernetes object: {doc!r:.80}")
    return docs


def check_custom(doc: dict[str, Any], schema_path: Path) -> list[str]:
    """Validate one custom resource against our schema with check-jsonschema; return errors."""
    cli = Path(sys.executable).parent / "check-jsonschema"
    name = f"{doc['kind']}/{doc.get('metadata', {}).get('name', '?')}"
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="crd-") as tmp:
        yaml.safe_dump(doc, tmp)
        tmp.flush()
        result = subprocess.run(  # noqa: S603 (fixed tool, our own temp file)
            [str(cli), "--schemafile", str(schema_path), tmp.name],
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode == 0:
        return []
    return [f"{name}: {(result.stdout + result.stderr).replace(tmp.name, name).strip()}"]


def check_builtin(docs: list[dict[str, Any]], version: str, label: str) -> list[str]:
    """Run the kubernetes-validate CLI over the documents; return error lines."""
    cli = Path(sys.executable).parent / "kubernetes-validate"
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="k8s-") as tmp:
        yaml.safe_dump_all(docs, tmp)
        tmp.flush()
        result = subprocess.run(  # noqa: S603 (fixed tool, our own temp file)
            [str(cli), "--strict", "--quiet", "-k", version, tmp.name],
            capture_output=True,
            text=True,
            check=False,
        )
    output = (result.stdout + result.stderr).replace(tmp.name, label).strip()
    if result.returncode != 0 or "WARN" in output or "ERROR" in output:
        return [output or f"kubernetes-validate exited {result.returncode}"]
    return []


def validate_file(path: Path, versions: list[str]) -> list[str]:
    """Validate every document of one file; return error lines (empty when valid)."""
    docs = load_documents(path)
    builtin = [d for d in docs if (d["apiVersion"], d["kind"]) not in CRD_SCHEMAS]
    errors: list[str] = []
    for doc in docs:
        schema_path = CRD_SCHEMAS.get((doc["apiVersion"], doc["kind"]))
        if schema_path is not None:
            print(
                f"  notice: {doc['kind']} is a CRD unknown to kubernetes-validate; "
                f"checked against {schema_path.relative_to(REPO)}"
            )
            errors += check_custom(doc, schema_path)
    for version in versions:
        errors += check_builtin(builtin, version, str(path))
    return errors


def main() -> int:
    """Validate the files given on the command line; exit 1 on any error."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", required=True, help="comma-separated, e.g. 1.29.0,1.37.0")
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args()
    versions = [v.strip() for v in args.versions.split(",") if v.strip()]
    failed = False
    for path in args.files:
        errors = validate_file(path, versions)
        status = "FAIL" if errors else "ok"
        print(f"  kubernetes-validate --strict [{', '.join(versions)}] {path}: {status}")
        for line in errors:
            print(f"    {line}")
        failed = failed or bool(errors)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
