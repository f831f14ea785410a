#!/usr/bin/env bash
# Static verification of the Helm chart, the plain manifests and the dev-loop configs.
# No cluster can run here, so this is everything short of one (docs/kubernetes.md says what
# still needs a real cluster). Runs every step, then exits 1 if any failed.
#
#  1. helm lint --strict + helm template, with Helm 3 AND Helm 4, for the default values and
#     every profile in helm/user-service/ci/*-values.yaml
#  2. every tests/chart/bad-values/*.yaml must FAIL to render, with the error its
#     "# expect (regex):" header names
#  3. kubernetes-validate --strict on every render, for each Kubernetes version in KUBE_VERSIONS
#     (custom resources, with a notice, against the schemas this project wrote in schemas/:
#     ServiceMonitor, PrometheusRule, and CloudNativePG's Cluster and Pooler from the cnpg-*
#     profiles; tests/chart/test_chart_cnpg.py also takes CloudNativePG's own CRDs when
#     CNPG_CRD_SCHEMA_DIR names a directory holding them)
#  4. yamllint (helm/user-service/.yamllint) on every render and on every file of k8s/
#  5. check-jsonschema: values.yaml and each profile (merged onto the defaults, as Helm does)
#     against values.schema.json; skaffold.yaml and kind-config.yaml against schemas/; the
#     schemas themselves against their metaschema
#  6. checkov --skip-download: the chart (helm framework, helm on PATH), each profile's render
#     (kubernetes framework) and the Dockerfile; zero failed checks, and a run that scanned
#     nothing is a failure
#  7. k8s/ equals a fresh scripts/render-k8s.sh generation (byte for byte with .tools/bin/helm;
#     the same files holding the same objects with the other Helm major)
#  8. `kubectl kustomize` of k8s/ (must equal k8s/base's), k8s/base and each k8s/overlays/*:
#     kubernetes-validate --strict for KUBE_VERSIONS, yamllint, checkov (kubernetes framework,
#     zero failed checks); tests/chart/test_chart_k8s.py proves them equal to the chart's renders
#
# Needs: scripts/install-tools.sh (.tools/bin/helm3, helm4, kubectl, .tools/checkov) and a venv with
# pyyaml, jsonschema, kubernetes-validate, yamllint, check-jsonschema (the dev lock).
# Env: VENV (default .venv), KUBE_VERSIONS (default 1.29.0 ... 1.37.0), CHECKOV=0 skips step 6
# (reported as SKIPPED; never in CI).
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
chart=$repo/helm/user-service
tools=$repo/.tools
venv=${VENV:-$repo/.venv}
py=$venv/bin/python
kube_versions=${KUBE_VERSIONS:-1.29.0,1.30.0,1.31.0,1.32.0,1.33.0,1.34.0,1.35.0,1.36.0,1.37.0}
release=user-service
namespace=user-service
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=()

step() { printf '\n== %s\n' "$*"; }
ok() { printf '  ok    %s\n' "$*"; }
bad() { printf '  FAIL  %s\n' "$*"; failures+=("$*"); }
run() {  # run "label" cmd...: quiet on success, show the output on failure
    local label=$1 out
    shift
    if out=$("$@" 2>&1); then ok "$label"; else bad "$label"; printf '%s\n' "$out" | sed 's/^/        /'; fi
}

step "tools"
missing=0
for tool in "$tools/bin/helm3" "$tools/bin/helm4" "$tools/bin/helm" "$py" \
    "$venv/bin/kubernetes-validate" "$venv/bin/yamllint" "$venv/bin/check-jsonschema"; do
    [[ -x $tool ]] || { bad "missing $tool"; missing=1; }
done
if [[ ${CHECKOV:-1} != 0 && ! -x $tools/checkov/bin/checkov ]]; then
    bad "missing $tools/checkov/bin/checkov"
    missing=1
fi
if ((missing)); then
    echo "  run scripts/install-tools.sh (and create $venv from requirements/dev.txt)"
    exit 1
fi
for h in helm3 helm4; do ok "$h $("$tools/bin/$h" version --short)"; done
ok "default helm -> $(readlink "$tools/bin/helm"); kubernetes-validate $("$venv/bin/kubernetes-validate" --version)"

