"""``benchmarks/learning.py`` resumes only a work folder made from the same base weights and settings."""

from __future__ import annotations

import argparse
import importlib.util
import shutil
from pathlib import Path

import pytest

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
    args = argparse.Namespace(steps=40, eval_limit=64, sft_lr=None, grpo_lr=None)
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
