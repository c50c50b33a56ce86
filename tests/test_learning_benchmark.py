"""``benchmarks/learning.py``: resumes only a work folder made from the same base weights and settings; runs on another
base's world profile and mix."""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
from pathlib import Path

import pytest
from conftest import small_dense_recipe

ROOT = Path(__file__).resolve().parents[1]


def _learning():
    spec = importlib.util.spec_from_file_location("learning_benchmark", ROOT / "benchmarks" / "learning.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_stale_work_folder_refused(tiny_model_dir, tmp_path):
    """Same base and settings: resumed. Other steps, the base re-made (its weights changed), a training config
    changed (the learning rate in configs/demo/grpo.yaml), or a folder without the record: one error line naming
    what differs, and nothing of the old run is reused."""
    learning = _learning()
    args = argparse.Namespace(steps=40, eval_limit=64, sft_lr=None, grpo_lr=None, profile="simple",
                              recipe="shapes-simple", images=1000)
    configs = tmp_path / "configs"
    shutil.copytree(ROOT / "configs" / "demo", configs)
    out = tmp_path / "run"
    learning.claim(out, tiny_model_dir, args, configs)
    learning.claim(out, tiny_model_dir, args, configs)  # a re-run of the same: resumes
    with pytest.raises(SystemExit, match=r"^error: .*run.* another steps; give another --out"):
        learning.claim(out, tiny_model_dir, argparse.Namespace(**{**vars(args), "steps": 10}), configs)
    grpo = configs / "grpo.yaml"
    grpo.write_text(grpo.read_text().replace("learning_rate: 5.0e-5", "learning_rate: 1.0e-4"))
    with pytest.raises(SystemExit, match="another configs_sha256"):
        learning.claim(out, tiny_model_dir, args, configs)
    shutil.copy(ROOT / "configs" / "demo" / "grpo.yaml", grpo)
    remade = tmp_path / "remade"
    shutil.copytree(tiny_model_dir, remade)
    shard = sorted(remade.glob("*.safetensors"))[-1]
    data = bytearray(shard.read_bytes())
    data[-1] ^= 1
    shard.write_bytes(bytes(data))
    with pytest.raises(SystemExit, match="another base_weights_sha256"):
        learning.claim(out, remade, args, configs)
    older = tmp_path / "older"  # a folder of a version that kept no record
    (older / "seed0").mkdir(parents=True)
    with pytest.raises(SystemExit, match="no record of their base"):
        learning.claim(older, tiny_model_dir, args, configs)


def test_another_profile_runs_end_to_end_on_its_world_and_token_budget(tiny_model_dir, tmp_path):
    """``--profile dense-224 --recipe R``: the world is that profile's, and every answer (evaluation, held-out curve,
    GRPO's completions) has the profile's token budget, not the demo's 96; the table has base, SFT and GRPO."""
    from visionr1.synth.world import PROFILES

    learning = _learning()
    recipe = small_dense_recipe(tmp_path)
    parser = argparse.ArgumentParser()
    with pytest.raises(SystemExit):  # another profile without its recipe: refused before any work
        learning.check_args(argparse.Namespace(profile="dense-224", recipe=None), parser)
    args = argparse.Namespace(out=tmp_path / "run", base=tiny_model_dir, seeds=[0], steps=1, eval_limit=2,
                              sft_lr=None, grpo_lr=None, ablations=False, profile="dense-224", recipe=str(recipe),
                              images=40)
    summary = learning.main_(learning.check_args(args, parser))
    tokens = PROFILES["dense-224"].answer_tokens
    assert tokens != PROFILES["simple"].answer_tokens
    world = json.loads((args.out / "world" / "world.json").read_text())
    assert world["profile"] == "dense-224"
    assert set(summary["results"]) == {"base", "sft", "grpo"}
    assert summary["results"]["grpo"]["0"]["custom"]["answered"] == 2
    grpo = json.loads((args.out / "seed0" / "grpo" / "run.json").read_text())
    assert grpo["options"]["max_completion_length"] == tokens
    for ev in (args.out / "eval" / "base" / "custom", args.out / "seed0" / "eval" / "grpo" / "odinw"):
        assert json.loads((ev / "run.json").read_text())["max_new_tokens"] == tokens
