#!/usr/bin/env bash
# Build the local Debian 12 base image `user-service/debian-standin:bookworm` from scratch.
#
# STAND-IN: no container registry is reachable on this project's machines, so `docker pull
# debian:bookworm` (and python:3.11-slim, postgres:17) cannot work. debootstrap builds a minimal
# bookworm root filesystem from the Debian mirror apt already uses, and `docker import` turns it
# into an image. The python and postgres stand-ins are built FROM it.
#
# Skips the build when an image built by this same script already exists (FORCE=1 rebuilds).
# Env: MIRROR overrides the mirror read from /etc/apt/sources.list*.
set -euo pipefail

image=user-service/debian-standin:bookworm
docker=${DOCKER:-/usr/bin/docker}
here=$(cd "$(dirname "$0")" && pwd)
# The script's own hash is stored as a label: editing the script invalidates the image.
hash=$(sha256sum "$here/build-base.sh" | cut -c1-16)
label=org.user-service.standin.hash

if [[ ${FORCE:-0} != 1 ]] &&
    [[ $($docker image inspect -f "{{index .Config.Labels \"$label\"}}" "$image" 2>/dev/null) == "$hash" ]]; then
    echo "build-base: $image is up to date"
    exit 0
fi

# The first Debian mirror serving plain `bookworm` in apt's own configuration, either format
# (one-line .list or deb822 .sources). Read, never hardcoded: each site has its own mirror.
apt_mirror() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f $f ]] || continue
        awk '$1 == "deb" { sub(/\[[^]]*\] */, "", $0); split($0, a, " ");
             if (a[3] == "bookworm") { print a[2]; exit } }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -f $f ]] || continue
        # deb822: blank-line separated stanzas of "Key: value" fields.
        awk 'BEGIN { RS = ""; FS = "\n" }
             { types = uris = suites = "";
               for (i = 1; i <= NF; i++) {
                 if ($i ~ /^Types:/) types = $i; if ($i ~ /^URIs:/) uris = $i;
                 if ($i ~ /^Suites:/) suites = $i }
               if (types ~ /[ \t]deb([ \t]|$)/ && suites ~ /[ \t]bookworm([ \t]|$)/) {
                 split(uris, u, /[ \t]+/); print u[2]; exit } }' "$f"
    done
}
mirror=${MIRROR:-$(apt_mirror | head -n1)}
if [[ -z $mirror ]]; then
    echo "build-base: no bookworm mirror in /etc/apt/sources.list*; set MIRROR" >&2
    exit 1
fi

start=$(date +%s)
rootfs=$(mktemp -d /tmp/debian-standin.XXXXXX)
trap 'rm -rf "$rootfs" "$rootfs.log"' EXIT
echo "build-base: debootstrap bookworm from $mirror"
debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 ||
    { tail -n 30 "$rootfs.log" >&2; exit 1; }
# Same suites as the official debian image; downloaded package lists and debs stay out.
printf 'deb %s bookworm main\ndeb %s bookworm-updates main\n' "$mirror" "$mirror" \
    >"$rootfs/etc/apt/sources.list"
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*

tar -C "$rootfs" -c . | $docker import \
    -c "LABEL $label=$hash" \
    -c 'LABEL org.opencontainers.image.description="STAND-IN for debian:bookworm (debootstrap minbase), local CI only"' \
    -c 'ENV LANG=C.UTF-8' \
    -c 'CMD ["bash"]' \
    - "$image" >/dev/null
echo "build-base: built $image in $(($(date +%s) - start))s" \
    "($($docker image inspect -f '{{.Size}}' "$image" | numfmt --to=iec))"
