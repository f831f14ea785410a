#!/usr/bin/env bash
# Generate k8s/, the kustomize tree for `kubectl apply -k` users, from the Helm chart.
# k8s/ is never edited by hand: change the chart (or the settings below) and rerun this.
# scripts/verify-chart.sh fails when k8s/ differs from a fresh generation.
#
#   k8s/kustomization.yaml   -> base/ (so `kubectl apply -k k8s/` applies the base)
#   k8s/base/                the chart rendered with base_flags, plus the Namespace
#   k8s/overlays/NAME/       the chart rendered with base_flags + NAME's flags, as kustomize
#                            changes to the base (scripts/kustomize_from_chart.py)
# Every kustomization.yaml's header lists the flags it was rendered with.
#
# Fixed base settings (so the output is deterministic):
#   release name  user-service          namespace  user-service
#   --skip-tests  (no `helm test` pod for kubectl users)
#   migration.ttlSecondsAfterFinished=86400: `kubectl apply` never prunes, so each image's
#     migration Job (named after a hash of its spec) removes itself a day after it finished
#   postgresql.auth.existingSecret=user-service-database and auth.existingSecret=user-service-api:
#     chart-generated Secrets would hold new random passwords and a new API key on every render
#     (lookup finds nothing under `helm template`), so kubectl users create these two Secrets
#     once themselves (k8s/README.md): keys password + app-password, and api-keys (+ api-key).
#
# Usage: scripts/render-k8s.sh [OUTDIR]   (default: k8s/; HELM overrides .tools/bin/helm,
# VENV the virtualenv with pyyaml, default .venv)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$repo/k8s}
helm=${HELM:-$repo/.tools/bin/helm}
py=${VENV:-$repo/.venv}/bin/python
chart=helm/user-service
release=user-service
namespace=user-service
base_flags=(
    --namespace "$namespace"
    --skip-tests
    --set postgresql.auth.existingSecret=user-service-database
    --set postgresql.auth.existingSecretPasswordKey=password
    --set postgresql.auth.existingSecretAppPasswordKey=app-password
    --set auth.existingSecret=user-service-api
    --set auth.existingSecretKey=api-keys
    --set migration.ttlSecondsAfterFinished=86400
)
# Overlays: NAME_flags (dashes as underscores) are added to base_flags.
overlays=(external-database-tls)
# A PostgreSQL outside the cluster over verified TLS, with the CA bundle from a ConfigMap the
# user creates; the passwords stay in the base's Secret user-service-database.
# shellcheck disable=SC2034  # read through the nameref in the loop below
external_database_tls_flags=(
    --set postgresql.enabled=false
    --set externalDatabase.host=postgresql.example.com
    --set externalDatabase.existingSecret=user-service-database
    --set externalDatabase.tls.mode=verify-full
    --set externalDatabase.tls.caConfigMap.name=user-service-database-ca
    --set externalDatabase.tls.caConfigMap.key=ca.crt
)
# Prepended to every render: kubectl users have no `helm install --create-namespace`.
namespace_doc="---
# Not in the chart: Helm users get it from \`helm install --create-namespace\`.
apiVersion: v1
kind: Namespace
metadata:
  name: $namespace
  labels:
    app.kubernetes.io/part-of: user-service
"

[[ -x $helm ]] || { echo "render-k8s: $helm missing: run scripts/install-tools.sh" >&2; exit 1; }
[[ -x $py ]] || { echo "render-k8s: $py missing: create the venv (make install)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

render() {  # render FILE FLAG...: the Namespace, then the chart rendered with FLAG...
    local file=$1
    shift
    { printf '%s' "$namespace_doc"; "$helm" template "$release" "$repo/$chart" "$@"; } >"$file"
}
generate() {  # generate SUBCOMMAND ARG... -- FLAG...
    "$py" "$repo/scripts/kustomize_from_chart.py" --release "$release" --chart-dir "$chart" "$@"
}

render "$tmp/base.yaml" "${base_flags[@]}"
generate base "$tmp/k8s" "$tmp/base.yaml" -- "${base_flags[@]}"
for overlay in "${overlays[@]}"; do
    declare -n overlay_flags="${overlay//-/_}_flags"
    render "$tmp/$overlay.yaml" "${base_flags[@]}" "${overlay_flags[@]}"
    generate overlay "$tmp/k8s" "$overlay" "$tmp/base.yaml" "$tmp/$overlay.yaml" -- "${overlay_flags[@]}"
    unset -n overlay_flags
done

# Replace only what this script generates (README.md is hand-written), so no stale file stays.
mkdir -p "$out"
rm -rf "$out/kustomization.yaml" "$out/base" "$out/overlays"
cp -R "$tmp/k8s/." "$out/"
echo "render-k8s: wrote $out/{kustomization.yaml,base,overlays} with $("$helm" version --short)"
