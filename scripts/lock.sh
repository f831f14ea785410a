#!/usr/bin/env bash
# Regenerates the hash-pinned lock files from pyproject.toml (run after changing a dependency).
# requirements/main.txt is what the image installs; requirements/dev.txt is what `make test` installs;
# requirements/dev-image.txt is what the `dev` image target (skaffold dev) installs.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/pip-compile ] || .venv/bin/pip install --quiet pip-tools
compile=(.venv/bin/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe
         --no-emit-index-url --no-emit-find-links pyproject.toml)
# The image installs main.txt: the runtime plus the `tracing` extra, so the chart can turn
# traces on without another image (service/tracing.py is imported only when they are on).
"${compile[@]}" --extra tracing -o requirements/main.txt
"${compile[@]}" --extra dev -o requirements/dev.txt
# main.txt plus the reloader, constrained to main.txt's pins: the dev image runs what production does.
"${compile[@]}" --extra dev-image --extra tracing -c requirements/main.txt -o requirements/dev-image.txt
# The dev extra names the project itself (for its `embedded` and `dev-image` extras); the project is installed
# separately (editable), and an unhashed self-reference would break --require-hashes.
sed -i -e '/^# WARNING: pip install will require/,/^    # via user-service/d' \
       -e '/^user-service @ /d' requirements/dev.txt