profiles=(default)
for f in "$chart"/ci/*-values.yaml; do profiles+=("$(basename "$f" -values.yaml)"); done
values_args() { [[ $1 == default ]] || printf -- '-f\n%s\n' "$chart/ci/$1-values.yaml"; }

step "1. helm lint --strict + helm template (helm3, helm4) x ${#profiles[@]} value sets"
renders=()
for h in helm3 helm4; do
    for p in "${profiles[@]}"; do
        mapfile -t vargs < <(values_args "$p")
        run "$h lint --strict [$p]" "$tools/bin/$h" lint --strict "$chart" "${vargs[@]}"
        out=$work/render-$h-$p.yaml
        if "$tools/bin/$h" template "$release" "$chart" -n "$namespace" "${vargs[@]}" >"$out" 2>"$out.err"; then
            ok "$h template [$p]: $(grep -c '^kind:' "$out") objects"
            renders+=("$out")
        else
            bad "$h template [$p]"
            sed 's/^/        /' "$out.err"
        fi
    done
done

step "2. bad values must fail to render"
for f in "$repo"/tests/chart/bad-values/*.yaml; do
    # Every "# expect (regex):" line must match: one render lists all problems of a file.
    mapfile -t expects < <(sed -n 's/^# expect (regex): //p' "$f")
    ((${#expects[@]})) || { bad "$(basename "$f") has no '# expect (regex):' header"; continue; }
    for h in helm3 helm4; do
        if err=$("$tools/bin/$h" template "$release" "$chart" -n "$namespace" -f "$f" 2>&1 >/dev/null); then
            bad "$h rendered $(basename "$f") but must fail"
            continue
        fi
        for expect in "${expects[@]}"; do
            if grep -Eq -- "$expect" <<<"$err"; then
                ok "$h rejects $(basename "$f") (/$expect/)"
            else
                bad "$h failed on $(basename "$f") without /$expect/"
                printf '%s\n' "$err" | sed 's/^/        /'
            fi
        done
    done
done

step "3. kubernetes-validate --strict, Kubernetes $kube_versions"
run "all ${#renders[@]} renders" "$py" "$repo/scripts/validate_manifests.py" --versions "$kube_versions" "${renders[@]}"

step "4. yamllint on rendered output"
# k8s/ (kustomizations, objects, patches): generated from renders, so held to the same rules.
run "yamllint ${#renders[@]} renders + k8s/" "$venv/bin/yamllint" -s -c "$chart/.yamllint" "${renders[@]}" "$repo/k8s"

step "5. check-jsonschema"
cjs=$venv/bin/check-jsonschema
run "metaschema: values.schema.json + schemas/*.json" "$cjs" --check-metaschema \
    "$chart/values.schema.json" "$repo"/schemas/*.json
run "values.yaml" "$cjs" --schemafile "$chart/values.schema.json" "$chart/values.yaml"
for f in "$chart"/ci/*-values.yaml; do
    merged=$work/merged-$(basename "$f")
    "$py" "$repo/scripts/chart_helpers.py" merge-values "$chart/values.yaml" "$f" "$merged"
    run "ci/$(basename "$f") (merged onto values.yaml)" "$cjs" --schemafile "$chart/values.schema.json" "$merged"
done
run "skaffold.yaml" "$cjs" --schemafile "$repo/schemas/skaffold.schema.json" "$repo/skaffold.yaml"
run "kind-config.yaml" "$cjs" --schemafile "$repo/schemas/kind-config.schema.json" "$repo/kind-config.yaml"

step "6. checkov --skip-download"
checkov_ok() {  # checkov_ok label framework-name cmd...: exit 0, scanned something, 0 failed
    local label=$1 framework=$2 out
    shift 2
    out=$("$@" 2>&1)
    local rc=$? passed failed
    passed=$(sed -n 's/.*Passed checks: \([0-9]*\).*/\1/p' <<<"$out" | head -n 1)
    failed=$(sed -n 's/.*Failed checks: \([0-9]*\).*/\1/p' <<<"$out" | head -n 1)
    if [[ $rc -eq 0 && $out == *"$framework scan results"* && ${passed:-0} -gt 0 && ${failed:-1} -eq 0 ]]; then
        ok "$label: $passed passed, 0 failed"
    else
        bad "$label (exit $rc, passed=${passed:-none}, failed=${failed:-none}; no results means nothing was scanned)"
        printf '%s\n' "$out" | tail -n 40 | sed 's/^/        /'
    fi
}
if [[ ${CHECKOV:-1} == 0 ]]; then
    echo "  SKIPPED (CHECKOV=0)"
    [[ ${CI:-} == true ]] && bad "CHECKOV=0 is not allowed in CI"
