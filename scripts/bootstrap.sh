#!/usr/bin/env bash
# Create (or reuse) the visionr1 virtual environment and link it as ./.venv.
# The environment lives outside the clone, keyed by a hash of pyproject.toml and this script, so fresh
# clones (and CI) reuse it; the package itself is installed in editable mode from this clone.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
# VISIONR1_EXTRAS: the extras installed (default dev,qa,review: about 7.5 GB with FiftyOne's mongod and VLMEvalKit);
# VISIONR1_EXTRAS=dev (or empty) is the lean environment for training and evaluation only
extras=${VISIONR1_EXTRAS-dev,qa,review}
key=$( (cat pyproject.toml scripts/bootstrap.sh; echo "$extras") | sha256sum | cut -c1-16)
cache=${VISIONR1_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/visionr1}
venv="$cache/venv-$key"

if [ ! -f "$venv/.ready" ]; then
  echo "bootstrap: creating $venv (first run: installs torch, transformers, trl ...; a few minutes)" >&2
  rm -rf "$venv"
  mkdir -p "$cache"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip setuptools
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e ".${extras:+[$extras]}"
  touch "$venv/.ready"
fi
# Point the editable install at this clone (cheap; the cached environment may come from another clone).
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e . \
  >/dev/null
ln -sfn "$venv" .venv
echo "bootstrap: environment ready at .venv -> $venv" >&2
