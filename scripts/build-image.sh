#!/usr/bin/env bash
# Build the service image (default user-service:dev) from the repo's Dockerfile.
#
# Without a reachable registry (this project's machines, CI) python:3.11-slim cannot be pulled:
# unless it is already present locally, the stand-in user-service/python-standin:3.11 is built
# (docker/python-standin/) and used. BASE_IMAGE=... forces a base either way.
# Passes the host's CA bundle as the BuildKit secret `ca-bundle` (pip behind a TLS-inspecting
# proxy; never stored in the image) and the OCI label build args.
#
# Env: IMAGE (default user-service:dev), BASE_IMAGE, CA_BUNDLE (default: pip's configured cert),
# TARGET (a Dockerfile stage; default the last one, the production image; `dev` for skaffold dev).
set -euo pipefail

cd "$(dirname "$0")/.."
# Debian's client: the newer one that may come first on PATH lacks buildx, so no BuildKit.
docker=${DOCKER:-/usr/bin/docker}
image=${IMAGE:-user-service:dev}

if [[ -z ${BASE_IMAGE:-} ]]; then
    if $docker image inspect python:3.11-slim >/dev/null 2>&1; then
        BASE_IMAGE=python:3.11-slim
    else
        docker/python-standin/build.sh
        BASE_IMAGE=user-service/python-standin:3.11
    fi
fi

# The CA bundle pip uses on this host (PIP_CERT or pip.conf's cert), else Debian's.
ca=${CA_BUNDLE:-${PIP_CERT:-$(python3 -m pip config get global.cert 2>/dev/null || true)}}
ca=${ca:-/etc/ssl/certs/ca-certificates.crt}
secret=()
[[ -s $ca ]] && secret=(--secret "id=ca-bundle,src=$ca")
target=()
[[ -n ${TARGET:-} ]] && target=(--target "$TARGET")

version=$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
revision=$(git rev-parse --verify --quiet HEAD || echo unknown)
# Uncommitted changes to what goes into the image make the revision label say so.
if [[ -n $(git status --porcelain -- Dockerfile pyproject.toml README.md requirements/main.txt \
    service 2>/dev/null) ]]; then
    revision=$revision-dirty
fi
source_url=$(git config --get remote.origin.url 2>/dev/null || echo unknown)

log=$(mktemp /tmp/build-image.XXXXXX.log)
start=$(date +%s)
echo "build-image: $image${TARGET:+ (target $TARGET)} FROM $BASE_IMAGE (version $version, revision $revision)"
if ! DOCKER_BUILDKIT=1 $docker build --progress=plain "${secret[@]}" "${target[@]}" \
    --build-arg BASE_IMAGE="$BASE_IMAGE" --build-arg VERSION="$version" \
    --build-arg REVISION="$revision" --build-arg SOURCE="$source_url" \
    -t "$image" . >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "build-image: FAILED, full log in $log" >&2
    exit 1
fi
rm -f "$log"
size=$($docker image inspect -f '{{.Size}}' "$image")
echo "build-image: built $image in $(($(date +%s) - start))s, size $(numfmt --to=iec "$size") ($size bytes)"
