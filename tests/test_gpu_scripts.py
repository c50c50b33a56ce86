"""The one-command GPU scripts run end to end at toy sizes on the CPU (the same code path; a GPU only changes the
device), so that a session lent a GPU finds them working."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import small_dense_recipe

from visionr1.synth.tiny_model import read_card

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1", "VISIONR1_THREADS": "1", **env}
    return subprocess.run(["bash", str(ROOT / "scripts" / name), *args], env=env, capture_output=True, text=True,
                          timeout=600)


def test_gpu_dense_base_sizes_its_run_and_checks_the_targets(tmp_path):
    """A probe run measures seconds per step; the base's --steps is the budget over it; the targets are read back
    from the base's card, which records the world (PROFILE) and --partial-detection. Then the learning benchmark
    runs from that base on its profile's world (scripts/gpu_learning.sh --base ... --profile dense-224), as the next
    GPU command would."""
    out = tmp_path / "dense"
    done = _script("gpu_dense_base.sh", str(tmp_path / "no-wheels"), str(out), BUDGET_S="3", PROBE_STEPS="2",
                   EVAL_LIMIT="2", BATCH="2", IMAGES="40")  # the defaults: PROFILE dense-224, GROW 1
    assert done.returncode == 0, done.stderr[-3000:]
    probe = [json.loads(x) for x in (out / "probe" / "pretrain.jsonl").read_text().splitlines()]
    steps = max(1, int(3 / probe[-1]["seconds_per_step"]))
    info = read_card(out / "base")["pretrain"]
    assert info["world"]["profile"] == "dense-224" and info["config"]["partial_detection"] is True
    assert info["config"]["grow_scenes"] is True
    assert info["config"]["steps"] == steps and info["config"]["batch_size"] == 2
    assert info["init"]["world"]["profile"] == "simple"  # continued from the shipped base
    result = json.loads((out / "dense-base.json").read_text())
    assert set(result["targets"]) == {"detection mAP 8-25", "detection AR100 <= 45",
                                      "detection greedy reward <= 2.4", "grounding AP50 >= 40"}
    assert result["heldout"] == info["heldout"]["all"]
    for name, met in result["targets"].items():
        assert f"{'met' if met else 'NOT met'}: {name}" in done.stdout
    recipe = small_dense_recipe(tmp_path)
    learn = tmp_path / "learning"
    done = _script("gpu_learning.sh", str(tmp_path / "no-wheels"), str(learn), "--base", str(out / "base"),
                   "--profile", "dense-224", "--recipe", str(recipe), "--images", "40", "--seeds", "0", "--steps",
                   "1", "--eval-limit", "2", "--no-ablations")
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((learn / "results.json").read_text())
    assert summary["args"]["base"] == str(out / "base") and summary["args"]["profile"] == "dense-224"
    assert set(summary["gains"]) == {"sft", "grpo"}
    assert json.loads((learn / "world" / "world.json").read_text())["profile"] == "dense-224"
