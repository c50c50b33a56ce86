#!/usr/bin/env bash
# Wheels for scripts/gpu_check.sh on a CUDA machine without network whose Python (3.12, x86-64) has torch and
# transformers but not visionr1's other dependencies. Writes .whl/ (about 17 MB); pins the versions of this
# checkout's environment (.venv, made by scripts/bootstrap.sh; transformers too: the machine's may be older).
set -euo pipefail
cd "$(dirname "$0")/.."
pyver=${PYVER:-3.12}
version() {  # the version .venv has, else the one CI last verified
  .venv/bin/python -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null || echo "$2"
}
mkdir -p .whl
plat=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
      --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$pyver" --implementation cp \
  "${plat[@]}" -d .whl \
  "transformers==$(version transformers 5.25.0)" "trl==$(version trl 1.16.0)" "datasets==$(version datasets 5.2.0)" \
  pycocotools faster-coco-eval msgspec dill multiprocess \
  xxhash
ls -la .whl >&2
