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
source scripts/gpu_env.sh
"$python" benchmarks/gpu_check.py --out "$out" "${@:3}"
