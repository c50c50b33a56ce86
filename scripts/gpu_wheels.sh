#!/usr/bin/env bash
# Wheels for scripts/gpu_check.sh on a CUDA machine without network whose Python (3.12, x86-64) has torch and
# transformers but not visionr1's other dependencies. Writes .whl/ (about 20 MB); pins the versions this
# checkout is tested with (transformers too: the machine's may be older).
set -euo pipefail
cd "$(dirname "$0")/.."
pyver=${PYVER:-3.12}
mkdir -p .whl
plat=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
      --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$pyver" --implementation cp \
  "${plat[@]}" -d .whl \
  transformers==5.24.0 trl==1.16.0 datasets==5.2.0 pycocotools faster-coco-eval msgspec dill multiprocess \
  xxhash
ls -la .whl >&2
