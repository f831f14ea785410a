# user-service container image. Build: scripts/build-image.sh (or see README).
#
# Two stages: `build` turns the hash-locked requirements and the project into a virtualenv at
# /opt/venv; the runtime stage copies only that venv onto a fresh base, so it holds no build
# tools, no pip cache, no tests and no source tree.
#
# No `# syntax=` line on purpose: it would make BuildKit pull a frontend image from a registry.
# The frontend built into Docker >= 20.10 handles RUN --mount and COPY --chmod.

# Overridable so CI, with no registry, can use a local stand-in built from Debian
# (docker/python-standin/: user-service/python-standin:3.11).
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python -m venv /opt/venv
WORKDIR /src

# Dependencies first: this layer is reused until the lock file changes. Every package comes
# from the lock with its hash (--no-deps: the lock is complete); wheels only, so nothing is
# compiled and no compiler is needed even here.
# Behind a TLS-inspecting proxy pip needs the site's CA bundle: it comes as a BuildKit secret
# (docker build --secret id=ca-bundle,src=...), mounted for this step only, never in a layer.
COPY requirements/main.txt requirements/main.txt
RUN --mount=type=secret,id=ca-bundle \
    if [ -s /run/secrets/ca-bundle ]; then export PIP_CERT=/run/secrets/ca-bundle; fi \
    && /opt/venv/bin/pip install --no-cache-dir --require-hashes --no-deps --only-binary=:all: \
       -r requirements/main.txt

# The project itself. pip builds it with the build backend pyproject.toml names (fetched into
# an isolated build env, hence the CA secret again); then the packaging tools leave the venv:
# the runtime needs neither pip nor setuptools.
COPY pyproject.toml README.md ./
COPY service/ service/
RUN --mount=type=secret,id=ca-bundle \
    if [ -s /run/secrets/ca-bundle ]; then export PIP_CERT=/run/secrets/ca-bundle; fi \
    && /opt/venv/bin/pip install --no-cache-dir --no-deps . \
    && /opt/venv/bin/python -m pip uninstall --yes --quiet setuptools pip

# Development image for `skaffold dev` only (`--target dev`; skaffold.yaml's `dev` profile). Not
# built by default: `runtime`, the production image, stays the last stage. It runs the code from
# /app/service, owned by the app user, because `skaffold sync` writes edited files there as that
# user (`kubectl exec ... tar`); docker/dev/reload.py restarts the service when one changes.
# Its own venv from requirements/dev-image.txt: main.txt's pins plus watchfiles.
FROM ${BASE_IMAGE} AS dev
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN --mount=type=secret,id=ca-bundle \
    --mount=type=bind,source=requirements/dev-image.txt,target=/tmp/dev-image.txt \
    if [ -s /run/secrets/ca-bundle ]; then export PIP_CERT=/run/secrets/ca-bundle; fi \
    && groupadd --system --gid 10001 app \
    && useradd --system --no-log-init --uid 10001 --gid 10001 \
       --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin app \
    && mkdir /app \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --require-hashes --no-deps --only-binary=:all: \
       -r /tmp/dev-image.txt
COPY docker/dev/reload.py /opt/dev/reload.py
COPY --chown=10001:10001 service/ /app/service/
# PYTHONPATH: the synced copy is what `python -m service` imports (no wheel is installed here).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONSAFEPATH=1
USER 10001:10001
EXPOSE 8080
# The chart's `args` (serve, migrate) replace CMD and so reach the service, as in production.
ENTRYPOINT ["python", "/opt/dev/reload.py", "--watch", "/app/service", "--", "python", "-m", "service"]
CMD ["serve"]

FROM ${BASE_IMAGE} AS runtime
ARG BASE_IMAGE
ARG VERSION=0.0.0+unknown
ARG REVISION=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="user-service" \
      org.opencontainers.image.description="Kubernetes-native user-management microservice (aiohttp + asyncpg + PostgreSQL)" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"

# A fixed, unprivileged identity that the Helm chart's securityContext names (runAsUser 10001).
# -l: no lastlog/faillog entry, which for a high UID would be a huge sparse file.
RUN groupadd --system --gid 10001 app \
    && useradd --system --no-log-init --uid 10001 --gid 10001 \
       --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin app

# Owned by root and read-only for the app: the process cannot modify its own code.
COPY --from=build /opt/venv /opt/venv

# Nothing writes .pyc at run time (the root filesystem may be read-only; the venv's were
# compiled at install), logs are not buffered, the venv comes first on PATH, and the working
# directory is never put on sys.path (PYTHONSAFEPATH), whatever it is.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONSAFEPATH=1
USER 10001:10001
EXPOSE 8080

# Liveness only (never the database), standard library only, no shell needed. PORT is read at
# check time so a changed port is still probed; the default HOST (0.0.0.0) includes loopback.
# Kubernetes ignores HEALTHCHECK: the chart has its own probes.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8080') + '/healthz', timeout=2)"]

# Exec form: python is PID 1 and receives SIGTERM itself; the service handles it (drain, then
# exit 0) and spawns no children, so no init process is needed to forward signals or reap.
# Admin commands use the same image: `docker run IMAGE migrate`.
ENTRYPOINT ["python", "-m", "service"]
CMD ["serve"]
