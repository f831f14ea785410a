#!/usr/bin/env bash
# Regenerates the hash-pinned lock files from pyproject.toml (run after changing a dependency).
# requirements/main.txt is what the image installs; requirements/dev.txt is what `make test` installs.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/pip-compile ] || .venv/bin/pip install --quiet pip-tools
compile=(.venv/bin/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe
         --no-emit-index-url --no-emit-find-links pyproject.toml)
"${compile[@]}" -o requirements/main.txt
"${compile[@]}" --extra dev -o requirements/dev.txt
# The dev extra names the project itself (for its `embedded` extra); the project is installed
# separately (editable), and an unhashed self-reference would break --require-hashes.
sed -i -e '/^# WARNING: pip install will require/,/^    # via user-service/d' \
       -e '/^user-service @ /d' requirements/dev.txt