else
    checkov=$tools/checkov/bin/checkov
    # helm on PATH: without it checkov logs "no runners" and exits 0.
    checkov_ok "chart (helm framework, default values)" helm \
        env PATH="$tools/bin:$PATH" "$checkov" -d "$chart" --config-file "$chart/.checkov.yaml"
    # Each profile's render; namespace is set there, so only the image skips of .checkov.yaml
    # apply, plus what a profile's "# checkov-skip: IDS (reason)" header names.
    for p in "${profiles[@]}"; do
        d=$work/checkov-$p
        mkdir -p "$d" && cp "$work/render-helm4-$p.yaml" "$d/"
        skips=CKV_K8S_43,CKV_K8S_15
        if [[ $p != default ]]; then
            extra=$(sed -n 's/^# checkov-skip: \([A-Z0-9_,]*\) (\(.*\))$/\1|\2/p' "$chart/ci/$p-values.yaml")
            if [[ -n $extra ]]; then
                skips+=,${extra%%|*}
                echo "  notice: [$p] skips ${extra%%|*}: ${extra#*|}"
            fi
        fi
        checkov_ok "render [$p] (kubernetes framework)" kubernetes \
            "$checkov" -d "$d" --framework kubernetes --skip-download --compact --quiet \
            --skip-check "$skips"
    done
    if [[ -f $repo/Dockerfile ]]; then
        # CKV_DOCKER_7 ("base image uses a non-latest tag") cannot resolve `FROM ${BASE_IMAGE}`;
        # the ARG's default is the pinned python:3.11-slim.
        echo "  notice: Dockerfile scan skips CKV_DOCKER_7 (FROM \${BASE_IMAGE}: ARG default is pinned)"
        checkov_ok "Dockerfile" dockerfile "$checkov" -f "$repo/Dockerfile" --framework dockerfile \
            --skip-download --compact --quiet --skip-check CKV_DOCKER_7
    else
        echo "  notice: no Dockerfile yet, not scanned"
    fi
fi

step "7. k8s/ equals a fresh generation"
if HELM=$tools/bin/helm VENV=$venv "$repo/scripts/render-k8s.sh" "$work/k8s" >/dev/null 2>"$work/k8s.err"; then
    if diff -ru "$repo/k8s" "$work/k8s" --exclude=README.md >"$work/k8s.diff"; then
        ok "k8s/ is byte-identical to a fresh generation ($(readlink "$tools/bin/helm"))"
    else
        bad "k8s/ differs from a fresh generation: run scripts/render-k8s.sh and commit"
        head -n 40 "$work/k8s.diff" | sed 's/^/        /'
    fi
    other=helm3
    [[ $(readlink "$tools/bin/helm") == helm3 ]] && other=helm4
    if HELM=$tools/bin/$other VENV=$venv "$repo/scripts/render-k8s.sh" "$work/k8s-$other" >/dev/null 2>"$work/k8s.err"; then
        run "$other generates the same files and objects" "$py" "$repo/scripts/chart_helpers.py" \
            same-objects "$work/k8s" "$work/k8s-$other"
    else
        bad "scripts/render-k8s.sh failed with $other"
        sed 's/^/        /' "$work/k8s.err"
    fi
else
    bad "scripts/render-k8s.sh failed"
    sed 's/^/        /' "$work/k8s.err"
fi

step "8. kubectl kustomize k8s/: kubernetes-validate, yamllint, checkov"
kubectl=$tools/bin/kubectl
kustomized=()
if [[ ! -x $kubectl ]]; then
    bad "missing $kubectl: run scripts/install-tools.sh"
else
    ok "$("$kubectl" version --client | paste -sd ' ')"
    for dir in "$repo/k8s" "$repo/k8s/base" "$repo"/k8s/overlays/*/; do
        dir=${dir%/}
        name=k8s${dir#"$repo/k8s"}
        out=$work/kustomize-${name//\//-}.yaml
        # kustomize starts its output without `---`, which the chart's yamllint rules require.
        if { echo ---; "$kubectl" kustomize "$dir"; } >"$out" 2>"$out.err"; then
            ok "kubectl kustomize $name: $(grep -c '^kind:' "$out") objects"
            [[ $name == k8s ]] || kustomized+=("$out")
        else
            bad "kubectl kustomize $name"
            sed 's/^/        /' "$out.err"
        fi
    done
    run "k8s/ renders what k8s/base renders" cmp "$work/kustomize-k8s.yaml" "$work/kustomize-k8s-base.yaml"
fi
if ((${#kustomized[@]})); then
    run "kubernetes-validate --strict: ${#kustomized[@]} kustomize renders" \
        "$py" "$repo/scripts/validate_manifests.py" --versions "$kube_versions" "${kustomized[@]}"
    run "yamllint: ${#kustomized[@]} kustomize renders" \
        "$venv/bin/yamllint" -s -c "$chart/.yamllint" "${kustomized[@]}"
    if [[ ${CHECKOV:-1} == 0 ]]; then
        echo "  checkov SKIPPED (CHECKOV=0)"
    else
        for out in "${kustomized[@]}"; do
            d=${out%.yaml}-checkov
            mkdir -p "$d" && cp "$out" "$d/"
            # The image skips of the chart's renders (step 6): no digest pins, IfNotPresent.
            checkov_ok "$(basename "$out" .yaml) (kubernetes framework)" kubernetes \
                "$tools/checkov/bin/checkov" -d "$d" --framework kubernetes --skip-download \
                --compact --quiet --skip-check CKV_K8S_43,CKV_K8S_15
        done
    fi
fi

echo
if ((${#failures[@]})); then
    echo "verify-chart: ${#failures[@]} FAILED:"
    printf '  - %s\n' "${failures[@]}"
    exit 1
fi
echo "verify-chart: all checks passed"
