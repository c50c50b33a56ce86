#!/usr/bin/env bash
# The learning benchmark (benchmarks/learning.py: base -> SFT / GRPO and the ablations, every held-out set) at a
# larger scale on one CUDA GPU, in one command: 400 steps of 4 prompts (x G = 4) per run, 250 held-out queries per
# set, 3 seeds; the same code path as the CPU run. Bare machine without network: make the wheels here with
# scripts/gpu_wheels.sh, then there:
#   bash scripts/gpu_learning.sh [WHEEL_DIR] [OUT_DIR] [learning.py options, e.g. --seeds 0 --no-ablations]
# From a dense base (scripts/gpu_dense_base.sh), on its world and mix:
#   bash scripts/gpu_learning.sh .whl runs/learning-dense --base runs/dense-base/base --profile dense-224 \
#     --recipe shapes-dense
set -euo pipefail
cd "$(dirname "$0")/.."
wheels=${1:-.whl}
out=${2:-${OUT:-runs}/learning-gpu}
python=${PYTHON:-python3}
source scripts/gpu_env.sh
"$python" benchmarks/learning.py --out "$out" --steps 400 --eval-limit 250 --seeds 0 1 2 "${@:3}"
