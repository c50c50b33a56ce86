#!/usr/bin/env bash
# GPU check in one command: SFT, GRPO (bf16, 2 prompts per process and micro-step) and evaluation of the
# synthetic model on CUDA, printing step times and peak memory (benchmarks/gpu_check.py; under 8 minutes on one
# H200). Runs on a bare CUDA machine without network that has torch and transformers: the other packages come
# from wheel files (make them here with scripts/gpu_wheels.sh, which writes .whl/).
#   bash scripts/gpu_check.sh [WHEEL_DIR] [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
wheels=${1:-.whl}
out=${2:-${OUT:-runs}/gpu-check}
site=${GPU_CHECK_SITE:-/tmp/visionr1-gpu-site}
python=${PYTHON:-python3}
if ls "$wheels"/*.whl >/dev/null 2>&1; then
  echo "gpu-check: installing $(ls "$wheels"/*.whl | wc -l) wheels from $wheels into $site" >&2
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" \
    "$wheels"/*.whl
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
"$python" - <<'PY' || { echo "gpu-check: missing packages (make the wheels with scripts/gpu_wheels.sh)" >&2; exit 2; }
import importlib, sys
missing = [m for m in ("torch", "transformers", "trl", "datasets", "accelerate", "peft", "pycocotools", "msgspec",
                       "faster_coco_eval", "typer", "rich", "scipy", "yaml", "matplotlib") if not importlib.util.find_spec(m)]
print("gpu-check: missing " + ", ".join(missing), file=sys.stderr) if missing else None
sys.exit(1 if missing else 0)
PY
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
"$python" benchmarks/gpu_check.py --out "$out" "${@:3}"
