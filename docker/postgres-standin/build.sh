#!/usr/bin/env bash
# Build `user-service/postgres-standin:15`, a STAND-IN for the official postgres image (see
# Dockerfile). Skips the build when the image exists and was built from these same files
# (FORCE=1 rebuilds).
set -euo pipefail

image=user-service/postgres-standin:15
docker=${DOCKER:-/usr/bin/docker}
here=$(cd "$(dirname "$0")" && pwd)
label=org.user-service.standin.hash

"$here/../python-standin/build-base.sh"
# The hash covers this directory and the base image id: either changing rebuilds the image.
hash=$( (cat "$here"/Dockerfile "$here"/build.sh "$here"/docker-entrypoint.sh
    $docker image inspect -f '{{.Id}}' user-service/debian-standin:bookworm) |
    sha256sum | cut -c1-16)
if [[ ${FORCE:-0} != 1 ]] &&
    [[ $($docker image inspect -f "{{index .Config.Labels \"$label\"}}" "$image" 2>/dev/null) == "$hash" ]]; then
    echo "postgres-standin: $image is up to date"
    exit 0
fi

start=$(date +%s)
DOCKER_BUILDKIT=1 $docker build --quiet --build-arg STANDIN_HASH="$hash" -t "$image" "$here" >/dev/null
echo "postgres-standin: built $image in $(($(date +%s) - start))s" \
    "($($docker image inspect -f '{{.Size}}' "$image" | numfmt --to=iec))"
