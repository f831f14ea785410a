#!/usr/bin/env bash
# Make a working Docker daemon available on a bare Debian 12 machine (CI or a developer box).
#
# Idempotent: a no-op when `docker info` already answers. Otherwise installs Debian's docker.io
# (dockerd with BuildKit, containerd, runc), docker-compose v1 and debootstrap (for the stand-in
# base images, see docker/python-standin/), then starts dockerd in the background: these
# machines have no systemd. Prints the dockerd PID and log path so the caller can stop it.
#
# Env: DOCKERD_LOG (default /var/log/dockerd.log), DOCKER_UP_TIMEOUT (seconds, default 60).
set -euo pipefail

# Debian's client: the newer client that may come first on PATH has no buildx, so BuildKit
# builds (RUN --mount=type=secret) need this one.
docker_bin=/usr/bin/docker
log=${DOCKERD_LOG:-/var/log/dockerd.log}
timeout=${DOCKER_UP_TIMEOUT:-60}
start=$(date +%s)

if [[ -x $docker_bin ]] && $docker_bin info >/dev/null 2>&1; then
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
