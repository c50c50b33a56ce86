#!/usr/bin/env bash
# A base for a dense world (docs/synth.md, profiles dense-224 and dense) on one CUDA GPU, in one command sized to a time
# budget: the dense world, a short probe run that measures seconds per step on this machine, then
# `synth pretrain --init models/shapes-base --partial-detection` with --steps sized to BUDGET_S, and its card's
# held-out numbers against the targets a base with the 7B model's headroom should meet (detection mAP 8-25,
# AR100 <= 45, greedy reward <= 2.4; grounding AP50 >= 40). The CPU cannot do it (docs/synth.md). Bare machine
# without network: make the wheels here with scripts/gpu_wheels.sh, then there:
#   bash scripts/gpu_dense_base.sh [WHEEL_DIR] [OUT_DIR]
# Settings (environment): BUDGET_S (seconds of pretraining, default 420), BATCH (images per step, 32), LR (5e-4),
# PROBE_STEPS (30), EVAL_LIMIT (held-out queries per task of the card, 250), IMAGES (COCO train images of the world,
# 1000: the card's world), PROFILE (the world profile, default dense-224: 224 px images; dense: 112 px), GROW (1,
# the default: --grow-scenes, scenes that grow from 3 objects, the way a 224 px base learnt on the CPU; 0: off).
# Everything lands in OUT_DIR (default $OUT/dense-base): world/, probe/, base/ (the checkpoint and its card),
# dense-base.json.
set -euo pipefail
cd "$(dirname "$0")/.."
wheels=${1:-.whl}
out=${2:-${OUT:-runs}/dense-base}
python=${PYTHON:-python3}
budget=${BUDGET_S:-420}
batch=${BATCH:-32}
lr=${LR:-5e-4}
probe=${PROBE_STEPS:-30}
limit=${EVAL_LIMIT:-250}
images=${IMAGES:-1000}
profile=${PROFILE:-dense-224}
source scripts/gpu_env.sh
v() { "$python" -m visionr1 "$@"; }
run=(--init models/shapes-base --batch-size "$batch" --learning-rate "$lr" --partial-detection)
[ "${GROW:-1}" = 1 ] && run+=(--grow-scenes)
[ -f "$out/world/world.json" ] || v synth world --out "$out/world" --profile "$profile" --images "$images" --seed 0
v synth pretrain --world "$out/world" --out "$out/probe" --steps "$probe" --eval-limit 4 --force "${run[@]}"
steps=$("$python" - "$out/probe/pretrain.jsonl" "$budget" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
print(max(1, int(float(sys.argv[2]) / rows[-1]["seconds_per_step"])))
PY
)
echo "gpu: $(tail -1 "$out/probe/pretrain.jsonl"); pretraining $steps steps (budget ${budget} s)" >&2
v synth pretrain --world "$out/world" --out "$out/base" --steps "$steps" --eval-limit "$limit" --force "${run[@]}"
"$python" - "$out" <<'PY'
import json, sys
from pathlib import Path

from visionr1.synth.tiny_model import read_card

out = Path(sys.argv[1])
held = read_card(out / "base")["pretrain"]["heldout"]["all"]
det, gro = held["detection"], held["grounding"]
checks = {"detection mAP 8-25": 8 <= det["mAP"] <= 25, "detection AR100 <= 45": det["AR100"] <= 45,
          "detection greedy reward <= 2.4": det["reward"] <= 2.4, "grounding AP50 >= 40": gro["AP50"] >= 40}
(out / "dense-base.json").write_text(json.dumps({"heldout": held, "targets": checks}, indent=1))
for name, ok in checks.items():
    print(f"{'met' if ok else 'NOT met'}: {name}")
PY
